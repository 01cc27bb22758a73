"""Statuses as explicit state machines: each domain declares its table of allowed moves with
``StateMachine``; any move not in the table raises ``InvalidTransition`` (or the domain's own
subclass of it, when the refusal needs words of its own)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Generic, TypeVar

S = TypeVar("S", bound=StrEnum)


class InvalidTransition(Exception):
    def __init__(self, current: StrEnum, target: StrEnum) -> None:
        super().__init__(f"{current.value} -> {target.value} is not allowed")
        self.current, self.target = current, target


class StateMachine(Mapping[S, frozenset[S]], Generic[S]):
    """A status's allowed next statuses. Reads as the table (``machine[status]``); every
    status of the enum must have a row, terminal ones an empty one, so none is forgotten."""

    def __init__(self, table: Mapping[S, Iterable[S]],
                 error: type[InvalidTransition] = InvalidTransition) -> None:
        self._table = {status: frozenset(targets) for status, targets in table.items()}
        self._error = error
        statuses = {type(status) for status in self._table}
        if len(statuses) != 1 or set(self._table) != set(next(iter(statuses))):
            raise ValueError("a transition table needs one row for every status of one enum")

    def __getitem__(self, status: S) -> frozenset[S]:
        return self._table[status]

    def __iter__(self) -> Iterator[S]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def allows(self, current: S, target: S) -> bool:
        return target in self._table[current]

    def transition(self, current: S, target: S) -> S:
        """``target`` if the table allows the move, else the machine's error."""
        if not self.allows(current, target):
            raise self._error(current, target)
        return target

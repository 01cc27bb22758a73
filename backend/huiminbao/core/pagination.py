"""Lists that grow are read a page at a time.

A service takes a ``Window`` (which rows) and answers a ``Page`` (those rows and how many there
are in all); a route decorated with flask-smorest's ``@blp.paginate()`` turns the caller's
``page``/``page_size`` into a window with ``window_of`` and reports the total in the
``X-Pagination`` header with ``page_items``. The response body keeps its ``{"items": [...]}``
shape, so a client that reads only the first page needs no change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask_smorest.pagination import PaginationParameters
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


@dataclass(frozen=True)
class Window:
    """Which rows of an ordered list: ``limit`` rows after the first ``offset``."""

    offset: int = 0
    limit: int = 50


FIRST_PAGE = Window()


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int  # rows in the whole list, not only in this page


def count_rows(session: Session, query: Select[*tuple[Any, ...]]) -> int:
    """How many rows ``query`` selects, whatever its ordering."""
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    return int(session.execute(counted).scalar_one())


def window_of(params: PaginationParameters) -> Window:
    return Window(offset=params.first_item, limit=params.page_size)


def page_items(params: PaginationParameters, page: Page[T]) -> list[T]:
    """The page's items; records the total for the ``X-Pagination`` header."""
    params.item_count = page.total
    return page.items

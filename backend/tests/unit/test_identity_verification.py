"""The identity-check simulator's documented outcomes, the displacement rule, and the wiring
that refuses the simulator in production."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from huiminbao.core.clock import MovableClock
from huiminbao.core.config import ConfigError, Settings
from huiminbao.identity.domain import may_displace
from huiminbao.identity.verification import (
    SIMULATED_FAILURES,
    TICKET_TTL,
    CheckOutcome,
    SimulatedIdentityVerifier,
)
from huiminbao.registry.port import Assistance, PersonStatus, RegistryPerson, Scheme
from huiminbao.standins import STANDIN_FIELD_KEYS, STANDIN_INDEX_KEY
from huiminbao.wiring import build_identity_checks, identity_check_problem

ZHANG = ("330106198803150130", "张伟")
ZHAO = ("330104197411270865", "赵敏")


class Registry:
    """Only what the simulator asks: who is registered under which name."""

    def __init__(self, people: Sequence[tuple[str, str]]) -> None:
        self.people = dict(people)

    def find_person(self, id_number: str) -> RegistryPerson | None:
        name = self.people.get(id_number)
        if name is None:
            return None
        return RegistryPerson(id_number, name, None, "330100", Scheme.EMPLOYEE,
                              PersonStatus.ACTIVE, Assistance.NONE)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))


@pytest.fixture
def verifier(clock: MovableClock) -> SimulatedIdentityVerifier:
    return SimulatedIdentityVerifier("k" * 40, clock, Registry([ZHANG, ZHAO]))  # type: ignore[arg-type]


def test_a_registered_person_passes_and_the_result_names_them(
        verifier: SimulatedIdentityVerifier) -> None:
    started = verifier.start(*ZHANG)
    assert started.url is None and ZHANG[0] not in started.ticket
    result = verifier.result(started.ticket)
    assert result.outcome is CheckOutcome.PASSED and result.passed
    assert result.id_number == ZHANG[0]


def test_documented_failures(verifier: SimulatedIdentityVerifier, clock: MovableClock) -> None:
    assert ZHAO[0] in SIMULATED_FAILURES
    assert verifier.result(verifier.start(*ZHAO).ticket).outcome is CheckOutcome.FAILED
    assert verifier.result(verifier.start(ZHANG[0], "李娜").ticket).outcome is CheckOutcome.FAILED
    assert verifier.result("not-a-ticket").outcome is CheckOutcome.INVALID
    other = SimulatedIdentityVerifier("x" * 40, clock, Registry([ZHANG]))  # type: ignore[arg-type]
    assert verifier.result(other.start(*ZHANG).ticket).outcome is CheckOutcome.INVALID
    ticket = verifier.start(*ZHANG).ticket
    clock.advance(TICKET_TTL + timedelta(seconds=1))
    assert verifier.result(ticket).outcome is CheckOutcome.EXPIRED


@pytest.mark.parametrize(("holder", "claimant", "displaces"), [
    (False, True, True), (True, True, False), (False, False, False), (True, False, False)])
def test_only_a_verified_binding_displaces_and_only_an_unverified_one(
        holder: bool, claimant: bool, displaces: bool) -> None:
    assert may_displace(holder_verified=holder, claimant_verified=claimant) is displaces


def _settings(tmp_path: Path, env: dict[str, str], *, production: bool) -> Settings:
    base = {"DATABASE_URL": f"sqlite:///{tmp_path / 'w.sqlite3'}"}
    if production:
        base |= {"HUIMINBAO_MODE": "production", "HUIMINBAO_SECRET_KEY": "s" * 40,
                 "HUIMINBAO_PUBLIC_URL": "https://hmb.example.gov.cn",
                 "REDIS_URL": "redis://127.0.0.1:6379/13",
                 "HUIMINBAO_FIELD_KEYS": STANDIN_FIELD_KEYS,
                 "HUIMINBAO_INDEX_KEY": STANDIN_INDEX_KEY}
    return Settings.from_env(base | env)


def test_demo_wires_the_simulator_and_production_refuses_it(
        tmp_path: Path, clock: MovableClock) -> None:
    registry = Registry([ZHANG])
    demo = _settings(tmp_path, {}, production=False)
    assert identity_check_problem(demo) is None
    assert isinstance(build_identity_checks(demo, clock, registry), SimulatedIdentityVerifier)

    production = _settings(tmp_path, {}, production=True)
    assert identity_check_problem(production) is None  # not offered: phone and counter remain
    assert build_identity_checks(production, clock, registry) is None
    asked = _settings(tmp_path, {"IDENTITY_CHECK_PROVIDER": "simulator"}, production=True)
    problem = identity_check_problem(asked)
    assert problem is not None and "demo mode only" in problem
    from huiminbao.wiring import checked_ports

    with pytest.raises(ConfigError, match="IDENTITY_CHECK_PROVIDER"):
        checked_ports(asked)
    unknown = _settings(tmp_path, {"IDENTITY_CHECK_PROVIDER": "wechat_face"}, production=False)
    assert "no adapter" in (identity_check_problem(unknown) or "")

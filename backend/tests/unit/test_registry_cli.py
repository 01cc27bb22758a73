"""The registry protocol commands' argument handling (no server needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner

from huiminbao.cli import main
from huiminbao.registry.cli import app_side_lines
from huiminbao.registry.contract import (
    Contract,
    ContractData,
    ContractReport,
    RuleBroken,
    RuleOutcome,
)
from huiminbao.registry.http_adapter import RegistryConfig
from huiminbao.registry.port import (
    FailureReason,
    OperationKind,
    OperationResult,
    OperationStatus,
    RegistryPort,
    RegistryUnavailable,
)
from huiminbao.registry.protocol import ProtocolKeys

KEYS = ProtocolKeys.generate()
CLEAN_ENV = {"HUIMINBAO_REGISTRY_URL": "", "HUIMINBAO_REGISTRY_SENDER_ID": "",
             "HUIMINBAO_REGISTRY_SIGNING_KEY": "", "HUIMINBAO_REGISTRY_ENCRYPTION_KEY": "",
             "HUIMINBAO_REGISTRY_TIMEOUT": ""}


def test_contract_test_needs_a_url_and_keys() -> None:
    result = CliRunner().invoke(main, ["registry", "contract-test"], env=CLEAN_ENV)
    assert result.exit_code == 1
    assert "HUIMINBAO_REGISTRY_" in result.output


def test_contract_test_names_a_partial_configuration() -> None:
    result = CliRunner().invoke(main, ["registry", "contract-test", "http://127.0.0.1:1/x"],
                                env=CLEAN_ENV)
    assert result.exit_code == 1
    assert "HUIMINBAO_REGISTRY_SENDER_ID" in result.output


def test_contract_test_names_the_missing_test_data(tmp_path: Path) -> None:
    fixture = tmp_path / "data.json"
    fixture.write_text('{"person": "330106198803150130"}', encoding="utf-8")
    result = CliRunner().invoke(main, [
        "registry", "contract-test", "http://127.0.0.1:1/x", "--sender-id", "HMB",
        "--signing-key", KEYS.signing_key_b64(), "--encryption-key", KEYS.encryption_key_b64(),
        "--fixture", str(fixture)], env=CLEAN_ENV)
    assert result.exit_code == 1
    assert "--phone" in result.output and "--account-person" in result.output
    assert "--person," not in result.output


def test_contract_test_against_nothing_fails_every_rule_without_a_traceback() -> None:
    result = CliRunner().invoke(main, [
        "registry", "contract-test", "http://127.0.0.1:1/hmb/registry/v1", "--sender-id", "HMB",
        "--signing-key", KEYS.signing_key_b64(), "--encryption-key", KEYS.encryption_key_b64(),
        "--person", "330106198803150130", "--phone", "13800000001",
        "--account-person", "330106198803150130"], env={**CLEAN_ENV,
                                                        "HUIMINBAO_REGISTRY_TIMEOUT": "1"})
    assert result.exit_code == 1, result.output
    # All 16 rules fail; so does the clean-up: the debits sent got no answer, so their outcome
    # is unknown and the kit names them for someone to settle by hand.
    assert "FAIL  ping" in result.output and result.output.count("FAIL") == 17
    assert "FAIL  cleanup-refunds" in result.output
    assert "未能确认退回" in result.output
    for label in ("REUSE", "PAID", "QUERY"):
        assert re.search(rf"HMBCT-[0-9a-f]+-{label}-\d+（未能查询或退回", result.output), label
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_serve_simulator_wants_both_keys_or_neither() -> None:
    result = CliRunner().invoke(main, ["registry", "serve-simulator", "--signing-key",
                                       KEYS.signing_key_b64()], env=CLEAN_ENV)
    assert result.exit_code == 1
    assert "--encryption-key" in result.output


def test_serve_simulator_refuses_production_mode(tmp_path: Path) -> None:
    database = tmp_path / "registry.db"
    result = CliRunner().invoke(main, [
        "registry", "serve-simulator", "--port", "1", "--database-url", f"sqlite:///{database}"],
        env={**CLEAN_ENV, "HUIMINBAO_MODE": "production"})
    assert result.exit_code == 1
    assert "HUIMINBAO_MODE=production" in result.output
    assert not database.exists()  # nothing created


def test_serve_simulator_prints_keys_only_when_it_generated_them() -> None:
    endpoint = "http://127.0.0.1:8700/hmb/registry/v1"
    given = "\n".join(app_side_lines(endpoint, "HMB", KEYS, generated=False))
    assert f"export HUIMINBAO_REGISTRY_URL={endpoint}" in given
    assert "export HUIMINBAO_REGISTRY_SENDER_ID=HMB" in given
    assert KEYS.signing_key_b64() not in given and KEYS.encryption_key_b64() not in given
    assert "export HUIMINBAO_REGISTRY_SIGNING_KEY" not in given
    generated = "\n".join(app_side_lines(endpoint, "HMB", KEYS, generated=True))
    assert f"export HUIMINBAO_REGISTRY_SIGNING_KEY={KEYS.signing_key_b64()}" in generated
    assert f"export HUIMINBAO_REGISTRY_ENCRYPTION_KEY={KEYS.encryption_key_b64()}" in generated


# --- the contract kit's clean-up (no bridge: a fake registry) ----------------------------------


def op(request_no: str, *, kind: OperationKind = OperationKind.DEBIT,
       status: OperationStatus = OperationStatus.SUCCEEDED,
       reason: FailureReason | None = None, original: str | None = None) -> OperationResult:
    return OperationResult(request_no, kind, status, "330106198803150130", 3,
                           failure_reason=reason, original_request_no=original)


class CleanupRegistry:
    """What the bridge recorded; ``query`` of a number in ``broken`` raises."""

    def __init__(self, recorded: dict[str, OperationResult], broken: set[str]) -> None:
        self.recorded = recorded
        self.broken = broken
        self.refunds: list[tuple[str, str, int]] = []

    def query(self, request_no: str) -> OperationResult | None:
        if request_no in self.broken:
            raise RegistryUnavailable("医保平台无应答（超时）")
        return self.recorded.get(request_no)

    def refund(self, request_no: str, original_request_no: str, amount_fen: int, *,
               purpose: str) -> OperationResult:
        self.refunds.append((request_no, original_request_no, amount_fen))
        if original_request_no == "E":
            return op(request_no, kind=OperationKind.REFUND, status=OperationStatus.FAILED,
                      reason=FailureReason.NOTHING_TO_REFUND, original=original_request_no)
        return op(request_no, kind=OperationKind.REFUND, original=original_request_no)


def contract() -> Contract:
    config = RegistryConfig("http://127.0.0.1:1/hmb/registry/v1", "HMB", KEYS)
    return Contract(config, ContractData("330106198803150130", "13800000001",
                                         "330106198803150130", amount_fen=3))


def test_a_debit_is_recorded_for_clean_up_before_it_is_sent() -> None:
    kit = contract()

    def timed_out(*_args: Any, **_kwargs: Any) -> Any:
        raise RegistryUnavailable("医保平台无应答（超时）")

    kit.call = timed_out  # type: ignore[method-assign]
    with pytest.raises(RegistryUnavailable):
        kit.debit("HMBCT-X-1")
    fake = CleanupRegistry({"HMBCT-X-1": op("HMBCT-X-1")}, set())  # it went through
    kit.cleanup_registry = cast(RegistryPort, fake)
    kit.refund_all()
    assert fake.refunds == [("HMBCT-X-1-RF", "HMBCT-X-1", 3)]
    assert kit.unrefunded == []


def test_the_clean_up_refunds_what_went_through_carries_on_and_names_the_rest() -> None:
    kit = contract()
    for number in ("A", "B", "C", "D", "E", "F"):
        kit.sending_debit(number)
    fake = CleanupRegistry({
        "A": op("A"),  # succeeded, not refunded
        # B: never arrived
        "D": op("D"), "D-RF": op("D-RF", kind=OperationKind.REFUND, original="D"),  # refunded
        "E": op("E"),  # succeeded, its refund fails
        "F": op("F", status=OperationStatus.FAILED, reason=FailureReason.INSUFFICIENT_BALANCE),
    }, broken={"C"})
    kit.cleanup_registry = cast(RegistryPort, fake)
    with pytest.raises(RuleBroken) as raised:
        kit.refund_all()
    assert [refund[1] for refund in fake.refunds] == ["A", "E"]  # past C's error, not D or F
    assert len(kit.unrefunded) == 2
    assert kit.unrefunded[0].startswith("C（") and "RegistryUnavailable" in kit.unrefunded[0]
    assert kit.unrefunded[1].startswith("E（") and "nothing_to_refund" in kit.unrefunded[1]
    assert "2 笔测试扣款未能退回" in str(raised.value)
    report = ContractReport([RuleOutcome("x", "x", True)], unrefunded=kit.unrefunded)
    assert not report.ok
    assert "C（" in report.format() and "E（" in report.format()

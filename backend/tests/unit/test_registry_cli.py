"""The registry protocol commands' argument handling (no server needed)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from huiminbao.cli import main
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
    assert "FAIL  ping" in result.output and result.output.count("FAIL") == 14
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_serve_simulator_wants_both_keys_or_neither() -> None:
    result = CliRunner().invoke(main, ["registry", "serve-simulator", "--signing-key",
                                       KEYS.signing_key_b64()], env=CLEAN_ENV)
    assert result.exit_code == 1
    assert "--encryption-key" in result.output

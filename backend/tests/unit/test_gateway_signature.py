"""Gateway notification signatures (WeChat Pay v2 style, HMAC-SHA256, JSON body)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from huiminbao.payments.gateway.port import (
    InvalidNotification,
    PaymentNotification,
    TradeState,
    decode_notification,
    default_merchant_key,
    encode_notification,
    sign,
    signing_string,
)

KEY = "merchant-key-for-tests-0123456789abcdef"
APP_ID = "wxdemo"
MCH_ID = "1900000109"
PAID_AT = datetime(2026, 11, 22, 2, 5, 12, tzinfo=UTC)
NOTIFICATION = PaymentNotification(
    out_trade_no="P20261122000001",
    transaction_id="4200001234202611221234567890",
    amount_fen=15000,
    trade_state=TradeState.SUCCESS,
    paid_at=PAID_AT,
    nonce="5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
)


def _body() -> bytes:
    return encode_notification(NOTIFICATION, KEY, app_id=APP_ID, mch_id=MCH_ID)


def _params() -> dict[str, Any]:
    params: dict[str, Any] = json.loads(_body())
    return params


def _decode(params: dict[str, Any] | bytes, key: str = KEY) -> PaymentNotification:
    body = params if isinstance(params, bytes) else json.dumps(params).encode()
    return decode_notification(body, key, app_id=APP_ID, mch_id=MCH_ID)


def test_signing_string_sorts_keys_skips_empty_values_and_sign() -> None:
    params = {"b": "2", "a": "1", "empty": "", "sign": "XYZ", "c": "三"}
    assert signing_string(params, "k") == "a=1&b=2&c=三&key=k"


def test_signature_is_upper_case_hmac_sha256_of_the_signing_string() -> None:
    params = {"out_trade_no": "P1", "total_fee": "15000"}
    expected = hmac.new(
        KEY.encode(), f"out_trade_no=P1&total_fee=15000&key={KEY}".encode(), hashlib.sha256
    ).hexdigest().upper()
    assert sign(params, KEY) == expected


def test_a_signed_notification_round_trips() -> None:
    params = _params()
    assert params["total_fee"] == "15000"
    assert params["time_end"] == "20261122100512"  # China time
    assert all(isinstance(value, str) for value in params.values())
    assert _decode(_body()) == NOTIFICATION


def test_reordered_keys_and_other_whitespace_are_still_valid() -> None:
    params = _params()
    reordered = dict(sorted(params.items(), reverse=True))
    body = json.dumps(reordered, indent=2).encode()
    assert _decode(body) == NOTIFICATION


def test_extra_fields_are_covered_by_the_signature() -> None:
    params = _params()
    params["attach"] = "hello"
    params["sign"] = sign(params, KEY)
    assert _decode(params) == NOTIFICATION
    params["attach"] = "changed"
    with pytest.raises(InvalidNotification):
        _decode(params)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("total_fee", "1"),
        ("total_fee", "15001"),
        ("out_trade_no", "P20261122000002"),
        ("transaction_id", "4200001234202611221234567891"),
        ("time_end", "20261122100513"),
        ("nonce_str", "ANOTHERNONCE"),
    ],
)
def test_tampered_fields_are_refused(field: str, value: str) -> None:
    params = _params()
    params[field] = value
    with pytest.raises(InvalidNotification, match="signature"):
        _decode(params)


def test_missing_sign_is_refused() -> None:
    params = _params()
    del params["sign"]
    with pytest.raises(InvalidNotification):
        _decode(params)


def test_empty_sign_is_refused() -> None:
    params = _params()
    params["sign"] = ""
    with pytest.raises(InvalidNotification):
        _decode(params)


def test_wrong_key_is_refused() -> None:
    with pytest.raises(InvalidNotification, match="signature"):
        _decode(_body(), key="another-merchant-key")


def test_lower_case_signature_is_accepted() -> None:
    params = _params()
    params["sign"] = params["sign"].lower()
    assert _decode(params) == NOTIFICATION


@pytest.mark.parametrize("field", ["out_trade_no", "transaction_id", "total_fee", "time_end",
                                   "trade_state", "nonce_str", "appid", "mch_id"])
def test_missing_required_fields_are_refused_even_if_signed(field: str) -> None:
    params = _params()
    del params[field]
    params["sign"] = sign(params, KEY)
    with pytest.raises(InvalidNotification, match="missing"):
        _decode(params)


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b'{"total_fee": 15000}'],
)
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidNotification):
        _decode(body)


def test_duplicate_keys_are_refused() -> None:
    text = _body().decode()
    forged = text[:-1] + ',"total_fee":"1"}'
    with pytest.raises(InvalidNotification, match="duplicate"):
        _decode(forged.encode())


def test_numbers_instead_of_strings_are_refused() -> None:
    params = _params()
    params["total_fee"] = 15000
    with pytest.raises(InvalidNotification, match="string"):
        _decode(params)


@pytest.mark.parametrize(
    ("field", "value"),
    [("total_fee", "0"), ("total_fee", "-1"), ("total_fee", "1.5"), ("trade_state", "PAID"),
     ("time_end", "2026-11-22T10:05:12")],
)
def test_signed_but_invalid_values_are_refused(field: str, value: str) -> None:
    params = _params()
    params[field] = value
    params["sign"] = sign(params, KEY)
    with pytest.raises(InvalidNotification):
        _decode(params)


@pytest.mark.parametrize(("field", "value"), [("appid", "wxother"), ("mch_id", "1900000999")])
def test_notifications_for_another_merchant_are_refused(field: str, value: str) -> None:
    params = _params()
    params[field] = value
    params["sign"] = sign(params, KEY)
    with pytest.raises(InvalidNotification, match="another"):
        _decode(params)


def test_oversized_body_is_refused() -> None:
    params = _params()
    params["attach"] = "x" * 70_000
    params["sign"] = sign(params, KEY)
    with pytest.raises(InvalidNotification, match="large"):
        _decode(params)


def test_default_merchant_key_is_derived_from_the_secret_key() -> None:
    first = default_merchant_key("secret-one")
    assert first == default_merchant_key("secret-one")
    assert first != default_merchant_key("secret-two")
    assert "secret-one" not in first

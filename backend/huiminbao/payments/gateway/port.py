"""The port to the online payment gateway (WeChat Pay's JSAPI / 统一下单 model), and its signature.

The gateway is remote. The merchant (this product) names every payment with its own
``out_trade_no`` and every refund with its own ``out_refund_no``; repeating a number never moves
money twice. The payer confirms on the gateway's own page (``pay_url``); the gateway then tells the
merchant asynchronously with a signed notification to the ``notify_url`` (retried until the
merchant answers HTTP 200), and the merchant can always ask with ``query(out_trade_no)``. A call
whose outcome the caller did not learn (``GatewayUnavailable``) is resolved by querying with the
same number, never by sending a new request.

Signatures follow WeChat Pay API v2 with ``sign_type=HMAC-SHA256``: the parameters except ``sign``
and those with empty values, sorted by key (ASCII order), joined as ``k1=v1&k2=v2``, followed by
``&key=<merchant API key>``; the HMAC-SHA256 of that string keyed with the merchant API key, in
upper-case hex, is the ``sign`` parameter. Unlike WeChat Pay v2 the body is a flat JSON object
(not XML) whose values are all strings (``"total_fee": "15000"``), so that what is signed is
exactly what is sent.

A notification body looks like::

    {"appid": "wxdemo", "mch_id": "1900000109", "nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
     "out_trade_no": "P20261122000001", "transaction_id": "4200001234202611221234567890",
     "total_fee": "15000", "trade_state": "SUCCESS", "time_end": "20261122100512",
     "sign": "C380BEC2BFD727A4B6845133519F3AD6..."}

``time_end`` is China time (UTC+08:00), ``yyyyMMddHHmmss``, as WeChat Pay sends it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from huiminbao.core.clock import CHINA_TZ
from huiminbao.core.errors import RemoteUnavailable
from huiminbao.identity.domain import hash_secret

# Where the gateway notifies this product (payments/routes.py serves it).
NOTIFY_PATH = "/api/v1/payments/online/notify"
SIGN_FIELD = "sign"
MAX_NOTIFICATION_BYTES = 64 * 1024
TIME_FORMAT = "%Y%m%d%H%M%S"
# What a merchant number looks like here. WeChat Pay allows 32 characters for out_trade_no and
# 64 for out_refund_no; this gateway accepts 64 for both.
MERCHANT_NO_MAX_LENGTH = 64
_MERCHANT_NO = re.compile(r"[A-Za-z0-9_\-|*]{1,64}")
NOTIFICATION_FIELDS = (
    "appid", "mch_id", "nonce_str", "out_trade_no", "transaction_id", "total_fee",
    "trade_state", "time_end",
)


class TradeState(StrEnum):
    """WeChat Pay's ``trade_state`` of a payment."""

    NOTPAY = "NOTPAY"  # created, not (yet) paid
    SUCCESS = "SUCCESS"  # paid
    CLOSED = "CLOSED"  # closed by the merchant, or expired unpaid: can no longer be paid
    REFUND = "REFUND"  # paid, and (part of) it refunded (转入退款)
    PAYERROR = "PAYERROR"  # the payer's bank refused (real gateways; the simulator never does)

    @property
    def was_paid(self) -> bool:
        return self in (TradeState.SUCCESS, TradeState.REFUND)


class RefundStatus(StrEnum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class RefundFailure(StrEnum):
    ORDER_NOT_EXIST = "ORDER_NOT_EXIST"  # no payment with that out_trade_no
    TRADE_NOT_PAID = "TRADE_NOT_PAID"  # the payment was never paid: nothing to give back
    NOT_ENOUGH = "NOT_ENOUGH"  # more than what is left of the paid amount
    # WeChat Pay v3 only: the refund was accepted, then ended without the money going back.
    CLOSED = "CLOSED"  # closed by the gateway (退款关闭)
    ABNORMAL = "ABNORMAL"  # the payer's card or account refused it (退款异常): handled by hand


@dataclass(frozen=True)
class GatewayPayment:
    out_trade_no: str
    prepay_id: str
    pay_url: str  # the gateway's confirm page: relative to the gateway's site, or absolute
    amount_fen: int
    expires_at: datetime


@dataclass(frozen=True)
class GatewayQueryResult:
    out_trade_no: str
    trade_state: TradeState
    transaction_id: str | None  # the gateway's number, once paid
    amount_fen: int
    paid_at: datetime | None
    refunded_fen: int = 0


@dataclass(frozen=True)
class GatewayRefund:
    out_refund_no: str
    out_trade_no: str
    amount_fen: int
    status: RefundStatus
    failure_reason: RefundFailure | None = None
    refund_id: str | None = None  # the gateway's number, when it succeeded
    created_at: datetime | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is RefundStatus.SUCCESS


@dataclass(frozen=True)
class PaymentNotification:
    """A verified payment notification: the signature was right. Whether it matches one of the
    merchant's orders (number, amount) is for the merchant to check."""

    out_trade_no: str
    transaction_id: str
    amount_fen: int
    trade_state: TradeState
    paid_at: datetime
    nonce: str


@dataclass(frozen=True)
class RefundNotification:
    """A verified refund notification (WeChat Pay v3 ``REFUND.*``). It only says that something
    happened to the refund: the merchant settles it by asking again with its out_refund_no."""

    out_refund_no: str
    out_trade_no: str
    refund_id: str
    amount_fen: int
    refund_status: str  # SUCCESS | CLOSED | ABNORMAL


@dataclass(frozen=True)
class GatewayStatement:
    """The gateway's statement (对账单, WeChat Pay's downloadbill): paid payments and successful
    refunds in a period."""

    payments: list[GatewayQueryResult]
    refunds: list[GatewayRefund]


class GatewayError(Exception):
    """Base class of gateway failures."""


class GatewayRequestConflict(GatewayError):
    """The request contradicts an earlier one or the payment's state (another amount for a known
    out_trade_no, another trade or amount for a known out_refund_no, closing a paid payment,
    paying a closed one)."""


class TradeNotFound(GatewayError):
    """No payment with that out_trade_no (or prepay_id)."""


class GatewayUnavailable(GatewayError, RemoteUnavailable):
    """The outcome is unknown (timeout, connection lost): resolve it with ``query``."""


class InvalidNotification(GatewayError):
    """A notification body that is malformed, incomplete, or not signed with the merchant key."""


class PaymentGateway(Protocol):
    def create_payment(
        self,
        out_trade_no: str,
        amount_fen: int,
        description: str,
        notify_url: str,
        return_url: str,
        *,
        expires_at: datetime | None = None,
        payer_ip: str | None = None,
    ) -> GatewayPayment:
        """Create (统一下单) the payment, or return the existing one for a known out_trade_no
        with the same amount; another amount raises ``GatewayRequestConflict``.

        ``expires_at`` (the order's own expiry) and ``payer_ip`` (the payer's address when the
        order was written) are what the caller kept with the order, so that asking again with
        the same number sends the same parameters (WeChat Pay refuses a repeat that differs).
        Gateways that do not use them ignore them."""
        ...

    def query(self, out_trade_no: str) -> GatewayQueryResult | None:
        """The payment's current state, or None if the gateway never got it."""
        ...

    def close(self, out_trade_no: str) -> None:
        """Make an unpaid payment unpayable (idempotent). Raises ``GatewayRequestConflict`` if
        it was paid and ``TradeNotFound`` if it is unknown."""
        ...

    def refund(
        self, out_refund_no: str, out_trade_no: str, amount_fen: int, reason: str
    ) -> GatewayRefund:
        """Give back (part of) a paid payment. Idempotent on out_refund_no; refunds of a payment
        never total more than was paid; refusals are answers (status FAILED), not exceptions."""
        ...

    def verify_notification(
        self, body: bytes, headers: Mapping[str, str]
    ) -> PaymentNotification | RefundNotification:
        """Parse a notification (its body and HTTP headers) and check its signature; raises
        ``InvalidNotification``. Gateways that sign in the body (the simulator) ignore
        ``headers``; WeChat Pay v3 signs with ``Wechatpay-Signature`` and its siblings. Only
        gateways that notify refunds answer ``RefundNotification``."""
        ...

    def statement(self, since: datetime | None = None,
                  until: datetime | None = None) -> GatewayStatement:
        """Payments paid and refunds made in ``[since, until)`` (everything when unbounded)."""
        ...


# --- keys and signatures ---------------------------------------------------------------------


def default_merchant_key(secret_key: str) -> str:
    """The merchant API key when none is configured: derived from the application secret."""
    return hash_secret(secret_key, "gateway-merchant-key")


def signing_string(params: Mapping[str, str], key: str) -> str:
    items = sorted(
        (name, value) for name, value in params.items() if name != SIGN_FIELD and value != ""
    )
    return "&".join(f"{name}={value}" for name, value in items) + f"&key={key}"


def sign(params: Mapping[str, str], key: str) -> str:
    """WeChat Pay v2 HMAC-SHA256 signature of ``params`` (upper-case hex)."""
    digest = hmac.new(key.encode(), signing_string(params, key).encode(), hashlib.sha256)
    return digest.hexdigest().upper()


def has_valid_signature(params: Mapping[str, str], key: str) -> bool:
    given = params.get(SIGN_FIELD)
    if not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(sign(params, key).encode(), given.upper().encode())


def format_time(instant: datetime) -> str:
    return instant.astimezone(CHINA_TZ).strftime(TIME_FORMAT)


def parse_time(raw: str) -> datetime:
    """China time ``yyyyMMddHHmmss`` as an aware UTC datetime."""
    if not re.fullmatch(r"[0-9]{14}", raw):
        raise ValueError("time must be yyyyMMddHHmmss")
    return datetime.strptime(raw, TIME_FORMAT).replace(tzinfo=CHINA_TZ).astimezone(UTC)


def encode_notification(
    notification: PaymentNotification, key: str, *, app_id: str, mch_id: str
) -> bytes:
    """The signed JSON body of a notification."""
    params = {
        "appid": app_id,
        "mch_id": mch_id,
        "nonce_str": notification.nonce,
        "out_trade_no": notification.out_trade_no,
        "transaction_id": notification.transaction_id,
        "total_fee": str(notification.amount_fen),
        "trade_state": notification.trade_state.value,
        "time_end": format_time(notification.paid_at),
    }
    params[SIGN_FIELD] = sign(params, key)
    return json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise InvalidNotification(f"duplicate field {name!r}")
        result[name] = value
    return result


def decode_notification(
    body: bytes, key: str, *, app_id: str | None = None, mch_id: str | None = None
) -> PaymentNotification:
    """Parse and verify a notification body; raises ``InvalidNotification``.

    Fields beyond the known ones are covered by the signature and otherwise ignored. With
    ``app_id`` / ``mch_id`` given, the notification must name them.
    """
    if len(body) > MAX_NOTIFICATION_BYTES:
        raise InvalidNotification("body too large")
    try:
        params = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, InvalidNotification):
            raise
        raise InvalidNotification("body is not JSON") from exc
    if not isinstance(params, dict):
        raise InvalidNotification("body is not a JSON object")
    if not all(isinstance(value, str) for value in params.values()):
        raise InvalidNotification("every value must be a string")
    missing = [name for name in (*NOTIFICATION_FIELDS, SIGN_FIELD) if not params.get(name)]
    if missing:
        raise InvalidNotification(f"missing fields: {', '.join(missing)}")
    if not has_valid_signature(params, key):
        raise InvalidNotification("bad signature")
    if app_id is not None and params["appid"] != app_id:
        raise InvalidNotification("notification for another app")
    if mch_id is not None and params["mch_id"] != mch_id:
        raise InvalidNotification("notification for another merchant")
    total_fee = params["total_fee"]
    if not re.fullmatch(r"[1-9][0-9]{0,15}", total_fee):
        raise InvalidNotification("total_fee must be a positive whole number of fen")
    try:
        trade_state = TradeState(params["trade_state"])
        paid_at = parse_time(params["time_end"])
    except ValueError as exc:
        raise InvalidNotification("bad trade_state or time_end") from exc
    return PaymentNotification(
        out_trade_no=params["out_trade_no"],
        transaction_id=params["transaction_id"],
        amount_fen=int(total_fee),
        trade_state=trade_state,
        paid_at=paid_at,
        nonce=params["nonce_str"],
    )


def check_merchant_no(value: str, label: str) -> str:
    if not isinstance(value, str) or not _MERCHANT_NO.fullmatch(value):
        raise ValueError(
            f"{label} must be 1 to {MERCHANT_NO_MAX_LENGTH} letters, digits or _-|*"
        )
    return value


def check_amount(amount_fen: int) -> int:
    # bool is an int subclass; True fen is a programming error, not one fen.
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValueError("amount_fen must be a positive integer number of fen")
    return amount_fen

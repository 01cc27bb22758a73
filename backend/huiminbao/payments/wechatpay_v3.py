"""``PaymentGateway`` for WeChat Pay API v3 (微信支付 APIv3), H5 orders (JSAPI differs only in
the create call: ``create_jsapi_payment``).

Written on ``cryptography`` and ``requests`` following the published v3 rules, not on the
``wechatpayv3`` SDK: the SDK (2.0.x) hard-codes ``https://api.mch.weixin.qq.com`` (no base URL, so
it cannot be pointed at the local stand-in server the tests use), raises bare ``Exception`` for
bad answers and answers ``(status, text)`` tuples, which leaves the mapping to the port's errors
to us anyway. What this module does, by the v3 rules:

* Requests are signed ``WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",
  timestamp="…",serial_no="…"``: RSA-SHA256 (PKCS#1 v1.5) with the merchant's API private key over
  ``METHOD\\nURL(path?query)\\ntimestamp\\nnonce\\nbody\\n``.
* Answers and notifications are verified with the platform's key in "微信支付公钥" mode:
  ``Wechatpay-Serial`` must be the configured public key id, and ``Wechatpay-Signature`` the
  RSA-SHA256 over ``timestamp\\nnonce\\nbody\\n``; the timestamp must be within 5 minutes.
  (Platform certificates, the older mode, are not supported: configure the public key.)
  WeChat Pay signs its error answers too, so an answer with a body (2xx or 4xx) that is not
  signed is not WeChat Pay's: whatever sent it (a wrong ``WECHATPAY_BASE_URL``, an egress proxy,
  a plain web server) did not tell the outcome, and the call raises ``GatewayUnavailable``. In
  particular "does not exist" is believed only as WeChat Pay's signed JSON error with that
  endpoint's documented code (``ORDER_NOT_EXIST``, ``RESOURCE_NOT_EXISTS``), never from a bare
  HTTP 404, which would make a paid order look unpaid or a refund fail for good.
* Notification resources (``AEAD_AES_256_GCM``) are decrypted with the APIv3 key, and their
  mchid / appid checked; the amount is checked against the order by the caller.

Outcomes: a call that got no (authentic) answer raises ``GatewayUnavailable`` and is resolved by
asking again with the same number — creating (same out_trade_no) and refunding (same
out_refund_no) are idempotent at WeChat Pay. A repeated create must carry exactly the same
parameters, or WeChat Pay answers ``INVALID_REQUEST`` (订单号重复): ``time_expire`` is therefore
the caller's ``expires_at`` (the order's own expiry), not "now plus a while", and the payer's
address is the one the caller kept with the order.

v3 refunds are asynchronous: the answer is usually ``PROCESSING``. ``refund`` polls the refund
query briefly; a refund still processing raises ``GatewayUnavailable`` (never success, never
failure): the refund stays pending on our side and is settled by the refund notification (which
makes the app ask again), by ``settle_refund``'s next try, or by ``huiminbao reconcile``, all
with the same out_refund_no.
A refund WeChat Pay reports ``ABNORMAL`` (退款异常: the payer's card was closed, …) is not a
final failure either: the merchant recovers it (发起异常退款 in the merchant platform, to the
payer's balance or another card), after which it succeeds under the same out_refund_no. It is
logged at ERROR, for staff, and kept pending (``GatewayUnavailable``) until it settles.

The statement is WeChat Pay's trade bill (``GET /v3/bill/tradebill``), one China-time calendar day
per bill: ``statement(since, until)`` downloads the bill of every day that ``[since, until)``
touches and keeps the rows inside it. Unbounded, it covers the last ``statement_days`` days
(default 7) up to now; WeChat Pay makes a day's bill after about 10:00 the next day, so a day whose
bill is not ready yet (or that had no trade: ``NO_STATEMENT_EXIST``) contributes nothing.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import requests
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from huiminbao.core.clock import CHINA_TZ, Clock
from huiminbao.core.config import ConfigError, on_this_machine
from huiminbao.payments.gateway.port import (
    MAX_NOTIFICATION_BYTES,
    NOTIFY_PATH,
    GatewayError,
    GatewayPayment,
    GatewayQueryResult,
    GatewayRefund,
    GatewayRequestConflict,
    GatewayStatement,
    GatewayUnavailable,
    InvalidNotification,
    PaymentNotification,
    RefundFailure,
    RefundNotification,
    RefundStatus,
    TradeNotFound,
    TradeState,
    check_amount,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.mch.weixin.qq.com"
AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
SIGNATURE_WINDOW_SECONDS = 300
APIV3_KEY_LENGTH = 32
PAYMENT_TTL = timedelta(hours=2)
DESCRIPTION_MAX_BYTES = 127
PROBE_OUT_TRADE_NO = "HMBPROBE00000000000000000000"
DEFAULT_REFUND_POLLS: tuple[float, ...] = (0.2, 0.5, 1.0)
_TRADE_STATES = {
    "SUCCESS": TradeState.SUCCESS,
    "REFUND": TradeState.REFUND,
    "NOTPAY": TradeState.NOTPAY,
    "USERPAYING": TradeState.NOTPAY,  # being paid (password pending): not paid yet
    "CLOSED": TradeState.CLOSED,
    "REVOKED": TradeState.CLOSED,  # 已撤销 (micropay only): never payable again
    "PAYERROR": TradeState.PAYERROR,
}
ENV_VARS = (
    "WECHATPAY_MCHID", "WECHATPAY_APPID", "WECHATPAY_CERT_SERIAL_NO",
    "WECHATPAY_PRIVATE_KEY_FILE", "WECHATPAY_APIV3_KEY", "WECHATPAY_PUBLIC_KEY_FILE",
    "WECHATPAY_PUBLIC_KEY_ID", "WECHATPAY_NOTIFY_URL",
)
OPTIONAL_ENV_VARS = ("WECHATPAY_BASE_URL",)


class WechatPayError(GatewayError):
    """WeChat Pay answered with an error this adapter does not turn into a port answer (a bad
    parameter, a missing permission, a signature it refused): a configuration or program fault."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"WeChat Pay answered HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


# --- configuration -----------------------------------------------------------------------------


def _read_file(env: Mapping[str, str], name: str) -> bytes:
    try:
        return Path(env[name]).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {env[name]!r} ({exc.strerror})") from exc


def _checked_url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.netloc:
        return value.rstrip("/") if name == "WECHATPAY_BASE_URL" else value
    if parts.scheme == "http" and on_this_machine(parts.hostname):
        return value.rstrip("/") if name == "WECHATPAY_BASE_URL" else value
    raise ConfigError(f"{name} must be an https URL (http only for 127.0.0.1), not {value!r}")


@dataclass(frozen=True)
class WechatPayConfig:
    """Where and who this merchant is at WeChat Pay, read from ``WECHATPAY_*``."""

    mchid: str
    appid: str
    cert_serial_no: str  # the serial number of the merchant's API certificate
    private_key: rsa.RSAPrivateKey = field(repr=False)
    apiv3_key: bytes = field(repr=False)
    public_key: rsa.RSAPublicKey = field(repr=False)  # 微信支付公钥
    public_key_id: str
    notify_url: str  # our notification endpoint's public https URL; wins over the app's own
    base_url: str = DEFAULT_BASE_URL
    private_key_file: str = ""
    public_key_file: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WechatPayConfig | None:
        """None when no ``WECHATPAY_*`` variable is set; ``ConfigError`` naming the variable
        when some are missing or one is invalid."""
        values = {name: env.get(name, "").strip() for name in (*ENV_VARS, *OPTIONAL_ENV_VARS)}
        if not any(values.values()):
            return None
        missing = [name for name in ENV_VARS if not values[name]]
        if missing:
            raise ConfigError(f"WeChat Pay is partly configured: set {', '.join(missing)}")
        if not values["WECHATPAY_MCHID"].isdigit():
            raise ConfigError("WECHATPAY_MCHID must be the merchant number (digits)")
        apiv3_key = values["WECHATPAY_APIV3_KEY"].encode()
        if len(apiv3_key) != APIV3_KEY_LENGTH:
            raise ConfigError(f"WECHATPAY_APIV3_KEY must be {APIV3_KEY_LENGTH} characters")
        try:
            private_key = serialization.load_pem_private_key(
                _read_file(values, "WECHATPAY_PRIVATE_KEY_FILE"), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError("WECHATPAY_PRIVATE_KEY_FILE is not an unencrypted PEM private key "
                              "(apiclient_key.pem)") from exc
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ConfigError("WECHATPAY_PRIVATE_KEY_FILE must hold an RSA key")
        try:
            public_key = serialization.load_pem_public_key(
                _read_file(values, "WECHATPAY_PUBLIC_KEY_FILE"))
        except (ValueError, TypeError) as exc:
            raise ConfigError("WECHATPAY_PUBLIC_KEY_FILE is not a PEM public key "
                              "(pub_key.pem)") from exc
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise ConfigError("WECHATPAY_PUBLIC_KEY_FILE must hold an RSA public key")
        return cls(
            mchid=values["WECHATPAY_MCHID"],
            appid=values["WECHATPAY_APPID"],
            cert_serial_no=values["WECHATPAY_CERT_SERIAL_NO"].upper(),
            private_key=private_key,
            apiv3_key=apiv3_key,
            public_key=public_key,
            public_key_id=values["WECHATPAY_PUBLIC_KEY_ID"],
            notify_url=_checked_notify_url(values["WECHATPAY_NOTIFY_URL"]),
            base_url=_checked_url(values["WECHATPAY_BASE_URL"] or DEFAULT_BASE_URL,
                                  "WECHATPAY_BASE_URL"),
            private_key_file=values["WECHATPAY_PRIVATE_KEY_FILE"],
            public_key_file=values["WECHATPAY_PUBLIC_KEY_FILE"],
        )

    def describe(self) -> str:
        """Where the gateway points, for logs and ``huiminbao doctor`` (no secrets)."""
        serial = self.cert_serial_no
        masked_serial = f"{serial[:4]}…{serial[-4:]}" if len(serial) > 8 else "…"
        return (f"WeChat Pay API v3 at {self.base_url}: mchid {self.mchid}, appid {self.appid}, "
                f"merchant certificate {masked_serial}, key {self.private_key_file}, "
                f"微信支付公钥 {self.public_key_id} ({self.public_key_file}), "
                f"APIv3 key ****, notify_url {self.notify_url}")


# --- signatures and encryption (the v3 rules) ----------------------------------------------


def nonce_str() -> str:
    return secrets.token_hex(16).upper()


def rsa_sign(key: rsa.RSAPrivateKey, message: str) -> str:
    signature = key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), message, padding.PKCS1v15(),
                   hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def request_message(method: str, url_path: str, timestamp: str, nonce: str, body: str) -> str:
    """What the merchant signs: ``METHOD\\nURL\\ntimestamp\\nnonce\\nbody\\n``."""
    return f"{method}\n{url_path}\n{timestamp}\n{nonce}\n{body}\n"


def answer_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """What the platform signs in answers and notifications: ``timestamp\\nnonce\\nbody\\n``."""
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


def authorization(mchid: str, serial_no: str, key: rsa.RSAPrivateKey, method: str,
                  url_path: str, body: str, *, timestamp: str | None = None,
                  nonce: str | None = None) -> str:
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or nonce_str()
    signature = rsa_sign(key, request_message(method, url_path, timestamp, nonce, body))
    return (f'{AUTH_SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{serial_no}"')


def parse_authorization(header: str) -> dict[str, str] | None:
    scheme, _, rest = header.partition(" ")
    if scheme != AUTH_SCHEME:
        return None
    params: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or len(value) < 2 or not (value.startswith('"') and value.endswith('"')):
            return None
        params[name] = value[1:-1]
    return params


def aes_gcm_encrypt(key: bytes, nonce: str, associated_data: str, plaintext: bytes) -> str:
    return base64.b64encode(
        AESGCM(key).encrypt(nonce.encode(), plaintext, associated_data.encode())).decode()


def aes_gcm_decrypt(key: bytes, nonce: str, associated_data: str, ciphertext: str) -> bytes:
    return AESGCM(key).decrypt(nonce.encode(), base64.b64decode(ciphertext, validate=True),
                               associated_data.encode())


def fresh(timestamp: str, now: float | None = None) -> bool:
    if not timestamp.isdigit():
        return False
    now = time.time() if now is None else now
    return abs(now - int(timestamp)) <= SIGNATURE_WINDOW_SECONDS


def rfc3339(instant: datetime) -> str:
    return instant.astimezone(CHINA_TZ).isoformat(timespec="seconds")


def parse_rfc3339(raw: str) -> datetime:
    parsed = datetime.fromisoformat(raw)
    if parsed.tzinfo is None:
        raise ValueError("time without offset")
    return parsed.astimezone(UTC)


def fen_of_yuan(raw: str) -> int:
    """``"150.00"`` (a bill's amount in yuan) as 15000 fen."""
    try:
        fen = Decimal(raw) * 100
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {raw!r}") from exc
    if fen != fen.to_integral_value():
        raise ValueError(f"not a whole number of fen: {raw!r}")
    return int(fen)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


# --- the bill ------------------------------------------------------------------------------

# Columns of the trade bill (交易账单, bill_type=ALL) this adapter reads.
BILL_TIME, BILL_APPID, BILL_MCHID = "交易时间", "公众账号ID", "商户号"
BILL_TRANSACTION_ID, BILL_OUT_TRADE_NO, BILL_STATE = "微信订单号", "商户订单号", "交易状态"
BILL_TOTAL, BILL_REFUND_ID, BILL_OUT_REFUND_NO = "应结订单金额", "微信退款单号", "商户退款单号"
BILL_REFUND_AMOUNT, BILL_REFUND_STATE = "退款金额", "退款状态"


def parse_trade_bill(text: str) -> GatewayStatement:
    """WeChat Pay's trade bill CSV: a header row, one row per payment (交易状态 SUCCESS) or
    refund (REFUND), every value prefixed with a backquote, then a summary header
    (``总交易单数,…``) and its row. Amounts are yuan with two decimals; times China time."""
    payments: list[GatewayQueryResult] = []
    refunds: list[GatewayRefund] = []
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        return GatewayStatement(payments, refunds)
    header = [name.strip() for name in rows[0]]
    for raw in rows[1:]:
        if not raw or raw[0].strip().startswith("总"):
            break  # the summary
        row = dict(zip(header, (value.strip().removeprefix("`") for value in raw), strict=False))
        at = datetime.strptime(row[BILL_TIME], "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=CHINA_TZ).astimezone(UTC)
        if row[BILL_STATE] == "SUCCESS":
            payments.append(GatewayQueryResult(
                out_trade_no=row[BILL_OUT_TRADE_NO], trade_state=TradeState.SUCCESS,
                transaction_id=row[BILL_TRANSACTION_ID], amount_fen=fen_of_yuan(row[BILL_TOTAL]),
                paid_at=at))
        elif row[BILL_STATE] == "REFUND" and row.get(BILL_REFUND_STATE) == "SUCCESS":
            refunds.append(GatewayRefund(
                out_refund_no=row[BILL_OUT_REFUND_NO], out_trade_no=row[BILL_OUT_TRADE_NO],
                amount_fen=fen_of_yuan(row[BILL_REFUND_AMOUNT]), status=RefundStatus.SUCCESS,
                refund_id=row[BILL_REFUND_ID], created_at=at))
    return GatewayStatement(payments, refunds)


# --- the adapter -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    data: Any  # parsed JSON, or None

    def is_error(self, *codes: str) -> bool:
        """WeChat Pay's (signed: ``_call`` refused anything else) JSON error with one of
        ``codes``. Not-found is answered 404; business refusals 400 or 403."""
        return 400 <= self.status < 500 and _code(self.data) in codes


class WechatPayV3Gateway:
    """``PaymentGateway`` over WeChat Pay API v3 (H5; JSAPI via ``create_jsapi_payment``)."""

    def __init__(
        self,
        config: WechatPayConfig,
        clock: Clock,
        *,
        timeout: float = 10.0,
        refund_polls: tuple[float, ...] = DEFAULT_REFUND_POLLS,
        statement_days: int = 7,
        session: requests.Session | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._timeout = timeout
        self._refund_polls = refund_polls
        self._statement_days = statement_days
        self._http = session or requests.Session()
        if on_this_machine(urlsplit(config.base_url).hostname):
            self._http.trust_env = False  # never through a proxy to a local server

    @property
    def clock(self) -> Clock:
        return self._clock

    def describe(self) -> str:
        return self.config.describe()

    def probe(self) -> None:
        """A harmless signed call (the query of a number never used): raises unless WeChat Pay
        answers, authentically (signed ``ORDER_NOT_EXIST``), that it does not know it; a plain
        web server's 404 fails it."""
        result = self.query(PROBE_OUT_TRADE_NO)
        if result is not None:
            raise GatewayError(f"probe number {PROBE_OUT_TRADE_NO} unexpectedly exists")

    # --- HTTP ----------------------------------------------------------------------------------

    def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None, *,
              verify: bool = True) -> _Answer:
        body = "" if payload is None else json.dumps(payload, ensure_ascii=False,
                                                      separators=(",", ":"))
        url = path if path.startswith(("http://", "https://")) else self.config.base_url + path
        parts = urlsplit(url)
        signed_path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {
            "Authorization": authorization(self.config.mchid, self.config.cert_serial_no,
                                           self.config.private_key, method, signed_path, body),
            "Accept": "application/json",
            "User-Agent": "huiminbao-wechatpay-v3/1",
            "Wechatpay-Serial": self.config.public_key_id,
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(method, url, data=body.encode() or None,
                                          headers=headers, timeout=self._timeout,
                                          allow_redirects=False)
            raw = response.content
        except requests.RequestException as exc:
            raise GatewayUnavailable(f"{method} {parts.path}: {type(exc).__name__}") from exc
        status = response.status_code
        what = f"{method} {parts.path}"
        if status >= 500 or status == 429:
            raise GatewayUnavailable(f"{what}: HTTP {status}")
        if not 200 <= status < 300 and not raw:
            # WeChat Pay's errors always carry a JSON body: a bare status is someone else's.
            log.error("WeChat Pay call %s answered HTTP %s without a body: not WeChat Pay's "
                      "answer (check WECHATPAY_BASE_URL and any proxy)", what, status)
            raise GatewayUnavailable(f"{what}: HTTP {status} without a body")
        if raw and (verify or not 200 <= status < 300):
            self._verify_answer(response.headers, raw, what, status)
        data = None
        if raw and "json" in response.headers.get("Content-Type", ""):
            try:
                data = json.loads(raw)
            except ValueError as exc:
                raise GatewayUnavailable(f"{what}: answer is not JSON") from exc
        if not 200 <= status < 300 and not isinstance(data, dict):
            raise GatewayUnavailable(f"{what}: HTTP {status} answer is not a JSON error")
        return _Answer(status, raw, data)

    def _verify_answer(self, headers: Mapping[str, str], body: bytes, what: str,
                       status: int) -> None:
        if not self._signed_by_platform(_lower(headers), body):
            # Not WeChat Pay's answer (or the wrong key configured): what happened is unknown.
            log.error("WeChat Pay answer to %s (HTTP %s) has no valid platform signature; check "
                      "WECHATPAY_BASE_URL, any proxy and WECHATPAY_PUBLIC_KEY_*", what, status)
            raise GatewayUnavailable(f"{what}: HTTP {status} answer not signed by WeChat Pay")

    def _signed_by_platform(self, headers: Mapping[str, str], body: bytes) -> bool:
        signature = headers.get("wechatpay-signature", "")
        timestamp = headers.get("wechatpay-timestamp", "")
        nonce = headers.get("wechatpay-nonce", "")
        serial = headers.get("wechatpay-serial", "")
        if not (signature and nonce and serial == self.config.public_key_id and fresh(timestamp)):
            return False
        return rsa_verify(self.config.public_key, answer_message(timestamp, nonce, body),
                          signature)

    @staticmethod
    def _refused(answer: _Answer, what: str) -> GatewayError:
        """The error for an answer the caller does not turn into a port answer: WeChat Pay's
        signed JSON error (``WechatPayError``), or a 2xx without the JSON object expected
        (``GatewayUnavailable``: e.g. an empty 204 from something that is not WeChat Pay)."""
        if 200 <= answer.status < 300 or not isinstance(answer.data, dict):
            log.error("WeChat Pay call %s answered HTTP %s without the expected JSON",
                      what, answer.status)
            return GatewayUnavailable(f"{what}: HTTP {answer.status} answer not understood")
        error = WechatPayError(answer.status, _code(answer.data),
                               str(answer.data.get("message", "")))
        log.error("%s: %s", what, error)
        return error

    # --- the port ------------------------------------------------------------------------------

    def create_payment(self, out_trade_no: str, amount_fen: int, description: str,
                       notify_url: str, return_url: str, *, expires_at: datetime | None = None,
                       payer_ip: str | None = None) -> GatewayPayment:
        """``POST /v3/pay/transactions/h5``. The pay page is the answer's ``h5_url`` with
        ``redirect_url`` (the URL-encoded return_url, whose domain must be the H5 domain
        registered with WeChat Pay) appended, as WeChat's H5 rules say. The configured
        WECHATPAY_NOTIFY_URL wins over ``notify_url``.

        A repeat with the same out_trade_no must send the same parameters: ``expires_at`` (the
        order's expiry; ``time_expire``) and ``payer_ip`` (required by H5) should be what the
        caller kept with the order. Without them ``time_expire`` is now + 2 hours and the payer's
        address the current request's, which only a first creation can rely on."""
        payload = self._order(out_trade_no, amount_fen, description, expires_at)
        payload["scene_info"] = {"payer_client_ip": payer_ip or _client_ip(),
                                 "h5_info": {"type": "Wap"}}
        answer = self._create("/v3/pay/transactions/h5", out_trade_no, payload)
        h5_url = str(answer.get("h5_url", ""))
        if not h5_url.startswith(("https://", "http://")):
            raise GatewayUnavailable("create answered without an h5_url")
        separator = "&" if urlsplit(h5_url).query else "?"
        pay_url = f"{h5_url}{separator}redirect_url={quote(return_url, safe='')}"
        prepay_id = dict(parse_qsl(urlsplit(h5_url).query)).get("prepay_id", "")
        return GatewayPayment(out_trade_no=out_trade_no, prepay_id=prepay_id, pay_url=pay_url,
                              amount_fen=amount_fen, expires_at=payload["_expires_at"])

    def create_jsapi_payment(self, out_trade_no: str, amount_fen: int, description: str,
                             openid: str, *, expires_at: datetime | None = None
                             ) -> tuple[str, dict[str, str]]:
        """``POST /v3/pay/transactions/jsapi`` (in WeChat, for the payer's ``openid``): the
        prepay_id and the signed parameters for ``WeixinJSBridge.invoke('getBrandWCPayRequest')``.
        ``expires_at`` as for ``create_payment``."""
        payload = self._order(out_trade_no, amount_fen, description, expires_at)
        payload["payer"] = {"openid": openid}
        answer = self._create("/v3/pay/transactions/jsapi", out_trade_no, payload)
        prepay_id = str(answer.get("prepay_id", ""))
        if not prepay_id:
            raise GatewayUnavailable("create answered without a prepay_id")
        timestamp, nonce, package = str(int(time.time())), nonce_str(), f"prepay_id={prepay_id}"
        pay_sign = rsa_sign(self.config.private_key,
                            f"{self.config.appid}\n{timestamp}\n{nonce}\n{package}\n")
        return prepay_id, {"appId": self.config.appid, "timeStamp": timestamp,
                           "nonceStr": nonce, "package": package, "signType": "RSA",
                           "paySign": pay_sign}

    def _order(self, out_trade_no: str, amount_fen: int, description: str,
               expires_at: datetime | None) -> dict[str, Any]:
        if not isinstance(out_trade_no, str) or not 6 <= len(out_trade_no) <= 32:
            raise ValueError("out_trade_no must be 6 to 32 characters for WeChat Pay")
        check_amount(amount_fen)
        encoded = description.encode()[:DESCRIPTION_MAX_BYTES]
        if expires_at is None:
            expires_at = self._clock.now() + PAYMENT_TTL
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be an aware datetime")
        expires_at = expires_at.replace(microsecond=0)
        return {
            "appid": self.config.appid,
            "mchid": self.config.mchid,
            "description": encoded.decode(errors="ignore"),
            "out_trade_no": out_trade_no,
            "time_expire": rfc3339(expires_at),
            "notify_url": self.config.notify_url,
            "amount": {"total": amount_fen, "currency": "CNY"},
            "_expires_at": expires_at,
        }

    def _create(self, path: str, out_trade_no: str, payload: dict[str, Any]) -> dict[str, Any]:
        sent = {name: value for name, value in payload.items() if not name.startswith("_")}
        answer = self._call("POST", path, sent)
        if answer.status == 200 and isinstance(answer.data, dict):
            return answer.data
        code = _code(answer.data)
        if answer.is_error("ORDERPAID", "ORDER_CLOSED", "OUT_TRADE_NO_USED") or (
                answer.is_error("INVALID_REQUEST") and _is_duplicate_order(answer.data)):
            log.warning("WeChat Pay refused out_trade_no %s: %s %s", out_trade_no, code,
                        answer.data.get("message", ""))
            raise GatewayRequestConflict(f"out_trade_no {out_trade_no!r}: {code}")
        raise self._refused(answer, f"create {out_trade_no}")

    def query(self, out_trade_no: str) -> GatewayQueryResult | None:
        """``GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=``; None on
        ``ORDER_NOT_EXIST``. v3 does not tell the refunded amount here: ``refunded_fen`` is 0."""
        answer = self._call("GET", f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no)}?"
                                   + urlencode({"mchid": self.config.mchid}))
        if answer.is_error("ORDER_NOT_EXIST"):
            return None
        if answer.status != 200 or not isinstance(answer.data, dict):
            raise self._refused(answer, f"query {out_trade_no}")
        return self._transaction(answer.data, out_trade_no)

    def _transaction(self, data: Mapping[str, Any], out_trade_no: str) -> GatewayQueryResult:
        if data.get("mchid") != self.config.mchid or data.get("appid") != self.config.appid \
                or data.get("out_trade_no") != out_trade_no:
            raise GatewayUnavailable("query answered for another merchant, app or trade")
        try:
            state = _TRADE_STATES[str(data["trade_state"])]
            amount = data.get("amount") or {}
            total = int(amount["total"]) if "total" in amount else 0
            paid_at = parse_rfc3339(data["success_time"]) if data.get("success_time") else None
        except (KeyError, TypeError, ValueError) as exc:
            raise GatewayUnavailable("query answer not understood") from exc
        return GatewayQueryResult(out_trade_no=out_trade_no, trade_state=state,
                                  transaction_id=data.get("transaction_id") or None,
                                  amount_fen=total, paid_at=paid_at)

    def close(self, out_trade_no: str) -> None:
        """``POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close`` (204)."""
        answer = self._call("POST", f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no)}"
                                    "/close", {"mchid": self.config.mchid})
        if answer.status in (200, 204):
            return
        if answer.is_error("ORDER_NOT_EXIST"):
            raise TradeNotFound(out_trade_no)
        if answer.is_error("ORDERPAID", "TRADE_STATE_ERROR"):
            raise GatewayRequestConflict(f"out_trade_no {out_trade_no!r} was paid")
        raise self._refused(answer, f"close {out_trade_no}")

    def refund(self, out_refund_no: str, out_trade_no: str, amount_fen: int,
               reason: str) -> GatewayRefund:
        """``POST /v3/refund/domestic/refunds``, after asking for the refund number (a resend of
        a known refund is answered from WeChat Pay's record, never sent twice) and the payment
        (refusals that WeChat Pay folds into ``INVALID_REQUEST`` become the port's reasons).
        A refund still ``PROCESSING`` after the brief polls raises ``GatewayUnavailable``."""
        check_amount(amount_fen)
        known = self._refund_record(out_refund_no)
        if known is None:
            payment = self.query(out_trade_no)
            refusal = None
            if payment is None:
                refusal = RefundFailure.ORDER_NOT_EXIST
            elif not payment.trade_state.was_paid:
                refusal = RefundFailure.TRADE_NOT_PAID
            if refusal is not None:
                return GatewayRefund(out_refund_no, out_trade_no, amount_fen,
                                     RefundStatus.FAILED, refusal)
            assert payment is not None
            payload: dict[str, Any] = {
                "out_trade_no": out_trade_no,
                "out_refund_no": out_refund_no,
                "reason": reason[:80],
                "notify_url": self.config.notify_url,
                "amount": {"refund": amount_fen, "total": payment.amount_fen, "currency": "CNY"},
            }
            answer = self._call("POST", "/v3/refund/domestic/refunds", payload)
            code = _code(answer.data)
            if answer.is_error("RESOURCE_NOT_EXISTS"):
                return GatewayRefund(out_refund_no, out_trade_no, amount_fen,
                                     RefundStatus.FAILED, RefundFailure.ORDER_NOT_EXIST)
            if answer.is_error("INVALID_REQUEST"):
                # A concurrent settle may have created this very refund in the meantime (its
                # answer, not a refusal, is then the truth): ask by its number first.
                known = self._refund_record(out_refund_no)
                if known is None:
                    # Paid (asked above), so the business rule refused is the amount left.
                    log.warning("WeChat Pay refused refund %s of %s: INVALID_REQUEST %s",
                                out_refund_no, out_trade_no, answer.data.get("message", ""))
                    return GatewayRefund(out_refund_no, out_trade_no, amount_fen,
                                         RefundStatus.FAILED, RefundFailure.NOT_ENOUGH)
            elif answer.is_error("NOT_ENOUGH", "FREQUENCY_LIMITED") or code == "SYSTEM_ERROR":
                # NOT_ENOUGH here is the merchant's own balance (余额不足): not the payer's
                # answer; nothing moved, and the same number is sent again later.
                log.error("WeChat Pay refused refund %s for now: %s", out_refund_no, code)
                raise GatewayUnavailable(f"refund {out_refund_no}: {code}")
            elif answer.status != 200 or not isinstance(answer.data, dict):
                raise self._refused(answer, f"refund {out_refund_no}")
            else:
                known = answer.data
        for delay in (0.0, *self._refund_polls):
            if delay:
                time.sleep(delay)
                known = self._refund_record(out_refund_no) or known
            outcome = self._refund_outcome(known, out_refund_no, out_trade_no, amount_fen)
            if outcome is not None:
                return outcome
        log.warning("refund %s still processing at WeChat Pay; settled later", out_refund_no)
        raise GatewayUnavailable(f"refund {out_refund_no} still processing")

    def _refund_record(self, out_refund_no: str) -> dict[str, Any] | None:
        """``GET /v3/refund/domestic/refunds/{out_refund_no}``; None when unknown."""
        answer = self._call("GET", f"/v3/refund/domestic/refunds/{quote(out_refund_no)}")
        if answer.is_error("RESOURCE_NOT_EXISTS"):
            return None
        if answer.status != 200 or not isinstance(answer.data, dict):
            raise self._refused(answer, f"refund query {out_refund_no}")
        return answer.data

    @staticmethod
    def _refund_outcome(record: Mapping[str, Any], out_refund_no: str, out_trade_no: str,
                        amount_fen: int) -> GatewayRefund | None:
        amount = record.get("amount") or {}
        if record.get("out_trade_no") != out_trade_no or amount.get("refund") != amount_fen:
            raise GatewayRequestConflict(
                f"out_refund_no {out_refund_no!r} was used for another refund")
        status = record.get("status")
        created = record.get("create_time")
        created_at = parse_rfc3339(created) if isinstance(created, str) else None
        if status == "SUCCESS":
            return GatewayRefund(out_refund_no, out_trade_no, amount_fen, RefundStatus.SUCCESS,
                                 refund_id=record.get("refund_id"), created_at=created_at)
        if status == "CLOSED":
            return GatewayRefund(out_refund_no, out_trade_no, amount_fen, RefundStatus.FAILED,
                                 RefundFailure.CLOSED, refund_id=record.get("refund_id"),
                                 created_at=created_at)
        if status == "ABNORMAL":
            # Recoverable by the merchant (发起异常退款), after which it succeeds under the same
            # number: kept pending, and loud, until staff act on it.
            log.error("WeChat Pay refund %s of %s is ABNORMAL (退款异常): recover it in the "
                      "merchant platform (异常退款); it stays pending until it settles",
                      out_refund_no, out_trade_no)
            raise GatewayUnavailable(f"refund {out_refund_no} ABNORMAL: awaiting the merchant")
        return None  # PROCESSING

    def verify_notification(self, body: bytes, headers: Mapping[str, str]
                            ) -> PaymentNotification | RefundNotification:
        """Check the platform's signature (headers), decrypt the resource with the APIv3 key and
        check that it is ours (mchid, appid)."""
        if len(body) > MAX_NOTIFICATION_BYTES:
            raise InvalidNotification("body too large")
        lowered = _lower(headers)
        if not self._signed_by_platform(lowered, body):
            raise InvalidNotification("bad or missing platform signature")
        try:
            envelope = json.loads(body)
            event_type = str(envelope["event_type"])
            resource = envelope["resource"]
            if resource.get("algorithm") != "AEAD_AES_256_GCM":
                raise InvalidNotification("unknown resource algorithm")
            plain = json.loads(aes_gcm_decrypt(self.config.apiv3_key, resource["nonce"],
                                               resource.get("associated_data", ""),
                                               resource["ciphertext"]))
        except InvalidTag as exc:
            raise InvalidNotification("resource not encrypted with our APIv3 key") from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidNotification("notification not understood") from exc
        if not isinstance(plain, dict) or plain.get("mchid") != self.config.mchid:
            raise InvalidNotification("notification for another merchant")
        try:
            amount = plain["amount"]
            if not isinstance(amount, dict):
                raise InvalidNotification("notification amount is not an object")
            if event_type.startswith("REFUND."):
                return RefundNotification(
                    out_refund_no=str(plain["out_refund_no"]),
                    out_trade_no=str(plain["out_trade_no"]), refund_id=str(plain["refund_id"]),
                    amount_fen=_positive(amount["refund"]),
                    refund_status=str(plain["refund_status"]))
            if event_type != "TRANSACTION.SUCCESS":
                raise InvalidNotification(f"unknown event {event_type}")
            if plain.get("appid") != self.config.appid:
                raise InvalidNotification("notification for another app")
            if amount.get("currency", "CNY") != "CNY":
                raise InvalidNotification("not in CNY")
            return PaymentNotification(
                out_trade_no=str(plain["out_trade_no"]),
                transaction_id=str(plain["transaction_id"]),
                amount_fen=_positive(amount["total"]),
                trade_state=_TRADE_STATES[str(plain["trade_state"])],
                paid_at=parse_rfc3339(str(plain["success_time"])),
                nonce=lowered["wechatpay-nonce"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidNotification("notification resource not understood") from exc

    def statement(self, since: datetime | None = None,
                  until: datetime | None = None) -> GatewayStatement:
        """The trade bills of the China-time days ``[since, until)`` touches (see the module
        docstring for the day granularity), filtered to that interval."""
        now = self._clock.now()
        end = until or now
        start = since or (now - timedelta(days=self._statement_days))
        first = start.astimezone(CHINA_TZ).date()
        last = (end - timedelta(microseconds=1)).astimezone(CHINA_TZ).date()
        payments: list[GatewayQueryResult] = []
        refunds: list[GatewayRefund] = []
        day = first
        while day <= last:
            bill = self._bill(day)
            payments += [p for p in bill.payments
                         if p.paid_at is not None and start <= p.paid_at < end]
            refunds += [r for r in bill.refunds
                        if r.created_at is not None and start <= r.created_at < end]
            day += timedelta(days=1)
        return GatewayStatement(payments, refunds)

    def _bill(self, day: date) -> GatewayStatement:
        answer = self._call("GET", "/v3/bill/tradebill?" + urlencode(
            {"bill_date": day.isoformat(), "bill_type": "ALL"}))
        code = _code(answer.data)
        if code == "NO_STATEMENT_EXIST":
            return GatewayStatement([], [])
        if code == "STATEMENT_CREATING":
            log.warning("WeChat Pay trade bill of %s not ready yet; left out", day)
            return GatewayStatement([], [])
        if answer.status != 200 or not isinstance(answer.data, dict) \
                or not isinstance(answer.data.get("download_url"), str):
            raise self._refused(answer, f"trade bill of {day}")
        download = self._call("GET", answer.data["download_url"], verify=False)
        if download.status != 200:
            raise self._refused(download, f"trade bill download of {day}")
        expected = str(answer.data.get("hash_value", "")).lower()
        if answer.data.get("hash_type", "SHA1") == "SHA1" and expected \
                and hashlib.sha1(download.body).hexdigest() != expected:  # noqa: S324
            raise GatewayUnavailable(f"trade bill of {day}: hash mismatch")
        try:
            return parse_trade_bill(download.body.decode("utf-8"))
        except (ValueError, KeyError) as exc:
            raise GatewayUnavailable(f"trade bill of {day} not understood") from exc


def _code(data: Any) -> str:
    return str(data.get("code", "")) if isinstance(data, dict) else ""


def _is_duplicate_order(data: Any) -> bool:
    """WeChat Pay's documented answer to a repeated out_trade_no with other parameters:
    ``INVALID_REQUEST`` whose message says 订单号重复 (``201 商户订单号重复``)."""
    message = str(data.get("message", "")) if isinstance(data, dict) else ""
    return "订单号重复" in message


def _positive(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("amount must be a positive whole number of fen")
    return value


def _checked_notify_url(raw: str) -> str:
    url = _checked_url(raw, "WECHATPAY_NOTIFY_URL")
    if not urlsplit(url).path.endswith(NOTIFY_PATH):
        raise ConfigError(f"WECHATPAY_NOTIFY_URL must end with {NOTIFY_PATH} (the app's "
                          f"notification endpoint), not {raw!r}")
    return url


def _client_ip() -> str:
    """The payer's address for H5's ``scene_info`` when the caller gave none."""
    from flask import has_request_context, request

    if has_request_context() and request.remote_addr:
        return request.remote_addr
    return "127.0.0.1"

"""A local server that speaks WeChat Pay API v3 as documented, for tests and for trying the real
adapter (``wechatpay_v3``) without WeChat Pay. Never part of a production deployment.

It makes its keys at start: the merchant's RSA 2048 API key (the private half is written for the
merchant to sign with), the platform's RSA 2048 key in "微信支付公钥" mode (its public half is
written with a ``PUB_KEY_ID_…`` id) and a random 32-character APIv3 key. Then it:

* refuses every ``/v3/`` request whose ``Authorization`` is not a valid
  ``WECHATPAY2-SHA256-RSA2048`` signature of the merchant (401 ``SIGN_ERROR``), and signs every
  answer (``Wechatpay-Signature``/``-Timestamp``/``-Nonce``/``-Serial``);
* keeps payments and refunds in memory (one lock): ``POST /v3/pay/transactions/h5`` and
  ``/jsapi``, ``GET …/out-trade-no/{no}``, ``POST …/out-trade-no/{no}/close``,
  ``POST /v3/refund/domestic/refunds`` (answers ``PROCESSING``; the refund succeeds
  ``refund_delay`` seconds later and is notified), ``GET /v3/refund/domestic/refunds/{no}``,
  ``GET /v3/bill/tradebill`` and its download;
* serves the ``h5_url`` page: a mobile page in Chinese with 确认支付 ¥x.xx and 取消;
  confirming pays, queues a signed notification with its resource encrypted
  (``AEAD_AES_256_GCM``) for ``notify_url`` — retried on WeChat Pay's schedule until the
  merchant answers 2xx — and sends the payer on to ``redirect_url``.

Every ``/v3/`` answer that has a body is signed, error answers included, as WeChat Pay does. A
repeated create (same out_trade_no) must carry the very same parameters, or it is answered
``INVALID_REQUEST`` ``201 商户订单号重复``.

``fail_next(operation)`` drops the connection of the next such request after doing it, for
tests of "outcome unknown"; ``answer_next(operation, status, body, signed=…)`` does it and then
answers something else (a bare 404, an unsigned error, …), for tests of answers that are not
WeChat Pay's; ``end_refund(out_refund_no, status)`` ends a refund as the bank does (``SUCCESS``,
``CLOSED`` or ``ABNORMAL``; an ``ABNORMAL`` one may still end ``SUCCESS`` later).

Start it with ``WechatPayStandin().start()`` or ``huiminbao wechatpay serve-standin``.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import logging
import re
import secrets
import socket
import string
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from huiminbao.core.clock import CHINA_TZ, Clock, SystemClock
from huiminbao.core.local_http import LocalStandin
from huiminbao.core.money import format_fen, format_yuan
from huiminbao.payments.wechatpay_v3 import (
    aes_gcm_encrypt,
    answer_message,
    fresh,
    nonce_str,
    parse_authorization,
    request_message,
    rfc3339,
    rsa_sign,
    rsa_verify,
)

log = logging.getLogger(__name__)

# WeChat Pay's documented notification retries: 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/
# 6h/6h after successive failures.
RETRY_SCHEDULE: tuple[float, ...] = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600,
                                     10800, 10800, 10800, 21600, 21600)
_NO = re.compile(r"[A-Za-z0-9_\-|*]{6,64}")
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class _Payment:
    out_trade_no: str
    prepay_id: str
    appid: str
    description: str
    amount: int
    notify_url: str
    time_expire: datetime
    created_at: datetime
    trade_type: str
    request: dict[str, Any] = field(default_factory=dict)  # the create's parameters
    state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: datetime | None = None
    refunded: int = 0


@dataclass
class _Refund:
    out_refund_no: str
    out_trade_no: str
    refund_id: str
    amount: int
    total: int
    reason: str
    notify_url: str | None
    created_at: datetime
    status: str = "PROCESSING"
    success_time: datetime | None = None


@dataclass
class Delivery:
    """One notification and its attempts (for tests)."""

    url: str
    event_type: str
    key: str  # out_trade_no or out_refund_no
    statuses: list[int | str] = field(default_factory=list)
    delivered: bool = False


def _pem_private(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_public(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


class WechatPayStandin(LocalStandin):
    """The stand-in server: ``start()``, ``url``, ``env(notify_url)``, ``stop()``."""

    def __init__(self, *, mchid: str = "1900000109", appid: str = "wxd678efh567hg6787",
                 clock: Clock | None = None, refund_delay: float = 0.3,
                 retry_schedule: tuple[float, ...] = RETRY_SCHEDULE,
                 merchant_name: str = "西湖益联保") -> None:
        self.mchid = mchid
        self.appid = appid
        self.merchant_name = merchant_name
        self.clock: Clock = clock or SystemClock()
        self.refund_delay = refund_delay
        self.retry_schedule = retry_schedule
        self.merchant_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.merchant_serial = secrets.token_hex(20).upper()
        self.platform_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key_id = "PUB_KEY_ID_" + "".join(secrets.choice(string.digits)
                                                     for _ in range(28))
        self.apiv3_key = "".join(secrets.choice(string.ascii_letters + string.digits)
                                 for _ in range(32))
        self._lock = threading.Lock()
        self._payments: dict[str, _Payment] = {}
        self._by_prepay: dict[str, str] = {}
        self._refunds: dict[str, _Refund] = {}
        self._bills: dict[str, bytes] = {}
        self._faults: list[str] = []
        self._answers: dict[str, _Override] = {}
        self.deliveries: list[Delivery] = []
        self._stopping = threading.Event()
        self._timers: list[threading.Timer] = []
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> WechatPayStandin:
        standin = self

        class Handler(_Handler):
            server_standin = standin

        self._serve(Handler, name="wechatpay-standin", host=host, port=port)
        return self

    def stop(self) -> None:
        self._stopping.set()
        for timer in self._timers:
            timer.cancel()
        super().stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> WechatPayStandin:
        return self.start() if self._server is None else self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def env(self, notify_url: str) -> dict[str, str]:
        """The ``WECHATPAY_*`` variables that point an app at this server (key files in a
        temporary directory removed by ``stop``)."""
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="wechatpay-standin-")
        folder = Path(self._dir.name)
        private = folder / "apiclient_key.pem"
        public = folder / "pub_key.pem"
        private.write_bytes(_pem_private(self.merchant_key))
        private.chmod(0o600)
        public.write_bytes(_pem_public(self.platform_key.public_key()))
        return {
            "WECHATPAY_MCHID": self.mchid,
            "WECHATPAY_APPID": self.appid,
            "WECHATPAY_CERT_SERIAL_NO": self.merchant_serial,
            "WECHATPAY_PRIVATE_KEY_FILE": str(private),
            "WECHATPAY_APIV3_KEY": self.apiv3_key,
            "WECHATPAY_PUBLIC_KEY_FILE": str(public),
            "WECHATPAY_PUBLIC_KEY_ID": self.public_key_id,
            "WECHATPAY_NOTIFY_URL": notify_url,
            "WECHATPAY_BASE_URL": self.url,
        }

    # --- for tests ---------------------------------------------------------------------------

    def fail_next(self, operation: str) -> None:
        """Do the next ``operation`` (create, query, close, refund, refund_query), then drop the
        connection without answering."""
        with self._lock:
            self._faults.append(operation)

    def answer_next(self, operation: str, status: int, body: bytes | str | None = None, *,
                    signed: bool = False,
                    content_type: str = "application/json; charset=utf-8") -> None:
        """Do the next ``operation``, then answer ``status`` with ``body`` (signed with the
        platform key only when ``signed``) instead of WeChat Pay's own answer."""
        raw = body.encode() if isinstance(body, str) else (body or b"")
        with self._lock:
            self._answers[operation] = _Override(status, raw, signed, content_type)

    def _take_answer(self, operation: str) -> _Override | None:
        with self._lock:
            return self._answers.pop(operation, None)

    def end_refund(self, out_refund_no: str, status: str) -> None:
        """The bank's answer to a refund: ``SUCCESS``, ``CLOSED`` or ``ABNORMAL`` (退款异常,
        which the merchant may still recover: ``end_refund(no, "SUCCESS")`` afterwards)."""
        if status not in ("SUCCESS", "CLOSED", "ABNORMAL"):
            raise ValueError(f"not a final refund status: {status}")
        with self._lock:
            refund = self._refunds[out_refund_no]
            refund.status = status
            if status == "SUCCESS":
                refund.success_time = self.clock.now().replace(microsecond=0)
            elif status == "CLOSED":
                payment = self._payments[refund.out_trade_no]
                payment.refunded -= refund.amount

    def _take_fault(self, operation: str) -> bool:
        with self._lock:
            if operation in self._faults:
                self._faults.remove(operation)
                return True
            return False

    def pay(self, out_trade_no: str) -> None:
        """The payer confirms (as the page's button does)."""
        with self._lock:
            payment = self._payments[out_trade_no]
            self._pay(payment)

    def payment_state(self, out_trade_no: str) -> str | None:
        with self._lock:
            payment = self._payments.get(out_trade_no)
            return payment.state if payment else None

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def signed_headers(self, body: bytes, *, key: rsa.RSAPrivateKey | None = None,
                       serial: str | None = None, timestamp: str | None = None
                       ) -> dict[str, str]:
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce_str()
        signature = rsa_sign(key or self.platform_key,
                             answer_message(timestamp, nonce, body).decode())
        return {"Wechatpay-Signature": signature, "Wechatpay-Timestamp": timestamp,
                "Wechatpay-Nonce": nonce, "Wechatpay-Serial": serial or self.public_key_id,
                "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}

    def notification(self, event_type: str, resource: Mapping[str, Any], *,
                     apiv3_key: str | None = None, key: rsa.RSAPrivateKey | None = None
                     ) -> tuple[bytes, dict[str, str]]:
        """A notification body and its headers, as WeChat Pay sends them (tests may pass another
        key to forge one)."""
        nonce = secrets.token_hex(6)
        associated = "transaction" if event_type.startswith("TRANSACTION") else "refund"
        plain = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
        body = json.dumps({
            "id": secrets.token_hex(18),
            "create_time": rfc3339(self.clock.now()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功" if associated == "transaction" else "退款成功",
            "resource": {
                "original_type": associated,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": aes_gcm_encrypt((apiv3_key or self.apiv3_key).encode(), nonce,
                                              associated, plain),
                "associated_data": associated,
                "nonce": nonce,
            },
        }, ensure_ascii=False, separators=(",", ":")).encode()
        return body, self.signed_headers(body, key=key)

    def transaction_resource(self, out_trade_no: str) -> dict[str, Any]:
        with self._lock:
            return self._transaction_json(self._payments[out_trade_no])

    # --- the model ---------------------------------------------------------------------------

    def _transaction_json(self, payment: _Payment) -> dict[str, Any]:
        now = self.clock.now()
        state = payment.state
        if state == "NOTPAY" and now >= payment.time_expire:
            state = "CLOSED"
        data: dict[str, Any] = {
            "appid": payment.appid, "mchid": self.mchid, "out_trade_no": payment.out_trade_no,
            "trade_type": payment.trade_type, "trade_state": state,
            "trade_state_desc": {"NOTPAY": "未支付", "SUCCESS": "支付成功", "CLOSED": "已关闭",
                                 "REFUND": "转入退款"}[state],
            "amount": {"total": payment.amount, "currency": "CNY"},
        }
        if payment.transaction_id:
            data.update({
                "transaction_id": payment.transaction_id, "bank_type": "OTHERS",
                "success_time": rfc3339(payment.success_time or now),
                "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            })
            data["amount"].update({"payer_total": payment.amount, "payer_currency": "CNY"})
        return data

    def _refund_json(self, refund: _Refund) -> dict[str, Any]:
        payment = self._payments[refund.out_trade_no]
        data: dict[str, Any] = {
            "refund_id": refund.refund_id, "out_refund_no": refund.out_refund_no,
            "transaction_id": payment.transaction_id, "out_trade_no": refund.out_trade_no,
            "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
            "create_time": rfc3339(refund.created_at), "status": refund.status,
            "funds_account": "AVAILABLE",
            "amount": {"total": refund.total, "refund": refund.amount,
                       "payer_total": refund.total, "payer_refund": refund.amount,
                       "settlement_refund": refund.amount, "settlement_total": refund.total,
                       "discount_refund": 0, "currency": "CNY"},
        }
        if refund.success_time:
            data["success_time"] = rfc3339(refund.success_time)
        return data

    def _pay(self, payment: _Payment) -> bool:
        """With the lock held. False when it cannot be paid."""
        if payment.state != "NOTPAY" or self.clock.now() >= payment.time_expire:
            return False
        now = self.clock.now()
        payment.state = "SUCCESS"
        payment.success_time = now.replace(microsecond=0)
        payment.transaction_id = (f"4200{secrets.randbelow(10**6):06d}"
                                  f"{now.astimezone(CHINA_TZ):%Y%m%d}"
                                  f"{secrets.randbelow(10**10):010d}")
        resource = self._transaction_json(payment)
        self._queue(Delivery(payment.notify_url, "TRANSACTION.SUCCESS", payment.out_trade_no),
                    resource)
        return True

    def _settle_refund(self, out_refund_no: str) -> None:
        with self._lock:
            refund = self._refunds[out_refund_no]
            if refund.status != "PROCESSING":
                return
            refund.status = "SUCCESS"
            refund.success_time = self.clock.now().replace(microsecond=0)
            if not refund.notify_url:
                return
            payment = self._payments[refund.out_trade_no]
            resource = {
                "mchid": self.mchid, "out_trade_no": refund.out_trade_no,
                "transaction_id": payment.transaction_id, "out_refund_no": out_refund_no,
                "refund_id": refund.refund_id, "refund_status": "SUCCESS",
                "success_time": rfc3339(refund.success_time),
                "user_received_account": "支付用户零钱",
                "amount": {"total": refund.total, "refund": refund.amount,
                           "payer_total": refund.total, "payer_refund": refund.amount},
            }
            self._queue(Delivery(refund.notify_url, "REFUND.SUCCESS", out_refund_no), resource)

    # --- notifications -----------------------------------------------------------------------

    def _queue(self, delivery: Delivery, resource: dict[str, Any]) -> None:
        self.deliveries.append(delivery)
        threading.Thread(target=self._deliver, args=(delivery, resource),
                         name="wechatpay-standin-notify", daemon=True).start()

    def _deliver(self, delivery: Delivery, resource: dict[str, Any]) -> None:
        for wait in (0.0, *self.retry_schedule):
            if self._stopping.wait(wait):
                return
            # Each attempt is signed afresh (a new timestamp and nonce), as WeChat Pay does.
            body, headers = self.notification(delivery.event_type, resource)
            request = urllib.request.Request(  # noqa: S310 (http(s) checked at create)
                delivery.url, data=body, method="POST",
                headers={**headers, "Content-Type": "application/json",
                         "User-Agent": "Mozilla/4.0"})
            try:
                with _opener.open(request, timeout=5) as response:
                    status: int | str = int(response.status)
            except urllib.error.HTTPError as exc:
                status = exc.code
                exc.close()
            except OSError as exc:
                status = type(exc).__name__
            delivery.statuses.append(status)
            if isinstance(status, int) and 200 <= status < 300:
                delivery.delivered = True
                return
            log.info("stand-in notification %s to %s not accepted: %s", delivery.key,
                     delivery.url, status)

    # --- the API -----------------------------------------------------------------------------

    def handle_api(self, method: str, path: str, query: dict[str, str], body: bytes,
                   headers: Mapping[str, str]) -> tuple[int, Any, str | None]:
        """(status, JSON answer or bytes, fault operation). Authorization checked already."""
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return 400, _err("PARAM_ERROR", "请求体不是合法的JSON"), None
        if not isinstance(payload, dict):
            return 400, _err("PARAM_ERROR", "请求体不是JSON对象"), None
        match = re.fullmatch(r"/v3/pay/transactions/(h5|jsapi)", path)
        if method == "POST" and match:
            return (*self._create(match.group(1).upper(), payload), "create")
        match = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)", path)
        if method == "GET" and match:
            return (*self._query(match.group(1), query), "query")
        match = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)/close", path)
        if method == "POST" and match:
            return (*self._close(match.group(1), payload), "close")
        if method == "POST" and path == "/v3/refund/domestic/refunds":
            return (*self._refund(payload), "refund")
        match = re.fullmatch(r"/v3/refund/domestic/refunds/([^/]+)", path)
        if method == "GET" and match:
            with self._lock:
                refund = self._refunds.get(match.group(1))
                if refund is None:
                    return 404, _err("RESOURCE_NOT_EXISTS", "退款单不存在"), "refund_query"
                return 200, self._refund_json(refund), "refund_query"
        if method == "GET" and path == "/v3/bill/tradebill":
            return (*self._tradebill(query), "bill")
        if method == "GET" and path == "/v3/billdownload/file":
            data = self._bills.get(query.get("token", ""))
            if data is None:
                return 404, _err("RESOURCE_NOT_EXISTS", "账单文件不存在"), None
            return 200, data, None
        return 404, _err("RESOURCE_NOT_EXISTS", "接口不存在"), None

    def _create(self, trade_type: str, payload: dict[str, Any]) -> tuple[int, Any]:
        try:
            out_trade_no = str(payload["out_trade_no"])
            amount = payload["amount"]["total"]
            notify_url = str(payload["notify_url"])
            description = str(payload["description"])
            time_expire = datetime.fromisoformat(str(payload["time_expire"]))
            appid = str(payload["appid"])
        except (KeyError, TypeError, ValueError):
            return 400, _err("PARAM_ERROR", "缺少必填参数或格式错误")
        if payload.get("mchid") != self.mchid or appid != self.appid:
            return 400, _err("PARAM_ERROR", "appid和mch_id不匹配")
        if not (_NO.fullmatch(out_trade_no) and len(out_trade_no) <= 32) \
                or not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0 \
                or not notify_url.startswith(("http://", "https://")) \
                or time_expire.tzinfo is None or len(description.encode()) > 127:
            return 400, _err("PARAM_ERROR", "参数格式错误")
        if trade_type == "H5" and not payload.get("scene_info", {}).get("payer_client_ip"):
            return 400, _err("PARAM_ERROR", "scene_info.payer_client_ip 必填")
        if trade_type == "JSAPI" and not payload.get("payer", {}).get("openid"):
            return 400, _err("PARAM_ERROR", "payer.openid 必填")
        with self._lock:
            payment = self._payments.get(out_trade_no)
            if payment is not None:
                if payment.state == "SUCCESS" or payment.state == "REFUND":
                    return 400, _err("ORDERPAID", "该订单已支付")
                if payment.state == "CLOSED":
                    return 400, _err("ORDER_CLOSED", "订单已关闭")
                if payment.trade_type != trade_type or payment.request != payload:
                    # Any parameter that differs from the first request, as WeChat Pay does.
                    return 400, _err("INVALID_REQUEST", "201 商户订单号重复")
            else:
                now = self.clock.now()
                prepay_id = f"wx{now.astimezone(CHINA_TZ):%d%H%M%S}{secrets.token_hex(12)}"
                payment = _Payment(out_trade_no, prepay_id, appid, description, amount,
                                   notify_url, time_expire.astimezone(UTC), now, trade_type,
                                   request=payload)
                self._payments[out_trade_no] = payment
                self._by_prepay[prepay_id] = out_trade_no
            if trade_type == "JSAPI":
                return 200, {"prepay_id": payment.prepay_id}
            return 200, {"h5_url": f"{self.url}/pay/h5?prepay_id={payment.prepay_id}"
                                   "&package=1405458241"}

    def _on_payment(self, out_trade_no: str, mchid: object,
                    act: Callable[[_Payment], tuple[int, Any]]) -> tuple[int, Any]:
        """``act`` on this merchant's payment, under the lock; 400 for another merchant's id,
        404 for an unknown out_trade_no."""
        if mchid != self.mchid:
            return 400, _err("PARAM_ERROR", "mchid 错误")
        with self._lock:
            payment = self._payments.get(out_trade_no)
            if payment is None:
                return 404, _err("ORDER_NOT_EXIST", "订单不存在")
            return act(payment)

    def _query(self, out_trade_no: str, query: Mapping[str, str]) -> tuple[int, Any]:
        return self._on_payment(out_trade_no, query.get("mchid"),
                                lambda payment: (200, self._transaction_json(payment)))

    def _close(self, out_trade_no: str, payload: Mapping[str, Any]) -> tuple[int, Any]:
        def close(payment: _Payment) -> tuple[int, Any]:
            if payment.state in ("SUCCESS", "REFUND"):
                return 400, _err("ORDERPAID", "订单已支付")
            payment.state = "CLOSED"
            return 204, None

        return self._on_payment(out_trade_no, payload.get("mchid"), close)

    def _refund(self, payload: dict[str, Any]) -> tuple[int, Any]:
        try:
            out_trade_no = str(payload["out_trade_no"])
            out_refund_no = str(payload["out_refund_no"])
            amount = payload["amount"]["refund"]
            total = payload["amount"]["total"]
        except (KeyError, TypeError):
            return 400, _err("PARAM_ERROR", "缺少必填参数")
        if not _NO.fullmatch(out_refund_no) or not isinstance(amount, int) or amount <= 0:
            return 400, _err("PARAM_ERROR", "参数格式错误")
        notify_url = payload.get("notify_url")
        with self._lock:
            known = self._refunds.get(out_refund_no)
            if known is not None:
                if known.out_trade_no != out_trade_no or known.amount != amount:
                    return 400, _err("INVALID_REQUEST", "退款单号重复，参数与原请求不一致")
                return 200, self._refund_json(known)
            payment = self._payments.get(out_trade_no)
            if payment is None:
                return 404, _err("RESOURCE_NOT_EXISTS", "订单不存在")
            if payment.state not in ("SUCCESS", "REFUND"):
                return 400, _err("INVALID_REQUEST", "订单未支付，不能退款")
            if total != payment.amount:
                return 400, _err("INVALID_REQUEST", "订单金额与实际不符")
            if amount > payment.amount - payment.refunded:
                return 400, _err("INVALID_REQUEST", "退款金额超过订单可退金额")
            now = self.clock.now().replace(microsecond=0)
            refund = _Refund(out_refund_no, out_trade_no,
                             f"50000{secrets.randbelow(10**24):024d}", amount, total,
                             str(payload.get("reason", "")),
                             str(notify_url) if notify_url else None, now)
            self._refunds[out_refund_no] = refund
            payment.refunded += amount
            payment.state = "REFUND"
            answer = self._refund_json(refund)
        timer = threading.Timer(self.refund_delay, self._settle_refund, args=(out_refund_no,))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()
        return 200, answer

    def _tradebill(self, query: Mapping[str, str]) -> tuple[int, Any]:
        try:
            day = date.fromisoformat(query.get("bill_date", ""))
        except ValueError:
            return 400, _err("PARAM_ERROR", "bill_date 格式错误")
        text = self._bill_csv(day)
        if text is None:
            return 400, _err("NO_STATEMENT_EXIST", "当日无交易，账单不存在")
        data = text.encode("utf-8")
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._bills[token] = data
        return 200, {"hash_type": "SHA1",
                     "hash_value": hashlib.sha1(data).hexdigest(),  # noqa: S324 (WeChat's)
                     "download_url": f"{self.url}/v3/billdownload/file?token={token}"}

    def _bill_csv(self, day: date) -> str | None:
        def on_day(instant: datetime | None) -> bool:
            return instant is not None and instant.astimezone(CHINA_TZ).date() == day

        def row(values: list[str]) -> str:
            return ",".join(f"`{value}" for value in values)

        header = ",".join((
            "交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号",
            "商户订单号", "用户标识", "交易类型", "交易状态", "付款银行", "货币种类",
            "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额",
            "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费",
            "费率", "订单金额", "申请退款金额", "费率备注"))
        lines: list[str] = []
        paid_total = refund_total = 0
        with self._lock:
            for p in self._payments.values():
                if p.transaction_id and on_day(p.success_time):
                    assert p.success_time is not None
                    paid_total += p.amount
                    lines.append(row([
                        f"{p.success_time.astimezone(CHINA_TZ):%Y-%m-%d %H:%M:%S}", p.appid,
                        self.mchid, "0", "", p.transaction_id, p.out_trade_no, "oUpF8u",
                        p.trade_type, "SUCCESS", "OTHERS", "CNY", format_yuan(p.amount),
                        "0.00", "0",
                        "0", "0.00", "0.00", "", "", _cell(p.description), "", "0.00", "0.60%",
                        format_yuan(p.amount), "0.00", ""]))
            for r in self._refunds.values():
                if r.status == "SUCCESS" and on_day(r.success_time):
                    assert r.success_time is not None
                    p = self._payments[r.out_trade_no]
                    refund_total += r.amount
                    lines.append(row([
                        f"{r.success_time.astimezone(CHINA_TZ):%Y-%m-%d %H:%M:%S}", p.appid,
                        self.mchid, "0", "", p.transaction_id or "", p.out_trade_no, "oUpF8u",
                        p.trade_type, "REFUND", "OTHERS", "CNY", "0.00", "0.00", r.refund_id,
                        r.out_refund_no, format_yuan(r.amount), "0.00", "ORIGINAL", "SUCCESS",
                        _cell(p.description), "", "0.00", "0.60%", "0.00",
                        format_yuan(r.amount),
                        ""]))
        if not lines:
            return None
        summary = ("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,"
                   "申请退款总金额")
        totals = row([str(len(lines)), format_yuan(paid_total), format_yuan(refund_total),
                      "0.00", "0.00",
                      format_yuan(paid_total), format_yuan(refund_total)])
        return "\r\n".join([header, *lines, summary, totals]) + "\r\n"

    def authorized(self, method: str, path_query: str, body: bytes,
                   header: str | None) -> bool:
        params = parse_authorization(header or "")
        if params is None or params.get("mchid") != self.mchid \
                or params.get("serial_no", "").upper() != self.merchant_serial \
                or not fresh(params.get("timestamp", "")):
            return False
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        message = request_message(method, path_query, params["timestamp"],
                                  params.get("nonce_str", ""), text)
        return rsa_verify(self.merchant_key.public_key(), message.encode(),
                          params.get("signature", ""))

    # --- the payer's page --------------------------------------------------------------------

    def page_token(self, prepay_id: str) -> str:
        return hashlib.sha256(f"{self.apiv3_key}:{prepay_id}".encode()).hexdigest()[:32]

    def pay_page(self, prepay_id: str, redirect_url: str, message: str | None = None) -> str:
        with self._lock:
            out_trade_no = self._by_prepay.get(prepay_id)
            payment = self._payments.get(out_trade_no) if out_trade_no else None
            state = self._transaction_json(payment)["trade_state"] if payment else None
        esc = html.escape
        if payment is None:
            content = "<p>未找到该支付订单，请返回商户重新发起支付。</p>"
        elif state != "NOTPAY":
            content = (f"<p class=\"amount\">{format_fen(payment.amount)}</p><p>"
                       + ("该订单已支付。" if state in ("SUCCESS", "REFUND") else "该订单已关闭。")
                       + "</p>")
        else:
            content = (
                f"<p>{esc(self.merchant_name)}</p><p>{esc(payment.description)}</p>"
                f"<p class=\"amount\">{format_fen(payment.amount)}</p>"
                f"<form method=\"post\" action=\"/pay/h5/confirm\">"
                f"<input type=\"hidden\" name=\"prepay_id\" value=\"{esc(prepay_id)}\">"
                f"<input type=\"hidden\" name=\"token\" value=\"{self.page_token(prepay_id)}\">"
                f"<input type=\"hidden\" name=\"redirect_url\" value=\"{esc(redirect_url)}\">"
                f"<button type=\"submit\">确认支付 {format_fen(payment.amount)}</button></form>")
        back = (f"<p><a href=\"{esc(redirect_url)}\">取消并返回商户</a></p>"
                if redirect_url.startswith(("http://", "https://")) else "")
        alert = f"<p role=\"alert\">{esc(message)}</p>" if message else ""
        return (
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>微信支付（本地模拟）</title><style>body{font-family:sans-serif;max-width:28em;"
            "margin:2em auto;padding:0 1em;text-align:center}.amount{font-size:2em}"
            "button{width:100%;padding:.8em;font-size:1.1em;background:#07c160;color:#fff;"
            "border:0;border-radius:6px}</style></head><body><h1>微信支付</h1>"
            f"{alert}{content}{back}</body></html>")


def _cell(text: str) -> str:
    """A bill cell: the bill is plain comma-separated text, without quoting."""
    return text.replace(",", "，").replace("\n", " ").replace("`", "'")


def _err(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


@dataclass(frozen=True)
class _Override:
    """An answer ``answer_next`` put in place of the next one."""

    status: int
    body: bytes
    signed: bool
    content_type: str


class _Handler(BaseHTTPRequestHandler):
    server_standin: WechatPayStandin
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("stand-in: " + format, *args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, 1 << 20)) if length else b""

    def _send(self, status: int, payload: Any, *, signed: bool = True,
              content_type: str = "application/json; charset=utf-8",
              headers: Mapping[str, str] | None = None) -> None:
        if isinstance(payload, bytes):
            raw = payload
            content_type = "application/octet-stream"
        elif isinstance(payload, str):
            raw = payload.encode()
        else:
            raw = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        if raw:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Request-ID", secrets.token_hex(16))
        if signed and raw and content_type.startswith("application/json"):
            for name, value in self.server_standin.signed_headers(raw).items():
                self.send_header(name, value)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _api(self, method: str) -> None:
        standin = self.server_standin
        parts = urlsplit(self.path)
        body = self._body()
        if not standin.authorized(method, self.path, body, self.headers.get("Authorization")):
            self._send(401, _err("SIGN_ERROR", "签名错误"))
            return
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        status, payload, operation = standin.handle_api(method, parts.path, query, body,
                                                        dict(self.headers.items()))
        if operation is not None and standin._take_fault(operation):
            self._drop()
            return
        override = standin._take_answer(operation) if operation is not None else None
        if override is not None:
            self.send_response(override.status)
            if override.body:
                self.send_header("Content-Type", override.content_type)
            self.send_header("Content-Length", str(len(override.body)))
            if override.signed:
                for name, value in standin.signed_headers(override.body).items():
                    self.send_header(name, value)
            self.end_headers()
            self.wfile.write(override.body)
            return
        self._send(status, payload, signed=parts.path != "/v3/billdownload/file")

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith("/v3/"):
            self._api("GET")
            return
        if parts.path == "/pay/h5":
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            page = self.server_standin.pay_page(query.get("prepay_id", ""),
                                                query.get("redirect_url", ""))
            self._send(200, page, signed=False, content_type="text/html; charset=utf-8",
                       headers={"Cache-Control": "no-store"})
            return
        self._send(404, _err("RESOURCE_NOT_EXISTS", "不存在"), signed=False)

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith("/v3/"):
            self._api("POST")
            return
        if parts.path == "/pay/h5/confirm":
            standin = self.server_standin
            form = {name: values[0] for name, values in
                    parse_qs(self._body().decode("utf-8", "replace")).items()}
            prepay_id = form.get("prepay_id", "")
            redirect_url = form.get("redirect_url", "")
            if form.get("token") != standin.page_token(prepay_id):
                page = standin.pay_page(prepay_id, redirect_url, "支付页面已失效，请刷新后重试。")
                self._send(403, page, signed=False, content_type="text/html; charset=utf-8")
                return
            with standin._lock:
                out_trade_no = standin._by_prepay.get(prepay_id)
                payment = standin._payments.get(out_trade_no) if out_trade_no else None
                paid = payment is not None and standin._pay(payment)
            if paid and redirect_url.startswith(("http://", "https://")):
                self.send_response(303)
                self.send_header("Location", redirect_url)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send(200 if paid else 409, standin.pay_page(prepay_id, redirect_url),
                       signed=False, content_type="text/html; charset=utf-8")
            return
        self._send(404, _err("RESOURCE_NOT_EXISTS", "不存在"), signed=False)


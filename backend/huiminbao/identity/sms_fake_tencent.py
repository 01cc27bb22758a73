"""A local server speaking Tencent Cloud API 3.0 for SMS (``SendSms``,
``DescribeSmsTemplateList``), for tests and load harnesses: it checks every request's
TC3-HMAC-SHA256 signature against the configured secret, records what it accepted, and can be
told to refuse, to answer errors or to go down.

    fake = FakeTencentSms().start()
    env = fake.env()            # the SMS_* variables pointing at it
    ...
    fake.messages               # every accepted message, in order
    fake.stop()
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from huiminbao.core.local_http import LocalStandin
from huiminbao.identity.sms_domain import SmsTemplate

SECRET_ID = "AKIDfakeSmsSecretId0000000000000000"  # noqa: S105 - the fake's own
SECRET_KEY = "fakeSmsSecretKey000000000000000"  # noqa: S105 - the fake's own test secret
SDK_APP_ID = "1400000000"
SIGN_NAME = "西湖益联保"
MAX_CLOCK_SKEW_SECONDS = 300  # Tencent refuses a timestamp further off than this


def template_ids() -> dict[SmsTemplate, str]:
    """Fixed provider ids for every template: ``login_code`` = 100001, then 100002, …"""
    return {template: str(100001 + index) for index, template in enumerate(SmsTemplate)}


@dataclass(frozen=True)
class ReceivedSms:
    phone: str  # as sent: +8613812345678
    template_id: str
    params: tuple[str, ...]
    sign_name: str
    session_context: str
    serial_no: str

    @property
    def template(self) -> SmsTemplate | None:
        return {v: k for k, v in template_ids().items()}.get(self.template_id)


class FakeTencentSms(LocalStandin):
    """``down``: the connection is closed without an answer (the SDK reports a network
    error). ``fail_code``: each SendSms answers that per-number code (e.g.
    ``LimitExceeded.PhoneNumberDailyLimit``), nothing recorded. ``error_code``: the whole call
    answers ``{"Response": {"Error": …}}``. ``delay``: seconds to wait before answering."""

    def __init__(self, *, secret_id: str = SECRET_ID, secret_key: str = SECRET_KEY,
                 sdk_app_id: str = SDK_APP_ID, sign_name: str = SIGN_NAME) -> None:
        self.secret_id, self.secret_key = secret_id, secret_key
        self.sdk_app_id, self.sign_name = sdk_app_id, sign_name
        self.messages: list[ReceivedSms] = []
        self.requests = 0  # every request that arrived, answered or not
        self.rejected_signatures = 0
        self.down = False
        self.fail_code: str | None = None
        self.error_code: str | None = None
        self.delay = 0.0
        # Seconds to stall *after* the text was accepted (recorded): the client's timeout then
        # hides a delivery that did happen - the crash window the worker's docstring names.
        self.answer_delay = 0.0
        self._lock = threading.Lock()
        self._serials = itertools.count(1)

    # ------------------------------------------------------------ life cycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeTencentSms:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._serve(Handler, name="fake-tencent-sms", host=host, port=port)
        return self

    def env(self) -> dict[str, str]:
        return {
            "SMS_PROVIDER": "tencent",
            "SMS_SECRET_ID": self.secret_id,
            "SMS_SECRET_KEY": self.secret_key,
            "SMS_SDK_APP_ID": self.sdk_app_id,
            "SMS_SIGN_NAME": self.sign_name,
            "SMS_TEMPLATE_IDS": ",".join(f"{key.value}={value}"
                                         for key, value in template_ids().items()),
            "SMS_ENDPOINT": self.url,
            "SMS_REGION": "ap-guangzhou",
        }

    def sent_to(self, phone: str) -> list[ReceivedSms]:
        return [m for m in self.messages if m.phone.removeprefix("+86") == phone]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
        """Whether ``predicate`` held within ``timeout`` seconds (texts come from a worker)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    # ------------------------------------------------------------ requests

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        with self._lock:
            self.requests += 1
        if self.delay:
            time.sleep(self.delay)
        if self.down:
            request.close_connection = True
            return  # no answer at all: the client sees the connection closed
        request_id = str(uuid.uuid4())
        problem = self._signature_problem(request, body)
        if problem is not None:
            with self._lock:
                self.rejected_signatures += 1
            self._answer(request, {"Error": {"Code": problem[0], "Message": problem[1]},
                                   "RequestId": request_id})
            return
        if self.error_code is not None:
            self._answer(request, {"Error": {"Code": self.error_code, "Message": "fake error"},
                                   "RequestId": request_id})
            return
        action = request.headers.get("X-TC-Action", "")
        params = json.loads(body or b"{}")
        if action == "SendSms":
            answer = self._send_sms(params, request_id)
            if self.answer_delay:
                time.sleep(self.answer_delay)
            self._answer(request, answer)
        elif action == "DescribeSmsTemplateList":
            ids = [str(i) for i in params.get("TemplateIdSet") or []]
            known = set(template_ids().values())
            self._answer(request, {"DescribeTemplateStatusSet": [
                {"TemplateId": int(i), "International": 0, "StatusCode": 0 if i in known else -1,
                 "ReviewReply": "", "TemplateName": i, "CreateTime": 0,
                 "TemplateContent": ""} for i in ids], "RequestId": request_id})
        else:
            self._answer(request, {"Error": {"Code": "InvalidAction",
                                             "Message": f"unknown action {action}"},
                                   "RequestId": request_id})

    def _send_sms(self, params: dict[str, Any], request_id: str) -> dict[str, Any]:
        if params.get("SmsSdkAppId") != self.sdk_app_id:
            return {"Error": {"Code": "InvalidParameterValue.SdkAppIdNotExist",
                              "Message": "SdkAppId not exist"}, "RequestId": request_id}
        if params.get("SignName") != self.sign_name:
            return {"Error": {"Code": "FailedOperation.SignatureIncorrectOrUnapproved",
                              "Message": "sign name not approved"}, "RequestId": request_id}
        statuses = []
        for phone in params.get("PhoneNumberSet") or []:
            if self.fail_code is not None:
                statuses.append({"SerialNo": "", "PhoneNumber": phone, "Fee": 0,
                                 "SessionContext": params.get("SessionContext", ""),
                                 "Code": self.fail_code, "Message": "fake failure",
                                 "IsoCode": "CN"})
                continue
            serial = f"fake-{next(self._serials)}"
            with self._lock:
                self.messages.append(ReceivedSms(
                    phone=phone, template_id=str(params.get("TemplateId")),
                    params=tuple(params.get("TemplateParamSet") or ()),
                    sign_name=str(params.get("SignName")),
                    session_context=str(params.get("SessionContext") or ""),
                    serial_no=serial))
            statuses.append({"SerialNo": serial, "PhoneNumber": phone, "Fee": 1,
                             "SessionContext": params.get("SessionContext", ""), "Code": "Ok",
                             "Message": "send success", "IsoCode": "CN"})
        return {"SendStatusSet": statuses, "RequestId": request_id}

    def _signature_problem(self, request: BaseHTTPRequestHandler,
                           body: bytes) -> tuple[str, str] | None:
        authorization = request.headers.get("Authorization", "")
        timestamp = request.headers.get("X-TC-Timestamp", "")
        content_type = request.headers.get("Content-Type", "")
        host = request.headers.get("Host", "")
        prefix = "TC3-HMAC-SHA256 "
        if not authorization.startswith(prefix) or not timestamp.isdigit():
            return "AuthFailure.SignatureFailure", "missing TC3 authorization"
        fields = dict(part.strip().split("=", 1) for part in
                      authorization[len(prefix):].split(",") if "=" in part)
        credential = fields.get("Credential", "").split("/")
        if len(credential) != 4 or credential[0] != self.secret_id:
            return "AuthFailure.SecretIdNotFound", "unknown SecretId"
        if abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
            return "AuthFailure.SignatureExpire", "timestamp too far off"
        date, service = credential[1], credential[2]
        if date != datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d"):
            return "AuthFailure.SignatureFailure", "credential date does not match"
        canonical = "\n".join([
            request.command, request.path.split("?")[0] or "/", "",
            f"content-type:{content_type}\nhost:{host}\n", fields.get("SignedHeaders", ""),
            hashlib.sha256(body).hexdigest()])
        to_sign = "\n".join(["TC3-HMAC-SHA256", timestamp, f"{date}/{service}/tc3_request",
                             hashlib.sha256(canonical.encode()).hexdigest()])

        def _hmac(key: bytes, message: str) -> bytes:
            return hmac.new(key, message.encode(), hashlib.sha256).digest()

        key = _hmac(_hmac(_hmac(f"TC3{self.secret_key}".encode(), date), service),
                    "tc3_request")
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            return "AuthFailure.SignatureFailure", "signature does not match"
        return None

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, response: dict[str, Any]) -> None:
        payload = json.dumps({"Response": response}, ensure_ascii=False).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

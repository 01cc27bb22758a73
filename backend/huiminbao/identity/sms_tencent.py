"""Tencent Cloud SMS (API 3.0, ``SendSms`` of sms/2021-01-11) through the official SDK
(``tencentcloud-sdk-python-sms``, TC3-HMAC-SHA256 signing).

Chosen over Aliyun dysmsapi because the Tencent SDK takes ``HttpProfile(protocol="http",
endpoint="127.0.0.1:<port>")``: tests and the harness point the real client, with its real
signing, at ``sms_fake_tencent.FakeTencentSms`` instead of mocking it.

Configuration (``SmsProviderConfig.from_env``): ``SMS_PROVIDER`` (``tencent``),
``SMS_SECRET_ID``, ``SMS_SECRET_KEY``, ``SMS_SDK_APP_ID``, ``SMS_SIGN_NAME``,
``SMS_TEMPLATE_IDS`` (``login_code=1234567,debit_notice=1234568,…``: every key of
``sms_domain.SmsTemplate``), optional ``SMS_ENDPOINT`` (``sms.tencentcloudapi.com``, or
``http://127.0.0.1:8123`` for a local server) and ``SMS_REGION`` (``ap-guangzhou``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from huiminbao.core.config import ConfigError
from huiminbao.identity.sms import SmsProviderError
from huiminbao.identity.sms_domain import SmsTemplate

VARIABLES = ("SMS_PROVIDER", "SMS_SECRET_ID", "SMS_SECRET_KEY", "SMS_SDK_APP_ID",
             "SMS_SIGN_NAME", "SMS_TEMPLATE_IDS", "SMS_ENDPOINT", "SMS_REGION")
PROVIDERS = ("tencent",)
DEFAULT_ENDPOINT = "sms.tencentcloudapi.com"
DEFAULT_REGION = "ap-guangzhou"
DEFAULT_TIMEOUT_SECONDS = 5  # a login code's request waits this long at most
_TEMPLATE_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_ENDPOINT = re.compile(r"(?:(https?)://)?([0-9A-Za-z.-]+(?::\d{1,5})?)/?")


def _mask(secret: str) -> str:
    return f"{secret[:4]}****" if len(secret) > 8 else "****"


@dataclass(frozen=True)
class SmsProviderConfig:
    provider: str
    secret_id: str = field(repr=False)
    secret_key: str = field(repr=False)
    sdk_app_id: str
    sign_name: str
    template_ids: Mapping[SmsTemplate, str]
    endpoint: str = DEFAULT_ENDPOINT  # host[:port]
    scheme: str = "https"
    region: str = DEFAULT_REGION

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmsProviderConfig | None:
        """None when no ``SMS_*`` variable is set (demo: the outbox only); ``ConfigError``
        naming the variable when one is missing or wrong."""
        values = {name: env.get(name, "").strip() for name in VARIABLES}
        if not any(values.values()):
            return None
        for name in VARIABLES[:6]:
            if not values[name]:
                raise ConfigError(f"{name} must be set with the other SMS_* variables")
        provider = values["SMS_PROVIDER"].lower()
        if provider not in PROVIDERS:
            raise ConfigError(f"SMS_PROVIDER must be one of {', '.join(PROVIDERS)}, "
                              f"not {values['SMS_PROVIDER']!r}")
        template_ids = _parse_template_ids(values["SMS_TEMPLATE_IDS"])
        scheme, endpoint = "https", DEFAULT_ENDPOINT
        if values["SMS_ENDPOINT"]:
            match = _ENDPOINT.fullmatch(values["SMS_ENDPOINT"])
            if match is None:
                raise ConfigError("SMS_ENDPOINT must be a host[:port] or an http(s):// URL, "
                                  f"not {values['SMS_ENDPOINT']!r}")
            scheme, endpoint = match.group(1) or "https", match.group(2)
        if not values["SMS_SDK_APP_ID"].isdigit():
            raise ConfigError("SMS_SDK_APP_ID must be the SDK AppID's digits (1400…)")
        return cls(provider=provider, secret_id=values["SMS_SECRET_ID"],
                   secret_key=values["SMS_SECRET_KEY"], sdk_app_id=values["SMS_SDK_APP_ID"],
                   sign_name=values["SMS_SIGN_NAME"], template_ids=template_ids,
                   endpoint=endpoint, scheme=scheme,
                   region=values["SMS_REGION"] or DEFAULT_REGION)

    def describe(self) -> str:
        """One line for logs and ``huiminbao doctor``: secrets masked."""
        return (f"短信服务商 {self.provider}（{self.scheme}://{self.endpoint}，地域 {self.region}，"
                f"SdkAppId {self.sdk_app_id}，签名“{self.sign_name}”，"
                f"SecretId {_mask(self.secret_id)}，SecretKey ****，"
                f"模板 {len(self.template_ids)} 个）")

    def provider_client(self, *, timeout: int = DEFAULT_TIMEOUT_SECONDS) -> TencentSmsProvider:
        return TencentSmsProvider(self, timeout=timeout)


def _parse_template_ids(raw: str) -> dict[SmsTemplate, str]:
    ids: dict[SmsTemplate, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, sep, value = (piece.strip() for piece in item.partition("="))
        if not sep or not value:
            raise ConfigError(f"SMS_TEMPLATE_IDS: {key!r} has no provider template id "
                              "(write key=id, separated by commas)")
        try:
            template = SmsTemplate(key)
        except ValueError as exc:
            raise ConfigError(f"SMS_TEMPLATE_IDS: unknown template {key!r}") from exc
        if not _TEMPLATE_ID.fullmatch(value):
            raise ConfigError(f"SMS_TEMPLATE_IDS: {key}'s template id {value!r} is not valid")
        ids[template] = value
    missing = [template.value for template in SmsTemplate if template not in ids]
    if missing:
        raise ConfigError(f"SMS_TEMPLATE_IDS lacks a provider template id for: "
                          f"{', '.join(missing)}")
    return ids


def _phone_number(phone: str) -> str:
    return phone if phone.startswith("+") else f"+86{phone}"


class TencentSmsProvider:
    """``SmsProvider`` for Tencent Cloud SMS. Each call is one HTTP request (the SDK's own
    retries stay off: the outbox retries, with back-off). A failure raises ``SmsProviderError``
    with Tencent's error code (``FailedOperation.…``, ``LimitExceeded.…``) or ``network``."""

    name = "tencent"

    def __init__(self, config: SmsProviderConfig, *,
                 timeout: int = DEFAULT_TIMEOUT_SECONDS) -> None:
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111 import sms_client

        self.config = config
        http = HttpProfile(protocol=config.scheme, endpoint=config.endpoint,
                           reqTimeout=timeout)
        profile = ClientProfile(signMethod="TC3-HMAC-SHA256", httpProfile=http)
        self._client = sms_client.SmsClient(
            credential.Credential(config.secret_id, config.secret_key), config.region, profile)

    def template_id(self, template: SmsTemplate) -> str:
        return self.config.template_ids[template]

    def send(self, phone: str, template_id: str, params: Sequence[str], *,
             session_context: str = "") -> str:
        from tencentcloud.sms.v20210111 import models

        request = models.SendSmsRequest()
        request.PhoneNumberSet = [_phone_number(phone)]
        request.SmsSdkAppId = self.config.sdk_app_id
        request.SignName = self.config.sign_name
        request.TemplateId = template_id
        request.TemplateParamSet = list(params)
        request.SessionContext = session_context
        response = self._call(lambda: self._client.SendSms(request))
        statuses = response.SendStatusSet or []
        if len(statuses) != 1:
            raise SmsProviderError("unexpected_answer", "SendStatusSet 不是一条",
                                   outcome_unknown=True)
        status = statuses[0]
        if str(status.Code) != "Ok":
            raise SmsProviderError(str(status.Code), str(status.Message or ""))
        return str(status.SerialNo or response.RequestId or "")

    def probe(self) -> str:
        """``DescribeSmsTemplateList`` of our templates: authenticates, and tells whether each
        template is approved (StatusCode 0). Sends nothing."""
        from tencentcloud.sms.v20210111 import models

        ids = sorted({int(v) for v in self.config.template_ids.values() if v.isdigit()})
        request = models.DescribeSmsTemplateListRequest()
        request.International = 0
        request.TemplateIdSet = ids[:100]
        response = self._call(lambda: self._client.DescribeSmsTemplateList(request))
        statuses = {str(item.TemplateId): item.StatusCode
                    for item in (response.DescribeTemplateStatusSet or [])}
        unapproved = [key.value for key, value in self.config.template_ids.items()
                      if statuses.get(value) != 0]
        if unapproved:
            raise SmsProviderError("templates_not_approved",
                                   f"模板未审核通过或不存在：{', '.join(sorted(unapproved))}")
        return f"短信服务商可用：{self.config.describe()}"

    @staticmethod
    def _call(call: Any) -> Any:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
            TencentCloudSDKException,
        )

        try:
            return call()
        except TencentCloudSDKException as exc:
            code = str(exc.get_code() or "error")
            message = str(exc.get_message() or "")
            network = code in {"ClientNetworkError", "ServerNetworkError"}
            # A read timeout may come after Tencent took the message: outcome unknown.
            unknown = network and "timed out" in message.lower()
            raise SmsProviderError("network" if network else code, message[:300],
                                   outcome_unknown=unknown) from exc

"""The Tencent Cloud SMS adapter, with the real SDK and its TC3 signing, against the local
fake over HTTP (no database)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from huiminbao.identity.sms import SmsProviderError
from huiminbao.identity.sms_domain import SmsTemplate
from huiminbao.identity.sms_fake_tencent import SIGN_NAME, FakeTencentSms
from huiminbao.identity.sms_tencent import SmsProviderConfig, TencentSmsProvider


@pytest.fixture
def fake() -> Iterator[FakeTencentSms]:
    server = FakeTencentSms().start()
    yield server
    server.stop()


def provider_for(env: dict[str, str]) -> TencentSmsProvider:
    config = SmsProviderConfig.from_env(env)
    assert config is not None
    return config.provider_client(timeout=2)


def test_a_text_is_signed_sent_and_recorded(fake: FakeTencentSms) -> None:
    provider = provider_for(fake.env())
    template_id = provider.template_id(SmsTemplate.DEBIT_NOTICE)
    message_id = provider.send("13800001111", template_id, ["西湖益联保2027", "150.00元", "张*三"],
                               session_context="sms_outbox:7:1")
    assert message_id.startswith("fake-")
    [received] = fake.messages
    assert received.phone == "+8613800001111"
    assert received.template is SmsTemplate.DEBIT_NOTICE
    assert received.params == ("西湖益联保2027", "150.00元", "张*三")
    assert (received.sign_name, received.session_context) == (SIGN_NAME, "sms_outbox:7:1")
    assert fake.rejected_signatures == 0


def test_a_wrong_secret_fails_the_signature(fake: FakeTencentSms) -> None:
    provider = provider_for({**fake.env(), "SMS_SECRET_KEY": "not-the-secret"})
    with pytest.raises(SmsProviderError) as failure:
        provider.send("13800001111", "100001", ["123456"])
    assert failure.value.code == "AuthFailure.SignatureFailure"
    assert fake.messages == [] and fake.rejected_signatures == 1


def test_a_refused_number_and_an_error_answer_raise(fake: FakeTencentSms) -> None:
    provider = provider_for(fake.env())
    fake.fail_code = "LimitExceeded.PhoneNumberDailyLimit"
    with pytest.raises(SmsProviderError, match="PhoneNumberDailyLimit"):
        provider.send("13800001111", "100001", ["123456"])
    fake.fail_code, fake.error_code = None, "InternalError.Timeout"
    with pytest.raises(SmsProviderError, match=r"InternalError\.Timeout"):
        provider.send("13800001111", "100001", ["123456"])
    assert fake.messages == []


def test_a_provider_that_is_down_is_a_network_error(fake: FakeTencentSms) -> None:
    provider = provider_for(fake.env())
    fake.down = True
    with pytest.raises(SmsProviderError) as failure:
        provider.send("13800001111", "100001", ["123456"])
    assert failure.value.code == "network"
    fake.stop()
    with pytest.raises(SmsProviderError) as refused:
        provider.send("13800001111", "100001", ["123456"])
    assert refused.value.code == "network"


def test_probe_checks_the_templates_and_sends_nothing(fake: FakeTencentSms) -> None:
    provider = provider_for(fake.env())
    assert "短信服务商可用" in provider.probe()
    assert fake.messages == []
    bad = provider_for({**fake.env(), "SMS_TEMPLATE_IDS": fake.env()["SMS_TEMPLATE_IDS"]
                        .replace("login_code=100001", "login_code=999")})
    with pytest.raises(SmsProviderError, match="login_code"):
        bad.probe()

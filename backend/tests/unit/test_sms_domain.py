"""SMS rules without a database: templates, the delivery state machine, back-off, and the
provider configuration read from the environment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from huiminbao.core.config import ConfigError
from huiminbao.identity.sms_domain import (
    PATTERNS,
    REDACTED_CODE,
    SIGNATURE,
    TRANSITIONS,
    InvalidSmsTransition,
    RetryPolicy,
    SmsStatus,
    SmsTemplate,
    SmsText,
    UnsafeSmsText,
    redacted_code_text,
    transition,
)
from huiminbao.identity.sms_fake_tencent import template_ids
from huiminbao.identity.sms_tencent import SmsProviderConfig

S = SmsStatus
ALLOWED = {
    (S.QUEUED, S.SENDING), (S.QUEUED, S.GIVEN_UP),
    (S.SENDING, S.SENT), (S.SENDING, S.FAILED), (S.SENDING, S.GIVEN_UP),
    (S.SENDING, S.SENDING),  # a lease that ran out is taken over
    (S.FAILED, S.SENDING), (S.FAILED, S.GIVEN_UP),
}


@pytest.mark.parametrize(("current", "target"),
                         [(a, b) for a in SmsStatus for b in SmsStatus])
def test_transition_table(current: SmsStatus, target: SmsStatus) -> None:
    if (current, target) in ALLOWED:
        assert transition(current, target) is target
    else:
        with pytest.raises(InvalidSmsTransition):
            transition(current, target)


def test_sent_and_given_up_are_final() -> None:
    assert TRANSITIONS[S.SENT] == frozenset() and TRANSITIONS[S.GIVEN_UP] == frozenset()


@pytest.mark.parametrize(("attempts", "seconds"), [
    (1, 30), (2, 60), (3, 120), (4, 240), (7, 1920), (8, 3600), (11, 3600), (99, 3600)])
def test_back_off_doubles_up_to_its_cap(attempts: int, seconds: int) -> None:
    assert RetryPolicy().delay(attempts) == timedelta(seconds=seconds)


def test_a_failure_is_retried_until_the_last_attempt_then_given_up() -> None:
    policy = RetryPolicy(max_attempts=3)
    now = datetime(2026, 11, 22, tzinfo=UTC)
    assert policy.after_failure(1, now) == (S.FAILED, now + timedelta(seconds=30))
    assert policy.after_failure(2, now) == (S.FAILED, now + timedelta(seconds=60))
    assert policy.after_failure(3, now) == (S.GIVEN_UP, None)


def test_every_template_has_a_pattern_and_renders_with_its_parameters() -> None:
    assert set(PATTERNS) == set(SmsTemplate)
    for template in SmsTemplate:
        params = {name: "示例" for name in template.parameters}
        text = SmsText(template, params)
        assert "{" not in text.render()
        assert text.ordered_params() == ["示例"] * len(template.parameters)


def test_parameters_are_numbered_in_the_order_of_the_pattern() -> None:
    assert SmsTemplate.DEBIT_NOTICE.parameters == ("product", "amount", "insured")
    assert SmsTemplate.LOGIN_CODE.parameters == ("code",)
    text = SmsText(SmsTemplate.LOGIN_CODE, {"code": "123456"})
    assert text.render().startswith("您的登录验证码为123456，")  # what e2e/support.py reads


def test_wrong_or_missing_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="takes"):
        SmsText(SmsTemplate.LOGIN_CODE, {})
    with pytest.raises(ValueError, match="takes"):
        SmsText(SmsTemplate.LOGIN_CODE, {"code": "1", "name": "x"})


def test_no_text_carries_an_id_number() -> None:
    with pytest.raises(UnsafeSmsText):
        SmsText(SmsTemplate.DEBIT_NOTICE, {"product": "惠民保", "amount": "150.00元",
                                           "insured": "330106199001011234"})


def test_codes_are_the_code_templates() -> None:
    assert {t for t in SmsTemplate if t.is_code} == {
        SmsTemplate.LOGIN_CODE, SmsTemplate.PAYMENT_CODE, SmsTemplate.DEBIT_CONFIRM_CODE,
        SmsTemplate.RELATIVE_CODE, SmsTemplate.PROXY_GRANT_CODE, SmsTemplate.COMPLAINT_CODE,
        SmsTemplate.POLICY_LOOKUP_CODE}


def test_the_debit_code_names_amount_and_insured_and_no_id_number() -> None:
    text = SmsText(SmsTemplate.DEBIT_CONFIRM_CODE, {
        "amount": "¥150.00", "insured": "张*国", "code": "123456"}).render()
    assert "¥150.00" in text and "被保险人：张*国" in text and "验证码123456" in text


# ---------------------------------------------------------------- configuration


def full_env() -> dict[str, str]:
    return {
        "SMS_PROVIDER": "tencent", "SMS_SECRET_ID": "AKIDexample123456",
        "SMS_SECRET_KEY": "secret-key-value-1234", "SMS_SDK_APP_ID": "1400123456",
        "SMS_SIGN_NAME": "西湖益联保",
        "SMS_TEMPLATE_IDS": ",".join(f"{k.value}={v}" for k, v in template_ids().items()),
    }


def test_no_sms_variable_means_no_provider() -> None:
    assert SmsProviderConfig.from_env({}) is None
    assert SmsProviderConfig.from_env({"SMS_REGION": "  "}) is None


def test_a_full_configuration() -> None:
    config = SmsProviderConfig.from_env({**full_env(), "SMS_ENDPOINT": "http://127.0.0.1:8123"})
    assert config is not None
    assert (config.scheme, config.endpoint, config.region) == (
        "http", "127.0.0.1:8123", "ap-guangzhou")
    assert config.template_ids[SmsTemplate.LOGIN_CODE] == "100001"
    described = config.describe()
    assert "secret-key-value" not in described and "AKIDexample123456" not in described
    assert "AKID****" in described


def test_the_default_endpoint_is_tencents() -> None:
    config = SmsProviderConfig.from_env(full_env())
    assert config is not None
    assert (config.scheme, config.endpoint) == ("https", "sms.tencentcloudapi.com")


@pytest.mark.parametrize(("change", "named"), [
    ({"SMS_SECRET_KEY": ""}, "SMS_SECRET_KEY"),
    ({"SMS_PROVIDER": ""}, "SMS_PROVIDER"),
    ({"SMS_PROVIDER": "aliyun"}, "SMS_PROVIDER"),
    ({"SMS_SDK_APP_ID": "abc"}, "SMS_SDK_APP_ID"),
    ({"SMS_TEMPLATE_IDS": "login_code=1"}, "SMS_TEMPLATE_IDS"),
    ({"SMS_ENDPOINT": "ftp://x y"}, "SMS_ENDPOINT"),
])
def test_a_partial_or_invalid_configuration_names_the_variable(
    change: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        SmsProviderConfig.from_env({**full_env(), **change})


def test_a_template_without_a_provider_id_is_named() -> None:
    env = full_env()
    env["SMS_TEMPLATE_IDS"] = env["SMS_TEMPLATE_IDS"].replace("debit_notice=100005",
                                                              "debit_notice=")
    with pytest.raises(ConfigError, match="debit_notice"):
        SmsProviderConfig.from_env(env)
    env["SMS_TEMPLATE_IDS"] += ",no_such_template=1"
    with pytest.raises(ConfigError, match=r"debit_notice|no_such_template"):
        SmsProviderConfig.from_env(env)


def test_a_code_templates_redacted_text_keeps_the_wording_and_drops_the_code() -> None:
    for template in (t for t in SmsTemplate if t.is_code):
        text, params = redacted_code_text(template)
        assert params == {name: REDACTED_CODE for name in template.parameters}
        assert "code" in params
        assert text == SIGNATURE + template.pattern.format(**params)
    with pytest.raises(ValueError, match="no one-time code"):
        redacted_code_text(SmsTemplate.DEBIT_NOTICE)

"""张伟 enrolls from his personal account and cancels before coverage, with every port on its real
adapter over HTTP (``e2e/real_services.py``): the same journey, the same figures to the fen; the
debit and the refund go through the registry protocol, and his texts through the SMS provider."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page

from e2e.real_services import RealServices, live_server, real_services  # noqa: F401 - fixtures
from e2e.test_enroll_account import PHONE
from e2e.test_enroll_account import (
    test_zhang_wei_enrolls_in_three_taps_and_cancels_before_coverage as account_journey,
)
from huiminbao.identity.sms_domain import SmsTemplate

pytestmark = pytest.mark.e2e


def test_zhang_wei_enrolls_and_cancels_over_the_real_adapters(
    page: Page, base_url: str, new_context: Callable[..., BrowserContext],
    real_services: RealServices,  # noqa: F811 - the fixture imported above
) -> None:
    account_journey(page, base_url, new_context)

    sms = real_services.services.sms
    received = sms.sent_to(PHONE)
    assert [m for m in received if m.template is SmsTemplate.LOGIN_CODE]  # sent at once
    # The debit notice goes through the worker: delivered once, to the registry's phone of the
    # account owner, who is 张伟.
    assert sms.wait_for(lambda: any(m.template is SmsTemplate.DEBIT_NOTICE
                                    for m in sms.sent_to(PHONE)))
    notices = [m for m in sms.sent_to(PHONE) if m.template is SmsTemplate.DEBIT_NOTICE]
    assert len(notices) == 1
    assert any("150.00" in param for param in notices[0].params)

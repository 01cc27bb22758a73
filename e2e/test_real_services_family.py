"""张伟 buys for four family members in one confirmation, with every port on its real adapter over
HTTP (``e2e/real_services.py``): relatives and balances read through the registry protocol, the
four debits made through it, the relative's code texted through the SMS provider."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page

from e2e.real_services import RealServices, live_server, real_services  # noqa: F401 - fixtures
from e2e.test_family import (
    test_zhang_wei_buys_for_four_family_members_in_one_confirmation as family_journey,
)

pytestmark = pytest.mark.e2e


def test_zhang_wei_buys_for_his_family_over_the_real_adapters(
    page: Page, base_url: str, new_context: Callable[..., BrowserContext],
    real_services: RealServices,  # noqa: F811 - the fixture imported above
) -> None:
    calls_before = real_services.services.registry_calls.count
    family_journey(page, base_url, new_context)

    # Relations, balances and the debits all went to the registry over its protocol.
    assert real_services.services.registry_calls.count - calls_before >= 10
    assert real_services.services.sms.sent_to("13800000001")  # 张伟's login code, at once

"""The data export and the proxy activity feed name every act in Chinese (audit/labels.py):
the acts whose codes are built from a status or a decision are labelled one by one, and an act
without a label of its own is named by its domain, never by its code."""

from __future__ import annotations

import re

import pytest

from huiminbao.audit.labels import ACTION_LABELS, DOMAIN_LABELS, action_label
from huiminbao.claims.domain import Decision
from huiminbao.claims.payouts import PayoutStatus
from huiminbao.enrollment.domain import OrderStatus

CJK = re.compile(r"[\u4e00-\u9fff]")

BUILT_FROM_STATUSES = [
    *(f"claim.{decision.value}" for decision in Decision),  # claims/services.py
    *(f"claim.payout_{status.value}" for status in PayoutStatus),  # claims/payouts.py
    *(f"order.{target.value}" for target in (OrderStatus.CANCELLED, OrderStatus.EXPIRED)),
    *(f"policy.{what}_download" for what in ("epolicy", "receipt")),  # enrollment/documents.py
    *(f"proxy.grant.{ended}" for ended in ("cancel", "revoke")),  # identity/deletion.py
]


@pytest.mark.parametrize("action", BUILT_FROM_STATUSES)
def test_acts_built_from_a_status_have_labels_of_their_own(action: str) -> None:
    assert action in ACTION_LABELS and CJK.search(ACTION_LABELS[action])


@pytest.mark.parametrize(("action", "label"), [
    ("claim.something_new", "理赔相关操作"),
    ("claim_records.something_new", "医保结算记录相关操作"),
    ("access.policies", "查看或办理您的业务"),
    ("unheard_of.act", "其他操作"),
    ("noprefix", "其他操作"),
])
def test_an_act_without_a_label_is_named_by_its_domain(action: str, label: str) -> None:
    assert action_label(action) == label


def test_every_label_is_chinese() -> None:
    assert all(CJK.search(label) for label in [*ACTION_LABELS.values(), *DOMAIN_LABELS.values()])

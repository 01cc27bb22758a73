"""The consent table without a database: which withdrawal stops which purpose, for whom, and
what the person is told."""

from __future__ import annotations

import pytest

from huiminbao.audit.consents import ConsentKind
from huiminbao.identity.consent_rules import (
    PURPOSES,
    Holder,
    Party,
    Purpose,
    first_block,
    needed,
    stops,
)

P, S = ConsentKind.PERSONAL_INFO, ConsentKind.SENSITIVE_INFO
BOTH = frozenset({P, S})


def me(granted: frozenset[ConsentKind]) -> Holder:
    return Holder(Party.OPERATOR, granted, is_caller=True, also=(Party.PRINCIPAL,))


def test_every_purpose_depends_on_the_personal_information_consent() -> None:
    # Without it nothing may be processed online; the sensitive one is needed only for
    # account data, debits and claims.
    assert stops(P) == list(Purpose)
    assert set(stops(S)) == {Purpose.ACCOUNT_VIEW, Purpose.ACCOUNT_DEBIT, Purpose.CLAIMS_NEW,
                             Purpose.AUTO_RENEW}


@pytest.mark.parametrize("purpose", list(Purpose), ids=lambda p: p.value)
@pytest.mark.parametrize("withdrawn", [P, S], ids=lambda k: k.value)
def test_the_caller_is_stopped_exactly_by_what_the_purpose_needs(
    purpose: Purpose, withdrawn: ConsentKind
) -> None:
    block = first_block([purpose], [me(BOTH - {withdrawn})])
    if withdrawn in PURPOSES[purpose].kinds():
        assert block is not None and block.kind is withdrawn and block.purpose is purpose
        assert block.code == "consent_withdrawn"
        assert block.message.startswith("您已撤回《")
        assert f"{purpose.label}已暂停" in block.message
        assert "“我的-授权与同意”" in block.message and "已生效的保单不受影响" in block.message
    else:
        assert block is None
    assert first_block([purpose], [me(BOTH)]) is None


def test_someone_elses_withdrawal_names_them_masked_and_says_only_they_can_resume() -> None:
    principal = Holder(Party.PRINCIPAL, frozenset({S}), name="张*国", person_id=7)
    block = first_block([Purpose.ACT_FOR], [me(BOTH), principal])
    assert block is not None and block.holder.person_id == 7
    assert block.message == (
        "张*国已撤回《个人信息处理告知同意书》，亲友代为办理业务已暂停；"
        "如需继续，需由张*国本人在“我的-授权与同意”重新同意。")


def test_a_relative_being_insured_needs_only_the_personal_information_consent() -> None:
    relative = Holder(Party.OTHERS, frozenset({P}), name="李*", person_id=3)
    assert needed(Purpose.FAMILY, [Party.OTHERS]) == frozenset({P})
    assert first_block([Purpose.ENROLL, Purpose.FAMILY], [me(BOTH), relative]) is None
    gone = Holder(Party.OTHERS, frozenset(), name="李*", person_id=3)
    block = first_block([Purpose.ENROLL, Purpose.FAMILY], [me(BOTH), gone])
    assert block is not None and block.purpose is Purpose.FAMILY
    assert block.message.startswith("李*已撤回")


def test_the_callers_own_withdrawal_is_reported_first_with_every_purpose_it_stops() -> None:
    relative = Holder(Party.OTHERS, frozenset(), name="李*", person_id=3)
    block = first_block([Purpose.ENROLL, Purpose.FAMILY, Purpose.ACCOUNT_DEBIT],
                        [relative, me(frozenset({S}))])
    assert block is not None and block.holder.is_caller
    assert "在线参保投保、为家人投保和管理家庭成员、使用医保个人账户缴费已暂停" in block.message
    only_sensitive = first_block([Purpose.ENROLL, Purpose.ACCOUNT_DEBIT], [me(frozenset({P}))])
    assert only_sensitive is not None
    assert "《敏感个人信息单独同意书》，使用医保个人账户缴费已暂停" in only_sensitive.message

"""Claim kinds, payees, the payout state table and the claim clock: pure rules (issue 17)."""

from __future__ import annotations

from datetime import date

import pytest

from huiminbao.claims.kinds import (
    DEFAULT_KIND_RULES,
    MAX_DECISION_WORKING_DAYS,
    ClaimKind,
    KindFacts,
    KindRule,
    SpecialDrugRules,
    add_working_days,
    clock_of,
    decide_by,
    kind_problems,
    kind_rule_problems,
    pay_by,
    rules_by_kind,
    supplement_message,
    supplement_problem,
)
from huiminbao.claims.payees import PayeeKind, bank_of, luhn_ok, payee_problem, with_check_digit
from huiminbao.claims.payouts import PAYOUT_TRANSITIONS, PayoutStatus, payout_label
from huiminbao.core.config import Mode, Settings
from huiminbao.core.states import InvalidTransition
from huiminbao.wiring import (
    BANK_CARD_CHECK_SETTING,
    CLAIM_PAYOUT_SETTING,
    claim_port_problem,
)

DRUGS = SpecialDrugRules(drugs={"TY003": "奥希替尼片", "TY009": "某特药"},
                         indications={"TY003": ("C34",)},
                         pharmacies={"YD1": "特药药房"})
OFFERED = rules_by_kind(())


def problems(**facts: object) -> dict[str, list[str]]:
    return kind_problems(KindFacts(**facts), OFFERED, "330100", DRUGS)  # type: ignore[arg-type]


# ---------------------------------------------------------------- kinds


@pytest.mark.parametrize(("facts", "field", "words"), [
    ({"kind": ClaimKind.OUTPATIENT_SPECIAL}, "diagnosis_code", "请填写诊断编码"),
    ({"kind": ClaimKind.OUTPATIENT_SPECIAL, "diagnosis_code": "肾病"}, "diagnosis_code",
     "ICD-10"),
    ({"kind": ClaimKind.SPECIAL_DRUG, "diagnosis_code": "C34.1", "pharmacy_code": "YD1",
      "item_codes": ("TY003",)}, "prescription_no", "处方"),
    ({"kind": ClaimKind.SPECIAL_DRUG, "diagnosis_code": "C34.1", "prescription_no": "CF1",
      "item_codes": ("TY003",)}, "pharmacy_code", "请选择"),
    ({"kind": ClaimKind.SPECIAL_DRUG, "diagnosis_code": "C34.1", "prescription_no": "CF1",
      "pharmacy_code": "YD2", "item_codes": ("TY003",)}, "pharmacy_code", "不是本产品的特药定点"),
    ({"kind": ClaimKind.SPECIAL_DRUG, "diagnosis_code": "C34.1", "prescription_no": "CF1",
      "pharmacy_code": "YD1", "item_codes": ("XX",)}, "items", "特药目录"),
    ({"kind": ClaimKind.SPECIAL_DRUG, "diagnosis_code": "C50.9", "prescription_no": "CF1",
      "pharmacy_code": "YD1", "item_codes": ("TY003",)}, "diagnosis_code", "奥希替尼片"),
    ({"kind": ClaimKind.OUT_OF_CITY}, "treatment_city_code", "6位行政区划代码"),
    ({"kind": ClaimKind.OUT_OF_CITY, "treatment_city_code": "330100"}, "treatment_city_code",
     "参保地相同"),
])
def test_each_kind_names_what_is_missing(facts: dict[str, object], field: str,
                                         words: str) -> None:
    found = problems(**facts)
    assert words in found[field][0], found


@pytest.mark.parametrize("facts", [
    {"kind": ClaimKind.INPATIENT},
    {"kind": ClaimKind.OUTPATIENT_SPECIAL, "diagnosis_code": "n18.5"},
    {"kind": ClaimKind.SPECIAL_DRUG, "diagnosis_code": "C34.1", "prescription_no": "CF1",
     "pharmacy_code": "YD1", "item_codes": ("TY003",)},
    # A drug without listed indications is paid for any diagnosis.
    {"kind": ClaimKind.SPECIAL_DRUG, "diagnosis_code": "K80", "prescription_no": "CF1",
     "pharmacy_code": "YD1", "item_codes": ("TY009",)},
    {"kind": ClaimKind.OUT_OF_CITY, "treatment_city_code": "310000"},
])
def test_complete_claims_of_each_kind_pass(facts: dict[str, object]) -> None:
    assert problems(**facts) == {}


def test_a_kind_the_product_does_not_offer_is_refused() -> None:
    only_inpatient = rules_by_kind([KindRule(ClaimKind.INPATIENT, ("发票",))])
    found = kind_problems(KindFacts(ClaimKind.OUT_OF_CITY, treatment_city_code="310000"),
                          only_inpatient, "330100", DRUGS)
    assert found == {"kind": ["本产品不受理“异地就医”类理赔"]}


def test_default_rules_offer_every_kind_within_the_law() -> None:
    assert [rule.kind for rule in DEFAULT_KIND_RULES] == list(ClaimKind)
    assert kind_rule_problems(DEFAULT_KIND_RULES) == {}


@pytest.mark.parametrize(("rule", "field", "words"), [
    (KindRule(ClaimKind.INPATIENT, ()), "documents", "材料"),
    (KindRule(ClaimKind.INPATIENT, ("发票",), MAX_DECISION_WORKING_DAYS + 1),
     "decide_within_working_days", "保险法第二十三条"),
    (KindRule(ClaimKind.INPATIENT, ("发票",), 0), "decide_within_working_days", "1至20"),
    (KindRule(ClaimKind.INPATIENT, ("发票",), 10, 11), "pay_within_days", "1至10日"),
])
def test_product_promises_must_stay_within_the_law(rule: KindRule, field: str,
                                                   words: str) -> None:
    found = kind_rule_problems([rule])
    assert words in found[f"kinds.0.{field}"][0]


def test_a_kind_set_twice_and_no_kind_at_all_are_refused() -> None:
    rule = KindRule(ClaimKind.INPATIENT, ("发票",))
    assert "重复" in kind_rule_problems([rule, rule])["kinds.1.kind"][0]
    assert kind_rule_problems([]) == {"kinds": ["至少开放一种理赔类型"]}


# ---------------------------------------------------------------- the clock


@pytest.mark.parametrize(("start", "days", "end"), [
    (date(2027, 3, 19), 1, date(2027, 3, 22)),  # Friday -> Monday
    (date(2027, 3, 20), 1, date(2027, 3, 22)),  # Saturday -> Monday
    (date(2027, 3, 22), 5, date(2027, 3, 29)),  # Monday -> next Monday
    (date(2027, 3, 19), 20, date(2027, 4, 16)),  # four whole weeks
])
def test_working_days(start: date, days: int, end: date) -> None:
    assert add_working_days(start, days) == end


def test_every_allowed_promise_ends_within_the_laws_thirty_days() -> None:
    rule = KindRule(ClaimKind.INPATIENT, ("发票",), MAX_DECISION_WORKING_DAYS)
    for offset in range(7):
        start = date(2027, 3, 15 + offset)
        assert (decide_by(start, rule) - start).days <= 30
    assert pay_by(date(2027, 3, 1), KindRule(ClaimKind.INPATIENT, ("发票",), 10, 3)) == \
        date(2027, 3, 4)


def test_the_clock_tells_the_days_left_and_the_days_overdue() -> None:
    due = date(2027, 3, 31)
    running = clock_of(date(2027, 3, 29), due, "decision")
    assert (running.days_left, running.overdue) == (2, False)
    assert running.describe() == "保险公司承诺于2027年03月31日前作出核定（还剩2天）"
    late = clock_of(date(2027, 4, 3), due, "payment")
    assert late.overdue and "支付赔款，已超期3天" in late.describe()


# ---------------------------------------------------------------- documents asked for once


@pytest.mark.parametrize(("missing", "earlier", "reason", "supervisor", "refusal"), [
    (["病历"], 0, None, False, None),
    ([], 0, None, False, "逐项列出"),
    (["  "], 0, None, True, "逐项列出"),
    (["病历"], 1, "理由", False, "已要求过一次"),
    (["病历"], 1, None, True, "须填写理由"),
    (["病历"], 1, "新发现影像检查", True, None),
    (["病历"], 2, "再次需要", True, None),
])
def test_documents_are_asked_for_once(missing: list[str], earlier: int, reason: str | None,
                                      supervisor: bool, refusal: str | None) -> None:
    found = supplement_problem(missing, earlier, reason, supervisor)
    assert (found is None) if refusal is None else (found is not None and refusal in found)


def test_the_request_lists_everything_at_once() -> None:
    assert supplement_message(["病历", "检验报告"], "请加盖医院公章") == (
        "1. 病历；2. 检验报告（以上为需补充的全部材料）。请加盖医院公章")


# ---------------------------------------------------------------- payees


@pytest.mark.parametrize(("kind", "facts", "field"), [
    (PayeeKind.SELF, {}, None),
    (PayeeKind.SELF, {"payee_is_insured": False}, "payee.kind"),
    (PayeeKind.GUARDIAN, {"insured_age": 10, "payee_is_insured": False,
                          "payee_is_parent": True}, None),
    # A parent filing for their child under a grant is the guardian, not "an agent".
    (PayeeKind.GUARDIAN, {"insured_age": 10, "payee_is_insured": False,
                          "payee_is_parent": True, "payee_is_agent": True}, None),
    (PayeeKind.GUARDIAN, {"insured_age": 18, "payee_is_insured": False,
                          "payee_is_parent": True}, "payee.kind"),
    (PayeeKind.GUARDIAN, {"insured_age": 10, "payee_is_insured": False}, "payee.id_number"),
    (PayeeKind.GUARDIAN, {"insured_age": 10}, "payee.id_number"),
    (PayeeKind.HEIR, {"payee_is_insured": False}, None),
    (PayeeKind.HEIR, {"payee_is_insured": False, "payee_is_agent": True}, "payee.id_number"),
])
def test_who_may_receive_the_money(kind: PayeeKind, facts: dict[str, object],
                                   field: str | None) -> None:
    arguments: dict[str, object] = {"insured_age": 40, "payee_is_insured": True,
                                    "payee_is_parent": False, "payee_is_agent": False, **facts}
    found = payee_problem(kind, **arguments)  # type: ignore[arg-type]
    assert (found[0] if found else None) == field


def test_card_numbers_carry_a_luhn_check_digit() -> None:
    card = with_check_digit("622202123456789012")
    assert luhn_ok(card) and not luhn_ok(card[:-1] + str((int(card[-1]) + 1) % 10))
    assert not luhn_ok("62220212345a") and not luhn_ok("4111")
    assert luhn_ok("4111111111111111")
    assert bank_of(card) == "中国工商银行" and bank_of("9999990000000000") == "银联借记卡"


# ---------------------------------------------------------------- the payout state table


ALLOWED = {(PayoutStatus.SENDING, PayoutStatus.PAID), (PayoutStatus.SENDING, PayoutStatus.FAILED),
           (PayoutStatus.FAILED, PayoutStatus.SENDING)}


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_payout_moves(current: PayoutStatus, target: PayoutStatus) -> None:
    assert PAYOUT_TRANSITIONS.transition(current, target) is target


@pytest.mark.parametrize(("current", "target"), [
    (current, target) for current in PayoutStatus for target in PayoutStatus
    if (current, target) not in ALLOWED])
def test_every_other_payout_move_raises(current: PayoutStatus, target: PayoutStatus) -> None:
    with pytest.raises(InvalidTransition):
        PAYOUT_TRANSITIONS.transition(current, target)


def test_payout_labels() -> None:
    assert payout_label(PayoutStatus.PAID, 1) == "已支付"
    assert payout_label(PayoutStatus.FAILED, 1) == "支付失败，将重新支付"
    assert payout_label(PayoutStatus.FAILED, 3) == "支付失败，请联系客服核对收款账户"


# ---------------------------------------------------------------- wiring


@pytest.mark.parametrize("setting", [BANK_CARD_CHECK_SETTING, CLAIM_PAYOUT_SETTING])
def test_production_refuses_the_claim_simulators_and_unknown_providers(setting: str) -> None:
    demo = Settings(port_env={setting: "simulator"})
    assert claim_port_problem(demo, setting) is None
    production = Settings(mode=Mode.PRODUCTION, port_env={setting: "simulator"})
    problem = claim_port_problem(production, setting)
    assert problem is not None and "demo mode only" in problem
    unknown = claim_port_problem(Settings(port_env={setting: "unionpay"}), setting)
    assert unknown is not None and "no adapter" in unknown
    assert claim_port_problem(Settings(mode=Mode.PRODUCTION), setting) is None

"""Claim kinds and the claim clock: pure rules, no Flask, no database.

Four kinds of online claim (issue 17; 003 三(四): 住院、门诊特殊病/慢性病、特药、异地就医):

- ``inpatient``: a hospital stay (admitted / discharged);
- ``outpatient_special``: outpatient treatment of a special or chronic disease (门特/门慢), a
  period of visits with the disease's diagnosis code;
- ``special_drug``: a listed special drug (特药) on a prescription, for one of the drug's listed
  indications, bought at one of the product's designated pharmacies;
- ``out_of_city``: treatment outside the insured city (异地就医), with the city treated in.

Each product says which kinds it offers, the documents each needs, and its promises: decide
within N working days of complete material, pay within M days of agreement. The law sets the
outer limits (保险法 §23: decide within 30 days of complete material; pay within 10 days of
agreement), so a product may promise less, never more. A product without its own rows offers
``DEFAULT_KIND_RULES``.

保险法 §22: a request for more documents lists everything missing at once, and is made once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

LAW_DECISION_DAYS = 30  # 保险法 §23: calendar days after complete material
LAW_PAYMENT_DAYS = 10  # 保险法 §23: days after agreement on the payout
# 20 working days (Mon-Fri) end at most 28 calendar days later (from a Friday: four whole weeks);
# 21 from a Friday end on day 31, past the law's 30 days.
MAX_DECISION_WORKING_DAYS = 20


class ClaimKind(StrEnum):
    INPATIENT = "inpatient"
    OUTPATIENT_SPECIAL = "outpatient_special"
    SPECIAL_DRUG = "special_drug"
    OUT_OF_CITY = "out_of_city"

    @property
    def label(self) -> str:
        return {
            ClaimKind.INPATIENT: "住院医疗费用",
            ClaimKind.OUTPATIENT_SPECIAL: "门诊特殊病、慢性病（门特/门慢）",
            ClaimKind.SPECIAL_DRUG: "特定药品（特药）",
            ClaimKind.OUT_OF_CITY: "异地就医",
        }[self]

    @property
    def period_labels(self) -> tuple[str, str]:
        """What the two dates of the claim mean for this kind."""
        return {
            ClaimKind.INPATIENT: ("入院日期", "出院日期"),
            ClaimKind.OUTPATIENT_SPECIAL: ("首次就诊日期", "末次就诊日期"),
            ClaimKind.SPECIAL_DRUG: ("处方日期", "购药日期"),
            ClaimKind.OUT_OF_CITY: ("入院（就诊）日期", "出院（末次就诊）日期"),
        }[self]


DEFAULT_DOCUMENTS: dict[ClaimKind, tuple[str, ...]] = {
    ClaimKind.INPATIENT: ("医疗费用发票", "住院费用明细清单", "出院小结"),
    ClaimKind.OUTPATIENT_SPECIAL: ("门诊费用发票", "门诊费用明细清单", "门特/门慢病种认定证明"),
    ClaimKind.SPECIAL_DRUG: ("特药处方", "购药发票", "病理或诊断证明（须符合药品适应症）"),
    ClaimKind.OUT_OF_CITY: ("异地就医备案证明", "医疗费用发票", "费用明细清单", "出院小结或病历"),
}


@dataclass(frozen=True)
class KindRule:
    """What a product says about one claim kind."""

    kind: ClaimKind
    documents: tuple[str, ...]
    decide_within_working_days: int = 10
    pay_within_days: int = LAW_PAYMENT_DAYS


DEFAULT_KIND_RULES: tuple[KindRule, ...] = tuple(
    KindRule(kind, DEFAULT_DOCUMENTS[kind]) for kind in ClaimKind)


def rules_by_kind(rules: Sequence[KindRule]) -> dict[ClaimKind, KindRule]:
    """The product's rules, or the defaults when it has none of its own."""
    return {rule.kind: rule for rule in (rules or DEFAULT_KIND_RULES)}


def kind_rule_problems(rules: Sequence[KindRule]) -> dict[str, list[str]]:
    """Why a product's kind rules cannot be used, by field path (empty: fine)."""
    problems: dict[str, list[str]] = {}
    if not rules:
        problems["kinds"] = ["至少开放一种理赔类型"]
    seen: set[ClaimKind] = set()
    for index, rule in enumerate(rules):
        path = f"kinds.{index}"
        if rule.kind in seen:
            problems.setdefault(f"{path}.kind", []).append(f"“{rule.kind.label}”重复设置")
        seen.add(rule.kind)
        if not rule.documents or any(not d.strip() for d in rule.documents):
            problems.setdefault(f"{path}.documents", []).append("请列出该类理赔所需的材料")
        if not 1 <= rule.decide_within_working_days <= MAX_DECISION_WORKING_DAYS:
            problems.setdefault(f"{path}.decide_within_working_days", []).append(
                f"核定时限应为1至{MAX_DECISION_WORKING_DAYS}个工作日"
                f"（保险法第二十三条：材料齐全后{LAW_DECISION_DAYS}日内作出核定）")
        if not 1 <= rule.pay_within_days <= LAW_PAYMENT_DAYS:
            problems.setdefault(f"{path}.pay_within_days", []).append(
                f"支付时限应为1至{LAW_PAYMENT_DAYS}日（保险法第二十三条：达成赔付协议后"
                f"{LAW_PAYMENT_DAYS}日内支付）")
    return problems


# ---------------------------------------------------------------- what each kind needs


@dataclass(frozen=True)
class KindFacts:
    """The kind-specific facts of a claim as submitted."""

    kind: ClaimKind
    diagnosis_code: str | None = None
    prescription_no: str | None = None
    pharmacy_code: str | None = None
    treatment_city_code: str | None = None
    item_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpecialDrugRules:
    """A product's special-drug facts: each listed drug's indications (ICD-10 code prefixes;
    none listed = any diagnosis) and its designated pharmacies by code."""

    drugs: Mapping[str, str]  # normalized code -> name
    indications: Mapping[str, tuple[str, ...]]  # normalized drug code -> ICD-10 prefixes
    pharmacies: Mapping[str, str]  # pharmacy code -> name


_ICD10 = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
_CITY = re.compile(r"^[0-9]{6}$")


def normalize_diagnosis(code: str | None) -> str | None:
    code = (code or "").strip().upper()
    return code or None


def kind_problems(facts: KindFacts, offered: Mapping[ClaimKind, KindRule], home_city: str,
                  drugs: SpecialDrugRules) -> dict[str, list[str]]:
    """Why a claim of this kind cannot be filed as given, by field (empty: fine)."""
    if facts.kind not in offered:
        return {"kind": [f"本产品不受理“{facts.kind.label}”类理赔"]}
    problems: dict[str, list[str]] = {}
    diagnosis = normalize_diagnosis(facts.diagnosis_code)
    if diagnosis is not None and not _ICD10.match(diagnosis):
        problems["diagnosis_code"] = ["诊断编码应为ICD-10编码，例如 C22.0"]
    needs_diagnosis = facts.kind in {ClaimKind.OUTPATIENT_SPECIAL, ClaimKind.SPECIAL_DRUG}
    if needs_diagnosis and diagnosis is None:
        problems["diagnosis_code"] = ["请填写诊断编码（见诊断证明或门特/门慢认定证明）"]
    if facts.kind is ClaimKind.OUT_OF_CITY:
        city = (facts.treatment_city_code or "").strip()
        if not _CITY.match(city):
            problems["treatment_city_code"] = ["请填写就医地的6位行政区划代码"]
        elif city == home_city:
            problems["treatment_city_code"] = ["就医地与参保地相同，请选择住院或门诊理赔"]
    if facts.kind is ClaimKind.SPECIAL_DRUG:
        problems.update(_special_drug_problems(facts, diagnosis, drugs))
    return problems


def _special_drug_problems(facts: KindFacts, diagnosis: str | None,
                           drugs: SpecialDrugRules) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if not (facts.prescription_no or "").strip():
        problems["prescription_no"] = ["请填写特药处方编号"]
    pharmacy = (facts.pharmacy_code or "").strip()
    if not pharmacy:
        problems["pharmacy_code"] = ["请选择购药的定点药店"]
    elif pharmacy not in drugs.pharmacies:
        problems["pharmacy_code"] = ["该药店不是本产品的特药定点药店，请在定点药店购药"]
    listed = [code for code in facts.item_codes if code in drugs.drugs]
    if not listed:
        problems["items"] = ["请填写所购特药（须在本产品特药目录内）"]
    elif diagnosis is not None and "diagnosis_code" not in problems:
        outside = [drugs.drugs[code] for code in listed
                   if drugs.indications.get(code)
                   and not any(diagnosis.startswith(p) for p in drugs.indications[code])]
        if outside:
            problems["diagnosis_code"] = [
                f"诊断不符合{'、'.join(outside)}在特药目录中的适应症，不属于特药保障范围"]
    return problems


# ---------------------------------------------------------------- the clock


def add_working_days(start: date, days: int) -> date:
    """The day ``days`` working days (Monday to Friday) after ``start``. Public holidays are
    not modelled: a promise counted this way is never later than the real one."""
    day, left = start, days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def decide_by(material_complete_on: date, rule: KindRule) -> date:
    """The promised decision day: the product's working days, never past the law's 30 days."""
    return min(add_working_days(material_complete_on, rule.decide_within_working_days),
               material_complete_on + timedelta(days=LAW_DECISION_DAYS))


def pay_by(decided_on: date, rule: KindRule) -> date:
    return decided_on + timedelta(days=min(rule.pay_within_days, LAW_PAYMENT_DAYS))


@dataclass(frozen=True)
class Clock:
    """What the claimant (and the reviewer) sees of the promise."""

    due_on: date
    stage: str  # "decision" or "payment"
    days_left: int  # negative once overdue
    overdue: bool

    def describe(self) -> str:
        what = "作出核定" if self.stage == "decision" else "支付赔款"
        if self.overdue:
            return (f"保险公司承诺于{self.due_on:%Y年%m月%d日}前{what}，已超期{-self.days_left}天；"
                    "您可以投诉或致电客服催办")
        return f"保险公司承诺于{self.due_on:%Y年%m月%d日}前{what}（还剩{self.days_left}天）"


def clock_of(today: date, due_on: date, stage: str) -> Clock:
    left = (due_on - today).days
    return Clock(due_on, stage, left, left < 0)


# ---------------------------------------------------------------- asking for documents


def supplement_message(missing: Sequence[str], note: str | None) -> str:
    """The one request for more documents: every missing document, numbered, at once."""
    listed = "；".join(f"{index}. {item.strip()}" for index, item in enumerate(missing, 1))
    text = f"{listed}（以上为需补充的全部材料）"
    return f"{text}。{note.strip()}" if note and note.strip() else text


def supplement_problem(missing: Sequence[str], earlier_requests: int,
                       supervisor_reason: str | None, is_supervisor: bool) -> str | None:
    """Why this request for more documents may not be made, or None (保险法 §22)."""
    if not [item for item in missing if item.strip()]:
        return "请逐项列出需要补充的全部材料（须一次性告知）"
    if earlier_requests == 0:
        return None
    if not is_supervisor:
        return "已要求过一次补充材料；再次要求须由管理员填写理由后提出"
    if not (supervisor_reason or "").strip():
        return "再次要求补充材料须填写理由（将记入审计日志）"
    return None


"""The payer rule for online subsidies, a named payer's limits, and 择一 (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from huiminbao.console.payers import PayerDraft, draft_problems
from huiminbao.enrollment.domain import (
    FundPayer,
    PayerKind,
    online_subsidy_payer,
    payer_refusal,
    relief_choice_refusal,
)
from huiminbao.payments import ledger
from huiminbao.registry import wire
from huiminbao.registry.port import Assistance, PersonStatus, RegistryPerson, Scheme

CITY = FundPayer("hangzhou", "杭州市财政局", PayerKind.CITY)
XIHU = FundPayer("xihu", "西湖区财政局", PayerKind.DISTRICT, "330106",
                 frozenset({"tekun", "dibao"}))
CHARITY = FundPayer("cishan", "杭州市慈善总会", PayerKind.CHARITY)
PERSON = RegistryPerson("330106195103082129", "钱桂兰", None, "330100", Scheme.RESIDENT,
                        PersonStatus.ACTIVE, Assistance.TEKUN, district_code="330106")
ALL = ("tekun", "dibao", "dibian", "disabled")


def test_the_district_pays_for_its_own_residents_in_its_groups() -> None:
    assert online_subsidy_payer(PERSON, [CITY, XIHU, CHARITY]) == XIHU


@pytest.mark.parametrize("person", [
    replace(PERSON, district_code="330105"),  # another district
    replace(PERSON, assistance=Assistance.DIBIAN),  # a group 西湖区 does not pay for
    replace(PERSON, district_code=None),  # the registry does not say
])
def test_otherwise_the_city_pays(person: RegistryPerson) -> None:
    assert online_subsidy_payer(person, [XIHU, CHARITY, CITY]) == CITY


def test_a_deactivated_district_leaves_it_to_the_city_and_no_city_payer_means_the_city_fund(
) -> None:
    assert online_subsidy_payer(PERSON, [replace(XIHU, active=False), CITY]) == CITY
    assert online_subsidy_payer(PERSON, [CHARITY]) is None  # never a charity by the rule


def test_fund_accounts_are_named_by_city_and_payer() -> None:
    assert ledger.subsidy_fund("330100") == "subsidy_fund:330100"
    assert ledger.subsidy_fund("330100", "xihu") == "subsidy_fund:330100:xihu"


def test_a_named_district_pays_only_for_its_residents_in_its_groups() -> None:
    assert payer_refusal(XIHU, PERSON) is None
    assert payer_refusal(CITY, replace(PERSON, district_code="330105")) is None
    assert payer_refusal(CHARITY, replace(PERSON, district_code=None)) is None
    elsewhere = payer_refusal(XIHU, replace(PERSON, district_code="330105"))
    assert elsewhere is not None and elsewhere.startswith("该人员医保参保地不在西湖区财政局的辖区")
    assert payer_refusal(XIHU, replace(PERSON, assistance=Assistance.DISABLED)) == (
        "西湖区财政局不资助该类别人员，请改由市级财政或其他出资方出资")
    assert payer_refusal(replace(CHARITY, active=False), PERSON) == "出资方“杭州市慈善总会”已停用"


def test_a_subsidized_person_with_another_poverty_relief_insurance_is_refused() -> None:
    flagged = replace(PERSON, other_relief_insurance=True)
    refusal = relief_choice_refusal(flagged, ALL)
    assert refusal is not None and refusal.code == "other_relief_insurance"
    assert refusal.message.startswith("您已参加其他政策性扶贫类商业补充医疗保险。")
    assert "择一投保，政府不重复资助" in refusal.message
    assert refusal.report.startswith("该人员已参加其他政策性扶贫类商业补充医疗保险。")


@pytest.mark.parametrize(("person", "categories"), [
    (PERSON, ALL),  # not flagged
    (replace(PERSON, other_relief_insurance=True, assistance=Assistance.NONE), ALL),
    (replace(PERSON, other_relief_insurance=True), ("dibao",)),  # not subsidized here
    (None, ALL),
])
def test_no_relief_refusal_without_a_subsidy_to_refuse(person: RegistryPerson | None,
                                                       categories: tuple[str, ...]) -> None:
    assert relief_choice_refusal(person, categories) is None


def test_a_payer_draft_is_checked_field_by_field() -> None:
    good = PayerDraft("330100", "xihu", "西湖区财政局", PayerKind.DISTRICT, "330106", ("tekun",))
    assert draft_problems(good) == {}
    assert draft_problems(replace(good, kind=PayerKind.CHARITY)) == {
        "district_code": ["只有区县财政填写区县代码"]}
    assert draft_problems(replace(good, categories=("rich",))) == {
        "categories": ["无法识别的资助类别：rich"]}
    assert draft_problems(replace(good, name=" ", city_code="3301")) == {
        "city_code": ["城市代码应为6位数字，如 330100"],
        "name": ["请填写出资方名称（不超过100字）"]}


def test_the_registry_flag_and_district_cross_the_wire_and_may_be_absent() -> None:
    flagged = replace(PERSON, other_relief_insurance=True)
    sent = wire.person_out(flagged)
    assert (sent["district_code"], sent["other_relief_insurance"]) == ("330106", True)
    assert wire.person_in(sent) == flagged
    older = {key: value for key, value in sent.items()
             if key not in ("district_code", "other_relief_insurance")}
    assert wire.person_in(older) == replace(PERSON, district_code=None)
    with pytest.raises(ValueError, match="district_code"):
        wire.person_in(sent | {"district_code": "33"})
    with pytest.raises(ValueError, match="other_relief_insurance"):
        wire.person_in(sent | {"other_relief_insurance": "yes"})

"""The demo population of the built-in registry (杭州 330100, plus one person from 上海).

``DEMO_PERSONS`` is data that tests and the e2e suite refer to. ``load_demo_population`` creates
what is missing and leaves everything else alone: balances that moved through debits and refunds
are never reset by loading again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from huiminbao.core.clock import Clock
from huiminbao.core.db import Database
from huiminbao.registry.importer import LoadCounts, Population, load_population
from huiminbao.registry.loading import OpeningBalance
from huiminbao.registry.port import (
    Assistance,
    PersonStatus,
    RegistryPerson,
    Relation,
    Scheme,
    SettledItem,
    SettlementRecord,
    VisitType,
)
from huiminbao.registry.simulator import SimulatedRegistry

HANGZHOU = "330100"
SHANGHAI = "310100"


@dataclass(frozen=True)
class DemoPerson:
    name: str
    id_number: str
    phone: str | None
    scheme: Scheme
    status: PersonStatus = PersonStatus.ACTIVE
    assistance: Assistance = Assistance.NONE
    city_code: str = HANGZHOU
    # Already insured by another policy-based poverty-relief insurance (择一, 003 三(三)3).
    other_relief_insurance: bool = False
    # Opening balances in fen; None for persons without a personal account.
    prior_years_fen: int | None = None
    current_year_fen: int | None = None
    # What the demo uses this person for (English, for readers of tests).
    role: str = ""

    @property
    def has_account(self) -> bool:
        return self.prior_years_fen is not None

    def as_registry_person(self) -> RegistryPerson:
        return RegistryPerson(
            id_number=self.id_number,
            name=self.name,
            phone=self.phone,
            city_code=self.city_code,
            scheme=self.scheme,
            status=self.status,
            assistance=self.assistance,
            district_code=self.district_code,
            other_relief_insurance=self.other_relief_insurance,
        )

    @property
    def district_code(self) -> str | None:
        """Demo residents of 杭州 are insured in the district their ID number was issued in
        (330106 西湖区, 330110 余杭区, …): the district whose government pays their subsidy."""
        return self.id_number[:6] if self.city_code == HANGZHOU else None


ZHANG_WEI = DemoPerson(
    "张伟",
    "330106198803150130",
    "13800000001",
    Scheme.EMPLOYEE,
    prior_years_fen=200_000,
    current_year_fen=80_000,
    role="employee who buys for spouse, child and both parents from his prior-years balance",
)
LI_NA = DemoPerson(
    "李娜",
    "330106199007220243",
    "13800000002",
    Scheme.EMPLOYEE,
    prior_years_fen=50_000,
    current_year_fen=30_000,
    role="employee, 张伟's spouse",
)
ZHANG_XIAOYU = DemoPerson(
    "张小宇",
    "330106201805090316",
    None,
    Scheme.RESIDENT,
    role="child of 张伟 and 李娜, no phone",
)
ZHANG_JIANGUO = DemoPerson(
    "张建国",
    "330102195802100458",
    "13800000004",
    Scheme.EMPLOYEE,
    prior_years_fen=300_000,
    current_year_fen=0,
    role="retired employee, 张伟's father",
)
WANG_XIUYING = DemoPerson(
    "王秀英",
    "33010219430618052X",
    None,
    Scheme.RESIDENT,
    role="elderly resident without phone, 张伟's mother (proxy handling); ID ends in X",
)
LIU_YAN = DemoPerson(
    "刘䶮",
    "330105198109040613",
    "13800000006",
    Scheme.RESIDENT,
    role="resident paying online; name has a CJK Extension A character",
)
LIN_YAN = DemoPerson(
    "林𫖮",
    "330108199701130742",
    "13800000007",
    Scheme.EMPLOYEE,
    prior_years_fen=100_000,
    current_year_fen=20_000,
    role="employee whose name has a character outside the BMP",
)
ZHAO_MIN = DemoPerson(
    "赵敏",
    "330104197411270865",
    "13800000008",
    Scheme.EMPLOYEE,
    status=PersonStatus.SUSPENDED,
    prior_years_fen=60_000,
    current_year_fen=0,
    role="suspended insurance: may not enroll",
)
SUN_LI = DemoPerson(
    "孙丽",
    "330110196504300923",
    "13800000009",
    Scheme.RESIDENT,
    assistance=Assistance.DIBAO,
    role="低保 recipient: subsidized enrollment",
)
QIAN_GUILAN = DemoPerson(
    "钱桂兰",
    "330106195103082129",
    "13800000012",
    Scheme.RESIDENT,
    assistance=Assistance.TEKUN,
    other_relief_insurance=True,
    role="特困 resident who already holds another poverty-relief insurance: refused (择一)",
)
ZHOU_QIANG = DemoPerson(
    "周强",
    "330106199308121011",
    "13800000010",
    Scheme.EMPLOYEE,
    prior_years_fen=14_999,
    current_year_fen=5_000,
    role="employee whose prior-years balance (149.99) falls short of a premium",
)
WU_FANG = DemoPerson(
    "吴芳",
    "310104198602271124",
    "13800000011",
    Scheme.RESIDENT,
    city_code=SHANGHAI,
    role="insured in Shanghai: no product in Hangzhou",
)

DEMO_PERSONS: tuple[DemoPerson, ...] = (
    ZHANG_WEI,
    LI_NA,
    ZHANG_XIAOYU,
    ZHANG_JIANGUO,
    WANG_XIUYING,
    LIU_YAN,
    LIN_YAN,
    ZHAO_MIN,
    SUN_LI,
    QIAN_GUILAN,
    ZHOU_QIANG,
    WU_FANG,
)

# (person, relative, relation): the relative is the person's ``relation``. Each pair once; the
# inverse link (e.g. 张小宇 -> 张伟 parent) is stored by the loader.
DEMO_RELATIONS: tuple[tuple[str, str, Relation], ...] = (
    (ZHANG_WEI.id_number, LI_NA.id_number, Relation.SPOUSE),
    (ZHANG_WEI.id_number, ZHANG_XIAOYU.id_number, Relation.CHILD),
    (ZHANG_WEI.id_number, ZHANG_JIANGUO.id_number, Relation.PARENT),
    (ZHANG_WEI.id_number, WANG_XIUYING.id_number, Relation.PARENT),
    (LI_NA.id_number, ZHANG_XIAOYU.id_number, Relation.CHILD),
    (ZHANG_JIANGUO.id_number, WANG_XIUYING.id_number, Relation.SPOUSE),
)


# Diagnoses in the demo persons' settlement records (ICD-10, first recorded on): what products'
# pre-existing-condition terms ask about. 王秀英 was treated for liver cancer (C22.0) in 2023;
# 林𫖮 has chronic kidney disease (N18.3) on record since 2024.
DEMO_DIAGNOSES: tuple[tuple[str, str, date], ...] = (
    (WANG_XIUYING.id_number, "C22.0", date(2023, 4, 12)),
    (LIN_YAN.id_number, "N18.3", date(2024, 6, 20)),
    (ZHANG_JIANGUO.id_number, "I10", date(2019, 9, 3)),
)


# How many days after the day the demo is loaded the demo product's first coverage year starts
# (its enrollment window closes 45 days on: ``catalog.demo.demo_dates``).
COVERAGE_STARTS_AFTER_DAYS = 46
LI_NA_OUTPATIENT_SPECIAL = "JS3301002027000101"


def demo_settlements(loaded_on: date) -> tuple[tuple[str, SettlementRecord], ...]:
    """Settlements (医保结算记录) in the demo persons' records, dated from the day the demo is
    loaded: past outpatient visits, and 李娜's outpatient special-disease visit (门特, chronic
    kidney disease N18.5 on dialysis) on the second day of the demo product's coverage year. The
    registry answers only for visits on or before its today, so the 门特 visit appears once the
    demo clock has moved past it."""
    coverage = loaded_on + timedelta(days=COVERAGE_STARTS_AFTER_DAYS)
    outpatient = VisitType.OUTPATIENT

    def visit(no: str, kind: VisitType, on: date, hospital: str, self_pay_fen: int,
              items: tuple[SettledItem, ...] = (), drugs: tuple[str, ...] = (),
              diagnoses: tuple[str, ...] = ()) -> SettlementRecord:
        return SettlementRecord(no, kind, on, on, hospital, self_pay_fen, items, drugs, diagnoses)

    return (
        (ZHANG_WEI.id_number, visit("JS3301002026000201", outpatient,
                                    loaded_on - timedelta(days=60), "杭州市第一人民医院",
                                    8_600, diagnoses=("J06.9",))),
        (ZHANG_WEI.id_number, visit("JS3301002026000202", outpatient,
                                    loaded_on - timedelta(days=20), "杭州市第一人民医院",
                                    15_200, diagnoses=("K29.7",))),
        (LI_NA.id_number, visit("JS3301002026000301", outpatient,
                                loaded_on - timedelta(days=30), "浙江省人民医院", 12_000,
                                drugs=("XJ01CAA040A001010100000",), diagnoses=("J02.9",))),
        (LI_NA.id_number, visit(
            LI_NA_OUTPATIENT_SPECIAL, VisitType.OUTPATIENT_SPECIAL, coverage + timedelta(days=1),
            "浙江大学医学院附属第一医院", 3_500_000,
            items=(SettledItem("ZF001", "血液透析耗材（自费）", 60_000),),
            drugs=("XB03XAR036B001010100000",), diagnoses=("N18.5", "D63.1"))),
    )


def demo_person(name: str) -> DemoPerson:
    """The demo person with this name (tests read better with names than with ID numbers)."""
    for person in DEMO_PERSONS:
        if person.name == name:
            return person
    raise KeyError(name)


def demo_population() -> Population:
    return Population(
        persons=[person.as_registry_person() for person in DEMO_PERSONS],
        openings={
            person.id_number: OpeningBalance(
                person.prior_years_fen or 0, person.current_year_fen or 0
            )
            for person in DEMO_PERSONS
            if person.has_account
        },
        links=DEMO_RELATIONS,
    )


def load_demo_population(target: SimulatedRegistry | Database, clock: Clock) -> LoadCounts:
    """Create whatever of the demo population is missing (idempotent).

    Persons, accounts and relations that exist are left as they are, so balances that moved and
    statuses changed by a demo or test are not reset.
    """
    db = target.db if isinstance(target, SimulatedRegistry) else target
    counts = load_population(db, clock, demo_population(), update_existing=False)
    registry = SimulatedRegistry(db, clock)
    for id_number, code, diagnosed_on in DEMO_DIAGNOSES:
        registry.record_diagnosis(id_number, code, diagnosed_on)
    for id_number, record in demo_settlements(clock.today()):
        registry.record_settlement(id_number, record)
    return counts

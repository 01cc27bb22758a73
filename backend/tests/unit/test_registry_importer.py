"""``huiminbao registry import``: every bad row reported at once, all or nothing, idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from huiminbao.core.clock import MovableClock
from huiminbao.core.db import Base, Database
from huiminbao.core.masking import mask_name
from huiminbao.registry.demo import DEMO_PERSONS, demo_person, load_demo_population
from huiminbao.registry.importer import ImportReport, RowError, import_directory
from huiminbao.registry.models import RegistryPersonRow, RegistryRelationRow
from huiminbao.registry.port import (
    AccountBalance,
    Assistance,
    BalanceKind,
    FamilyLink,
    PersonStatus,
    RegistryPerson,
    Relation,
    Scheme,
)
from huiminbao.registry.simulator import SimulatedRegistry

PERSONS_HEADER = "id_number,name,phone,city_code,scheme,status,assistance"
ACCOUNTS_HEADER = "id_number,prior_years_fen,current_year_fen"
RELATIONS_HEADER = "id_number,relative_id_number,relation"

# Valid ID numbers (from the demo table).
FATHER = "330106198803150130"  # 1988, male
MOTHER = "330106199007220243"  # 1990, female
CHILD = "330106201805090316"  # 2018, male
GRANDMA = "33010219430618052X"  # 1943, female
LIN = "330108199701130742"
LIU = "330105198109040613"


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/t.db")
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def registry(db: Database, clock: MovableClock) -> SimulatedRegistry:
    return SimulatedRegistry(db, clock)


def write(directory: Path, name: str, *lines: str, bom: bool = False) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    (directory / name).write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))


def good_directory(directory: Path, *, bom: bool = False) -> Path:
    write(
        directory,
        "persons.csv",
        PERSONS_HEADER,
        f"{FATHER},张伟,13800000001,330100,employee,active,none",
        f"{MOTHER},李娜,13800000002,330100,employee,active,",
        f"{CHILD},张小宇,,330100,resident,active,none",
        f"{GRANDMA.lower()},王秀英,,330100,resident,active,dibao",
        f"{LIN},林𫖮,13800000007,330100,employee,active,none",
        f"{LIU},刘䶮,13800000006,330100,resident,suspended,disabled",
        bom=bom,
    )
    write(
        directory,
        "accounts.csv",
        ACCOUNTS_HEADER,
        f"{FATHER},200000,80000",
        f"{LIN},100000,20000",
        bom=bom,
    )
    write(
        directory,
        "relations.csv",
        RELATIONS_HEADER,
        f"{FATHER},{MOTHER},spouse",
        f"{FATHER},{CHILD},child",
        f"{CHILD},{MOTHER},parent",
        f"{MOTHER},{FATHER},spouse",  # the same pair from the other side: fine
        f"{FATHER},{GRANDMA},parent",
        bom=bom,
    )
    return directory


def count_persons(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(RegistryPersonRow)) or 0


def count_relations(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(RegistryRelationRow)) or 0


def errors_by_line(report: ImportReport) -> dict[tuple[str, int], list[str]]:
    found: dict[tuple[str, int], list[str]] = {}
    for error in report.errors:
        found.setdefault((error.file, error.line), []).append(error.message)
    return found


def test_every_bad_row_is_reported_and_nothing_is_loaded(
    tmp_path: Path, db: Database, clock: MovableClock
) -> None:
    write(
        tmp_path,
        "persons.csv",
        PERSONS_HEADER,
        f"{FATHER},张伟,13800000001,330100,employee,active,none",  # 2 good
        "330106198803150131,坏校验,,330100,resident,active,none",  # 3 check digit
        f"{MOTHER},   ,,330100,employee,active,none",  # 4 empty name
        f"{CHILD},张小宇,12345,330100,resident,active,none",  # 5 phone
        f"{GRANDMA},王秀英,,3301,resident,active,none",  # 6 city code
        f"{LIN},林𫖮,,330100,worker,active,none",  # 7 scheme
        f"{FATHER},张伟,,330100,employee,active,none",  # 8 duplicate of line 2
        f"{LIU},刘䶮,,330100,resident,gone,rich",  # 9 status and assistance
        f"{LIU},刘䶮,,330100,resident",  # 10 column count
        "330102202302300012,二月三十,,330100,resident,active,none",  # 11 30 February
        "",  # 12 blank line: ignored
        f"110101196001010011,{'长' * 51},,110100,resident,active,none",  # 13 long name
    )
    write(
        tmp_path,
        "accounts.csv",
        ACCOUNTS_HEADER,
        "330106201805090316,100,0",  # 2 a resident (but CHILD's row is bad: not repeated)
        f"{FATHER},-5,1.50",  # 3 two bad balances
        "110101197001010016,0,0",  # 4 unknown person
        "110101197001010016,0,0",  # 5 ID number repeated
    )
    write(
        tmp_path,
        "relations.csv",
        RELATIONS_HEADER,
        f"{FATHER},{FATHER},spouse",  # 2 self
        f"{FATHER},110101197001010016,cousin",  # 3 unknown relation
        f"{FATHER},110101197001010016,spouse",  # 4 unknown relative
        f"{FATHER},330106198803150131,child",  # 5 bad relative ID number
    )

    report = import_directory(db, clock, tmp_path)

    assert not report.ok
    found = errors_by_line(report)
    assert found == {
        ("persons.csv", 3): ["身份证号码校验位不正确，请核对后重新输入"],
        ("persons.csv", 4): ["姓名不能为空"],
        ("persons.csv", 5): ["手机号码应为11位中国大陆手机号（1开头，第二位为3至9），或留空"],
        ("persons.csv", 6): ["城市代码应为6位数字，如 330100"],
        ("persons.csv", 7): ["参保类型应为 employee（职工医保）或 resident（城乡居民医保）"],
        ("persons.csv", 8): ["身份证号码重复，与第2行相同"],
        ("persons.csv", 9): [
            "参保状态应为 active（正常参保）或 suspended（暂停参保）",
            "救助类别应为 none（无）、tekun（特困）、dibao（低保）、dibian（低边）或 disabled"
            "（残疾人），也可留空",
        ],
        ("persons.csv", 10): ["列数不正确：应为 7 列，实际为 5 列"],
        ("persons.csv", 11): ["身份证号码中的出生日期不是有效日期"],
        ("persons.csv", 13): ["姓名过长，最多 50 个字"],
        ("accounts.csv", 3): [
            "历年账户余额应为 0 至 1000000000 之间的整数（单位：分）",
            "当年账户余额应为 0 至 1000000000 之间的整数（单位：分）",
        ],
        ("accounts.csv", 4): ["此人不在 persons.csv 中，也不在已导入的人员中"],
        ("accounts.csv", 5): ["身份证号码重复，与第4行相同"],
        ("relations.csv", 2): ["不能把本人登记为自己的亲属"],
        ("relations.csv", 3): ["亲属关系应为 spouse（配偶）、child（子女）或 parent（父母）"],
        ("relations.csv", 4): ["亲属不在 persons.csv 中，也不在已导入的人员中"],
        ("relations.csv", 5): ["亲属身份证号码校验位不正确，请核对后重新输入"],
    }
    assert count_persons(db) == 0
    text = report.format()
    assert text.startswith(f"发现 {len(report.errors)} 处错误，未导入任何数据：")
    assert "persons.csv 第3行：身份证号码校验位不正确" in text


def test_relations_are_checked_for_plausibility(
    tmp_path: Path, db: Database, clock: MovableClock
) -> None:
    good_directory(tmp_path)
    write(
        tmp_path,
        "relations.csv",
        RELATIONS_HEADER,
        f"{FATHER},{MOTHER},spouse",  # 2 fine
        f"{CHILD},{FATHER},child",  # 3 a child older than the person
        f"{FATHER},{GRANDMA},child",  # 4 likewise
        f"{MOTHER},{FATHER},parent",  # 5 contradicts line 2
        f"{FATHER},{LIN},spouse",  # 6 a second spouse
    )
    write(tmp_path, "accounts.csv", ACCOUNTS_HEADER, f"{CHILD},0,0")  # 2 resident

    report = import_directory(db, clock, tmp_path)

    assert errors_by_line(report) == {
        ("accounts.csv", 2): ["只有职工医保参保人有个人账户，此人为城乡居民医保"],
        ("relations.csv", 3): ["子女的出生日期应晚于本人的出生日期"],
        ("relations.csv", 4): ["子女的出生日期应晚于本人的出生日期"],
        ("relations.csv", 5): ["与第2行登记的亲属关系矛盾"],
        ("relations.csv", 6): ["一人只能登记一位配偶，第2行已登记"],
    }
    assert count_persons(db) == 0


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing", RowError("persons.csv", 0, "缺少必需的文件 persons.csv")),
        ("bad header", RowError("persons.csv", 1, f"表头不正确，应为：{PERSONS_HEADER}"
                                "（可在末尾加上 district_code,other_relief_insurance）")),
        ("empty", RowError("persons.csv", 1, f"缺少表头，第一行应为：{PERSONS_HEADER}")),
        ("not utf-8", RowError("persons.csv", 2, "文件不是 UTF-8 编码，请以 UTF-8 格式保存后重试")),
    ],
)
def test_unreadable_files_are_reported(
    tmp_path: Path, db: Database, clock: MovableClock, setup: str, expected: RowError
) -> None:
    directory = tmp_path / "in"
    directory.mkdir()
    persons = directory / "persons.csv"
    if setup == "bad header":
        write(directory, "persons.csv", "id,name,phone,city,scheme,status,assistance")
    elif setup == "empty":
        persons.write_text("")
    elif setup == "not utf-8":
        persons.write_bytes(
            f"{PERSONS_HEADER}\n{FATHER},".encode() + "张伟".encode("gbk") + b",,330100,a,b,c\n"
        )
    report = import_directory(db, clock, directory)
    assert report.errors == [expected]


def test_a_good_directory_loads(
    tmp_path: Path, db: Database, clock: MovableClock, registry: SimulatedRegistry
) -> None:
    report = import_directory(db, clock, good_directory(tmp_path, bom=True))

    assert report.ok, report.format()
    assert (report.persons.created, report.persons.updated, report.persons.unchanged) == (6, 0, 0)
    # Employees without a row in accounts.csv (李娜) open with zero balances.
    assert (report.accounts.created, report.accounts.unchanged) == (3, 0)
    assert (report.relations.created, report.relations.unchanged) == (4, 0)
    assert count_relations(db) == 8  # both directions
    assert "参保人员：新增 6，更新 0，未变 0" in report.format()

    father = registry.find_person(FATHER)
    assert father is not None
    assert (father.name, father.phone, father.scheme) == ("张伟", "13800000001", Scheme.EMPLOYEE)
    grandma = registry.find_person(GRANDMA)
    assert grandma is not None
    assert (grandma.phone, grandma.assistance) == (None, Assistance.DIBAO)
    liu = registry.find_person(LIU)
    assert liu is not None
    assert liu.status is PersonStatus.SUSPENDED
    assert registry.balance(FATHER) == AccountBalance(FATHER, 200_000, 80_000)
    assert registry.balance(MOTHER) == AccountBalance(MOTHER, 0, 0)
    assert registry.balance(CHILD) is None
    assert registry.ledger_totals(FATHER) == {
        BalanceKind.PRIOR_YEARS: 200_000,
        BalanceKind.CURRENT_YEAR: 80_000,
    }
    assert registry.relations(FATHER) == [
        FamilyLink(MOTHER, Relation.SPOUSE),
        FamilyLink(CHILD, Relation.CHILD),
        FamilyLink(GRANDMA, Relation.PARENT),
    ]
    assert set(registry.relations(CHILD)) == {
        FamilyLink(FATHER, Relation.PARENT),
        FamilyLink(MOTHER, Relation.PARENT),
    }
    assert registry.relations(GRANDMA) == [FamilyLink(FATHER, Relation.CHILD)]


def test_running_twice_changes_nothing_and_keeps_moved_balances(
    tmp_path: Path, db: Database, clock: MovableClock, registry: SimulatedRegistry
) -> None:
    directory = good_directory(tmp_path)
    assert import_directory(db, clock, directory).ok
    registry.debit("D-1", FATHER, 15_000, sources=[BalanceKind.PRIOR_YEARS], purpose="保费")

    again = import_directory(db, clock, directory)

    assert again.ok
    assert (again.persons.created, again.persons.updated, again.persons.unchanged) == (0, 0, 6)
    assert (again.accounts.created, again.accounts.unchanged) == (0, 3)
    assert (again.relations.created, again.relations.updated, again.relations.unchanged) == (
        0,
        0,
        4,
    )
    assert count_persons(db) == 6
    assert count_relations(db) == 8
    assert registry.balance(FATHER) == AccountBalance(FATHER, 185_000, 80_000)


def test_a_changed_row_updates_the_person(
    tmp_path: Path, db: Database, clock: MovableClock, registry: SimulatedRegistry
) -> None:
    directory = good_directory(tmp_path)
    assert import_directory(db, clock, directory).ok
    write(
        directory,
        "persons.csv",
        PERSONS_HEADER,
        f"{LIU},刘䶮,13900000006,330100,resident,active,none",
    )
    (directory / "accounts.csv").unlink()
    write(directory, "relations.csv", RELATIONS_HEADER, f"{LIU},{LIN},spouse")

    report = import_directory(db, clock, directory)

    assert report.ok, report.format()
    assert (report.persons.updated, report.relations.created) == (1, 1)
    liu = registry.find_person(LIU)
    assert liu is not None
    assert (liu.phone, liu.status) == ("13900000006", PersonStatus.ACTIVE)
    assert registry.relations(LIN) == [FamilyLink(LIU, Relation.SPOUSE)]


def test_names_outside_the_bmp_round_trip(
    tmp_path: Path, db: Database, clock: MovableClock, registry: SimulatedRegistry
) -> None:
    assert import_directory(db, clock, good_directory(tmp_path)).ok
    lin = registry.find_person(LIN)
    liu = registry.find_person(LIU)
    assert lin is not None
    assert liu is not None
    assert lin.name == "林𫖮"
    assert len(lin.name) == 2
    assert liu.name == "刘䶮"
    assert mask_name(lin.name) == "林*"
    assert registry.find_persons([LIN])[LIN].name == "林𫖮"


def test_demo_population_loads_once(db: Database, clock: MovableClock) -> None:
    registry = SimulatedRegistry(db, clock)
    first = load_demo_population(registry, clock)
    assert first.persons.created == len(DEMO_PERSONS) == 12
    zhang_wei = demo_person("张伟")
    registry.debit(
        "DEMO-1", zhang_wei.id_number, 30_000, sources=[BalanceKind.PRIOR_YEARS], purpose="保费"
    )
    registry.set_status(demo_person("李娜").id_number, PersonStatus.SUSPENDED)

    second = load_demo_population(db, clock)

    assert (second.persons.created, second.accounts.created, second.relations.created) == (0, 0, 0)
    assert registry.balance(zhang_wei.id_number) == AccountBalance(
        zhang_wei.id_number, 170_000, 80_000
    )
    li_na = registry.find_person(demo_person("李娜").id_number)
    assert li_na is not None
    assert li_na.status is PersonStatus.SUSPENDED
    assert {link.relation for link in registry.relations(zhang_wei.id_number)} == {
        Relation.SPOUSE,
        Relation.CHILD,
        Relation.PARENT,
    }
    assert len(registry.relations(zhang_wei.id_number)) == 4
    zhou = demo_person("周强")
    assert registry.balance(zhou.id_number) == AccountBalance(zhou.id_number, 14_999, 5_000)
    assert registry.balance(demo_person("孙丽").id_number) is None
    wu = registry.find_person(demo_person("吴芳").id_number)
    assert wu is not None
    assert wu.city_code == "310100"


def test_accounts_and_relations_may_name_persons_already_in_the_database(
    tmp_path: Path, db: Database, clock: MovableClock, registry: SimulatedRegistry
) -> None:
    registry.upsert_person(
        RegistryPerson(FATHER, "张伟", None, "330100", Scheme.EMPLOYEE, PersonStatus.ACTIVE,
                       Assistance.NONE)
    )  # fmt: skip
    write(tmp_path, "persons.csv", PERSONS_HEADER, f"{CHILD},张小宇,,330100,resident,active,")
    write(tmp_path, "accounts.csv", ACCOUNTS_HEADER, f"{FATHER},1000,200")
    write(tmp_path, "relations.csv", RELATIONS_HEADER, f"{CHILD},{FATHER},parent")

    report = import_directory(db, clock, tmp_path)

    assert report.ok, report.format()
    assert (report.persons.created, report.accounts.created, report.relations.created) == (1, 1, 1)
    assert registry.balance(FATHER) == AccountBalance(FATHER, 1_000, 200)
    assert registry.relations(FATHER) == [FamilyLink(CHILD, Relation.CHILD)]


def test_the_district_and_the_poverty_relief_flag_are_optional_columns(
        tmp_path: Path, registry: SimulatedRegistry, db: Database, clock: MovableClock) -> None:
    header = PERSONS_HEADER + ",district_code,other_relief_insurance"
    write(tmp_path / "bad", "persons.csv", header,
          f"{GRANDMA},王秀英,,330100,resident,active,dibao,3301,maybe")
    refused = import_directory(db, clock, tmp_path / "bad")
    assert [error.message for error in refused.errors] == [
        "区县代码应为6位数字，如 330106，或留空",
        "是否已参加其他政策性扶贫类保险应填 1（是）或 0（否），或留空"]
    write(tmp_path / "good", "persons.csv", header,
          f"{GRANDMA},王秀英,,330100,resident,active,dibao,330102,1",
          f"{CHILD},张小宇,,330100,resident,active,none,,")
    assert not import_directory(db, clock, tmp_path / "good").errors
    grandma, child = registry.find_person(GRANDMA), registry.find_person(CHILD)
    assert grandma is not None and child is not None
    assert (grandma.district_code, grandma.other_relief_insurance) == ("330102", True)
    assert (child.district_code, child.other_relief_insurance) == (None, False)

"""``huiminbao registry import DIR``: load persons, accounts and relations into the simulator.

Files (UTF-8, with or without BOM; the first line is the header, exactly as shown):

* ``persons.csv`` (required): ``id_number,name,phone,city_code,scheme,status,assistance``,
  optionally followed by ``district_code,other_relief_insurance`` (the district the person's
  insurance belongs to; ``1`` when the person holds another policy-based poverty-relief
  insurance, 择一); ``phone``, ``assistance`` and the two optional columns may be empty.
* ``accounts.csv`` (optional): ``id_number,prior_years_fen,current_year_fen``, employee-scheme
  persons only.
* ``relations.csv`` (optional): ``id_number,relative_id_number,relation`` where ``relation`` is
  what the relative is to the person (``spouse``, ``child``, ``parent``); the inverse link is
  stored as well, so each pair needs to be listed once (listing both directions is fine).

Every row is checked first and every problem is reported with file and line; if there is any,
nothing is written. Otherwise everything is written in one transaction.

Running the same import again changes nothing: persons are upserted by ID number, relations by
pair, and accounts.csv gives the *opening* balance only. An account that already exists keeps its
balances (they may have moved through debits and refunds since), so a re-import never resets money.
An employee-scheme person without a row in accounts.csv gets an account with zero balances.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path

from huiminbao.core import idnumber
from huiminbao.core.clock import Clock
from huiminbao.core.csvrows import CsvRecord, CsvSyntaxError, csv_records
from huiminbao.core.db import Database
from huiminbao.core.masking import normalize_name
from huiminbao.registry.loading import (
    Change,
    OpeningBalance,
    ensure_accounts_in,
    link_all_in,
    upsert_persons_in,
)
from huiminbao.registry.port import (
    Assistance,
    PersonStatus,
    RegistryPerson,
    Relation,
    Scheme,
)
from huiminbao.registry.rows import person_rows_by_id_number

PERSONS_FILE = "persons.csv"
ACCOUNTS_FILE = "accounts.csv"
RELATIONS_FILE = "relations.csv"
PERSONS_HEADER = ("id_number", "name", "phone", "city_code", "scheme", "status", "assistance")
PERSONS_OPTIONAL = ("district_code", "other_relief_insurance")
_FLAGS = {"": False, "0": False, "false": False, "否": False, "1": True, "true": True, "是": True}
ACCOUNTS_HEADER = ("id_number", "prior_years_fen", "current_year_fen")
RELATIONS_HEADER = ("id_number", "relative_id_number", "relation")

NAME_MAX_CHARS = 50
# Far above any real personal-account balance (10 million CNY), far below BIGINT.
BALANCE_MAX_FEN = 1_000_000_000
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_CITY_CODE = re.compile(r"[0-9]{6}")
_FEN = re.compile(r"[0-9]+")
# Control characters, unpaired surrogates and line/paragraph separators never belong in a name.
# Unassigned code points (Cn) are allowed: rare name characters may be newer than Python's tables.
_FORBIDDEN_NAME_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}

_SCHEME_TEXT = "employee（职工医保）或 resident（城乡居民医保）"
_STATUS_TEXT = "active（正常参保）或 suspended（暂停参保）"
_ASSISTANCE_TEXT = (
    "none（无）、tekun（特困）、dibao（低保）、dibian（低边）或 disabled（残疾人），也可留空"
)
_RELATION_TEXT = "spouse（配偶）、child（子女）或 parent（父母）"


@dataclass(frozen=True)
class RowError:
    file: str
    line: int  # 1 is the header; 0 when the problem is the file as a whole
    message: str

    def format(self) -> str:
        where = f"{self.file} 第{self.line}行" if self.line else self.file
        return f"{where}：{self.message}"


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def count(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if change is Change.CREATED:
                self.created += 1
            elif change is Change.UPDATED:
                self.updated += 1
            else:
                self.unchanged += 1

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass
class ImportReport:
    directory: Path
    errors: list[RowError] = field(default_factory=list)
    persons: Tally = field(default_factory=Tally)
    accounts: Tally = field(default_factory=Tally)
    relations: Tally = field(default_factory=Tally)

    @property
    def ok(self) -> bool:
        return not self.errors

    def format(self) -> str:
        """Chinese text for the command line."""
        if self.errors:
            lines = [f"发现 {len(self.errors)} 处错误，未导入任何数据："]
            lines.extend(f"  {error.format()}" for error in self.errors)
            return "\n".join(lines)
        return "\n".join(
            [
                f"导入完成：{self.directory}",
                f"  参保人员：新增 {self.persons.created}，更新 {self.persons.updated}，"
                f"未变 {self.persons.unchanged}",
                f"  个人账户：新开 {self.accounts.created}，已存在 {self.accounts.unchanged}"
                "（已存在的账户保留现有余额，不按文件重置）",
                f"  亲属关系：新增 {self.relations.created}，更新 {self.relations.updated}，"
                f"未变 {self.relations.unchanged}",
            ]
        )


@dataclass(frozen=True)
class Population:
    """Validated data ready to load: what the importer, the demo data and tests hand over."""

    persons: Sequence[RegistryPerson]
    # Opening balances by ID number; employee-scheme persons not listed open with zero.
    openings: dict[str, OpeningBalance] = field(default_factory=dict)
    # (person, relative, relation): the relative is the person's ``relation``.
    links: Sequence[tuple[str, str, Relation]] = ()


@dataclass(frozen=True)
class LoadCounts:
    persons: Tally
    accounts: Tally
    relations: Tally


def load_population(
    db: Database, clock: Clock, population: Population, *, update_existing: bool = True
) -> LoadCounts:
    """Write already validated data in one transaction (idempotent; see the module docstring).

    With ``update_existing=False`` persons and relations that exist are left as they are.
    """
    now = clock.now()
    persons, accounts, relations = Tally(), Tally(), Tally()
    with db.transaction() as session:
        rows, person_changes = upsert_persons_in(
            session, population.persons, now, update_existing=update_existing
        )
        persons.count(person_changes)
        # Accounts and relations may name persons that are only in the database.
        involved = {link[0] for link in population.links} | {link[1] for link in population.links}
        missing = (involved | set(population.openings)).difference(rows)
        rows.update(person_rows_by_id_number(session, missing))
        # Every employee listed gets an account; so does everyone with an opening balance.
        # A dict keeps one entry per person, so a person listed twice is opened once.
        employees = dict.fromkeys(
            person.id_number for person in population.persons if person.scheme == Scheme.EMPLOYEE
        ) | dict.fromkeys(population.openings)
        openings = [
            (rows[id_number], population.openings.get(id_number, OpeningBalance()))
            for id_number in employees
        ]
        accounts.count(ensure_accounts_in(session, openings, now))
        links = [(rows[a], rows[b], relation) for a, b, relation in population.links]
        relations.count(link_all_in(session, links, now, update_existing=update_existing))
    return LoadCounts(persons=persons, accounts=accounts, relations=relations)


# --- reading and checking ------------------------------------------------------------------------


class _FileReader:
    """Reads one CSV file into records, collecting file-level problems as row errors."""

    def __init__(self, path: Path, header: tuple[str, ...], errors: list[RowError],
                 optional: tuple[str, ...] = ()) -> None:
        self.path = path
        self.name = path.name
        self.header = header
        self.optional = optional  # trailing columns a file may leave out
        self.errors = errors

    def error(self, line: int, message: str) -> None:
        self.errors.append(RowError(self.name, line, message))

    def records(self) -> list[CsvRecord] | None:
        """The data records, or None if the file cannot be read at all (already reported)."""
        raw = self.path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            self.error(line, "文件不是 UTF-8 编码，请以 UTF-8 格式保存后重试")
            return None
        if "\x00" in text:
            line = text[: text.index("\x00")].count("\n") + 1
            self.error(line, "文件含有空字符（NUL），不是有效的 CSV 文本")
            return None
        try:
            records = csv_records(text, strict=True)
        except CsvSyntaxError as exc:
            self.error(exc.line, f"CSV 格式错误：{exc.detail}")
            return None
        if not records or records[0].line != 1:
            self.error(1, f"缺少表头，第一行应为：{','.join(self.header)}")
            return None
        header = tuple(records[0].cells)
        if header not in (self.header, self.header + self.optional):
            self.error(1, f"表头不正确，应为：{','.join(self.header)}" + (
                f"（可在末尾加上 {','.join(self.optional)}）" if self.optional else ""))
            return None
        rows = records[1:]
        for record in rows:
            if len(record.cells) != len(header):
                self.error(
                    record.line,
                    f"列数不正确：应为 {len(header)} 列，实际为 {len(record.cells)} 列",
                )
        return [record for record in rows if len(record.cells) == len(header)]


def _values(enum: type[StrEnum]) -> set[str]:
    return {member.value for member in enum}


def _parse_id(raw: str, today: date) -> tuple[idnumber.IdNumber | None, str | None]:
    try:
        return idnumber.parse(raw, today=today), None
    except idnumber.InvalidIdNumber as exc:
        return None, exc.message


def _name_problem(name: str) -> str | None:
    if not name:
        return "姓名不能为空"
    if len(name) > NAME_MAX_CHARS:  # code points: 林𫖮 is two characters
        return f"姓名过长，最多 {NAME_MAX_CHARS} 个字"
    if any(unicodedata.category(char) in _FORBIDDEN_NAME_CATEGORIES for char in name):
        return "姓名含有控制字符或换行等不可见字符"
    return None


def _fen(raw: str) -> int | None:
    if not _FEN.fullmatch(raw):
        return None
    value = int(raw)
    return value if value <= BALANCE_MAX_FEN else None


@dataclass(frozen=True)
class _KnownPerson:
    scheme: Scheme
    birth_date: date


class _Checker:
    def __init__(self, db: Database, clock: Clock, directory: Path) -> None:
        self.db = db
        self.today = clock.today()
        self.directory = directory
        self.errors: list[RowError] = []
        self.persons: list[RegistryPerson] = []
        self.openings: dict[str, OpeningBalance] = {}
        self.links: list[tuple[str, str, Relation]] = []
        # ID number -> scheme and birth date, from persons.csv and then the database.
        self.known: dict[str, _KnownPerson] = {}
        # False when persons.csv could not be read: references cannot be checked then.
        self.persons_readable = False
        # Valid ID numbers on persons.csv rows that were rejected for another reason.
        self.rejected_person_ids: set[str] = set()

    def check(self) -> Population:
        persons_path = self.directory / PERSONS_FILE
        if not self.directory.is_dir():
            self.errors.append(RowError(str(self.directory), 0, "目录不存在"))
            return Population(persons=())
        if not persons_path.is_file():
            self.errors.append(RowError(PERSONS_FILE, 0, "缺少必需的文件 persons.csv"))
        else:
            self._check_persons(persons_path)
        account_records = self._records(ACCOUNTS_FILE, ACCOUNTS_HEADER)
        relation_records = self._records(RELATIONS_FILE, RELATIONS_HEADER)
        self._learn_database_persons(account_records, relation_records)
        self._check_accounts(account_records)
        self._check_relations(relation_records)
        return Population(persons=self.persons, openings=self.openings, links=self.links)

    def _records(self, file_name: str, header: tuple[str, ...]) -> list[CsvRecord]:
        path = self.directory / file_name
        if not path.is_file():
            return []
        return _FileReader(path, header, self.errors).records() or []

    def _error(self, file_name: str, line: int, message: str) -> None:
        self.errors.append(RowError(file_name, line, message))

    def _check_persons(self, path: Path) -> None:
        records = _FileReader(path, PERSONS_HEADER, self.errors, PERSONS_OPTIONAL).records()
        if records is None:
            return
        self.persons_readable = True
        first_seen: dict[str, int] = {}
        for record in records:
            raw_id, raw_name, phone, city_code, scheme, status, assistance = record.cells[:7]
            district, relief = [*record.cells[7:], "", ""][:2]
            problems: list[str] = []
            parsed, id_problem = _parse_id(raw_id, self.today)
            if id_problem:
                problems.append(id_problem)
            elif parsed is not None and parsed.value in first_seen:
                problems.append(f"身份证号码重复，与第{first_seen[parsed.value]}行相同")
            name = normalize_name(raw_name)
            if name_problem := _name_problem(name):
                problems.append(name_problem)
            if phone and not _MOBILE.fullmatch(phone):
                problems.append("手机号码应为11位中国大陆手机号（1开头，第二位为3至9），或留空")
            if not _CITY_CODE.fullmatch(city_code):
                problems.append("城市代码应为6位数字，如 330100")
            if scheme not in _values(Scheme):
                problems.append(f"参保类型应为 {_SCHEME_TEXT}")
            if status not in _values(PersonStatus):
                problems.append(f"参保状态应为 {_STATUS_TEXT}")
            assistance = assistance or Assistance.NONE.value
            if assistance not in _values(Assistance):
                problems.append(f"救助类别应为 {_ASSISTANCE_TEXT}")
            if district and not _CITY_CODE.fullmatch(district):
                problems.append("区县代码应为6位数字，如 330106，或留空")
            if relief.strip().lower() not in _FLAGS:
                problems.append("是否已参加其他政策性扶贫类保险应填 1（是）或 0（否），或留空")
            for problem in problems:
                self._error(PERSONS_FILE, record.line, problem)
            if parsed is None:
                continue
            first_seen.setdefault(parsed.value, record.line)
            if problems:
                if parsed.value not in self.known:
                    self.rejected_person_ids.add(parsed.value)
                continue
            self.known[parsed.value] = _KnownPerson(Scheme(scheme), parsed.birth_date)
            self.persons.append(
                RegistryPerson(
                    id_number=parsed.value,
                    name=name,
                    phone=phone or None,
                    city_code=city_code,
                    scheme=Scheme(scheme),
                    status=PersonStatus(status),
                    assistance=Assistance(assistance),
                    district_code=district or None,
                    other_relief_insurance=_FLAGS[relief.strip().lower()],
                )
            )

    def _learn_database_persons(
        self, account_records: list[CsvRecord], relation_records: list[CsvRecord]
    ) -> None:
        """Persons referenced by accounts/relations but not in persons.csv may be in the DB."""
        referenced = {idnumber.normalize(record.cells[0]) for record in account_records}
        for record in relation_records:
            referenced.update(idnumber.normalize(cell) for cell in record.cells[:2])
        wanted = referenced.difference(self.known)
        if not wanted:
            return
        with self.db.read() as session:
            rows = person_rows_by_id_number(session, wanted)
            for id_number, row in rows.items():
                parsed, _problem = _parse_id(id_number, self.today)
                if parsed is not None and id_number not in self.known:
                    self.known[id_number] = _KnownPerson(Scheme(row.scheme), parsed.birth_date)

    def _known_or_error(self, file_name: str, line: int, id_number: str, label: str) -> bool:
        if id_number in self.known:
            return True
        # Not reported again when persons.csv itself could not be read or rejected the row.
        if self.persons_readable and id_number not in self.rejected_person_ids:
            self._error(file_name, line, f"{label}不在 persons.csv 中，也不在已导入的人员中")
        return False

    def _check_accounts(self, records: list[CsvRecord]) -> None:
        first_seen: dict[str, int] = {}
        for record in records:
            raw_id, raw_prior, raw_current = record.cells
            problems: list[str] = []
            parsed, id_problem = _parse_id(raw_id, self.today)
            if id_problem:
                problems.append(id_problem)
            prior = _fen(raw_prior)
            current = _fen(raw_current)
            if prior is None:
                problems.append(f"历年账户余额应为 0 至 {BALANCE_MAX_FEN} 之间的整数（单位：分）")
            if current is None:
                problems.append(f"当年账户余额应为 0 至 {BALANCE_MAX_FEN} 之间的整数（单位：分）")
            for problem in problems:
                self._error(ACCOUNTS_FILE, record.line, problem)
            if parsed is None:
                continue
            if parsed.value in first_seen:
                self._error(
                    ACCOUNTS_FILE,
                    record.line,
                    f"身份证号码重复，与第{first_seen[parsed.value]}行相同",
                )
                continue
            first_seen[parsed.value] = record.line
            if not self._known_or_error(ACCOUNTS_FILE, record.line, parsed.value, "此人"):
                continue
            if self.known[parsed.value].scheme is not Scheme.EMPLOYEE:
                self._error(
                    ACCOUNTS_FILE, record.line, "只有职工医保参保人有个人账户，此人为城乡居民医保"
                )
                continue
            if prior is not None and current is not None and not problems:
                self.openings[parsed.value] = OpeningBalance(prior, current)

    def _check_relations(self, records: list[CsvRecord]) -> None:
        # Unordered pair -> (line, person, relative, relation) as first listed.
        pairs: dict[frozenset[str], tuple[int, str, str, Relation]] = {}
        spouse_of: dict[str, tuple[int, str]] = {}
        for record in records:
            raw_id, raw_relative, raw_relation = record.cells
            problems: list[str] = []
            person, person_problem = _parse_id(raw_id, self.today)
            if person_problem:
                problems.append(person_problem)
            relative, relative_problem = _parse_id(raw_relative, self.today)
            if relative_problem:
                problems.append(f"亲属{relative_problem}")
            relation = Relation(raw_relation) if raw_relation in _values(Relation) else None
            if relation is None:
                problems.append(f"亲属关系应为 {_RELATION_TEXT}")
            if person and relative and person.value == relative.value:
                problems.append("不能把本人登记为自己的亲属")
            for problem in problems:
                self._error(RELATIONS_FILE, record.line, problem)
            if problems or person is None or relative is None or relation is None:
                continue
            line = record.line
            known_person = self._known_or_error(RELATIONS_FILE, line, person.value, "此人")
            known_relative = self._known_or_error(RELATIONS_FILE, line, relative.value, "亲属")
            if not (known_person and known_relative):
                continue
            pair_problem = self._pair_problem(person, relative, relation, pairs, spouse_of)
            if pair_problem:
                self._error(RELATIONS_FILE, line, pair_problem)
                continue
            key = frozenset((person.value, relative.value))
            if key in pairs:
                continue  # the same pair listed again (perhaps from the other side)
            pairs[key] = (line, person.value, relative.value, relation)
            if relation is Relation.SPOUSE:
                spouse_of[person.value] = (line, relative.value)
                spouse_of[relative.value] = (line, person.value)
            self.links.append((person.value, relative.value, relation))

    @staticmethod
    def _pair_problem(
        person: idnumber.IdNumber,
        relative: idnumber.IdNumber,
        relation: Relation,
        pairs: dict[frozenset[str], tuple[int, str, str, Relation]],
        spouse_of: dict[str, tuple[int, str]],
    ) -> str | None:
        if relation is Relation.CHILD and relative.birth_date <= person.birth_date:
            return "子女的出生日期应晚于本人的出生日期"
        if relation is Relation.PARENT and relative.birth_date >= person.birth_date:
            return "父母的出生日期应早于本人的出生日期"
        earlier = pairs.get(frozenset((person.value, relative.value)))
        if earlier is not None:
            earlier_line, earlier_person, _earlier_relative, earlier_relation = earlier
            as_listed = (
                earlier_relation if earlier_person == person.value else earlier_relation.inverse
            )
            if as_listed is not relation:
                return f"与第{earlier_line}行登记的亲属关系矛盾"
            return None
        if relation is Relation.SPOUSE:
            for side in (person.value, relative.value):
                if side in spouse_of:
                    return f"一人只能登记一位配偶，第{spouse_of[side][0]}行已登记"
        return None


def check_directory(
    db: Database, clock: Clock, directory: Path
) -> tuple[Population, list[RowError]]:
    """Read and check every file; nothing is written."""
    checker = _Checker(db, clock, directory)
    population = checker.check()
    errors = sorted(checker.errors, key=_error_order)
    return population, errors


_FILE_ORDER = {PERSONS_FILE: 0, ACCOUNTS_FILE: 1, RELATIONS_FILE: 2}


def _error_order(error: RowError) -> tuple[int, int]:
    return (_FILE_ORDER.get(error.file, -1), error.line)


def import_directory(db: Database, clock: Clock, directory: Path) -> ImportReport:
    """Check the directory's files and, only if every row is valid, load them all."""
    report = ImportReport(directory=directory)
    population, errors = check_directory(db, clock, directory)
    if errors:
        report.errors = errors
        return report
    counts = load_population(db, clock, population)
    report.persons, report.accounts, report.relations = (
        counts.persons,
        counts.accounts,
        counts.relations,
    )
    return report

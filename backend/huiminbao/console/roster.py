"""The subsidy roster (003 三(三)3): the year's list of persons in the assistance categories
(特困, 低保, 低边, 残疾人员), imported as CSV ``id_number,name,category`` and enrolled with the
subsidy fund in the product's subsidized tier.

One subsidy per person per year: the enrollment domain refuses a second (and the partial unique
index on ``subsidy_uses`` makes it impossible). A person already subsidized this year, or
already insured, is *skipped* with the reason; a row that cannot be read or matched *failed*.
Importing a roster again is safe: those enrolled the first time are skipped.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.domain import AssistanceCategory
from huiminbao.catalog.models import Product
from huiminbao.console.csvfiles import CsvFile
from huiminbao.console.enrolling import enroll_for, open_product, registry_problem
from huiminbao.console.models import SubsidyRosterImport, SubsidyRosterRow
from huiminbao.core import idnumber
from huiminbao.core.clock import to_china_time
from huiminbao.core.container import Container
from huiminbao.core.errors import DomainError, NotFound
from huiminbao.core.masking import mask_id_number, mask_name, normalize_name
from huiminbao.enrollment.domain import PaymentMethod, subsidy_covers
from huiminbao.identity.auth import Actor
from huiminbao.identity.services import person_for
from huiminbao.registry.port import Assistance, RegistryPerson

HEADER = ("id_number", "name", "category")
MAX_ROWS = 5000

OUTCOME_LABELS = {
    "pending": "处理中",
    "enrolled": "已资助参保",
    "skipped": "已跳过",
    "failed": "未参保",
}

_CATEGORY_WORDS: dict[str, AssistanceCategory] = {}
for _category, _words in (
    (AssistanceCategory.TEKUN, ("特困", "特困人员", "特困供养人员")),
    (AssistanceCategory.DIBAO, ("低保", "低保对象", "最低生活保障对象")),
    (AssistanceCategory.DIBIAN, ("低边", "低边对象", "低保边缘", "低保边缘对象")),
    (AssistanceCategory.DISABLED, ("残疾", "残疾人", "残疾人员")),
):
    _CATEGORY_WORDS[_category.value] = _category
    for _word in _words:
        _CATEGORY_WORDS[_word] = _category

CATEGORY_CHOICES = "tekun（特困）、dibao（低保）、dibian（低边）或 disabled（残疾人员）"


def category_of(typed: str) -> AssistanceCategory | None:
    return _CATEGORY_WORDS.get(typed.strip().lower()) or _CATEGORY_WORDS.get(typed.strip())


@dataclass(frozen=True)
class RosterReport:
    roster_import: SubsidyRosterImport
    product_name: str


@dataclass
class _Checked:
    line: int
    id_number: str
    name: str
    category: AssistanceCategory | None
    reason: str | None = None
    outcome: str = "pending"
    registered: RegistryPerson | None = None


def import_roster(c: Container, staff: Actor, product_id: int, file: CsvFile) -> RosterReport:
    product = open_product(c, product_id)
    checked = _check_rows(c, product, file)
    found = c.registry.find_persons([row.id_number for row in checked if row.reason is None])
    for item in checked:
        if item.reason is not None:
            continue
        item.registered = found.get(item.id_number)
        item.reason = registry_problem(item.registered, item.name, product.city_code,
                                       product.city_name)
        if item.reason is None and item.registered is not None \
                and item.registered.assistance is Assistance.NONE:
            item.reason = ("医保登记信息中该人员不属于资助参保对象（特困、低保、低边、残疾人员），"
                           "请与医保、民政部门核实后再办理")
        if item.reason is not None:
            item.outcome = "failed"

    import_id = _open_import(c, staff, product, file, checked)
    with c.db.read() as session:
        pending = session.scalars(select(SubsidyRosterRow).where(
            SubsidyRosterRow.import_id == import_id, SubsidyRosterRow.outcome == "pending")
            .order_by(SubsidyRosterRow.line)).all()
    tier = product.subsidized_tier
    assert tier is not None
    for row in pending:
        assert row.person_id is not None
        outcome, reason, order_no, policy_no = _enroll_row(c, staff, product, tier.code, row)
        with c.db.transaction() as session:
            stored = session.get(SubsidyRosterRow, row.id, with_for_update=True)
            if stored is not None and stored.outcome == "pending":
                stored.outcome, stored.reason = outcome, reason
                stored.order_no, stored.policy_no = order_no, policy_no
    with c.db.transaction() as session:
        roster = session.get(SubsidyRosterImport, import_id, with_for_update=True)
        assert roster is not None
        roster.status, roster.finished_at = "done", c.clock.now()
        counts: dict[str, int] = {}
        for outcome in session.scalars(select(SubsidyRosterRow.outcome).where(
                SubsidyRosterRow.import_id == import_id)):
            counts[outcome] = counts.get(outcome, 0) + 1
        audit.record(session, c.clock, AuditEntry(
            action="subsidy_roster.done", actor=AuditActor(staff.account_id, staff.role.value),
            object_type="roster", object_id=roster.import_no, details=counts,
        ))
    return load_report(c, import_id)


def _check_rows(c: Container, product: Product, file: CsvFile) -> list[_Checked]:
    today = c.clock.today()
    seen: dict[str, int] = {}
    checked: list[_Checked] = []
    allowed = product.subsidized_category_list
    for row in file.rows:
        raw_id, raw_name, raw_category = (row.values[key] for key in HEADER)
        item = _Checked(row.line, raw_id, normalize_name(raw_name), category_of(raw_category),
                        row.problem)
        checked.append(item)
        if item.reason is None:
            item.reason = _row_problem(item, raw_id, raw_category, today, seen)
        if item.reason is not None:
            item.outcome = "failed"
        elif item.category is not None and not subsidy_covers(item.category.value, allowed):
            item.outcome = "skipped"
            item.reason = f"本产品的资助人群不含“{item.category.label}”"
    return checked


def _row_problem(item: _Checked, raw_id: str, raw_category: str, today: date,
                 seen: dict[str, int]) -> str | None:
    try:
        item.id_number = idnumber.parse(raw_id, today=today).value
    except idnumber.InvalidIdNumber as exc:
        return "身份证号码为空" if not raw_id else exc.message
    if not item.name:
        return "姓名为空"
    if item.category is None:
        return (f"资助类别“{raw_category}”无法识别，应为{CATEGORY_CHOICES}" if raw_category
                else f"资助类别为空，应为{CATEGORY_CHOICES}")
    if item.id_number in seen:
        return f"与第{seen[item.id_number]}行的身份证号码重复"
    seen[item.id_number] = item.line
    return None


def _open_import(c: Container, staff: Actor, product: Product, file: CsvFile,
                 checked: list[_Checked]) -> int:
    now = c.clock.now()
    with c.db.transaction() as session:
        roster = SubsidyRosterImport(
            import_no=_import_no(now), product_id=product.id, city_code=product.city_code,
            year=product.year, file_sha256=file.sha256, filename=file.filename,
            uploaded_by_account_id=staff.account_id, status="processing", created_at=now)
        for row in checked:
            person_id = None
            if row.outcome == "pending" and row.registered is not None:
                person_id = person_for(session, row.id_number, row.registered.name, now).id
            roster.rows.append(SubsidyRosterRow(
                line=row.line, id_number_masked=mask_id_number(row.id_number)[:18],
                name_masked=mask_name(row.name)[:64],
                category=row.category.value if row.category else None, person_id=person_id,
                outcome=row.outcome, reason=row.reason[:200] if row.reason else None))
        session.add(roster)
        session.flush()
        audit.record(session, c.clock, AuditEntry(
            action="subsidy_roster.import",
            actor=AuditActor(staff.account_id, staff.role.value), object_type="roster",
            object_id=roster.import_no,
            details={"product_id": product.id, "year": product.year, "rows": len(checked),
                     "file_sha256": file.sha256},
        ))
        return roster.id


def _import_no(now: datetime) -> str:
    return f"ZZ{to_china_time(now):%Y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"


def _enroll_row(c: Container, staff: Actor, product: Product, tier_code: str,
                row: SubsidyRosterRow) -> tuple[str, str | None, str | None, str | None]:
    assert row.person_id is not None
    try:
        enrolled = enroll_for(c, staff, row.person_id, product.id, tier_code,
                              PaymentMethod.SUBSIDY, channel="subsidy")
    except DomainError as exc:
        if exc.code == "already_insured":
            return "skipped", "已参保（已有本年度有效保单），无需重复参保", None, None
        if exc.code in {"not_subsidized", "subsidy_used"}:
            return "skipped", "本年度已享受过一次政府资助参保，不能重复资助", None, None
        if exc.code == "pending_order":
            return "failed", "该人员有一笔待支付的订单，请其完成或取消后再办理", None, None
        return "failed", exc.message[:200], None, None
    return "enrolled", None, enrolled.order_no, enrolled.policy_no


def load_report(c: Container, import_id: int) -> RosterReport:
    with c.db.read() as session:
        found = session.execute(
            select(SubsidyRosterImport, Product.name)
            .join(Product, Product.id == SubsidyRosterImport.product_id)
            .where(SubsidyRosterImport.id == import_id)
            .options(selectinload(SubsidyRosterImport.rows))
        ).one_or_none()
    if found is None:
        raise NotFound("未找到该批次")
    roster, product_name = found
    return RosterReport(roster, product_name)

"""The subsidy roster (003 三(三)3): the year's list of persons in the assistance categories
(特困, 低保, 低边, 残疾人员), imported as CSV ``id_number,name,category[,payer]`` and enrolled with
the paying body's subsidy fund in the product's subsidized tier.

``payer`` names a registered paying body (its code or its name; ``console.payers``); left out or
empty, the payer rule decides (the person's district when it pays for the group, else the city).
A file naming a payer that is not registered (or deactivated) is refused as a whole, with each
such line: nothing of it is imported. A district pays only for its own residents in the groups
it funds: another person's row fails with the reason. A donor's list (002 三(三)) is the same
import with ``id_number,name`` and the donor as the payer of every row; the group comes from the
registry. A person who holds another policy-based poverty-relief insurance fails (择一).

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
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql import ColumnElement

from huiminbao.catalog.domain import AssistanceCategory
from huiminbao.catalog.models import Product
from huiminbao.console.csvfiles import FILE_FIELD, CsvFile, excel_csv
from huiminbao.console.enrolling import Enrolled, enroll_for, open_product, registry_problem
from huiminbao.console.models import SubsidyRosterImport, SubsidyRosterRow
from huiminbao.console.uploads import close_upload, open_upload
from huiminbao.core import idnumber
from huiminbao.core.clock import to_china_time
from huiminbao.core.container import Container
from huiminbao.core.errors import DomainError, InvalidInput, NotFound
from huiminbao.core.masking import mask_id_number, mask_name, normalize_name
from huiminbao.core.money import format_yuan
from huiminbao.enrollment.domain import (
    FundPayer,
    PayerKind,
    PaymentMethod,
    online_subsidy_payer,
    payer_refusal,
    relief_choice_refusal,
    subsidy_covers,
)
from huiminbao.enrollment.models import SubsidyPayer
from huiminbao.enrollment.subsidy_funds import as_fund_payer, city_payers, fund_account
from huiminbao.identity.auth import Actor
from huiminbao.identity.services import person_for
from huiminbao.registry.port import Assistance, RegistryPerson

HEADER = ("id_number", "name", "category")
OPTIONAL = ("payer",)
DONOR_HEADER = ("id_number", "name")
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
    payer: FundPayer | None = None  # named in the file (or the donor); None: by the rule


def import_roster(c: Container, staff: Actor, product_id: int, file: CsvFile, *,
                  donor_payer_id: int | None = None) -> RosterReport:
    product = open_product(c, product_id)
    with c.db.read() as session:
        payers = city_payers(session, product.city_code)
        donor_row = (session.get(SubsidyPayer, donor_payer_id)
                     if donor_payer_id is not None else None)
    donor = _donor(donor_row, product) if donor_payer_id is not None else None
    checked = _check_rows(c, product, file, donor=donor is not None)
    if donor is None:
        _name_payers(checked, file, payers)
    found = c.registry.find_persons([row.id_number for row in checked if row.reason is None])
    for item in checked:
        if item.reason is not None:
            continue
        item.registered = found.get(item.id_number)
        item.reason = _person_problem(item, product, donor, payers)
        if item.reason is not None:
            item.outcome = "failed"
        elif item.category is not None and not subsidy_covers(
                item.category.value, product.subsidized_category_list):
            item.outcome = "skipped"
            item.reason = f"本产品的资助人群不含“{item.category.label}”"

    import_id = _open_import(c, staff, product, file, checked,
                             donor.code if donor is not None else None)
    with c.db.read() as session:
        pending = session.scalars(select(SubsidyRosterRow).where(
            SubsidyRosterRow.import_id == import_id, SubsidyRosterRow.outcome == "pending")
            .order_by(SubsidyRosterRow.line)).all()
    tier = product.subsidized_tier
    assert tier is not None
    by_code = {payer.code: payer for payer in payers}
    for row in pending:
        assert row.person_id is not None
        fund = fund_account(product.city_code, by_code.get(row.payer_code or ""))
        outcome, reason, enrolled = _enroll_row(c, staff, product, tier.code, row, fund)
        with c.db.transaction() as session:
            stored = session.get(SubsidyRosterRow, row.id, with_for_update=True)
            if stored is not None and stored.outcome == "pending":
                stored.outcome, stored.reason = outcome, reason
                if enrolled is not None:
                    stored.order_no, stored.policy_no = enrolled.order_no, enrolled.policy_no
                    stored.subsidy_fen = enrolled.subsidy_fen
    with c.db.transaction() as session:
        roster = session.get(SubsidyRosterImport, import_id, with_for_update=True)
        assert roster is not None
        close_upload(session, c, staff, roster,
                     select(SubsidyRosterRow.outcome).where(
                         SubsidyRosterRow.import_id == import_id),
                     {}, action="subsidy_roster.done", object_type="roster",
                     object_id=roster.import_no)
    return load_report(c, import_id)


def _donor(row: SubsidyPayer | None, product: Product) -> FundPayer:
    """The charity / donor funding a list: registered in the product's city, active."""
    if row is None:
        raise NotFound("未找到该出资方")
    if row.city_code != product.city_code:
        raise InvalidInput("该出资方不属于本产品所在城市",
                           errors={"product_id": ["请选择出资方所在城市的产品"]})
    donor = as_fund_payer(row)
    if donor.kind is not PayerKind.CHARITY:
        raise InvalidInput("只有慈善组织或捐赠人可以指定资助名单，政府资助请使用资助参保名单",
                           code="not_a_donor")
    if not donor.active:
        raise InvalidInput(f"出资方“{donor.name}”已停用", code="payer_inactive")
    return donor


def _name_payers(checked: list[_Checked], file: CsvFile, payers: list[FundPayer]) -> None:
    """Resolve each row's payer column; any unknown or deactivated payer refuses the file."""
    by_word = {payer.code: payer for payer in payers} | {payer.name: payer for payer in payers}
    problems: list[str] = []
    for item, row in zip(checked, file.rows, strict=True):
        typed = row.values.get("payer", "").strip()
        if not typed:
            continue
        payer = by_word.get(typed.lower()) or by_word.get(typed)
        if payer is None:
            problems.append(f"第{row.line}行：出资方“{typed}”未登记，"
                            "请先在“资助出资方”中登记，或填写已登记出资方的代码或名称")
        elif not payer.active:
            problems.append(f"第{row.line}行：出资方“{payer.name}”已停用")
        item.payer = payer
    if problems:
        raise InvalidInput("名单中有未登记或已停用的出资方，整份名单未导入，请更正后重新上传",
                           code="unknown_payer", errors={FILE_FIELD: problems})


def _person_problem(item: _Checked, product: Product, donor: FundPayer | None,
                    payers: list[FundPayer]) -> str | None:
    """Why a listed person cannot be subsidized (third person), once the registry answered."""
    problem = registry_problem(item.registered, item.name, product.city_code,
                               product.city_name)
    if problem is not None:
        return problem
    registered = item.registered
    assert registered is not None
    if registered.assistance is Assistance.NONE:
        return ("医保登记信息中该人员不属于资助参保对象（特困、低保、低边、残疾人员），"
                "请与医保、民政部门核实后再办理")
    if donor is not None:
        item.category = category_of(registered.assistance.value)
        item.payer = donor
    choice = relief_choice_refusal(registered, product.subsidized_category_list)
    if choice is not None:
        return choice.report
    if item.payer is None:
        item.payer = online_subsidy_payer(registered, payers)
        return None
    return payer_refusal(item.payer, registered)


def _check_rows(c: Container, product: Product, file: CsvFile, *,
                donor: bool = False) -> list[_Checked]:
    today = c.clock.today()
    seen: dict[str, int] = {}
    checked: list[_Checked] = []
    for row in file.rows:
        raw_id, raw_name = row.values["id_number"], row.values["name"]
        raw_category = row.values.get("category", "")
        item = _Checked(row.line, raw_id, normalize_name(raw_name), category_of(raw_category),
                        row.problem)
        checked.append(item)
        if item.reason is None:
            item.reason = _row_problem(item, raw_id, raw_category, today, seen, donor=donor)
        if item.reason is not None:
            item.outcome = "failed"
    return checked


def _row_problem(item: _Checked, raw_id: str, raw_category: str, today: date,
                 seen: dict[str, int], *, donor: bool = False) -> str | None:
    try:
        item.id_number = idnumber.parse(raw_id, today=today).value
    except idnumber.InvalidIdNumber as exc:
        return "身份证号码为空" if not raw_id else exc.message
    if not item.name:
        return "姓名为空"
    if item.category is None and not donor:
        return (f"资助类别“{raw_category}”无法识别，应为{CATEGORY_CHOICES}" if raw_category
                else f"资助类别为空，应为{CATEGORY_CHOICES}")
    if item.id_number in seen:
        return f"与第{seen[item.id_number]}行的身份证号码重复"
    seen[item.id_number] = item.line
    return None


def _open_import(c: Container, staff: Actor, product: Product, file: CsvFile,
                 checked: list[_Checked], donor_code: str | None) -> int:
    now = c.clock.now()
    with c.db.transaction() as session:
        roster = SubsidyRosterImport(
            import_no=_import_no(now), product_id=product.id, city_code=product.city_code,
            year=product.year, file_sha256=file.sha256, filename=file.filename,
            uploaded_by_account_id=staff.account_id, status="processing", created_at=now,
            donor_code=donor_code)
        for row in checked:
            person_id = None
            if row.outcome == "pending" and row.registered is not None:
                person_id = person_for(session, row.id_number, row.registered.name, now).id
            roster.rows.append(SubsidyRosterRow(
                line=row.line, id_number_masked=mask_id_number(row.id_number)[:18],
                name_masked=mask_name(row.name)[:64],
                category=row.category.value if row.category else None, person_id=person_id,
                outcome=row.outcome, reason=row.reason[:200] if row.reason else None,
                payer_code=row.payer.code if row.payer else None))
        open_upload(session, c, staff, roster,
                    {"product_id": product.id, "year": product.year, "rows": len(checked),
                     "file_sha256": file.sha256},
                    action="subsidy_roster.import", object_type="roster",
                    object_id=roster.import_no)
        return roster.id


def _import_no(now: datetime) -> str:
    return f"ZZ{to_china_time(now):%Y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"


def _enroll_row(c: Container, staff: Actor, product: Product, tier_code: str,
                row: SubsidyRosterRow, fund: str) -> tuple[str, str | None, Enrolled | None]:
    assert row.person_id is not None
    try:
        enrolled = enroll_for(c, staff, row.person_id, product.id, tier_code,
                              PaymentMethod.SUBSIDY, channel="subsidy", subsidy_fund=fund)
    except DomainError as exc:
        if exc.code == "already_insured":
            return "skipped", "已参保（已有本年度有效保单），无需重复参保", None
        if exc.code in {"not_subsidized", "subsidy_used"}:
            return "skipped", "本年度已享受过一次政府资助参保，不能重复资助", None
        if exc.code == "pending_order":
            return "failed", "该人员有一笔待支付的订单，请其完成或取消后再办理", None
        return "failed", exc.message[:200], None
    return "enrolled", None, enrolled


def load_report(c: Container, import_id: int) -> RosterReport:
    with c.db.read() as session:
        roster, product_name = _import_with_rows(session, SubsidyRosterImport.id == import_id)
    return RosterReport(roster, product_name)


def _import_with_rows(session: Session, where: ColumnElement[bool]
                      ) -> tuple[SubsidyRosterImport, str]:
    found = session.execute(
        select(SubsidyRosterImport, Product.name)
        .join(Product, Product.id == SubsidyRosterImport.product_id)
        .where(where).options(selectinload(SubsidyRosterImport.rows))).one_or_none()
    if found is None:
        raise NotFound("未找到该批次")
    return found[0], str(found[1])


# ---------------------------------------------------------------- receipts


@dataclass(frozen=True)
class ReceiptLine:
    line: int
    name: str  # masked
    id_number: str  # masked
    outcome: str
    reason: str | None
    policy_no: str | None
    payer_name: str | None
    subsidy_fen: int  # what the payer's fund paid for this person (0 when not enrolled)


@dataclass(frozen=True)
class Receipt:
    import_no: str
    product_name: str
    year: int
    donor_name: str | None  # a donor's list; None: a roster
    created_at: datetime
    lines: list[ReceiptLine]

    @property
    def total_fen(self) -> int:
        return sum(line.subsidy_fen for line in self.lines)


def receipt(c: Container, import_no: str) -> Receipt:
    """Per person: who paid how much for whom (a donor's 捐赠回执, a roster's funding record)."""
    with c.db.read() as session:
        roster, product_name = _import_with_rows(
            session, SubsidyRosterImport.import_no == import_no)
        names = {payer.code: payer.name for payer in city_payers(session, roster.city_code)}
    return Receipt(roster.import_no, product_name, roster.year,
                   names.get(roster.donor_code) if roster.donor_code else None,
                   roster.created_at, [
                       ReceiptLine(row.line, row.name_masked, row.id_number_masked, row.outcome,
                                   row.reason, row.policy_no,
                                   names.get(row.payer_code or "") if row.payer_code else None,
                                   row.subsidy_fen or 0)
                       for row in roster.rows])


RECEIPT_HEADER = ("行号", "姓名", "身份证号", "结果", "说明", "保单号", "出资方", "资助金额（元）")


def receipt_csv(r: Receipt) -> bytes:
    head: list[tuple[str, ...]] = [("产品", r.product_name), ("年度", str(r.year)),
                                   ("批次", r.import_no)]
    if r.donor_name:
        head.append(("捐赠方", r.donor_name))
    return excel_csv(head + [(), RECEIPT_HEADER] + [
        (str(line.line), line.name, line.id_number, OUTCOME_LABELS[line.outcome],
         line.reason or "", line.policy_no or "", line.payer_name or "",
         format_yuan(line.subsidy_fen)) for line in r.lines] + [
        (), ("合计", "", "", "", "", "", "", format_yuan(r.total_fen))])

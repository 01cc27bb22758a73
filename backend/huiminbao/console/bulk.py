"""Employer group enrollment: an employer's CSV of employees (``id_number,name,tier``), each row
checked and enrolled paid by the employer (ledger ``employer:<code>`` → premium income).

- Every row is checked before anything is enrolled: ID number (checksum), name as the registry
  has it (NFC), eligibility (this city, active), the tier, duplicates within the file. A failed
  row is reported with its line number and a Chinese reason; the other rows go ahead.
- The same file (by SHA-256) for the same employer and product is processed once: uploading it
  again answers with the first batch's report (``replayed``) and enrolls nobody.
- A different file listing people this employer already insured reports them as
  "已参保（本单位此前已投保）" — not an error, and not enrolled twice.
- Rows are written first as ``pending``, then each is enrolled and recorded on its own; a batch
  left ``processing`` by a crash is resumed by uploading the same file again after a while.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from huiminbao.catalog.models import Product, Tier
from huiminbao.console.csvfiles import CsvFile
from huiminbao.console.enrolling import enroll_for, open_product, paid_from, registry_problem
from huiminbao.console.models import Employer, EmployerBatch, EmployerBatchRow
from huiminbao.console.uploads import close_upload, open_upload
from huiminbao.core import idnumber
from huiminbao.core.clock import to_china_time
from huiminbao.core.container import Container
from huiminbao.core.errors import Conflict, DomainError, InvalidInput, NotFound
from huiminbao.core.masking import mask_id_number, mask_name, normalize_name
from huiminbao.enrollment.domain import PaymentMethod
from huiminbao.identity.auth import Actor
from huiminbao.identity.services import person_for
from huiminbao.registry.port import RegistryPerson

HEADER = ("id_number", "name", "tier")
MAX_ROWS = 5000
STALE_AFTER = timedelta(minutes=10)
_EMPLOYER_CODE = re.compile(r"[0-9A-Za-z-]{4,32}")
EMPLOYER_CODE_FORMAT = "单位代码应为4至32位字母、数字或连字符（如统一社会信用代码）"

OUTCOME_LABELS = {
    "pending": "处理中",
    "enrolled": "已参保",
    "already": "已参保（本单位此前已投保）",
    "failed": "未参保",
}

# Enrollment refusals, as a report about an employee rather than words to the person.
_REASONS = {
    "already_insured": "已参保（本人或家人此前已投保，非本单位投保），无需单位重复投保",
    "pending_order": "该职工有一笔待支付的订单，请其完成或取消后再办理",
    "fully_subsidized": "该职工属政府资助参保对象，保费已由政府资助全额支付，无需单位缴费",
    "minor_needs_guardian": "未满14周岁，只能由其父母（监护人）投保",
}


def employer_account(code: str) -> str:
    return f"{PaymentMethod.EMPLOYER.value}:{code}"


@dataclass(frozen=True)
class EmployerUpload:
    employer_code: str
    employer_name: str
    product_id: int
    file: CsvFile


@dataclass(frozen=True)
class BatchReport:
    batch: EmployerBatch
    employer: Employer
    product_name: str
    replayed: bool


@dataclass
class _Checked:
    line: int
    id_number: str  # normalized when valid, as typed otherwise (masked before storing)
    name: str
    tier_code: str
    reason: str | None = None
    person_id: int | None = None
    registered: RegistryPerson | None = None


def upload(c: Container, staff: Actor, request: EmployerUpload) -> BatchReport:
    code, name = _check_employer(request.employer_code, request.employer_name)
    product = open_product(c, request.product_id)
    replay = _existing(c, staff, code, product.id, request.file.sha256)
    if replay is not None:
        return replay

    checked = _check_rows(c, product, request.file)
    registered = c.registry.find_persons(
        [row.id_number for row in checked if row.reason is None])
    for row in checked:
        if row.reason is None:
            row.registered = registered.get(row.id_number)
            row.reason = registry_problem(row.registered, row.name, product.city_code,
                                          product.city_name)

    batch_id = _open_batch(c, staff, code, name, product, request.file, checked)
    if batch_id is None:  # the same file arrived concurrently: answer like a repeat
        again = _existing(c, staff, code, product.id, request.file.sha256)
        assert again is not None
        return again
    return _process(c, staff, batch_id)


def _check_employer(code: str, name: str) -> tuple[str, str]:
    code, name = code.strip().upper(), normalize_name(name)
    errors: dict[str, list[str]] = {}
    if not _EMPLOYER_CODE.fullmatch(code):
        errors["employer_code"] = [EMPLOYER_CODE_FORMAT]
    if not 2 <= len(name) <= 100:
        errors["employer_name"] = ["单位名称应为2至100个字"]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], errors=errors)
    return code, name


def tier_for(product: Product, typed: str) -> Tier | None:
    """A tier by its code (standard) or its name (标准版)."""
    typed = typed.strip()
    return next((tier for tier in product.tiers
                 if typed in {tier.code, tier.name} or typed.lower() == tier.code), None)


def tier_choices(product: Product) -> str:
    return "、".join(f"{tier.code}（{tier.name}）" for tier in product.tiers)


def _check_rows(c: Container, product: Product, file: CsvFile) -> list[_Checked]:
    today = c.clock.today()
    seen: dict[str, int] = {}
    checked: list[_Checked] = []
    for row in file.rows:
        raw_id, raw_name, raw_tier = (row.values[key] for key in HEADER)
        item = _Checked(row.line, raw_id, normalize_name(raw_name), raw_tier, row.problem)
        checked.append(item)
        if item.reason:
            continue
        try:
            item.id_number = idnumber.parse(raw_id, today=today).value
        except idnumber.InvalidIdNumber as exc:
            item.reason = "身份证号码为空" if not raw_id else exc.message
            continue
        if not item.name:
            item.reason = "姓名为空"
            continue
        tier = tier_for(product, raw_tier)
        if tier is None:
            item.reason = (f"保障档次“{raw_tier}”不存在，可选：{tier_choices(product)}"
                           if raw_tier else f"保障档次为空，可选：{tier_choices(product)}")
            continue
        item.tier_code = tier.code
        if item.id_number in seen:
            item.reason = f"与第{seen[item.id_number]}行的身份证号码重复"
            continue
        seen[item.id_number] = row.line
    return checked


def _existing(c: Container, staff: Actor, code: str, product_id: int, sha256: str
              ) -> BatchReport | None:
    """The batch of this very file, if there is one: a finished one is answered again; one still
    processing is refused unless it has been left for a while (then it is resumed)."""
    with c.db.read() as session:
        found = session.execute(
            select(EmployerBatch, Employer, Product.name)
            .join(Employer, Employer.id == EmployerBatch.employer_id)
            .join(Product, Product.id == EmployerBatch.product_id)
            .where(Employer.code == code, EmployerBatch.product_id == product_id,
                   EmployerBatch.file_sha256 == sha256)
            .options(selectinload(EmployerBatch.rows))
        ).one_or_none()
    if found is None:
        return None
    batch, employer, product_name = found
    if batch.status == "processing":
        if c.clock.now() - batch.created_at < STALE_AFTER:
            raise Conflict("该文件正在处理中，请稍后刷新查看结果", code="batch_in_progress")
        return _process(c, staff, batch.id)  # left behind by a crash: finish it now
    return BatchReport(batch, employer, product_name, replayed=True)


def _open_batch(c: Container, staff: Actor, code: str, name: str, product: Product,
                file: CsvFile, checked: list[_Checked]) -> int | None:
    now = c.clock.now()
    try:
        with c.db.transaction() as session:
            employer = _employer(session, code, name, now)
            batch = EmployerBatch(
                batch_no=_batch_no(now), employer_id=employer.id, product_id=product.id,
                file_sha256=file.sha256, filename=file.filename,
                uploaded_by_account_id=staff.account_id, status="processing", created_at=now)
            for row in checked:
                person_id = None
                if row.reason is None and row.registered is not None:
                    person_id = person_for(session, row.id_number, row.registered.name, now).id
                batch.rows.append(EmployerBatchRow(
                    line=row.line, id_number_masked=mask_id_number(row.id_number)[:18],
                    name_masked=mask_name(row.name)[:64], tier_code=row.tier_code[:32],
                    person_id=person_id, outcome="failed" if row.reason else "pending",
                    reason=row.reason[:200] if row.reason else None))
            open_upload(session, c, staff, batch,
                        {"employer": code, "product_id": product.id, "rows": len(checked),
                         "file_sha256": file.sha256},
                        action="employer_batch.upload", object_type="batch",
                        object_id=batch.batch_no)
            return batch.id
    except IntegrityError:
        return None


def _employer(session: Session, code: str, name: str, now: datetime) -> Employer:
    employer = session.scalars(select(Employer).where(Employer.code == code)).one_or_none()
    if employer is None:
        employer = Employer(code=code, name=name, created_at=now)
        session.add(employer)
        session.flush()
    elif employer.name != name:
        employer.name = name  # renamed; the code stays the employer's identity
    return employer


def _batch_no(now: datetime) -> str:
    return f"PL{to_china_time(now):%Y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"


def _process(c: Container, staff: Actor, batch_id: int) -> BatchReport:
    with c.db.read() as session:
        batch = session.get(EmployerBatch, batch_id)
        assert batch is not None
        employer = session.get(Employer, batch.employer_id)
        assert employer is not None
        pending = session.scalars(select(EmployerBatchRow).where(
            EmployerBatchRow.batch_id == batch_id, EmployerBatchRow.outcome == "pending")
            .order_by(EmployerBatchRow.line)).all()
    account = employer_account(employer.code)
    for row in pending:
        assert row.person_id is not None
        outcome, reason, order_no, policy_no = _enroll_row(c, staff, batch.product_id, row,
                                                           account)
        with c.db.transaction() as session:
            stored = session.get(EmployerBatchRow, row.id, with_for_update=True)
            if stored is not None and stored.outcome == "pending":
                stored.outcome, stored.reason = outcome, reason
                stored.order_no, stored.policy_no = order_no, policy_no
    with c.db.transaction() as session:
        stored_batch = session.get(EmployerBatch, batch_id, with_for_update=True)
        assert stored_batch is not None
        close_upload(session, c, staff, stored_batch,
                     select(EmployerBatchRow.outcome).where(EmployerBatchRow.batch_id == batch_id),
                     {"enrolled": 0, "already": 0, "failed": 0},
                     action="employer_batch.done", object_type="batch",
                     object_id=stored_batch.batch_no)
    return load_report(c, batch_id, replayed=False)


def _enroll_row(c: Container, staff: Actor, product_id: int, row: EmployerBatchRow,
                account: str) -> tuple[str, str | None, str | None, str | None]:
    assert row.person_id is not None
    already = paid_from(c, product_id, row.person_id, account)
    if already is not None:
        return "already", None, None, already
    try:
        enrolled = enroll_for(c, staff, row.person_id, product_id, row.tier_code,
                              PaymentMethod.EMPLOYER, channel="employer", offline_source=account)
    except DomainError as exc:
        return "failed", _REASONS.get(exc.code, exc.message)[:200], None, None
    return "enrolled", None, enrolled.order_no, enrolled.policy_no


def load_report(c: Container, batch_id: int, *, replayed: bool) -> BatchReport:
    with c.db.read() as session:
        found = session.execute(
            select(EmployerBatch, Employer, Product.name)
            .join(Employer, Employer.id == EmployerBatch.employer_id)
            .join(Product, Product.id == EmployerBatch.product_id)
            .where(EmployerBatch.id == batch_id)
            .options(selectinload(EmployerBatch.rows))
        ).one_or_none()
    if found is None:
        raise NotFound("未找到该批次")
    batch, employer, product_name = found
    return BatchReport(batch, employer, product_name, replayed)


def find_report(c: Container, batch_no: str) -> BatchReport:
    with c.db.read() as session:
        batch_id = session.scalars(select(EmployerBatch.id)
                                   .where(EmployerBatch.batch_no == batch_no)).first()
    if batch_id is None:
        raise NotFound("未找到该批次")
    return load_report(c, batch_id, replayed=False)

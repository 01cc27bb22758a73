"""The registry of paying bodies (003 三(三)3: each level of government pays for its own
subsidized residents; 002 三(三): charities and donors), managed by administrators.

A city has at most one city payer (its fund is the city's ``subsidy_fund:<city>``), any number
of district payers (one per district, naming the assistance groups the district pays for) and
charities / donors. Payers are never deleted — a fund account with history stays readable —
only deactivated. A donor funds the people it names with ``roster.import_roster(donor=…)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.domain import AssistanceCategory
from huiminbao.core.clock import Clock
from huiminbao.core.container import Container
from huiminbao.core.db import Database
from huiminbao.core.errors import InvalidInput, NotFound
from huiminbao.enrollment.domain import FundPayer, PayerKind
from huiminbao.enrollment.models import SubsidyPayer
from huiminbao.enrollment.subsidy_funds import as_fund_payer, fund_account, subsidies_by_fund
from huiminbao.identity.auth import Actor

CODE = re.compile(r"[a-z0-9][a-z0-9_-]{1,31}")
CITY = re.compile(r"[0-9]{6}")
ALL_GROUPS = tuple(category.value for category in AssistanceCategory)


@dataclass(frozen=True)
class PayerDraft:
    city_code: str
    code: str
    name: str
    kind: PayerKind
    district_code: str | None
    categories: tuple[str, ...]


@dataclass(frozen=True)
class PayerView:
    row: SubsidyPayer
    fund_account: str
    balance_fen: int  # negative: what the payer's fund has paid, net of refunds

    @property
    def paid_fen(self) -> int:
        return -self.balance_fen


def draft_problems(draft: PayerDraft) -> dict[str, list[str]]:
    """Field errors of a new payer, in Chinese (pure)."""
    errors: dict[str, list[str]] = {}
    if not CITY.fullmatch(draft.city_code):
        errors["city_code"] = ["城市代码应为6位数字，如 330100"]
    if not CODE.fullmatch(draft.code):
        errors["code"] = ["出资方代码应为2至32位小写字母、数字、下划线或连字符，如 xihu"]
    if not draft.name.strip() or len(draft.name.strip()) > 100:
        errors["name"] = ["请填写出资方名称（不超过100字）"]
    if draft.kind is PayerKind.DISTRICT:
        if draft.district_code is None or not CITY.fullmatch(draft.district_code):
            errors["district_code"] = ["区县财政须填写6位区县代码，如 330106"]
        elif draft.district_code[:4] != draft.city_code[:4] or draft.district_code == \
                draft.city_code:
            errors["district_code"] = ["区县代码应属于该城市（前4位与城市代码相同）"]
        if not draft.categories:
            errors["categories"] = ["请选择该区县资助的困难人员类别"]
    elif draft.district_code:
        errors["district_code"] = ["只有区县财政填写区县代码"]
    unknown = [group for group in draft.categories if group not in ALL_GROUPS]
    if unknown:
        errors["categories"] = [f"无法识别的资助类别：{'、'.join(unknown)}"]
    return errors


def list_payers(c: Container, city_code: str) -> list[PayerView]:
    with c.db.read() as session:
        rows = session.scalars(select(SubsidyPayer).where(SubsidyPayer.city_code == city_code)
                               .order_by(SubsidyPayer.kind, SubsidyPayer.code)).all()
        accounts = {row.id: fund_account(row.city_code, as_fund_payer(row)) for row in rows}
        balances = subsidies_by_fund(session, list(accounts.values()))
    return [PayerView(row, accounts[row.id], balances[accounts[row.id]]) for row in rows]


def create_payer(c: Container, staff: Actor, draft: PayerDraft) -> PayerView:
    errors = draft_problems(draft)
    if errors:
        raise InvalidInput("出资方信息有误，请检查后重试", errors=errors)
    now = c.clock.now()
    try:
        with c.db.transaction() as session:
            clash = _clash(session, draft)
            if clash:
                raise InvalidInput(clash[1], code="payer_exists", errors={clash[0]: [clash[1]]})
            row = SubsidyPayer(
                city_code=draft.city_code, code=draft.code, name=draft.name.strip(),
                kind=draft.kind.value, district_code=draft.district_code,
                categories=",".join(draft.categories if draft.kind is PayerKind.DISTRICT
                                    else ()),
                active=True, created_at=now, updated_at=now)
            session.add(row)
            session.flush()
            audit.record(session, c.clock, AuditEntry(
                action="subsidy_payer.create",
                actor=AuditActor(staff.account_id, staff.role.value),
                object_type="subsidy_payer", object_id=f"{draft.city_code}:{draft.code}",
                details={"kind": draft.kind.value, "district_code": draft.district_code,
                         "categories": list(draft.categories)}))
    except IntegrityError as exc:
        message = "该城市已有相同代码的出资方"
        raise InvalidInput(message, code="payer_exists", errors={"code": [message]}) from exc
    return PayerView(row, fund_account(row.city_code, as_fund_payer(row)), 0)


def _clash(session: Session, draft: PayerDraft) -> tuple[str, str] | None:
    same_city = select(SubsidyPayer).where(SubsidyPayer.city_code == draft.city_code)
    if session.scalars(same_city.where(SubsidyPayer.code == draft.code)).first():
        return "code", "该城市已有相同代码的出资方"
    if draft.kind is PayerKind.CITY and session.scalars(
            same_city.where(SubsidyPayer.kind == PayerKind.CITY.value)).first():
        return "kind", "该城市已登记市级财政出资方，每个城市只有一个"
    if draft.kind is PayerKind.DISTRICT and session.scalars(
            same_city.where(SubsidyPayer.district_code == draft.district_code)).first():
        return "district_code", "该区县已登记出资方"
    return None


def update_payer(c: Container, staff: Actor, payer_id: int, *, name: str | None,
                 categories: tuple[str, ...] | None, active: bool | None) -> PayerView:
    with c.db.transaction() as session:
        row = session.get(SubsidyPayer, payer_id, with_for_update=True)
        if row is None:
            raise NotFound("未找到该出资方")
        draft = PayerDraft(row.city_code, row.code, row.name if name is None else name,
                           PayerKind(row.kind), row.district_code,
                           tuple(filter(None, row.categories.split(",")))
                           if categories is None else categories)
        errors = draft_problems(draft)
        if errors:
            raise InvalidInput("出资方信息有误，请检查后重试", errors=errors)
        row.name = draft.name.strip()
        if draft.kind is PayerKind.DISTRICT:
            row.categories = ",".join(draft.categories)
        if active is not None:
            row.active = active
        row.updated_at = c.clock.now()
        audit.record(session, c.clock, AuditEntry(
            action="subsidy_payer.update", actor=AuditActor(staff.account_id, staff.role.value),
            object_type="subsidy_payer", object_id=f"{row.city_code}:{row.code}",
            details={"name": row.name, "categories": row.categories, "active": row.active}))
        account = fund_account(row.city_code, as_fund_payer(row))
        balance = subsidies_by_fund(session, [account])[account]
    return PayerView(row, account, balance)


def payer_by_id(c: Container, payer_id: int) -> tuple[SubsidyPayer, FundPayer]:
    with c.db.read() as session:
        row = session.get(SubsidyPayer, payer_id)
    if row is None:
        raise NotFound("未找到该出资方")
    return row, as_fund_payer(row)


# ---------------------------------------------------------------- demo data

DEMO_PAYERS: tuple[PayerDraft, ...] = (
    PayerDraft("330100", "hangzhou", "杭州市财政局", PayerKind.CITY, None, ()),
    PayerDraft("330100", "xihu", "西湖区财政局", PayerKind.DISTRICT, "330106", ALL_GROUPS),
    PayerDraft("330100", "yuhang", "余杭区财政局", PayerKind.DISTRICT, "330110",
               ("dibao", "dibian")),
    PayerDraft("330100", "shangcheng", "上城区财政局", PayerKind.DISTRICT, "330102",
               ALL_GROUPS),
    PayerDraft("330100", "cishan", "杭州市慈善总会", PayerKind.CHARITY, None, ()),
)


def ensure_demo_payers(db: Database, clock: Clock) -> int:
    """The demo city's payers (its districts and a charity); creates what is missing."""
    created = 0
    now: datetime = clock.now()
    with db.transaction() as session:
        for draft in DEMO_PAYERS:
            if session.scalars(select(SubsidyPayer.id).where(
                    SubsidyPayer.city_code == draft.city_code,
                    SubsidyPayer.code == draft.code)).first() is None:
                session.add(SubsidyPayer(
                    city_code=draft.city_code, code=draft.code, name=draft.name,
                    kind=draft.kind.value, district_code=draft.district_code,
                    categories=",".join(draft.categories), active=True, created_at=now,
                    updated_at=now))
                created += 1
    return created

"""A product's help for residents (客服与投诉 on every page): the hotline, its service hours,
the service points and the FAQ. The operator sets them in the console; residents read them
without logging in. The checks are pure (``check_help``); the service stores and reads."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.domain import ProductStatus
from huiminbao.catalog.models import Product, ProductHelp
from huiminbao.core.container import Container
from huiminbao.core.errors import InvalidInput, NotFound

MAX_SERVICE_POINTS = 30
MAX_FAQ = 40
# A hotline as people write it: digits with optional dashes or spaces (12345, 0571-88888888,
# 400-800-1234, 95500); 3 to 20 characters.
_HOTLINE = re.compile(r"[0-9](?:[0-9 \-]{1,18})[0-9]")
_POINT_FIELDS = {"name": ("名称", 40), "address": ("地址", 100), "hours": ("办公时间", 60),
                 "map_text": ("地图链接文字", 40)}
_FAQ_FIELDS = {"question": ("问题", 60), "answer": ("回答", 500)}


@dataclass(frozen=True)
class Help:
    hotline: str = ""
    service_hours: str = ""
    service_points: list[dict[str, str]] = field(default_factory=list)
    faq: list[dict[str, str]] = field(default_factory=list)
    product_id: int | None = None
    product_name: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.hotline)


def _text(raw: Any, label: str, limit: int, *, required: bool) -> tuple[str, str | None]:
    value = raw.strip() if isinstance(raw, str) else ""
    if required and not value:
        return value, f"请填写{label}"
    if len(value) > limit:
        return value, f"{label}不能超过{limit}个字"
    return value, None


def _rows(raw: Any, what: str, spec: dict[str, tuple[str, int]], maximum: int,
          errors: dict[str, list[str]], key: str, optional: frozenset[str]) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        errors[key] = [f"{what}格式不正确"]
        return []
    if len(raw) > maximum:
        errors[key] = [f"{what}最多{maximum}条"]
        return []
    rows: list[dict[str, str]] = []
    for index, item in enumerate(raw, start=1):
        item = item if isinstance(item, dict) else {}
        row: dict[str, str] = {}
        for name, (label, limit) in spec.items():
            value, problem = _text(item.get(name), label, limit, required=name not in optional)
            if problem:
                errors.setdefault(key, []).append(f"第{index}条{what}：{problem}")
            row[name] = value
        rows.append(row)
    return rows


def check_help(hotline: Any, service_hours: Any, service_points: Any,
               faq: Any) -> tuple[Help, dict[str, list[str]]]:
    """The settings cleaned, and the problems by field in Chinese (none: may be saved)."""
    errors: dict[str, list[str]] = {}
    line, problem = _text(hotline, "客服电话", 20, required=True)
    if problem is None and not _HOTLINE.fullmatch(line):
        problem = "客服电话只能包含数字、空格和短横线，如 0571-88888888 或 12345"
    if problem:
        errors["hotline"] = [problem]
    hours, problem = _text(service_hours, "服务时间", 100, required=True)
    if problem:
        errors["service_hours"] = [problem]
    points = _rows(service_points, "服务网点", _POINT_FIELDS, MAX_SERVICE_POINTS, errors,
                   "service_points", frozenset({"map_text"}))
    questions = _rows(faq, "常见问题", _FAQ_FIELDS, MAX_FAQ, errors, "faq", frozenset())
    return Help(line, hours, points, questions), errors


# ---------------------------------------------------------------- reading and saving


def _help_of(session: Session, product: Product) -> Help:
    row = session.get(ProductHelp, product.id)
    if row is None:
        return Help(product_id=product.id, product_name=product.name)
    return Help(row.hotline, row.service_hours, list(row.service_points), list(row.faq),
                product.id, product.name)


def current_product(session: Session, c: Container) -> Product | None:
    """The city's current product: the one open for enrollment, else the latest published."""
    today = c.clock.today()
    published = (select(Product)
                 .where(Product.city_code == c.settings.city_code,
                        Product.status == ProductStatus.PUBLISHED.value))
    open_now = session.scalars(published.where(Product.window_opens_on <= today,
                                               Product.window_closes_on >= today)
                               .order_by(Product.id.desc())).first()
    if open_now is not None:
        return open_now
    return session.scalars(published.order_by(Product.year.desc(), Product.id.desc())).first()


def public_help(c: Container) -> Help:
    """What every resident page shows under 客服与投诉 (empty when no product is published)."""
    with c.db.read() as session:
        product = current_product(session, c)
        return Help() if product is None else _help_of(session, product)


def help_of(c: Container, product_id: int) -> Help:
    with c.db.read() as session:
        product = session.get(Product, product_id)
        if product is None:
            raise NotFound("未找到该产品")
        return _help_of(session, product)


def set_help(c: Container, by: AuditActor, product_id: int, raw: dict[str, Any]) -> Help:
    cleaned, errors = check_help(raw.get("hotline"), raw.get("service_hours"),
                                 raw.get("service_points", []), raw.get("faq", []))
    if errors:
        first = next(iter(errors.values()))[0]
        raise InvalidInput(first, errors=errors)
    now = c.clock.now()
    with c.db.transaction() as session:
        product = session.get(Product, product_id)
        if product is None:
            raise NotFound("未找到该产品")
        row = session.get(ProductHelp, product_id, with_for_update=True)
        if row is None:
            row = ProductHelp(product_id=product_id)
            session.add(row)
        row.hotline, row.service_hours = cleaned.hotline, cleaned.service_hours
        row.service_points, row.faq, row.updated_at = cleaned.service_points, cleaned.faq, now
        audit.record(session, c.clock, AuditEntry(
            action="product.help", actor=by, object_type="product", object_id=str(product_id),
            details={"hotline": cleaned.hotline, "service_points": len(cleaned.service_points),
                     "faq": len(cleaned.faq)},
        ))
        return _help_of(session, product)

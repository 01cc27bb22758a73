"""Which version of a product an administrator saw: the ETag of the product editor.

``GET /admin/products/{id}`` sends the product's version as its ``ETag``; a change sends it
back as ``If-Match``. When another administrator saved in between, the versions differ and the
change is refused (412) before anything is written, so nobody overwrites an edit unseen. The
version is a digest of every stored column of the product, its tiers, benefits, terms and
pre-existing-condition terms:
any save changes it (tiers and terms are rewritten with new ids), the day of reading does not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect

from huiminbao.catalog.models import Product
from huiminbao.core.errors import PreconditionFailed, PreconditionRequired
from huiminbao.core.etags import ANY

STALE = "该产品已被其他管理员修改，请重新加载后再编辑"
MISSING = "缺少 If-Match 请求头：请先读取产品的当前版本（ETag）再保存"


def product_version(product: Product) -> str:
    rows: list[list[Any]] = [_columns(product)]
    for tier in sorted(product.tiers, key=lambda t: t.id):
        rows.append(_columns(tier))
        rows += [_columns(benefit) for benefit in sorted(tier.benefits, key=lambda b: b.id)]
    rows += [_columns(terms) for terms in sorted(product.terms, key=lambda t: t.id)]
    rows += [_columns(term) for term in sorted(product.pre_existing, key=lambda t: t.id)]
    text = json.dumps(rows, default=_plain, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def require_version(product: Product, if_match: Collection[str] | None) -> None:
    """Refuse a change whose ``If-Match`` is missing (428) or names another version (412)."""
    if not if_match:
        raise PreconditionRequired(MISSING, errors={"If-Match": ["此项为必填项"]})
    if ANY not in if_match and product_version(product) not in if_match:
        raise PreconditionFailed(STALE)


def check_version(product: Product, if_match: Collection[str] | None) -> None:
    """Like ``require_version`` for changes where ``If-Match`` is optional: checked when sent."""
    if if_match:
        require_version(product, if_match)


def _columns(row: Any) -> list[Any]:
    return [getattr(row, attribute.key) for attribute in inspect(row).mapper.column_attrs]


def _plain(value: Any) -> str:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()
    return str(value)

"""``huiminbao keys rotate``: every encrypted column (``core/keys.py``) and every claim document
re-sealed under the active field key. See ``core/keys.py`` for what a run does and why it may be
started again."""

from __future__ import annotations

from collections.abc import Callable

import click
from sqlalchemy import select

from huiminbao.claims.models import ClaimDocument
from huiminbao.core.container import Container
from huiminbao.core.crypto import Keyring, document_key_id
from huiminbao.core.keys import DEFAULT_BATCH, RotationReport, rotate_fields


def rotate_documents(wired: Container, ring: Keyring, *, batch: int = DEFAULT_BATCH,
                     report: RotationReport | None = None,
                     echo: Callable[[str], None] | None = None) -> RotationReport:
    """Re-seal every claim document not under the active key (documents stored in plain, before
    encryption, are sealed too). A document missing from the store is reported, not fatal."""
    report = report or RotationReport(ring.active)
    name = "claim documents"
    report.examined[name] += 0
    last = 0
    while True:
        with wired.db.read() as session:
            rows = session.execute(
                select(ClaimDocument.id, ClaimDocument.storage_key, ClaimDocument.content_type)
                .where(ClaimDocument.id > last).order_by(ClaimDocument.id).limit(batch)).all()
        if not rows:
            return report
        last = rows[-1][0]
        for document_id, key, content_type in rows:
            report.examined[name] += 1
            try:
                data = wired.documents.get(key)
            except KeyError:
                if echo is not None:
                    echo(f"材料 #{document_id} 不在存储中，已跳过")
                continue
            if document_key_id(data) == ring.active:
                continue
            wired.documents.put(key, ring.seal(ring.open_sealed(data)), content_type)
            report.rewritten[name] += 1


@click.group()
def keys() -> None:
    """Keys of personal data at rest (HUIMINBAO_FIELD_KEYS, HUIMINBAO_INDEX_KEY)."""


@keys.command("rotate")
@click.option("--batch", default=DEFAULT_BATCH, show_default=True,
              type=click.IntRange(1, 10_000), help="rows per transaction")
@click.option("--documents/--no-documents", default=True, show_default=True,
              help="re-seal claim documents in the document store too")
def rotate(batch: int, documents: bool) -> None:
    """Re-encrypt every encrypted field (and claim document) under the active key: the first
    of HUIMINBAO_FIELD_KEYS. Idempotent; prints what it examined and rewrote."""
    from huiminbao.commands import wired_from_env

    with wired_from_env() as wired:
        ring = wired.settings.keyring()
        report = rotate_fields(wired.db, ring, batch=batch)
        if documents:
            rotate_documents(wired, ring, batch=batch, report=report, echo=click.echo)
    click.echo(report.format())

"""Re-encrypting personal data at rest under the active field key (``huiminbao keys rotate``,
in ``key_rotation.py``, runs it with the claim documents).

After a new key is put first in ``HUIMINBAO_FIELD_KEYS`` (the old ones stay listed, so what they
sealed still opens), this rewrites every encrypted column (every column of an ``EncryptedString``
or ``EncryptedText`` type, found in the models) and every claim document in batches, each batch
its own transaction. A value already under the active key is left alone, so a second run changes
nothing and an interrupted run can simply be started again; a value stored in plain (before
migration 0021) is sealed too. Each row is written only if it still holds what was read, so a
concurrent change (a code's text blanked after sending) is never overwritten with the old value.
When the run reports nothing left under an old key, that key can be removed from the keyring.

The blind-index key (``HUIMINBAO_INDEX_KEY``) does not rotate here: a new index key means
recomputing every index column from the decrypted values while lookups keep working, which needs
two index columns side by side for the changeover. Not done yet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Column, String, Table, and_, bindparam, select, type_coerce

from huiminbao.core.crypto import Encrypted, Keyring, is_envelope
from huiminbao.core.db import Base, Database

DEFAULT_BATCH = 500


@dataclass
class RotationReport:
    active: str
    examined: Counter[str] = field(default_factory=Counter)
    rewritten: Counter[str] = field(default_factory=Counter)

    @property
    def total_rewritten(self) -> int:
        return sum(self.rewritten.values())

    def format(self) -> str:
        lines = [f"当前密钥：{self.active}"]
        for name in sorted(self.examined):
            lines.append(f"  {name:<36} 检查 {self.examined[name]:>8}  重新加密 "
                         f"{self.rewritten[name]:>8}")
        lines.append(f"共重新加密 {self.total_rewritten} 项")
        return "\n".join(lines)


def encrypted_columns() -> Iterator[tuple[Table, Column[str]]]:
    """Every encrypted column of every model, in a stable order."""
    from huiminbao.core.models_registry import import_all_models

    import_all_models()
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, Encrypted):
                yield table, column


def rotate_fields(db: Database, ring: Keyring, *, batch: int = DEFAULT_BATCH,
                  report: RotationReport | None = None) -> RotationReport:
    report = report or RotationReport(ring.active)
    for table, column in encrypted_columns():
        name = f"{table.name}.{column.name}"
        report.examined[name] += 0
        [pk] = table.primary_key.columns  # one integer key per table (claim_payees: claim_id)
        raw = type_coerce(column, String())
        rewrite = (table.update()
                   .where(and_(pk == bindparam("row_id"),
                               raw == bindparam("was", type_=String())))
                   .values({column.name: bindparam("sealed", type_=String())}))
        last = 0
        while True:
            with db.transaction() as session:
                rows = session.execute(select(pk, raw).where(pk > last, column.isnot(None))
                                       .order_by(pk).limit(batch)).all()
                if not rows:
                    break
                last = rows[-1][0]
                report.examined[name] += len(rows)
                stale = [{"row_id": row_id, "was": stored,
                          "sealed": ring.encrypt(ring.decrypt(stored))}
                         for row_id, stored in rows
                         if not (is_envelope(stored) and ring.is_current(stored))]
                if stale:
                    session.execute(rewrite, stale)
                    report.rewritten[name] += len(stale)
    return report

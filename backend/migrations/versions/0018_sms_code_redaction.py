"""One-time codes no longer stay readable in ``sms_outbox``: production blanks the code in
``text`` and ``params`` once a code's row is sent or given up (``identity/sms_worker.py``). This
blanks the rows written before, in every mode: a code is valid for five minutes, so the ones
already sent or given up are of no use to anybody but someone reading the table. Queued codes
(the demo outbox, which has no provider) are left as they are.

Revision ID: 0018_sms_code_redaction
Revises: 0017_pay_url_length
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_sms_code_redaction"
down_revision = "0017_pay_url_length"
branch_labels = None
depends_on = None

_REDACTED = "******"
_SIGNATURE = "【西湖益联保】"
# The code templates' wording as of this revision (sms_domain.PATTERNS), frozen here.
_PATTERNS = {
    "login_code":
        "您的登录验证码为{code}，5分钟内有效。工作人员不会索要验证码，请勿告诉他人。",
    "payment_code":
        "您正在确认使用医保个人账户支付，验证码{code}，5分钟内有效，请勿告诉他人。",
    "relative_code":
        "您的亲属正在将您添加为家庭成员，验证码{code}，5分钟内有效。如非本人同意请勿提供。",
    "proxy_grant_code":
        "您的亲友申请代您办理惠民保业务，验证码{code}，5分钟内有效。如非本人同意请勿提供。",
}


def upgrade() -> None:
    bind = op.get_bind()
    for template, pattern in _PATTERNS.items():
        bind.execute(
            sa.text("UPDATE sms_outbox SET text = :text, params = :params "
                    "WHERE template = :template AND status IN ('sent', 'given_up')")
            .bindparams(sa.bindparam("params", type_=sa.JSON)),
            {"text": _SIGNATURE + pattern.format(code=_REDACTED),
             "params": {"code": _REDACTED}, "template": template},
        )


def downgrade() -> None:
    # The codes are gone for good (and long expired): nothing to restore.
    pass

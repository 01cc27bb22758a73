"""The user agreement and the privacy policy shown on the login page: versioned texts, agreed
once per version by each account, the acceptance recorded (``AgreementAcceptance``).

A first login (or the first after a text changes) needs the person's tick for the current
versions; a login that already has them needs nothing. The texts are the platform's own; the
consents to process personal information for the business itself are given at binding
(``audit/consents.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiminbao.core.errors import InvalidInput
from huiminbao.identity.models import AgreementAcceptance

AGREEMENT_REQUIRED = "请阅读并勾选同意《用户协议》和《隐私政策》后登录"


class AgreementDocument(StrEnum):
    USER_AGREEMENT = "user_agreement"
    PRIVACY_POLICY = "privacy_policy"


@dataclass(frozen=True)
class AgreementText:
    document: AgreementDocument
    version: str
    title: str
    body: str


AGREEMENT_TEXTS: dict[AgreementDocument, AgreementText] = {
    AgreementDocument.USER_AGREEMENT: AgreementText(
        AgreementDocument.USER_AGREEMENT, "2026.1", "用户协议",
        "本平台由本市医疗保障部门指导、承保保险公司提供惠民保（城市定制型商业医疗保险）的参保、"
        "缴费、保单查询、理赔和投诉服务。惠民保为商业保险，不是基本医疗保险，保险责任以保险条款"
        "为准。您应使用本人手机号码登录，妥善保管短信验证码，不得冒用他人身份办理业务；为家人投保"
        "或代办须取得本人同意。平台可能因系统维护暂停服务，维护前将在页面公告。您对服务有任何意见，"
        "可通过各页面底部的“客服与投诉”联系我们。"),
    AgreementDocument.PRIVACY_POLICY: AgreementText(
        AgreementDocument.PRIVACY_POLICY, "2026.1", "隐私政策",
        "我们收集您的手机号码用于登录和发送业务通知；实名认证后处理您的姓名、身份证号码和基本医疗"
        "保险参保信息，仅用于惠民保的参保、缴费、理赔和查询。个人信息加密存储，页面、短信和日志中"
        "以脱敏形式展示，每次查询和操作均留存审计记录。我们不会将您的信息用于营销，也不会提供给与"
        "本产品无关的第三方。您可以在“我的-我的个人信息”中查询、导出您的信息或注销账号，"
        "也可以随时撤回授权同意。"),
}


def current_versions() -> dict[str, str]:
    return {text.document.value: text.version for text in AGREEMENT_TEXTS.values()}


def missing(accepted: Mapping[str, str]) -> list[AgreementText]:
    """The current texts that ``accepted`` (document → version) does not cover."""
    return [text for text in AGREEMENT_TEXTS.values()
            if accepted.get(text.document.value) != text.version]


def accepted_by(session: Session, account_id: int) -> dict[str, str]:
    """The current versions the account has already accepted (document → version)."""
    rows = session.execute(
        select(AgreementAcceptance.document, AgreementAcceptance.version)
        .where(AgreementAcceptance.account_id == account_id)).all()
    current = current_versions()
    return {document: version for document, version in rows if current.get(document) == version}


def settle_at_login(session: Session, account_id: int, agreed: Mapping[str, str | None],
                    now: datetime) -> list[str]:
    """Within the login's transaction: record the current versions ticked now that the account
    had not yet accepted, or refuse the login when a current text is accepted neither before
    nor now. Returns the documents newly recorded (for the audit)."""
    before = accepted_by(session, account_id)
    ticked = {document: version for document, version in agreed.items() if version}
    if missing({**ticked, **before}):
        raise InvalidInput(AGREEMENT_REQUIRED, code="agreement_required",
                           errors={"agreements": [AGREEMENT_REQUIRED]})
    recorded = []
    for text in AGREEMENT_TEXTS.values():
        if text.document.value not in before:
            session.add(AgreementAcceptance(account_id=account_id,
                                            document=text.document.value,
                                            version=text.version, accepted_at=now))
            recorded.append(text.document.value)
    return recorded

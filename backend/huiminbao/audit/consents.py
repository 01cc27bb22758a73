"""The consent texts shown before real-name binding (PIPL Art. 13-14, and Art. 28-29 for
sensitive personal information). Changing a text means a new version: consents record the
version the person agreed to."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ConsentKind(StrEnum):
    PERSONAL_INFO = "personal_info"
    SENSITIVE_INFO = "sensitive_info"


@dataclass(frozen=True)
class ConsentText:
    kind: ConsentKind
    version: str
    title: str
    body: str


CONSENT_TEXTS: dict[ConsentKind, ConsentText] = {
    ConsentKind.PERSONAL_INFO: ConsentText(
        kind=ConsentKind.PERSONAL_INFO,
        version="2026.1",
        title="个人信息处理告知同意书",
        body=(
            "为办理惠民保参保、缴费、理赔和查询，我们需要处理您的姓名、身份证号码、手机号码和"
            "基本医疗保险参保信息。这些信息仅用于本产品的业务办理，不用于营销或其他用途，"
            "不会提供给与本产品无关的第三方。我们只收集办理业务所必需的最少信息，"
            "在页面、日志和短信中均以脱敏形式展示，并对每次查询和操作留存审计记录。"
            "您可以随时查询、更正您的信息，或撤回本同意；撤回后我们将停止相关处理，"
            "但不影响撤回前已办理的业务。"
        ),
    ),
    ConsentKind.SENSITIVE_INFO: ConsentText(
        kind=ConsentKind.SENSITIVE_INFO,
        version="2026.1",
        title="敏感个人信息单独同意书",
        body=(
            "办理个人账户缴费和理赔时，我们需要处理您的医疗保险个人账户余额与收支记录、"
            "就诊和医疗费用结算信息等敏感个人信息。这些信息一旦泄露可能对您造成损害，"
            "我们仅在您办理相关业务时按最小必要原则使用，采取加密存储、权限控制和审计等保护措施。"
            "您可以随时撤回本同意；撤回后将无法使用个人账户缴费和在线理赔等功能。"
        ),
    ),
}

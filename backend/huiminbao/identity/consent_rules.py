"""Pure consent rules: which consent each processing purpose depends on (PIPL Art. 15-16).

No Flask, no database. Every purpose names, per party, the consents it needs; a purpose stops
as soon as one of them is withdrawn, and resumes when it is given again. The gate that applies
this table lives in ``consent_gate.py`` (one place, called from the services).

Parties:
- ``OPERATOR``: the signed-in resident doing it (their own details are processed too);
- ``PRINCIPAL``: the person it is done for — the caller themselves, or the principal under a
  proxy grant; for debits, the account owner who pays;
- ``OTHERS``: further people whose data it processes (family members being insured).

Reading what already exists (issued policies, past claims, orders) depends on no consent here:
withdrawal does not undo what was done before it (PIPL Art. 15), and the person may always see
their own data (Art. 45).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from huiminbao.audit.consents import CONSENT_TEXTS, ConsentKind

RESUME_WHERE = "“我的-授权与同意”"
CONSENT_WITHDRAWN = "consent_withdrawn"

P = ConsentKind.PERSONAL_INFO
S = ConsentKind.SENSITIVE_INFO


class Purpose(StrEnum):
    ACCOUNT_VIEW = "account_view"
    ENROLL = "enroll"
    ACCOUNT_DEBIT = "account_debit"
    FAMILY = "family"
    PROXY_GRANTS = "proxy_grants"
    ACT_FOR = "act_for"
    CLAIMS_NEW = "claims_new"
    AUTO_RENEW = "auto_renew"

    @property
    def label(self) -> str:
        return PURPOSES[self].label


class Party(StrEnum):
    OPERATOR = "operator"
    PRINCIPAL = "principal"
    OTHERS = "others"


@dataclass(frozen=True)
class PurposeRule:
    label: str  # what stops, in the words of the message ("……已暂停")
    needs: dict[Party, frozenset[ConsentKind]]

    def kinds(self) -> frozenset[ConsentKind]:
        return frozenset().union(*self.needs.values())


PURPOSES: dict[Purpose, PurposeRule] = {
    Purpose.ACCOUNT_VIEW: PurposeRule("查询医保个人账户余额和收支记录", {
        Party.PRINCIPAL: frozenset({P, S})}),
    Purpose.ENROLL: PurposeRule("在线参保投保", {
        Party.OPERATOR: frozenset({P}), Party.PRINCIPAL: frozenset({P})}),
    Purpose.ACCOUNT_DEBIT: PurposeRule("使用医保个人账户缴费", {
        Party.OPERATOR: frozenset({P}), Party.PRINCIPAL: frozenset({P, S})}),
    Purpose.FAMILY: PurposeRule("为家人投保和管理家庭成员", {
        Party.OPERATOR: frozenset({P}), Party.PRINCIPAL: frozenset({P}),
        Party.OTHERS: frozenset({P})}),
    Purpose.PROXY_GRANTS: PurposeRule("申请和确认亲友代办授权", {
        Party.OPERATOR: frozenset({P}), Party.PRINCIPAL: frozenset({P})}),
    Purpose.ACT_FOR: PurposeRule("亲友代为办理业务", {
        Party.OPERATOR: frozenset({P}), Party.PRINCIPAL: frozenset({P})}),
    Purpose.CLAIMS_NEW: PurposeRule("提交理赔申请和理赔材料", {
        Party.OPERATOR: frozenset({P}), Party.PRINCIPAL: frozenset({P, S})}),
    Purpose.AUTO_RENEW: PurposeRule("自动续保扣费", {
        Party.PRINCIPAL: frozenset({P, S})}),
}


@dataclass(frozen=True)
class Holder:
    """One party's standing consents. ``name`` is the masked name shown when the holder is not
    the caller; ``is_caller`` says whether the message addresses them as 您."""

    party: Party
    granted: frozenset[ConsentKind]
    is_caller: bool = False
    name: str | None = None
    person_id: int | None = None
    also: Sequence[Party] = field(default_factory=tuple)  # the same person in further roles

    def parties(self) -> tuple[Party, ...]:
        return (self.party, *self.also)


@dataclass(frozen=True)
class Block:
    purpose: Purpose  # the first one stopped
    kind: ConsentKind
    holder: Holder
    also: tuple[Purpose, ...] = ()  # further requested purposes the same withdrawal stops

    @property
    def code(self) -> str:
        return CONSENT_WITHDRAWN

    @property
    def message(self) -> str:
        title = CONSENT_TEXTS[self.kind].title
        label = "、".join(purpose.label for purpose in (self.purpose, *self.also))
        if self.holder.is_caller:
            return (f"您已撤回《{title}》，{label}已暂停；如需继续，请在{RESUME_WHERE}"
                    f"重新同意《{title}》。已生效的保单不受影响，可照常查看。")
        who = self.holder.name or "相关人员"
        return (f"{who}已撤回《{title}》，{label}已暂停；如需继续，"
                f"需由{who}本人在{RESUME_WHERE}重新同意。")


def needed(purpose: Purpose, parties: Iterable[Party]) -> frozenset[ConsentKind]:
    rule = PURPOSES[purpose]
    return frozenset().union(*(rule.needs.get(party, frozenset()) for party in parties))


def first_block(purposes: Sequence[Purpose], holders: Sequence[Holder]) -> Block | None:
    """The first purpose (in the order given) that a holder's missing consent stops; the
    caller's own consents are reported before anyone else's."""
    ordered = sorted(holders, key=lambda holder: not holder.is_caller)
    for purpose in purposes:
        for holder in ordered:
            for kind in ConsentKind:  # personal information first, then sensitive
                if kind in needed(purpose, holder.parties()) and kind not in holder.granted:
                    also = tuple(other for other in purposes if other is not purpose
                                 and kind in needed(other, holder.parties()))
                    return Block(purpose, kind, holder, also)
    return None


def stops(kind: ConsentKind) -> list[Purpose]:
    """What withdrawing this consent stops, for the page that offers the withdrawal."""
    return [purpose for purpose, rule in PURPOSES.items() if kind in rule.kinds()]

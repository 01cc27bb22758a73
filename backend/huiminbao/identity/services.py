"""Identity use cases: one-time codes, login and logout, real-name binding, consents, staff."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from huiminbao.audit import services as audit
from huiminbao.audit.consents import CONSENT_TEXTS, ConsentKind
from huiminbao.audit.models import Consent
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.core import idnumber
from huiminbao.core.container import Container
from huiminbao.core.errors import Busy, Conflict, InvalidInput, NotFound, RuleViolation
from huiminbao.core.masking import mask_id_number, mask_name, mask_phone, normalize_name
from huiminbao.identity import agreements
from huiminbao.identity.auth import Actor
from huiminbao.identity.domain import (
    OTP_MAX_WRONG_ATTEMPTS,
    OTP_TTL,
    SESSION_TTL,
    BindingVerification,
    OtpPurpose,
    Role,
    hash_secret,
    is_mainland_mobile,
    may_displace,
    new_otp_code,
    same_secret,
)
from huiminbao.identity.models import AuthSession, OtpChallenge, Person, UserAccount
from huiminbao.identity.sms_domain import SmsStatus, SmsTemplate
from huiminbao.identity.verification import CheckStart
from huiminbao.registry.port import RegistryPerson

# A wrong code may be typed again (until the sixth wrong try voids it); an expired, used or
# voided one cannot, and only then is a new code the answer.
WRONG_CODE = "验证码不正确，请核对后重新输入"
EXPIRED_CODE = "验证码已失效，请重新获取"


class CodeCheck(StrEnum):
    ACCEPTED = "accepted"
    WRONG = "wrong"  # the live code is another one: retype it
    EXPIRED = "expired"  # no live code (expired, used, voided, never sent): send a new one

    @property
    def accepted(self) -> bool:
        return self is CodeCheck.ACCEPTED

    @property
    def message(self) -> str:
        return EXPIRED_CODE if self is CodeCheck.EXPIRED else WRONG_CODE

    @property
    def error_code(self) -> str:
        return "code_expired" if self is CodeCheck.EXPIRED else "wrong_code"

    def invalid_input(self, field: str = "code") -> InvalidInput:
        return InvalidInput(self.message, code=self.error_code, errors={field: [self.message]})
IDENTITY_MISMATCH = "身份信息核验未通过，请核对姓名和身份证号码后重试"

_OTP_TEMPLATES = {
    OtpPurpose.LOGIN: SmsTemplate.LOGIN_CODE,
    OtpPurpose.CONFIRM_PAYMENT: SmsTemplate.DEBIT_CONFIRM_CODE,
    OtpPurpose.VERIFY_RELATIVE: SmsTemplate.RELATIVE_CODE,
    OtpPurpose.PROXY_GRANT: SmsTemplate.PROXY_GRANT_CODE,
    OtpPurpose.COMPLAINT: SmsTemplate.COMPLAINT_CODE,
    OtpPurpose.POLICY_LOOKUP: SmsTemplate.POLICY_LOOKUP_CODE,
}
SMS_FAILED = "短信发送失败，请稍后重试"


def check_phone(phone: str) -> str:
    phone = phone.strip()
    if not is_mainland_mobile(phone):
        raise InvalidInput("请输入11位手机号码", errors={"phone": ["请输入11位手机号码"]})
    return phone


# ---------------------------------------------------------------- one-time codes


def send_code(c: Container, phone: str, purpose: OtpPurpose, *,
              params: Mapping[str, str] | None = None, context: str | None = None) -> datetime:
    """Void the phone's earlier codes for this purpose, store a new one (hashed) and text it.
    Returns when it expires.

    With a provider configured the text is sent now, by this request (the provider's own short
    timeout bounds the wait), and a failure answers 503 ``sms_failed``. The code is then voided
    and its message given up, never retried later by the worker: the resident was told it failed
    and will ask again, and a code arriving minutes later for a request that "failed" would only
    confuse. (Should the provider have taken it after all, e.g. a timeout after sending, the
    late text carries a void code and the new request's code replaces it.) Without a provider
    (demo) the code stays in the outbox, as the development endpoint expects.

    ``params``: the template's other parameters (a debit's amount and insured); ``context``:
    what the code confirms (``code_context``), checked again by ``consume_code``."""
    from huiminbao.identity import sms_worker

    phone = check_phone(phone)
    code = new_otp_code()
    now = c.clock.now()
    provider = c.sms_provider
    with c.db.transaction() as session:
        _void_open_codes(session, phone, purpose, now, context)
        challenge = OtpChallenge(
            phone=phone, purpose=purpose.value, code_hash=hash_secret(c.settings.secret_key, code),
            created_at=now, expires_at=now + OTP_TTL, wrong_attempts=0, context=context,
        )
        session.add(challenge)
        session.flush()
        challenge_id, expires_at = challenge.id, challenge.expires_at
        message_id = c.sms.send(session, phone, _OTP_TEMPLATES[purpose],
                                {**(params or {}), "code": code})
        claimed = sms_worker.lease_now(session, message_id, now) if provider else None
    if provider is not None and claimed is not None:
        status = sms_worker.deliver(c, provider, claimed, retry=False)
        if status is not SmsStatus.SENT:
            with c.db.transaction() as session:
                session.execute(update(OtpChallenge).where(OtpChallenge.id == challenge_id)
                                .values(voided_at=c.clock.now()))
            raise Busy(SMS_FAILED, code="sms_failed")
    return expires_at


def _void_open_codes(session: Session, phone: str, purpose: OtpPurpose, now: datetime,
                     context: str | None = None) -> None:
    """A new code voids the earlier ones for the same thing: with a ``context`` (one debit),
    only those sent for that context, so codes for two different debits may be open at once."""
    session.execute(update(OtpChallenge).where(*_open_codes(phone, purpose, context))
                    .values(voided_at=now))


def _open_codes(phone: str, purpose: OtpPurpose, context: str | None
                ) -> list[ColumnElement[bool]]:
    """Where a code is the phone's for ``purpose``, neither consumed nor voided: with a
    ``context``, only one sent for that context."""
    conditions = [OtpChallenge.phone_is(phone), OtpChallenge.purpose == purpose.value,
                  OtpChallenge.consumed_at.is_(None), OtpChallenge.voided_at.is_(None)]
    if context is not None:
        conditions.append(OtpChallenge.context == context)
    return conditions


def verify_code(c: Container, phone: str, purpose: OtpPurpose, code: str) -> None:
    """Consume the phone's current code, or raise. Each wrong try counts; the sixth voids it."""
    with c.db.transaction() as session:
        check = consume_code(c, session, phone, purpose, code)
    if not check.accepted:
        raise check.invalid_input()


def consume_code(c: Container, session: Session, phone: str, purpose: OtpPurpose,
                 code: str, *, context: str | None = None) -> CodeCheck:
    """Within the caller's transaction: ACCEPTED and consumed if the code is right. A wrong
    code's counter must persist, so callers commit before they raise. With ``context``, only a
    code sent for that very context counts (another debit's code is no code for this one)."""
    now = c.clock.now()
    challenge = session.scalars(
        select(OtpChallenge).where(*_open_codes(phone, purpose, context))
        .order_by(OtpChallenge.created_at.desc(), OtpChallenge.id.desc())
        .limit(1)
        .with_for_update()  # two simultaneous logins with one code: exactly one consumes it
    ).first()
    if challenge is None or now >= challenge.expires_at:
        return CodeCheck.EXPIRED
    if not same_secret(c.settings.secret_key, code.strip(), challenge.code_hash):
        challenge.wrong_attempts += 1
        if challenge.wrong_attempts > OTP_MAX_WRONG_ATTEMPTS:
            challenge.voided_at = now
            return CodeCheck.EXPIRED
        return CodeCheck.WRONG
    challenge.consumed_at = now
    return CodeCheck.ACCEPTED


def code_context(description: str) -> str:
    """A fixed-length digest of what a code confirms (stored with the challenge)."""
    return hashlib.sha256(description.encode()).hexdigest()


def sheet_confirms_debit(c: Container, actor: Actor, owner_person_id: int,
                         owner: RegistryPerson) -> bool:
    """Whether the confirm sheet alone is the owner's confirmation of a personal-account debit:
    the caller is the owner, signed in by an SMS code less than 10 minutes ago, to
    the phone the registry holds for them (the contact check, answered from the registry record
    the quote has just read). Otherwise the owner confirms with a code texted to that registry
    phone (``enrollment.quoting.send_debit_code``)."""
    return (actor.person_id == owner_person_id and actor.login_method == "sms"
            and actor.authenticated_recently(c.clock.now()) and bool(actor.phone)
            and owner.phone is not None and owner.phone.strip() == actor.phone)


# ---------------------------------------------------------------- sessions


@dataclass(frozen=True)
class SignIn:
    account_id: int
    session_id: int
    cookie_token: str
    csrf_token: str
    access_token: str
    access_token_expires_at: datetime


def login_with_code(c: Container, phone: str, code: str,
                    agreed: Mapping[str, str | None] | None = None) -> SignIn:
    """``agreed``: the user agreement and privacy policy versions ticked on the login page
    (document → version). A resident must have accepted the current ones, now or before; when
    not, nothing is written (the code stays usable) and the answer is ``agreement_required``."""
    phone = check_phone(phone)
    with c.db.transaction() as session:
        check = consume_code(c, session, phone, OtpPurpose.LOGIN, code)
        if check.accepted:
            account = _account_for_phone(c, session, phone)
            _settle_agreements(c, session, account, agreed or {})
            sign_in = _open_session(c, session, account, method="sms")
    if not check.accepted:
        audit.record_now(c.db, c.clock, AuditEntry(
            action="auth.login", outcome="failed", actor=AuditActor(),
            details={"phone": mask_phone(phone), "reason": check.error_code},
        ))
        raise check.invalid_input()
    return sign_in


def _settle_agreements(c: Container, session: Session, account: UserAccount,
                       agreed: Mapping[str, str | None]) -> None:
    """A resident signing in must have accepted the current user agreement and privacy policy,
    now (``agreed``) or before: record the new acceptances, or raise ``agreement_required``."""
    if account.role != Role.RESIDENT.value:
        return
    recorded = agreements.settle_at_login(session, account.id, agreed, c.clock.now())
    if recorded:
        audit.record(session, c.clock, AuditEntry(
            action="agreement.accept", actor=AuditActor(account.id, account.role),
            details={doc: agreements.current_versions()[doc] for doc in recorded}))


def _account_for_phone(c: Container, session: Session, phone: str) -> UserAccount:
    account = session.scalars(select(UserAccount).where(UserAccount.phone_is(phone))).one_or_none()
    if account is not None:
        return account
    account = UserAccount(phone=phone, role=Role.RESIDENT.value, created_at=c.clock.now())
    try:
        with session.begin_nested():
            session.add(account)
    except IntegrityError:  # the same phone signed up at the same moment elsewhere
        account = session.scalars(select(UserAccount).where(UserAccount.phone_is(phone))).one()
    return account


def _open_session(c: Container, session: Session, account: UserAccount, *, method: str) -> SignIn:
    now = c.clock.now()
    cookie_token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(24)
    auth_session = AuthSession(
        account_id=account.id, cookie_token_hash=hash_secret(c.settings.secret_key, cookie_token),
        csrf_token=csrf_token, method=method, authenticated_at=now, expires_at=now + SESSION_TTL,
    )
    session.add(auth_session)
    account.last_login_at = now
    session.flush()
    access_token, claims = c.tokens.issue(account.id, auth_session.id)
    audit.record(session, c.clock, AuditEntry(
        action="auth.login", actor=AuditActor(account.id, account.role),
        subject_person_id=account.person_id, details={"method": method},
    ))
    return SignIn(account.id, auth_session.id, cookie_token, csrf_token, access_token,
                  claims.expires_at)


def open_session_for(c: Container, account_id: int, *, method: str,
                     agreed: Mapping[str, str | None] | None = None) -> SignIn:
    """Sign in an account already proven by another channel (WeChat after linking). As at the
    SMS login, a resident needs the current agreements accepted now (``agreed``) or before,
    else ``agreement_required`` and nothing is written."""
    with c.db.transaction() as session:
        account = session.get(UserAccount, account_id)
        if account is None:
            raise NotFound()
        _settle_agreements(c, session, account, agreed or {})
        return _open_session(c, session, account, method=method)


def logout(c: Container, session_id: int, jti: str | None, token_expires_at: datetime | None,
           account_id: int) -> None:
    """End the session: its cookie and every bearer token issued with it stop working."""
    from huiminbao.identity.models import RevokedToken

    now = c.clock.now()
    with c.db.transaction() as session:
        auth_session = session.get(AuthSession, session_id)
        if auth_session is not None and auth_session.revoked_at is None:
            auth_session.revoked_at = now
        if jti and token_expires_at and session.get(RevokedToken, jti) is None:
            session.add(RevokedToken(jti=jti, expires_at=token_expires_at))
        audit.record(session, c.clock, AuditEntry(
            action="auth.logout", actor=AuditActor(account_id),
        ))


def end_cookie_session(c: Container, cookie_token: str) -> None:
    """Revoke the session a cookie belongs to, if it is still live (cookie rotation)."""
    now = c.clock.now()
    token_hash = hash_secret(c.settings.secret_key, cookie_token)
    with c.db.transaction() as session:
        session.execute(
            update(AuthSession)
            .where(AuthSession.cookie_token_hash == token_hash, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )


# ---------------------------------------------------------------- real-name binding


IDENTITY_TAKEN = "该身份已绑定其他账号。如非本人操作，请携带身份证件到经办窗口或联系客服处理"
IDENTITY_TAKEN_UNVERIFIED = ("该身份已被其他账号绑定但尚未核验。如您是本人，请使用医保登记的手机号"
                             "登录后绑定，或刷脸核验，或携带身份证到经办窗口核验，即可取回")
CHECK_FAILED = "刷脸核验未通过，请确认是本人操作后重试，或携带身份证到经办窗口核验"
CHECK_UNAVAILABLE = "暂未开通刷脸核验，请使用医保登记的手机号登录，或携带身份证到经办窗口核验"


@dataclass(frozen=True)
class BindOutcome:
    verified_by: BindingVerification | None
    displaced: bool = False  # an unverified binding of the same person on another account ended


@dataclass(frozen=True)
class Verification:
    """How a binding is proven, and by whom (counter staff)."""

    method: BindingVerification
    staff_account_id: int | None = None
    detail: str | None = None  # the identity-check service's name


def bind_identity(
    c: Container, account_id: int, name: str, raw_id_number: str, consents: dict[str, str],
    *, check_ticket: str | None = None,
) -> BindOutcome:
    """Bind the account to the registry person with this name and ID number, recording the two
    consents. A mismatch answers one neutral message that does not say which part was wrong.

    The binding is *verified* when the account's login phone is the phone the
    registry holds for the person (the registry's yes/no contact check), or when
    ``check_ticket`` is a passed face / eID check of this very person. A verified binding takes
    the person from an account holding them unverified; nothing takes them from a verified
    one."""
    _check_consents(consents)
    id_number, registered_name = _registered(c, account_id, name, raw_id_number)
    actor = AuditActor(account_id, Role.RESIDENT.value)
    verification: Verification | None = None
    if check_ticket:
        verification = _checked(c, actor, id_number, check_ticket)
    else:
        with c.db.read() as session:
            account = session.get(UserAccount, account_id)
            phone = account.phone if account is not None else ""
        if phone and c.registry.contact_matches(id_number, phone):
            verification = Verification(BindingVerification.REGISTRY_PHONE)
    return _bind(c, account_id, id_number, registered_name, verification, actor,
                 record_consents=True)


def start_identity_check(c: Container, account_id: int, name: str,
                         raw_id_number: str) -> CheckStart:
    """Ask the face / eID service for a check of the person with this name and ID number; the
    ticket comes back with ``bind_identity(check_ticket=...)`` once the person has taken it."""
    if c.identity_checks is None:
        raise Conflict(CHECK_UNAVAILABLE, code="identity_check_unavailable")
    id_number, registered_name = _registered(c, account_id, name, raw_id_number)
    return c.identity_checks.start(id_number, registered_name)


def _registered(c: Container, account_id: int, name: str, raw_id_number: str) -> tuple[str, str]:
    """The ID number and the registry's name for the person, or the neutral mismatch."""
    parsed = idnumber.parse_input(raw_id_number, today=c.clock.today())
    typed_name = normalize_name(name)
    registered = c.registry.find_person(parsed.value)
    if registered is None or normalize_name(registered.name) != typed_name:
        audit.record_now(c.db, c.clock, AuditEntry(
            action="identity.bind", outcome="denied",
            actor=AuditActor(account_id, Role.RESIDENT.value),
            details={"id_number": mask_id_number(parsed.value), "name": mask_name(typed_name)},
        ))
        raise RuleViolation(IDENTITY_MISMATCH, code="identity_mismatch")
    return parsed.value, registered.name


def _checked(c: Container, actor: AuditActor, id_number: str, ticket: str) -> Verification:
    verifier = c.identity_checks
    if verifier is None:
        raise Conflict(CHECK_UNAVAILABLE, code="identity_check_unavailable")
    result = verifier.result(ticket)
    if not result.passed or result.id_number != id_number:
        audit.record_now(c.db, c.clock, AuditEntry(
            action="identity.check", outcome="denied", actor=actor,
            details={"id_number": mask_id_number(id_number), "outcome": result.outcome.value,
                     "service": verifier.name},
        ))
        raise RuleViolation(CHECK_FAILED, code="identity_check_failed")
    return Verification(BindingVerification.IDENTITY_CHECK, detail=verifier.name)


def verify_at_counter(c: Container, staff_account_id: int, staff_role: Role, phone: str,
                      name: str, raw_id_number: str) -> BindOutcome:
    """Counter staff saw the resident's ID card: bind (or verify) the account that signs in
    with ``phone`` to that person, verified by ``counter`` with the staff member recorded. The
    resident signed the two consents on paper at the counter (the caller checked)."""
    phone = check_phone(phone)
    with c.db.read() as session:
        account = session.scalars(select(UserAccount).where(UserAccount.phone_is(phone))).first()
        account_id = account.id if account is not None else None
    if account_id is None or account is None or Role(account.role) is not Role.RESIDENT:
        message = "该手机号尚未登录过惠民保，请居民先用此手机号登录一次后再核验"
        raise NotFound(message, code="account_not_found", errors={"phone": [message]})
    id_number, registered_name = _registered(c, account_id, name, raw_id_number)
    verification = Verification(BindingVerification.COUNTER, staff_account_id=staff_account_id)
    return _bind(c, account_id, id_number, registered_name, verification,
                 AuditActor(staff_account_id, staff_role.value), record_consents=True)


def _bind(c: Container, account_id: int, id_number: str, registered_name: str,
          verification: Verification | None, actor: AuditActor, *,
          record_consents: bool) -> BindOutcome:
    now = c.clock.now()
    method = verification.method if verification else None
    try:
        with c.db.transaction() as session:
            account = session.scalars(
                select(UserAccount).where(UserAccount.id == account_id)
                .with_for_update(of=UserAccount)  # not the outer-joined person
            ).one_or_none()
            if account is None:
                raise NotFound()
            person = person_for(session, id_number, registered_name, now)
            # One binding decision per person at a time: the person row is the lock (on
            # SQLite every writing transaction is serialized anyway).
            session.execute(select(Person.id).where(Person.id == person.id).with_for_update())
            details: dict[str, object] = {"id_number": mask_id_number(id_number),
                                          "verified_by": method.value if method else None}
            if verification is not None and verification.detail:
                details["service"] = verification.detail
            if account.person_id is not None:
                if account.person_id != person.id:
                    raise Conflict("您的账号已完成实名认证，如需更换请联系客服",
                                   code="already_bound")
                if verification is not None and account.binding_verified_by is None:
                    _mark_verified(account, verification, now)
                    audit.record(session, c.clock, AuditEntry(
                        action="identity.verify", actor=actor, subject_person_id=person.id,
                        object_type="account", object_id=str(account.id), details=details))
                already = account.binding_verified_by
                return BindOutcome(BindingVerification(already) if already else None)
            holder = session.scalars(
                select(UserAccount).where(UserAccount.person_id == person.id)
                .with_for_update(of=UserAccount)
            ).one_or_none()
            displaced = False
            if holder is not None:
                if not may_displace(holder_verified=holder.binding_verified_by is not None,
                                    claimant_verified=verification is not None):
                    raise _Taken(
                        IDENTITY_TAKEN if holder.binding_verified_by is not None
                        else IDENTITY_TAKEN_UNVERIFIED,
                        AuditEntry(action="identity.bind", outcome="denied", actor=actor,
                                   subject_person_id=person.id,
                                   details={**details, "reason": "taken"}))
                _unbind(holder)
                session.flush()  # the person is free before the new binding takes them
                displaced = True
                audit.record(session, c.clock, AuditEntry(
                    action="identity.displace", actor=actor, subject_person_id=person.id,
                    object_type="account", object_id=str(holder.id), details=details))
                c.sms.send(session, holder.phone, SmsTemplate.BINDING_DISPLACED, {})
            account.person_id, account.bound_at = person.id, now
            if verification is not None:
                _mark_verified(account, verification, now)
            if record_consents:
                for kind in ConsentKind:
                    session.add(Consent(account_id=account.id, kind=kind.value,
                                        text_version=CONSENT_TEXTS[kind].version, granted_at=now))
                    audit.record(session, c.clock, AuditEntry(
                        action="consent.grant", actor=actor, subject_person_id=person.id,
                        details={"kind": kind.value, "version": CONSENT_TEXTS[kind].version},
                    ))
            audit.record(session, c.clock, AuditEntry(
                action="identity.bind", actor=actor, subject_person_id=person.id,
                object_type="account", object_id=str(account.id), details=details,
            ))
            if displaced and method is not None:
                c.sms.send(session, account.phone, SmsTemplate.BINDING_VERIFIED,
                           {"method": method.label})
            session.flush()
    except _Taken as taken:  # recorded after the transaction rolled back
        audit.record_now(c.db, c.clock, taken.entry)
        raise Conflict(taken.message, code="identity_taken") from None
    except IntegrityError as exc:  # unique person_id: someone else holds this person already
        raise Conflict(IDENTITY_TAKEN, code="identity_taken") from exc
    return BindOutcome(method, displaced)


class _Taken(Exception):
    def __init__(self, message: str, entry: AuditEntry) -> None:
        super().__init__(message)
        self.message, self.entry = message, entry


def _mark_verified(account: UserAccount, verification: Verification, now: datetime) -> None:
    account.binding_verified_by = verification.method.value
    account.binding_verified_at = now
    account.binding_verified_by_staff_id = verification.staff_account_id


def _unbind(account: UserAccount) -> None:
    account.person_id = account.bound_at = None
    account.binding_verified_by = account.binding_verified_at = None
    account.binding_verified_by_staff_id = None


def _check_consents(consents: dict[str, str]) -> None:
    missing = [text for kind, text in CONSENT_TEXTS.items()
               if consents.get(kind.value) != text.version]
    if missing:
        message = "请阅读并同意" + "和".join(f"《{text.title}》" for text in missing)
        raise InvalidInput(message, code="consent_required", errors={"consents": [message]})


def person_for(session: Session, id_number: str, name: str, now: datetime) -> Person:
    """The product's record of a person, created from the registry's data on first sight."""
    person = session.scalars(select(Person).where(Person.id_number_is(id_number))).one_or_none()
    if person is not None:
        if person.name != name:
            person.name = name  # the registry is the source of truth for names
        return person
    parsed = idnumber.parse(id_number, today=now.date())
    person = Person(id_number=id_number, name=name, birth_date=parsed.birth_date,
                    sex=parsed.sex.value, created_at=now)
    try:
        with session.begin_nested():
            session.add(person)
    except IntegrityError:
        person = session.scalars(select(Person).where(Person.id_number_is(id_number))).one()
    return person


def withdraw_consent(c: Container, account_id: int, kind: ConsentKind) -> None:
    now = c.clock.now()
    with c.db.transaction() as session:
        active = session.scalars(
            select(Consent).where(Consent.account_id == account_id, Consent.kind == kind.value,
                                  Consent.withdrawn_at.is_(None))
        ).all()
        if not active:
            raise NotFound("没有可撤回的同意记录")
        for consent in active:
            consent.withdrawn_at = now
        account = session.get(UserAccount, account_id)
        audit.record(session, c.clock, AuditEntry(
            action="consent.withdraw", actor=AuditActor(account_id),
            subject_person_id=account.person_id if account else None,
            details={"kind": kind.value},
        ))


def grant_consent(c: Container, account_id: int, kind: ConsentKind, version: str) -> None:
    text = CONSENT_TEXTS[kind]
    if version != text.version:
        message = f"请阅读并同意最新版《{text.title}》"
        raise InvalidInput(message, errors={"version": [message]})
    now = c.clock.now()
    with c.db.transaction() as session:
        already = session.scalars(
            select(Consent).where(Consent.account_id == account_id, Consent.kind == kind.value,
                                  Consent.withdrawn_at.is_(None),
                                  Consent.text_version == version)
        ).first()
        if already is not None:
            return
        session.add(Consent(account_id=account_id, kind=kind.value, text_version=version,
                            granted_at=now))
        audit.record(session, c.clock, AuditEntry(
            action="consent.grant", actor=AuditActor(account_id),
            details={"kind": kind.value, "version": version},
        ))


@dataclass(frozen=True)
class Profile:
    """What the caller may know about their own account, loaded in one go."""

    account: UserAccount
    person: Person | None
    consents: list[Consent]


def profile(c: Container, account_id: int) -> Profile:
    with c.db.read() as session:
        account = session.get(UserAccount, account_id)
        if account is None:
            raise NotFound()
        consents = list(session.scalars(
            select(Consent).where(Consent.account_id == account_id)
            .order_by(Consent.granted_at.desc(), Consent.id.desc())
        ))
        return Profile(account, account.person, consents)


def has_consent(session: Session, account_id: int, kind: ConsentKind) -> bool:
    return session.scalars(
        select(Consent.id).where(Consent.account_id == account_id, Consent.kind == kind.value,
                                 Consent.withdrawn_at.is_(None)).limit(1)
    ).first() is not None


def set_preferences(c: Container, account_id: int, *, elderly_mode: bool | None) -> None:
    with c.db.transaction() as session:
        account = session.get(UserAccount, account_id)
        if account is None:
            raise NotFound()
        if elderly_mode is not None:
            account.elderly_mode = elderly_mode


# ---------------------------------------------------------------- staff and service clients


def create_staff(c: Container, phone: str, role: Role, display_name: str) -> UserAccount:
    """Staff accounts come only from the command line, never from self-sign-up."""
    phone = check_phone(phone)
    if not role.is_staff:
        raise InvalidInput("只能创建工作人员账号")
    with c.db.transaction() as session:
        account = session.scalars(select(UserAccount).where(UserAccount.phone_is(phone))).first()
        if account is None:
            account = UserAccount(phone=phone, created_at=c.clock.now(), role=role.value,
                                  display_name=display_name)
            session.add(account)
        else:
            account.role, account.display_name = role.value, display_name
        session.flush()
        audit.record(session, c.clock, AuditEntry(
            action="staff.create", actor=AuditActor(client="cli"), object_type="account",
            object_id=str(account.id), details={"role": role.value},
        ))
        return account

"""Marshmallow schemas of the identity API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from marshmallow import Schema, fields, validate

from huiminbao.audit.consents import CONSENT_TEXTS, ConsentKind
from huiminbao.audit.models import Consent
from huiminbao.core.idnumber import age_on
from huiminbao.core.masking import mask_id_number, mask_name, mask_phone
from huiminbao.core.responses import Label, Masked, ResponseSchema
from huiminbao.identity.domain import BindingVerification, Role
from huiminbao.identity.models import Person, UserAccount
from huiminbao.identity.services import Profile

_PHONE = validate.Regexp(r"^1[3-9]\d{9}$", error="请输入11位手机号码")
_CODE = validate.Regexp(r"^\d{6}$", error="请输入6位数字验证码")


class OtpRequestSchema(Schema):
    phone = fields.String(required=True, validate=_PHONE)


class OtpSentSchema(ResponseSchema):
    phone = fields.String(metadata={"description": "masked"})
    expires_at = fields.DateTime()
    resend_after_seconds = fields.Integer()


class AgreedVersionsSchema(Schema):
    user_agreement = fields.String(load_default=None, validate=validate.Length(max=20))
    privacy_policy = fields.String(load_default=None, validate=validate.Length(max=20))


class LoginSchema(Schema):
    phone = fields.String(required=True, validate=_PHONE)
    code = fields.String(required=True, validate=_CODE)
    agreements = fields.Nested(
        lambda: AgreedVersionsSchema(), load_default=dict,
        metadata={"description": "the versions of 用户协议 and 隐私政策 ticked on the login page; "
                                 "needed until the account has accepted the current ones"})


@dataclass(frozen=True)
class Me:
    """What ``/me`` answers: the caller's profile as of ``today``, with this session's CSRF
    token (cookie sessions) and whether a face / eID check is offered."""

    profile: Profile
    today: date
    csrf_token: str | None = None
    identity_check_available: bool = False

    @property
    def account(self) -> UserAccount:
        return self.profile.account

    @property
    def consents(self) -> list[Consent]:
        return self.profile.consents

    @property
    def identity(self) -> _Identity:
        return _Identity(self)


@dataclass(frozen=True)
class _Identity:
    """The binding part of ``Me``: every key present, null when nothing is bound."""

    me: Me

    @property
    def _person(self) -> Person | None:
        return self.me.profile.person

    @property
    def _verified_by(self) -> BindingVerification | None:
        by = self.me.account.binding_verified_by
        return BindingVerification(by) if self._person is not None and by else None

    @property
    def bound(self) -> bool:
        return self._person is not None

    @property
    def person_id(self) -> int | None:
        return self._person.id if self._person else None

    @property
    def name(self) -> str | None:
        return self._person.name if self._person else None

    @property
    def id_number(self) -> str | None:
        return self._person.id_number if self._person else None

    @property
    def birth_date_year(self) -> int | None:
        return self._person.birth_date.year if self._person else None

    @property
    def age(self) -> int | None:
        return age_on(self._person.birth_date, self.me.today) if self._person else None

    @property
    def sex(self) -> str | None:
        return self._person.sex if self._person else None

    @property
    def verified(self) -> bool:
        return self._verified_by is not None

    @property
    def verified_by(self) -> str | None:
        return self._verified_by.value if self._verified_by else None

    @property
    def verified_by_label(self) -> str | None:
        return self._verified_by.label if self._verified_by else None

    @property
    def verified_at(self) -> datetime | None:
        return self.me.account.binding_verified_at if self._verified_by else None

    @property
    def identity_check_available(self) -> bool:
        return self.me.identity_check_available


class IdentityView(ResponseSchema):
    bound = fields.Boolean()
    person_id = fields.Integer(allow_none=True)
    name = Masked(mask_name, allow_none=True, metadata={"description": "masked: 张*三"})
    id_number = Masked(mask_id_number, allow_none=True, metadata={"description": "masked"})
    birth_date_year = fields.Integer(allow_none=True)
    age = fields.Integer(allow_none=True)
    sex = fields.String(allow_none=True)
    verified = fields.Boolean(metadata={
        "description": "the binding is proven; only then are personal accounts seen or spent"})
    verified_by = fields.String(allow_none=True, metadata={
        "description": "registry_phone | identity_check | counter"})
    verified_by_label = fields.String(allow_none=True)
    verified_at = fields.DateTime(allow_none=True)
    identity_check_available = fields.Boolean(metadata={
        "description": "a face / eID check is offered (POST /me/identity/check)"})


class ConsentView(ResponseSchema):
    """A consent record as it is stored."""

    kind = fields.String()
    title = Label(lambda kind: CONSENT_TEXTS[ConsentKind(kind)].title, source="kind")
    text_version = fields.String()
    granted_at = fields.DateTime()
    withdrawn_at = fields.DateTime(allow_none=True)


class MeSchema(ResponseSchema):
    """Dumps a ``Me``."""

    account_id = fields.Integer(attribute="account.id")
    phone = Masked(mask_phone, attribute="account.phone",
                   metadata={"description": "masked: 138****5678"})
    role = fields.String(attribute="account.role")
    role_label = Label(Role, source="account.role")
    elderly_mode = fields.Boolean(attribute="account.elderly_mode")
    identity = fields.Nested(IdentityView)
    consents = fields.List(fields.Nested(ConsentView))
    csrf_token = fields.String(
        allow_none=True,
        metadata={"description": "send as X-CSRF-Token on unsafe requests made with the cookie"},
    )


class LoginResultSchema(ResponseSchema):
    access_token = fields.String()
    token_type = fields.String()
    expires_at = fields.DateTime()
    csrf_token = fields.String()
    me = fields.Nested(MeSchema)


class BindConsentsSchema(Schema):
    # Not required here: a missing consent is answered by the service as consent_required,
    # naming the text to agree to.
    personal_info = fields.String(load_default=None, metadata={"description": "version agreed"})
    sensitive_info = fields.String(load_default=None, metadata={"description": "version agreed"})


class BindIdentitySchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=64, error="请输入姓名"))
    id_number = fields.String(
        required=True, validate=validate.Length(min=1, max=32, error="请输入身份证号码")
    )
    consents = fields.Nested(BindConsentsSchema, required=True)
    check_ticket = fields.String(load_default=None, allow_none=True, validate=validate.Length(
        max=2048, error="核验凭证格式不正确"), metadata={
        "description": "a passed face / eID check (POST /me/identity/check): binds verified"})


class IdentityCheckRequestSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=64, error="请输入姓名"))
    id_number = fields.String(
        required=True, validate=validate.Length(min=1, max=32, error="请输入身份证号码")
    )


class IdentityCheckStartSchema(ResponseSchema):
    ticket = fields.String(metadata={"description": "send back as check_ticket once taken"})
    url = fields.String(allow_none=True, metadata={
        "description": "the verification service's page; null for the demo simulator"})
    simulated = fields.Boolean(metadata={"description": "the demo simulator (demo mode only)"})
    expires_at = fields.DateTime()


class ConsentTextSchema(ResponseSchema):
    kind = fields.String()
    version = fields.String()
    title = fields.String()
    body = fields.String()
    stops = fields.List(fields.String(), metadata={
        "description": "what withdrawing this consent stops (issued policies stay valid)"})


class ConsentTextListSchema(ResponseSchema):
    items = fields.List(fields.Nested(ConsentTextSchema))


class AgreementTextSchema(ResponseSchema):
    document = fields.String(metadata={"description": "user_agreement | privacy_policy"})
    version = fields.String()
    title = fields.String()
    body = fields.String()


class AgreementTextListSchema(ResponseSchema):
    items = fields.List(fields.Nested(AgreementTextSchema))


class ConsentGrantSchema(Schema):
    version = fields.String(required=True)


class PreferencesSchema(Schema):
    elderly_mode = fields.Boolean(load_default=None)
    language = fields.String(load_default=None, validate=validate.OneOf(
        ["zh-CN"], error="目前仅支持简体中文"
    ))


class SmsMessageSchema(ResponseSchema):
    phone = fields.String()
    text = fields.String()
    created_at = fields.DateTime()


class SmsListSchema(ResponseSchema):
    items = fields.List(fields.Nested(SmsMessageSchema))


class SmsQuerySchema(Schema):
    phone = fields.String(required=True, validate=_PHONE)


# ---------------------------------------------------------------- the person's data (PIPL)


class ExportQuerySchema(Schema):
    download = fields.Boolean(load_default=False, metadata={
        "description": "true: answer as a file (Content-Disposition: attachment)"})


# What the export holds, as `identity/export.py` writes it: times as ISO 8601 text, people as
# masked names (本人 for the caller), statuses with their Chinese labels.
_WHEN = {"format": "date-time"}


class ExportAccountSchema(ResponseSchema):
    phone = fields.String(metadata={"description": "masked"})
    role = fields.String()
    created_at = fields.String(allow_none=True, metadata=_WHEN)
    last_login_at = fields.String(allow_none=True, metadata=_WHEN)
    wechat_linked = fields.Boolean()
    elderly_mode = fields.Boolean()


class ExportIdentitySchema(ResponseSchema):
    bound = fields.Boolean()
    bound_at = fields.String(allow_none=True, metadata=_WHEN)
    person_id = fields.Integer()
    name = fields.String(metadata={"description": "masked"})
    id_number = fields.String(metadata={"description": "masked"})
    birth_year = fields.Integer()
    sex = fields.String()


class ExportAgreementSchema(ResponseSchema):
    document = fields.String(metadata={"description": "user_agreement | privacy_policy"})
    title = fields.String()
    version = fields.String()
    accepted_at = fields.String(metadata=_WHEN)


class ExportConsentSchema(ResponseSchema):
    kind = fields.String()
    title = fields.String()
    text_version = fields.String()
    granted_at = fields.String(allow_none=True, metadata=_WHEN)
    withdrawn_at = fields.String(allow_none=True, metadata=_WHEN)
    needed_for = fields.List(fields.String())


class ExportFamilyMemberSchema(ResponseSchema):
    relation = fields.String()
    name = fields.String(allow_none=True, metadata={"description": "masked"})
    id_number = fields.String(allow_none=True, metadata={"description": "masked"})
    verification = fields.String()
    added_at = fields.String(allow_none=True, metadata=_WHEN)
    verified_at = fields.String(allow_none=True, metadata=_WHEN)
    removed_at = fields.String(allow_none=True, metadata=_WHEN)


class ExportPolicySchema(ResponseSchema):
    policy_no = fields.String()
    product = fields.String(allow_none=True)
    tier = fields.String()
    insured = fields.String(allow_none=True)
    holder = fields.String(allow_none=True)
    payer = fields.String(allow_none=True)
    status = fields.String()
    status_label = fields.String()
    premium_fen = fields.Integer()
    subsidy_fen = fields.Integer()
    coverage_starts_on = fields.String(metadata={"format": "date"})
    coverage_ends_on = fields.String(metadata={"format": "date"})
    issued_at = fields.String(allow_none=True, metadata=_WHEN)
    cancelled_at = fields.String(allow_none=True, metadata=_WHEN)
    auto_renew = fields.Boolean()


class ExportOrderSchema(ResponseSchema):
    order_no = fields.String()
    product = fields.String(allow_none=True)
    status = fields.String()
    status_label = fields.String()
    payment_method = fields.String()
    channel = fields.String()
    for_ = fields.String(data_key="for", attribute="for", allow_none=True)
    payer = fields.String(allow_none=True)
    insured = fields.List(fields.String(allow_none=True))
    premium_fen = fields.Integer()
    subsidy_fen = fields.Integer()
    payable_fen = fields.Integer()
    refunded_fen = fields.Integer()
    created_at = fields.String(allow_none=True, metadata=_WHEN)
    paid_at = fields.String(allow_none=True, metadata=_WHEN)
    closed_at = fields.String(allow_none=True, metadata=_WHEN)
    acted_for_grant_id = fields.Integer(allow_none=True)


class ExportClaimSchema(ResponseSchema):
    claim_no = fields.String()
    status = fields.String()
    status_label = fields.String()
    channel = fields.String()
    for_self = fields.Boolean()
    hospital = fields.String()
    admitted_on = fields.String(metadata={"format": "date"})
    discharged_on = fields.String(metadata={"format": "date"})
    claimed_fen = fields.Integer()
    payout_fen = fields.Integer(allow_none=True)
    created_at = fields.String(allow_none=True, metadata=_WHEN)
    decided_at = fields.String(allow_none=True, metadata=_WHEN)
    paid_at = fields.String(allow_none=True, metadata=_WHEN)
    documents = fields.Integer(metadata={"description": "how many were uploaded"})


class ExportGrantSchema(ResponseSchema):
    id = fields.Integer()
    agent = fields.String(allow_none=True, metadata={"description": "grants given only"})
    principal = fields.String(allow_none=True, metadata={"description": "grants received only"})
    scopes = fields.List(fields.String())
    status = fields.String()
    status_label = fields.String()
    created_at = fields.String(allow_none=True, metadata=_WHEN)
    confirmed_at = fields.String(allow_none=True, metadata=_WHEN)
    confirmed_method = fields.String(allow_none=True)
    valid_until = fields.String(allow_none=True, metadata=_WHEN)
    ended_at = fields.String(allow_none=True, metadata=_WHEN)


class ExportRecordsAuthorizationSchema(ResponseSchema):
    id = fields.Integer()
    for_ = fields.String(attribute="for", data_key="for", allow_none=True, metadata={
        "description": "whose records: 本人, or the masked name of the one the caller acted for"})
    period_from = fields.String(metadata={"format": "date"})
    period_to = fields.String(metadata={"format": "date"})
    status_label = fields.String()
    granted_at = fields.String(metadata=_WHEN)
    granted_by = fields.String(metadata={"description": "本人, 亲友代办（masked name）, ..."})
    revoked_at = fields.String(allow_none=True, metadata=_WHEN)
    revoked_by = fields.String(allow_none=True)


class GrantsExportSchema(ResponseSchema):
    given = fields.List(fields.Nested(ExportGrantSchema))
    received = fields.List(fields.Nested(ExportGrantSchema))


class ExportReplySchema(ResponseSchema):
    at = fields.String(allow_none=True, metadata=_WHEN)
    message = fields.String()
    by = fields.String()


class ExportComplaintSchema(ResponseSchema):
    complaint_no = fields.String()
    category = fields.String()
    status = fields.String()
    status_label = fields.String()
    content = fields.String()
    policy_no = fields.String(allow_none=True)
    claim_no = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True, metadata=_WHEN)
    resolved_at = fields.String(allow_none=True, metadata=_WHEN)
    replies = fields.List(fields.Nested(ExportReplySchema))


class ExportAuditSchema(ResponseSchema):
    occurred_at = fields.String(allow_none=True, metadata=_WHEN)
    action = fields.String()
    label = fields.String()
    outcome = fields.String()
    outcome_label = fields.String()
    by = fields.String()
    about_me = fields.Boolean()
    grant_id = fields.Integer(allow_none=True)
    object_type = fields.String(allow_none=True)
    object_id = fields.String(allow_none=True)
    details = fields.Dict(keys=fields.String(), metadata={
        "description": "what the audited act recorded; differs per action"})


class DataExportSchema(ResponseSchema):
    generated_at = fields.String(metadata=_WHEN)
    account = fields.Nested(ExportAccountSchema)
    identity = fields.Nested(ExportIdentitySchema)
    agreements = fields.List(fields.Nested(ExportAgreementSchema), metadata={
        "description": "the versions of 用户协议 and 隐私政策 accepted at login, newest first"})
    consents = fields.List(fields.Nested(ExportConsentSchema))
    family_members = fields.List(fields.Nested(ExportFamilyMemberSchema))
    policies = fields.List(fields.Nested(ExportPolicySchema))
    orders = fields.List(fields.Nested(ExportOrderSchema))
    claims = fields.List(fields.Nested(ExportClaimSchema))
    records_authorizations = fields.List(fields.Nested(ExportRecordsAuthorizationSchema),
                                         metadata={"description": "authorizations to read 医保 "
                                                   "settlement records, newest first"})
    proxy_grants = fields.Nested(GrantsExportSchema)
    complaints = fields.List(fields.Nested(ExportComplaintSchema))
    audit_trail = fields.List(fields.Nested(ExportAuditSchema))
    retention = fields.String()


class DeletionPlanSchema(ResponseSchema):
    removed = fields.List(fields.String())
    kept = fields.List(fields.String())
    kept_how = fields.String()
    blockers = fields.List(fields.String())
    allowed = fields.Boolean()


class DeletionRequestSchema(Schema):
    confirm = fields.Boolean(required=True, validate=validate.Equal(
        True, error="请确认已了解注销的后果"))

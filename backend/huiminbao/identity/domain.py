"""Pure identity rules: roles, actions, one-time codes and the authorization decision."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

OTP_LENGTH = 6
OTP_TTL = timedelta(minutes=5)
OTP_MAX_WRONG_ATTEMPTS = 5  # the 6th wrong attempt voids the code
SESSION_TTL = timedelta(days=7)
ACCESS_TOKEN_TTL = timedelta(minutes=15)
RECENT_AUTHENTICATION = timedelta(minutes=10)

_MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")


class Role(StrEnum):
    RESIDENT = "resident"
    COUNTER_STAFF = "counter_staff"  # 经办窗口
    INSURER_STAFF = "insurer_staff"  # 承保机构
    ADMIN = "admin"  # 运营管理

    @property
    def is_staff(self) -> bool:
        return self is not Role.RESIDENT

    @property
    def label(self) -> str:
        return {
            Role.RESIDENT: "参保人", Role.COUNTER_STAFF: "窗口经办人员",
            Role.INSURER_STAFF: "保险公司工作人员", Role.ADMIN: "系统管理员",
        }[self]


class OtpPurpose(StrEnum):
    LOGIN = "login"
    CONFIRM_PAYMENT = "confirm_payment"  # a fresh code before a personal-account debit
    VERIFY_RELATIVE = "verify_relative"
    PROXY_GRANT = "proxy_grant"
    COMPLAINT = "complaint"  # a complaint filed without an account
    POLICY_LOOKUP = "policy_lookup"  # 保单查询 without an account (enrollment/lookup.py)


class BindingVerification(StrEnum):
    """How a real-name binding was proven (DESIGN §2.11): knowing a name and an ID number is
    not enough to see or spend a personal account."""

    REGISTRY_PHONE = "registry_phone"  # the login phone is the one the registry holds
    IDENTITY_CHECK = "identity_check"  # face / eID verification service
    COUNTER = "counter"  # counter staff saw the ID card in person

    @property
    def label(self) -> str:
        return {
            BindingVerification.REGISTRY_PHONE: "医保登记手机号核验",
            BindingVerification.IDENTITY_CHECK: "刷脸核验",
            BindingVerification.COUNTER: "柜台核验",
        }[self]


def may_displace(*, holder_verified: bool, claimant_verified: bool) -> bool:
    """Whether a new binding of a person takes the person from the account holding them now:
    only a verified binding, and only from an unverified one."""
    return claimant_verified and not holder_verified


class Action(StrEnum):
    """What may be done to a person's data; the gate decides per actor and subject."""

    VIEW_PROFILE = "view_profile"
    VIEW_POLICIES = "view_policies"
    ENROLL = "enroll"
    CANCEL_POLICY = "cancel_policy"
    VIEW_ACCOUNT = "view_account"
    PAY_FROM_ACCOUNT = "pay_from_account"
    MANAGE_FAMILY = "manage_family"
    SUBMIT_CLAIMS = "submit_claims"
    VIEW_CLAIMS = "view_claims"
    REVIEW_CLAIMS = "review_claims"
    FILE_COMPLAINTS = "file_complaints"
    COUNTER_SERVICE = "counter_service"
    MANAGE_PRODUCTS = "manage_products"


# What each staff role may do for any person; residents act only for themselves (or by grant).
STAFF_PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.RESIDENT: frozenset(),
    Role.COUNTER_STAFF: frozenset({
        Action.VIEW_PROFILE, Action.VIEW_POLICIES, Action.ENROLL, Action.COUNTER_SERVICE,
    }),
    Role.INSURER_STAFF: frozenset({
        Action.VIEW_POLICIES, Action.VIEW_CLAIMS, Action.REVIEW_CLAIMS,
    }),
    Role.ADMIN: frozenset({
        Action.VIEW_POLICIES, Action.VIEW_CLAIMS, Action.REVIEW_CLAIMS, Action.MANAGE_PRODUCTS,
        Action.COUNTER_SERVICE,
    }),
}


class Basis(StrEnum):
    """Why the gate allowed an act; recorded in the audit log."""

    SELF = "self"
    STAFF_ROLE = "staff_role"
    PROXY_GRANT = "proxy_grant"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    basis: Basis | None = None
    grant_id: int | None = None

    @classmethod
    def deny(cls) -> Decision:
        return cls(allowed=False)


def decide(
    *,
    actor_person_id: int | None,
    actor_role: Role,
    action: Action,
    subject_person_id: int | None,
    grant_id: int | None = None,
) -> Decision:
    """The authorization rule, without I/O: self, then staff role, then a proxy grant that the
    caller has already found to be active and of the right scope (``grant_id``)."""
    if subject_person_id is not None and actor_person_id == subject_person_id:
        return Decision(True, Basis.SELF)
    if action in STAFF_PERMISSIONS[actor_role]:
        return Decision(True, Basis.STAFF_ROLE)
    if grant_id is not None:
        return Decision(True, Basis.PROXY_GRANT, grant_id)
    return Decision.deny()


def is_mainland_mobile(phone: str) -> bool:
    return bool(_MAINLAND_MOBILE.fullmatch(phone))


def new_otp_code() -> str:
    return f"{secrets.randbelow(10**OTP_LENGTH):0{OTP_LENGTH}d}"


def hash_secret(secret_key: str, value: str) -> str:
    """Keyed hash for codes and tokens at rest: a stolen table reveals neither."""
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def same_secret(secret_key: str, value: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret_key, value), stored_hash)


@dataclass(frozen=True)
class OtpState:
    expires_at: datetime
    wrong_attempts: int
    consumed: bool
    voided: bool

    def usable_at(self, now: datetime) -> bool:
        return not self.consumed and not self.voided and now < self.expires_at

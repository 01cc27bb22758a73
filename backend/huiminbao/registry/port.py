"""The port to the basic-insurance registry: persons, personal accounts, family relations and
money operations keyed by request number.

The registry is remote in production. Every money operation carries the caller's request number;
repeating a request number never moves money twice, and an operation whose outcome the caller did
not learn is resolved with ``query(request_no)``, never by sending a new request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from huiminbao.core.errors import RemoteUnavailable


class Scheme(StrEnum):
    EMPLOYEE = "employee"  # 职工医保: has a personal account
    RESIDENT = "resident"  # 城乡居民医保: no personal account


class PersonStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Assistance(StrEnum):
    NONE = "none"
    TEKUN = "tekun"  # 特困
    DIBAO = "dibao"  # 低保
    DIBIAN = "dibian"  # 低边
    DISABLED = "disabled"  # 残疾人


class Relation(StrEnum):
    """What the relative is to the person: ``parent`` means the relative is the person's parent."""

    SPOUSE = "spouse"
    CHILD = "child"
    PARENT = "parent"

    @property
    def inverse(self) -> Relation:
        return {Relation.SPOUSE: Relation.SPOUSE, Relation.CHILD: Relation.PARENT,
                Relation.PARENT: Relation.CHILD}[self]


class BalanceKind(StrEnum):
    PRIOR_YEARS = "prior_years"  # 历年账户
    CURRENT_YEAR = "current_year"  # 当年账户


class OperationKind(StrEnum):
    DEBIT = "debit"
    REFUND = "refund"


class OperationStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class FailureReason(StrEnum):
    INSUFFICIENT_BALANCE = "insufficient_balance"
    NO_ACCOUNT = "no_account"
    ACCOUNT_SUSPENDED = "account_suspended"
    NOTHING_TO_REFUND = "nothing_to_refund"
    UNKNOWN_ORIGINAL = "unknown_original"


@dataclass(frozen=True)
class RegistryPerson:
    id_number: str
    name: str
    phone: str | None
    city_code: str
    scheme: Scheme
    status: PersonStatus
    assistance: Assistance
    # The district (区、县(市)) the person's basic insurance belongs to, when the registry says.
    district_code: str | None = None
    # Already insured by another policy-based poverty-relief insurance (003 三(三)3: 择一).
    other_relief_insurance: bool = False


@dataclass(frozen=True)
class DistrictCounts:
    """Persons by the district (区、县(市)) their basic insurance belongs to, as the registry
    records it: ``counts`` by district code, and ``without_district`` the ID numbers (as the
    caller gave them) of persons it has no district for or does not know."""

    counts: dict[str, int]
    without_district: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccountBalance:
    id_number: str
    prior_years_fen: int
    current_year_fen: int

    def available(self, sources: Sequence[BalanceKind]) -> int:
        return sum(self.of(kind) for kind in set(sources))

    def of(self, kind: BalanceKind) -> int:
        return self.prior_years_fen if kind is BalanceKind.PRIOR_YEARS else self.current_year_fen


@dataclass(frozen=True)
class PersonsAndBalances:
    """One batch lookup's answer: the persons the registry knows, and the personal-account
    balances asked for alongside (by ID number; a person without an account is absent)."""

    persons: dict[str, RegistryPerson]
    balances: dict[str, AccountBalance]


@dataclass(frozen=True)
class AccountEntry:
    """One append-only movement of one balance; ``amount_fen`` is negative for a debit."""

    request_no: str
    kind: OperationKind
    balance_kind: BalanceKind
    amount_fen: int
    balance_after_fen: int
    purpose: str
    occurred_at: datetime


@dataclass(frozen=True)
class FamilyLink:
    relative_id_number: str
    relation: Relation


@dataclass(frozen=True)
class PriorDiagnosis:
    """A diagnosis (ICD-10 code) in the person's settlement records and the day it was first
    recorded. Health data: never logged, never shown in a list."""

    code: str
    diagnosed_on: date


class VisitType(StrEnum):
    """What a settlement (结算) was for."""

    INPATIENT = "inpatient"  # 住院
    OUTPATIENT = "outpatient"  # 普通门诊
    OUTPATIENT_SPECIAL = "outpatient_special"  # 门诊特殊病、慢性病（门特/门慢）
    PHARMACY = "pharmacy"  # 定点药店购药（特药）


@dataclass(frozen=True)
class SettledItem:
    """One listed item outside basic insurance (医保范围外) on a settlement."""

    code: str
    name: str
    amount_fen: int


@dataclass(frozen=True)
class SettlementRecord:
    """One visit's settlement (医保结算记录) as the registry holds it: the in-policy amount the
    patient still paid (医保范围内个人负担), the listed out-of-policy items, the drugs' codes and
    the diagnoses (ICD-10). Health data: read only under the person's authorization, never
    logged."""

    record_no: str  # the registry's settlement number (结算流水号)
    visit_type: VisitType
    visit_date: date  # the visit, or the stay's admission day
    end_date: date  # the same day for a visit; the discharge day for a stay
    hospital_name: str  # the hospital or designated pharmacy
    in_policy_self_pay_fen: int
    items: tuple[SettledItem, ...] = ()
    drug_codes: tuple[str, ...] = ()
    diagnosis_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class OperationResult:
    request_no: str
    kind: OperationKind
    status: OperationStatus
    id_number: str
    amount_fen: int
    failure_reason: FailureReason | None = None
    # How much each balance gave (debit) or got back (refund).
    by_balance: dict[BalanceKind, int] = field(default_factory=dict)
    occurred_at: datetime | None = None
    original_request_no: str | None = None  # a refund's debit


    @property
    def succeeded(self) -> bool:
        return self.status is OperationStatus.SUCCEEDED


class RegistryError(Exception):
    """Base class of registry failures that are not an answer about the operation itself."""


class RequestNumberReused(RegistryError):
    """The request number was already used for a different operation (other person or amount)."""


class RegistryUnavailable(RegistryError, RemoteUnavailable):
    """The outcome is unknown (timeout, connection lost): resolve it with ``query``."""


class RegistryPort(Protocol):
    def find_person(self, id_number: str) -> RegistryPerson | None: ...

    def find_persons(self, id_numbers: Sequence[str]) -> dict[str, RegistryPerson]: ...

    def contact_matches(self, id_number: str, phone: str) -> bool:
        """Whether ``phone`` is the phone the registry has on file for this person. Answers yes
        or no only: the registry never gives the phone itself out."""
        ...

    def relations(self, id_number: str) -> list[FamilyLink]: ...

    def prior_diagnoses(self, id_number: str, before: date) -> list[PriorDiagnosis]:
        """The person's diagnoses first recorded before ``before`` (a policy's coverage start),
        oldest first; [] for a person the registry does not know. Asked only to apply a
        product's pre-existing-condition terms to a claim or an estimate."""
        ...

    def settlements(self, id_number: str, since: date, until: date) -> list[SettlementRecord]:
        """The person's settlements whose visit date lies in ``[since, until]`` (both days
        included), oldest first; [] for a person the registry does not know. Asked only under
        the person's recorded authorization for that period (claims from records)."""
        ...

    def balance(self, id_number: str) -> AccountBalance | None: ...

    def persons_and_balances(self, id_numbers: Sequence[str],
                             balances_of: Sequence[str]) -> PersonsAndBalances:
        """``find_persons(id_numbers)`` and ``balance`` of each of ``balances_of``, in one
        exchange: a quote paid from a personal account needs both, so does the relatives list.
        Ask for a balance only where the caller may see it (a verified binding)."""
        ...

    def entries(self, id_number: str) -> list[AccountEntry]: ...

    def debit(
        self,
        request_no: str,
        id_number: str,
        amount_fen: int,
        *,
        sources: Sequence[BalanceKind],
        purpose: str,
    ) -> OperationResult:
        """Take ``amount_fen`` from the named balances, in order, all or nothing."""
        ...

    def refund(
        self, request_no: str, original_request_no: str, amount_fen: int, *, purpose: str
    ) -> OperationResult:
        """Give back (part of) what the original debit took, less earlier refunds, to its source."""
        ...

    def query(self, request_no: str) -> OperationResult | None:
        """The recorded outcome of a request number, or None if it never arrived."""
        ...

    def statement(self, since: datetime | None = None,
                  until: datetime | None = None) -> list[OperationResult]:
        """The registry's statement (对账单): every successful debit and refund that occurred in
        ``[since, until)`` (all of them when unbounded), oldest first. Reconciliation reads it to
        find money that moved without an order of ours to show for it."""
        ...

    def accounts_out_of_balance(self) -> list[str]:
        """Accounts (masked ID numbers) whose balances differ from the sum of their entries.
        Reconciliation asks every registry; one whose books are not ours to read answers []."""
        ...

    def scheme_counts(self, id_numbers: Sequence[str]) -> dict[Scheme, int]:
        """How many of the persons with these ID numbers are in each scheme: an aggregate for
        public statistics, so that no row per person has to leave the registry. An ID number
        given more than once counts once; numbers the registry does not know are left out (the
        caller counts them as unknown). Large sets go in batches of the caller's choosing."""
        ...

    def district_counts(self, id_numbers: Sequence[str]) -> DistrictCounts:
        """How many of the persons with these ID numbers belong to each district: an aggregate
        for public statistics like ``scheme_counts``. An ID number given more than once counts
        once; the numbers of persons without a district, or unknown, come back as given."""
        ...

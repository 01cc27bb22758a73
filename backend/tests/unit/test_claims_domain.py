"""Claim rules without a database: the status machine as a table, decisions, the texts sent to
claimants, document checks by content, and hospitals' request signatures."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from huiminbao.claims import signing
from huiminbao.claims.domain import (
    APPEAL_REFUSALS,
    INITIAL_STATUSES,
    TRANSITIONS,
    AppealState,
    ApprovalStep,
    ClaimStatus,
    Decision,
    Reviewer,
    SecondDecider,
    appeal_outcome_message,
    appeal_problem,
    appeal_reason_problem,
    appeal_state,
    approval_step,
    claim_no,
    claimant_text,
    decision_message,
    decision_path,
    outside_insurers,
    second_decision_refusal,
    stay_problem,
    transition,
)
from huiminbao.claims.storage import (
    JPEG,
    PDF,
    PNG,
    LocalDocumentStore,
    UnacceptableDocument,
    check_document,
    documents_dir,
    new_document_key,
    safe_filename,
)
from huiminbao.core.config import Settings
from huiminbao.core.states import InvalidTransition
from huiminbao.identity.sms import check_sms_text
from tests.api.test_claims_support import image_bytes

S = ClaimStatus
ALLOWED = [
    (S.SUBMITTED, S.UNDER_REVIEW),
    (S.UNDER_REVIEW, S.SUPPLEMENT_REQUESTED),
    (S.SUPPLEMENT_REQUESTED, S.UNDER_REVIEW),
    (S.UNDER_REVIEW, S.APPROVED),
    (S.UNDER_REVIEW, S.REJECTED),
    (S.APPROVED, S.PAID),
    # The claimant's one appeal, and its decision by a second insurer.
    (S.REJECTED, S.APPEALED),
    (S.APPEALED, S.APPROVED),
    (S.APPEALED, S.REJECTED),
]
FORBIDDEN = [pair for pair in itertools.product(ClaimStatus, repeat=2) if pair not in ALLOWED]


@pytest.mark.parametrize(("current", "target"), ALLOWED, ids=lambda s: s.value)
def test_every_allowed_transition_passes(current: ClaimStatus, target: ClaimStatus) -> None:
    assert transition(current, target) is target


@pytest.mark.parametrize(("current", "target"), FORBIDDEN, ids=lambda s: s.value)
def test_every_other_transition_raises(current: ClaimStatus, target: ClaimStatus) -> None:
    with pytest.raises(InvalidTransition):
        transition(current, target)


def test_the_table_is_exactly_the_allowed_pairs() -> None:
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == set(ALLOWED)
    assert {S.SUBMITTED, S.SETTLED} == INITIAL_STATUSES
    assert TRANSITIONS[S.SETTLED] == frozenset()  # settled directly, nothing follows
    assert all(status.label for status in ClaimStatus)


@pytest.mark.parametrize(
    ("current", "decision", "path"),
    [
        (S.SUBMITTED, Decision.START_REVIEW, [S.UNDER_REVIEW]),
        (S.SUBMITTED, Decision.APPROVE, [S.UNDER_REVIEW, S.APPROVED]),
        (S.SUBMITTED, Decision.REQUEST_SUPPLEMENT, [S.UNDER_REVIEW, S.SUPPLEMENT_REQUESTED]),
        (S.UNDER_REVIEW, Decision.REJECT, [S.REJECTED]),
        (S.SUPPLEMENT_REQUESTED, Decision.APPROVE, [S.UNDER_REVIEW, S.APPROVED]),
        (S.APPROVED, Decision.MARK_PAID, [S.PAID]),
        (S.APPEALED, Decision.APPROVE, [S.APPROVED]),
        (S.APPEALED, Decision.REJECT, [S.REJECTED]),
    ],
)
def test_decision_paths(current: ClaimStatus, decision: Decision, path: list[ClaimStatus]) -> None:
    assert decision_path(current, decision) == path


@pytest.mark.parametrize(
    ("current", "decision"),
    [(S.SUBMITTED, Decision.MARK_PAID), (S.UNDER_REVIEW, Decision.MARK_PAID),
     (S.PAID, Decision.APPROVE), (S.REJECTED, Decision.APPROVE), (S.SETTLED, Decision.REJECT),
     (S.APPROVED, Decision.REJECT), (S.UNDER_REVIEW, Decision.START_REVIEW),
     (S.PAID, Decision.MARK_PAID), (S.APPEALED, Decision.REQUEST_SUPPLEMENT),
     (S.APPEALED, Decision.START_REVIEW), (S.APPEALED, Decision.MARK_PAID)],
)
def test_impossible_decisions_raise(current: ClaimStatus, decision: Decision) -> None:
    with pytest.raises(InvalidTransition):
        decision_path(current, decision)


def test_reasons_are_required_for_reject_and_supplement_only() -> None:
    assert {d for d in Decision if d.needs_message} == {Decision.REJECT,
                                                         Decision.REQUEST_SUPPLEMENT}
    assert decision_message(S.REJECTED, None, "发票不清晰") == (
        "经审核，您的理赔申请未予赔付。原因：发票不清晰")
    assert decision_message(S.SUPPLEMENT_REQUESTED, None, "请上传出院小结").startswith(
        "请补充以下理赔材料")


@pytest.mark.parametrize("status", list(ClaimStatus))
def test_claimant_texts_carry_no_id_number_and_point_to_the_app(status: ClaimStatus) -> None:
    number = claim_no(datetime(2027, 3, 20, 2, tzinfo=UTC))
    text = claimant_text(status, number, 1_150_000)
    check_sms_text(text)  # raises on anything that looks like an ID number
    assert number in text and "登录" in text
    assert not re.search(r"\d{17}[\dXx]", text)
    assert "医院" not in text  # a hospital's name can reveal the illness


def test_the_supplement_text_is_the_one_from_the_issue() -> None:
    assert claimant_text(S.SUPPLEMENT_REQUESTED, "LP2027032012345678", None) == (
        "您的理赔申请（编号LP2027032012345678）需要补充材料：请登录查看")


def test_claim_numbers_look_right() -> None:
    number = claim_no(datetime(2027, 3, 20, 2, tzinfo=UTC))
    assert re.fullmatch(r"LP20270320\d{8}", number)


@pytest.mark.parametrize(
    ("admitted", "discharged", "problem"),
    [
        (date(2027, 3, 1), date(2027, 3, 10), None),
        (date(2027, 1, 7), date(2027, 1, 7), None),
        (date(2027, 1, 6), date(2027, 1, 10), "不在保单保障期内"),
        (date(2027, 3, 10), date(2027, 3, 1), "不能早于"),
        (date(2027, 3, 1), date(2027, 3, 21), "不能晚于今天"),
    ],
)
def test_stay_checks(admitted: date, discharged: date, problem: str | None) -> None:
    found = stay_problem(admitted, discharged, date(2027, 1, 7), date(2028, 1, 6),
                         date(2027, 3, 20))
    assert (found is None) if problem is None else (found is not None and problem in found)


# ---------------------------------------------------------------- documents

PDF_BYTES = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
JPEG_BYTES = image_bytes("JPEG")
PNG_BYTES = image_bytes("PNG")


@pytest.mark.parametrize(
    ("filename", "data", "kind"),
    [("发票.pdf", PDF_BYTES, PDF), ("photo.JPG", JPEG_BYTES, JPEG), ("scan.jpeg", JPEG_BYTES, JPEG),
     ("清单.png", PNG_BYTES, PNG), ("无扩展名", PNG_BYTES, PNG), ("blob.bin", PDF_BYTES, PDF)],
)
def test_documents_are_judged_by_content(filename: str, data: bytes, kind: object) -> None:
    assert check_document(filename, data) is kind


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [("发票.pdf", b"MZ\x90\x00 not a pdf", "内容不是有效的 PDF 文件"),
     ("a.png", JPEG_BYTES, "扩展名与内容不符"),
     ("notes.txt", b"hello", "不是有效的 PDF、JPG 或 PNG"),
     ("empty.pdf", b"", "空的"),
     ("big.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024), "10MB")],
)
def test_other_content_is_refused_in_chinese(filename: str, data: bytes, message: str) -> None:
    with pytest.raises(UnacceptableDocument, match=message):
        check_document(filename, data)


def test_file_names_lose_paths_and_control_characters() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\张伟\\发票.pdf") == "发票.pdf"
    assert safe_filename("a\x00b\n.pdf") == "a_b_.pdf"
    assert safe_filename("") == "document"


def test_the_local_store_puts_gets_and_deletes(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path)
    store.put("claims/LP1/abc.pdf", PDF_BYTES, PDF.content_type)
    assert store.get("claims/LP1/abc.pdf") == PDF_BYTES
    store.delete("claims/LP1/abc.pdf")
    with pytest.raises(KeyError):
        store.get("claims/LP1/abc.pdf")
    for bad in ("../outside", "/etc/passwd", "claims/../../x", "a//b"):
        with pytest.raises(ValueError, match="unsafe"):
            store.put(bad, b"x", PDF.content_type)


def test_document_keys_are_random_and_say_nothing() -> None:
    keys = {new_document_key("pdf") for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert re.fullmatch(r"claims/[0-9a-f]{48}\.pdf", key), key
    LocalDocumentStore(Path("/nonexistent"))._path(key)  # a safe key for the local store too
    with pytest.raises(ValueError, match="unsafe"):
        new_document_key("../x")


def test_documents_live_next_to_a_sqlite_database_or_where_configured(tmp_path: Path) -> None:
    assert documents_dir(Settings(database_url=f"sqlite:///{tmp_path}/db.sqlite3")) == (
        tmp_path / "documents")
    assert documents_dir(Settings(extra={"documents_dir": str(tmp_path / "x")})) == tmp_path / "x"


# ---------------------------------------------------------------- signatures

APP_SECRET = "a-test-application-secret-that-is-long-enough"


def test_keys_are_stored_wrapped_and_unwrap_to_themselves() -> None:
    key = signing.new_signing_key()
    wrapped = signing.wrap_key(APP_SECRET, "hc_1", key)
    assert wrapped != key and len(wrapped) == 64
    assert signing.unwrap_key(APP_SECRET, "hc_1", wrapped) == key
    assert signing.unwrap_key("another secret", "hc_1", wrapped) != key
    assert signing.unwrap_key(APP_SECRET, "hc_2", wrapped) != key
    assert signing.unwrap_key(APP_SECRET, "hc_1", "not hex") is None


def test_a_signature_covers_time_method_path_and_body() -> None:
    key = signing.new_signing_key()
    body = b'{"settlement_no":"S1"}'
    signature = signing.sign(key, "1767225600", "POST", "/api/v1/settlements", body)
    assert signing.signature_matches(key, "1767225600", "POST", "/api/v1/settlements", body,
                                     signature.upper())
    for changed in [("1767225601", "POST", "/api/v1/settlements", body),
                    ("1767225600", "PUT", "/api/v1/settlements", body),
                    ("1767225600", "POST", "/api/v1/other", body),
                    ("1767225600", "POST", "/api/v1/settlements", body + b" ")]:
        assert not signing.signature_matches(key, *changed, signature)
    assert not signing.signature_matches(key, "1767225600", "POST", "/api/v1/settlements", body,
                                         "签名")


@pytest.mark.parametrize(
    ("raw", "fresh"),
    [("1767225600", True), ("2026-01-01T00:04:59+00:00", True),
     ("2026-01-01T08:05:00+08:00", True), ("1767225901", False), ("1767225299", False),
     ("2026-01-01T00:00:00", False), ("yesterday", False), ("", False),
     ("999999999999", False), ("9" * 40, False), ("１７６７２２５６００", False)],
)
def test_timestamps_must_be_within_five_minutes(raw: str, fresh: bool) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert now.timestamp() == 1767225600
    assert signing.fresh(raw, now) is fresh
    assert timedelta(minutes=5) == signing.MAX_CLOCK_SKEW


# A PNG or PDF header followed by something else passes a look at the first bytes only.
POLYGLOTS = [
    ("x.png", PNG_BYTES + b"<html><script>alert(1)</script></html>"),
    ("x.png", b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>"),
    ("x.jpg", JPEG_BYTES[:-40] + b"\xff\xd9"),  # truncated: does not decode
    ("x.pdf", b"%PDF-1.4\n<html><body><script>alert(1)</script></body></html>\n%%EOF"),
    ("x.pdf", PDF_BYTES + b"<html>after the end</html>" + b"x" * 2048),
]


@pytest.mark.parametrize(("filename", "data"), POLYGLOTS)
def test_a_document_must_be_whole_and_nothing_else(filename: str, data: bytes) -> None:
    with pytest.raises(UnacceptableDocument, match="不是完整的"):
        check_document(filename, data)


# ---------------------------------------------------------------- contested claims (共保体)


GROUP = ("甲", "乙", "丙")  # a co-insurance group
ALONE = ("甲",)  # one insurer
JIA_1, JIA_2 = Reviewer(1, "甲"), Reviewer(2, "甲")  # two clerks of 甲
JIA_BOSS, JIA_BOSS_2 = Reviewer(3, "甲", supervisor=True), Reviewer(4, "甲", supervisor=True)
YI, YI_BOSS = Reviewer(5, "乙"), Reviewer(6, "乙", supervisor=True)
ADMIN, NOBODY = Reviewer(7), Reviewer(8)  # staff of no insurer
DING = Reviewer(9, "丁")  # staff of an insurer outside every product here


@pytest.mark.parametrize(("payout", "threshold", "first", "approver", "step"), [
    (500_000, None, None, NOBODY, ApprovalStep.FINAL),  # no threshold: nothing is contested
    (500_000, 500_000, None, JIA_1, ApprovalStep.FINAL),  # at the threshold: not above it
    (500_000, 500_000, None, NOBODY, ApprovalStep.FINAL),
    (500_001, 500_000, None, JIA_1, ApprovalStep.FIRST),
    (500_001, 500_000, None, NOBODY, ApprovalStep.NO_INSURER),
    (500_001, 500_000, JIA_1, JIA_2, ApprovalStep.SAME_INSURER),
    (500_001, 500_000, JIA_1, YI, ApprovalStep.FINAL),
    (500_001, 500_000, JIA_1, NOBODY, ApprovalStep.NO_INSURER),
    (500_001, 500_000, None, DING, ApprovalStep.OTHER_INSURER),  # not of the group
    (500_001, 500_000, JIA_1, DING, ApprovalStep.OTHER_INSURER),
    (500_000, 500_000, None, DING, ApprovalStep.FINAL),  # uncontested: no joint decision
])
def test_contested_claims_need_two_insurers(payout: int, threshold: int | None,
                                            first: Reviewer | None, approver: Reviewer,
                                            step: ApprovalStep) -> None:
    assert approval_step(payout, threshold, first, approver, GROUP) is step
    assert (step.refusal is None) == (step in {ApprovalStep.FINAL, ApprovalStep.FIRST})


# Who may make a contested claim's second decision (an appeal's, or a large claim's second
# approval): (first decider, second decider, the product's insurers, refusal or None).
WHO_DECIDES = [
    # A co-insurance group: another insurer's staff, supervisors or not.
    (JIA_1, YI, GROUP, None),
    (JIA_1, YI_BOSS, GROUP, None),
    (JIA_1, JIA_2, GROUP, ApprovalStep.SAME_INSURER),
    (JIA_1, JIA_BOSS, GROUP, ApprovalStep.SAME_INSURER),  # a supervisor is still the same insurer
    (JIA_1, JIA_1, GROUP, ApprovalStep.SAME_INSURER),
    (ADMIN, JIA_1, GROUP, None),  # first decided by staff of no insurer: any insurer's staff
    (None, JIA_1, GROUP, None),
    (JIA_1, NOBODY, GROUP, ApprovalStep.NO_INSURER),
    (JIA_1, ADMIN, GROUP, ApprovalStep.NO_INSURER),
    (JIA_1, DING, GROUP, ApprovalStep.OTHER_INSURER),  # another insurer, but not of the group
    (ADMIN, DING, GROUP, ApprovalStep.OTHER_INSURER),
    (None, DING, GROUP, ApprovalStep.OTHER_INSURER),
    # One insurer: a supervisor of that insurer, on another account than the first decider's.
    (JIA_1, JIA_BOSS, ALONE, None),
    (JIA_BOSS, JIA_BOSS_2, ALONE, None),
    (ADMIN, JIA_BOSS, ALONE, None),
    (None, JIA_BOSS, ALONE, None),
    (JIA_BOSS, JIA_BOSS, ALONE, ApprovalStep.SAME_REVIEWER),
    (JIA_1, JIA_2, ALONE, ApprovalStep.NOT_SUPERVISOR),
    (JIA_BOSS, JIA_1, ALONE, ApprovalStep.NOT_SUPERVISOR),
    (JIA_1, YI_BOSS, ALONE, ApprovalStep.OTHER_INSURER),  # not an insurer of the product
    (JIA_1, YI, ALONE, ApprovalStep.OTHER_INSURER),
    (JIA_1, NOBODY, ALONE, ApprovalStep.NO_INSURER),
]


@pytest.mark.parametrize(("reviewer", "insurers", "outside"), [
    (JIA_1, GROUP, False), (YI_BOSS, GROUP, False), (JIA_1, ALONE, False),
    (DING, GROUP, True), (YI, ALONE, True),
    (ADMIN, GROUP, False), (NOBODY, ALONE, False),  # staff of no insurer: not outside any
])
def test_an_insurers_staff_decide_only_its_products_claims(
        reviewer: Reviewer, insurers: tuple[str, ...], outside: bool) -> None:
    assert outside_insurers(reviewer, insurers) is outside


@pytest.mark.parametrize(("first", "second", "insurers", "refusal"), WHO_DECIDES)
def test_who_makes_the_second_decision(first: Reviewer | None, second: Reviewer,
                                       insurers: tuple[str, ...],
                                       refusal: ApprovalStep | None) -> None:
    assert second_decision_refusal(first, second, insurers) is refusal
    if refusal is not None:  # said in Chinese, for an appeal and for a large claim
        assert "申诉" in APPEAL_REFUSALS[refusal]
        assert refusal.refusal is not None and "复核" in refusal.refusal
    # A large claim's second approval follows the same rule.
    step = approval_step(500_001, 500_000, first, second, insurers) if first else None
    if step is not None:
        assert step is (refusal or ApprovalStep.FINAL)


@pytest.mark.parametrize(("status", "appealed_before", "allowed"), [
    (S.REJECTED, False, True),
    (S.REJECTED, True, False),  # once only: an upheld rejection is final
    (S.APPEALED, True, False),
    (S.UNDER_REVIEW, False, False),
    (S.APPROVED, False, False),
    (S.PAID, True, False),
])
def test_only_a_rejected_claim_may_be_appealed_and_only_once(status: ClaimStatus,
                                                              appealed_before: bool,
                                                              allowed: bool) -> None:
    problem = appeal_problem(status, appealed_before)
    assert (problem is None) is allowed
    if appealed_before:
        assert problem == "每件理赔只能申诉一次，本件已申诉过"


def test_appeal_states_and_reasons() -> None:
    assert appeal_state(S.REJECTED, False) is None
    assert appeal_state(S.APPEALED, True) is AppealState.PENDING
    assert appeal_state(S.REJECTED, True) is AppealState.UPHELD
    assert appeal_state(S.APPROVED, True) is appeal_state(S.PAID, True) is AppealState.OVERTURNED
    assert appeal_reason_problem("不服") == "请填写申诉理由（至少5个字）"
    assert appeal_reason_problem("𫖮" * 500) is None
    assert appeal_reason_problem("𫖮" * 501) == "申诉理由不能超过500个字"


def test_appeal_outcomes_read_plainly() -> None:
    assert appeal_outcome_message(S.REJECTED, None, "门诊治疗") == (
        "经另一家共保机构复核，维持原决定，未予赔付。原因：门诊治疗")
    assert appeal_outcome_message(S.APPROVED, 123_400, None) == (
        "经另一家共保机构复核，申诉成立。经审核，您的理赔申请已通过，赔付金额¥1,234.00。")
    assert appeal_outcome_message(S.REJECTED, None, "门诊治疗",
                                  decider=SecondDecider.SUPERVISOR) == (
        "经承保机构复核主管复核，维持原决定，未予赔付。原因：门诊治疗")

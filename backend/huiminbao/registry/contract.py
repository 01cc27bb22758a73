"""The contract kit: the rules a city's registry bridge must keep, checked over the wire.

``huiminbao registry contract-test URL`` runs ``run_contract`` against a bridge with test data the
bridge names (``ContractData``): a person it knows with their phone on file, and a test person
with a personal account holding at least ``amount_fen``. Every debit the kit makes is refunded
before it ends (when the bridge lets it); use test accounts only.

Each debit's request number is recorded *before* it is sent, so a debit whose answer was lost
(timeout, broken connection) is still found by the final clean-up: it queries every recorded
number, refunds each debit that went through and is not refunded yet, carries on past errors,
and names the request numbers it could not refund (``Contract.unrefunded``).

Each rule prints one PASS/FAIL line naming the rule; any failure makes the command exit 1.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from huiminbao.core import idnumber
from huiminbao.registry.http_adapter import (
    Exchange,
    HttpRegistry,
    ProtocolClient,
    RegistryConfig,
)
from huiminbao.registry.port import (
    BalanceKind,
    OperationKind,
    OperationResult,
    OperationStatus,
    RegistryPort,
)
from huiminbao.registry.protocol import DEFAULT_SKEW_SECONDS, Answer, Errors, Transaction
from huiminbao.registry.wire import result_in

DEFAULT_ABSENT_PERSON = idnumber.make("110101", date(1900, 1, 1), 999)
CHINA = timezone(timedelta(hours=8))
SOURCES = (BalanceKind.PRIOR_YEARS, BalanceKind.CURRENT_YEAR)


@dataclass(frozen=True)
class ContractData:
    """Test data the bridge provides (options or a JSON fixture file with these keys)."""

    person: str  # a person the registry knows
    phone: str  # that person's phone on file
    account_person: str  # a test person with a personal account
    amount_fen: int = 1  # what each money check debits (and refunds); the account needs 4x this
    absent_person: str = DEFAULT_ABSENT_PERSON  # a well-formed ID number the registry lacks


class RuleBroken(Exception):
    """A rule of the protocol the bridge does not keep (the message says how)."""


@dataclass(frozen=True)
class RuleOutcome:
    rule: str
    title: str
    passed: bool
    detail: str = ""

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        return f"{mark}  {self.rule:<30} {self.title}" + (f" —— {self.detail}"
                                                          if self.detail else "")


@dataclass
class ContractReport:
    outcomes: list[RuleOutcome] = field(default_factory=list)

    # Test debits that went through (or whose outcome is unknown) and were not refunded:
    # "request number: why". Someone must settle these with the bridge by hand.
    unrefunded: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(outcome.passed for outcome in self.outcomes) and not self.unrefunded

    def broken(self) -> list[str]:
        return [outcome.rule for outcome in self.outcomes if not outcome.passed]

    def format(self) -> str:
        lines = [outcome.line() for outcome in self.outcomes]
        passed = sum(outcome.passed for outcome in self.outcomes)
        lines.extend(self.unrefunded_lines())
        lines.append(f"{passed}/{len(self.outcomes)} 条规则通过" + (
            "" if not self.broken() else f"；未通过：{', '.join(self.broken())}") + (
            f"；{len(self.unrefunded)} 笔测试扣款未能退回" if self.unrefunded else ""))
        return "\n".join(lines)

    def unrefunded_lines(self) -> list[str]:
        if not self.unrefunded:
            return []
        return ["警告：以下测试扣款未能确认退回，请按业务流水号与医保平台核对并人工退回：",
                *(f"  {item}" for item in self.unrefunded)]


class Contract:
    def __init__(self, config: RegistryConfig, data: ContractData) -> None:
        self.data = data
        self.client = ProtocolClient(config)
        self.registry = HttpRegistry(config, query_attempts=1, money_attempts=1)
        # The clean-up retries as the app does (money only ever under the same request number).
        self.cleanup_registry: RegistryPort = HttpRegistry(config)
        self._run = uuid.uuid4().hex[:10]
        self._serial = 0
        # Every debit request number sent (recorded before sending), in order.
        self._to_refund: list[str] = []
        self.unrefunded: list[str] = []

    # --- helpers -----------------------------------------------------------------------------

    def request_no(self, label: str) -> str:
        self._serial += 1
        return f"HMBCT-{self._run}-{label}-{self._serial}"

    def call(self, transaction: Transaction, body: dict[str, Any]) -> Answer:
        return self.client.call(transaction, body, attempts=1)

    def available(self) -> int:
        balance = self.registry.balance(self.data.account_person)
        if balance is None:
            raise RuleBroken("测试账户查不到个人账户余额（--account-person 须有个人账户）")
        return balance.available(SOURCES)

    def debit_body(self, request_no: str, amount: int | None = None) -> dict[str, Any]:
        return {"request_no": request_no, "id_number": self.data.account_person,
                "amount_fen": self.data.amount_fen if amount is None else amount,
                "sources": [source.value for source in SOURCES], "purpose": "接口合规测试"}

    def sending_debit(self, request_no: str) -> None:
        """Record a debit's request number before it is sent: whatever happens to the answer,
        the clean-up queries it and refunds it if it went through."""
        if request_no not in self._to_refund:
            self._to_refund.append(request_no)

    def debit(self, request_no: str) -> OperationResult:
        self.sending_debit(request_no)
        answer = self.call(Transaction.DEBIT, self.debit_body(request_no))
        result = result_in((answer.body or {})["result"])
        if result.status is not OperationStatus.SUCCEEDED:
            raise RuleBroken(f"测试扣款未成功（{result.failure_reason}）：测试账户余额不足？")
        return result

    def refund_all(self) -> None:
        """Query every debit request number sent; refund each that succeeded and is not refunded
        yet (refund number ``<debit>-RF``). An error on one does not stop the others; the ones
        left are named in ``unrefunded`` and the rule fails."""
        registry = self.cleanup_registry
        pending, self._to_refund = self._to_refund, []
        for request_no in pending:
            try:
                debit = registry.query(request_no)
                if debit is None or not debit.succeeded or debit.kind is not OperationKind.DEBIT:
                    continue  # never arrived, or failed: nothing moved
                refund_no = f"{request_no}-RF"
                refunded = registry.query(refund_no)
                if refunded is not None and refunded.succeeded:
                    continue
                refunded = registry.refund(refund_no, request_no, debit.amount_fen,
                                           purpose="接口合规测试退回")
                if not refunded.succeeded:
                    reason = refunded.failure_reason.value if refunded.failure_reason else "失败"
                    self.unrefunded.append(f"{request_no}（{debit.amount_fen} 分；退款 "
                                           f"{refund_no} 未成功：{reason}）")
            except Exception as exc:  # carry on with the others; named below
                self.unrefunded.append(f"{request_no}（未能查询或退回：{type(exc).__name__}: "
                                       f"{exc}）")
        if self.unrefunded:
            raise RuleBroken(f"{len(self.unrefunded)} 笔测试扣款未能退回："
                             + "；".join(self.unrefunded))

    def expect_refused(self, exchange: Exchange, code: Any, what: str) -> None:
        envelope = exchange.envelope or {}
        if envelope.get("infcode") != code.infcode:
            raise RuleBroken(f"{what}未被拒绝（应答 infcode={envelope.get('infcode')!r}，"
                             f"应为 {code.infcode} {code.name}）")

    # --- rules -------------------------------------------------------------------------------

    def ping(self) -> None:
        body = self.call(Transaction.PING, {}).body or {}
        if body.get("pong") is not True:
            raise RuleBroken("HMB1000 应答应为 {\"pong\": true}")

    def lookup(self) -> None:
        answer = self.call(Transaction.PERSON, {"id_number": self.data.person})
        person = (answer.body or {}).get("person")
        if not isinstance(person, dict) or person.get("id_number") != self.data.person:
            raise RuleBroken("查不到 --person 指定的参保人")
        phone = person.get("phone", "missing")
        if phone != self.data.phone:
            raise RuleBroken("参保人信息的 phone 应为医保登记的预留手机号（无则为 null）")

    def lookup_unknown(self) -> None:
        answer = self.call(Transaction.PERSON, {"id_number": self.data.absent_person})
        if (answer.body or {}).get("person", "missing") is not None:
            raise RuleBroken("查无此人应答 person=null，而非报错或返回他人")

    def batch_lookup(self) -> None:
        answer = self.call(Transaction.PERSONS,
                           {"id_numbers": [self.data.person, self.data.absent_person]})
        persons = (answer.body or {}).get("persons")
        numbers = [p.get("id_number") for p in persons] if isinstance(persons, list) else None
        if numbers != [self.data.person]:
            raise RuleBroken("批量查询应只返回已知的参保人")

    def batch_lookup_with_balances(self) -> None:
        """HMB1102 with ``balances_of``: the persons as without it, and the balance of each
        person asked about who has an account, equal to HMB1201's; none for an unknown one."""
        answer = self.call(Transaction.PERSONS, {
            "id_numbers": [self.data.account_person, self.data.absent_person],
            "balances_of": [self.data.account_person, self.data.absent_person]}).body or {}
        persons = answer.get("persons")
        numbers = [p.get("id_number") for p in persons] if isinstance(persons, list) else None
        if numbers != [self.data.account_person]:
            raise RuleBroken("带余额的批量查询应只返回已知的参保人")
        balances = answer.get("balances")
        single = self.call(Transaction.BALANCE, {"id_number": self.data.account_person}).body
        if not isinstance(balances, list) or balances != [(single or {}).get("balance")]:
            raise RuleBroken("请求 balances_of 时应答 balances：每个有个人账户者一条，"
                             "与余额查询（HMB1201）一致，查无此人者不返回")

    def contact_check(self) -> None:
        right = self.call(Transaction.CONTACT_CHECK,
                          {"id_number": self.data.person, "phone": self.data.phone}).body or {}
        wrong_phone = "19999999999" if self.data.phone != "19999999999" else "19999999998"
        wrong = self.call(Transaction.CONTACT_CHECK,
                          {"id_number": self.data.person, "phone": wrong_phone}).body or {}
        if right != {"matches": True}:
            raise RuleBroken("登记的手机号应答 {\"matches\": true}（且只含 matches）")
        if wrong != {"matches": False}:
            raise RuleBroken("其他手机号应答 {\"matches\": false}（且只含 matches）")

    def settlements(self) -> None:
        """HMB1107: the person's settlements in a period, each dated inside it (the adapter
        refuses an answer with a record outside); an unknown person has none; a period that
        ends before it starts is an invalid argument."""
        # The registry's own day (UTC+8), a day either way does not matter here.
        today = datetime.now(CHINA).date()
        since = today - timedelta(days=3 * 366)
        records = self.registry.settlements(self.data.person, since, today)
        if records:
            last = records[-1]
            narrowed = self.registry.settlements(self.data.person, last.visit_date,
                                                 last.visit_date)
            if last not in narrowed:
                raise RuleBroken("按就诊日期查询结算记录，应返回当日的记录")
        unknown = self.call(Transaction.SETTLEMENTS, {
            "id_number": self.data.absent_person, "since": since.isoformat(),
            "until": today.isoformat()}).body
        if unknown != {"settlements": []}:
            raise RuleBroken("查无此人应答 {\"settlements\": []}")
        backwards = self.client.open(self.client.post(self.client.envelope(
            Transaction.SETTLEMENTS.value, {"id_number": self.data.person,
                                            "since": today.isoformat(),
                                            "until": since.isoformat()})))
        if backwards.infcode != Errors.INVALID_ARGUMENT.infcode:
            raise RuleBroken(f"截止日期早于起始日期应答 {Errors.INVALID_ARGUMENT.infcode} "
                             f"invalid_argument，实际 infcode={backwards.infcode}")

    def debit_retry_idempotent(self) -> None:
        before = self.available()
        request_no = self.request_no("RETRY")
        first = self.debit(request_no)
        for _ in range(3):  # the same request number re-sent, each time a new message id
            again = result_in((self.call(Transaction.DEBIT, self.debit_body(request_no)).body
                               or {})["result"])
            if again != first:
                raise RuleBroken("同一业务流水号重发的应答与首次不同")
        moved = before - self.available()
        if moved != self.data.amount_fen:
            raise RuleBroken(f"同一业务流水号发送 4 次，余额减少 {moved} 分，应为 "
                             f"{self.data.amount_fen} 分（重复扣款）")

    def debit_concurrent_double_send(self) -> None:
        before = self.available()
        request_no = self.request_no("TWIN")
        barrier = threading.Barrier(2)
        answers: list[Answer | BaseException] = []

        def send() -> None:
            barrier.wait(timeout=10)
            try:
                answers.append(self.call(Transaction.DEBIT, self.debit_body(request_no)))
            except BaseException as exc:  # reported below
                answers.append(exc)

        self.sending_debit(request_no)
        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        results = []
        for answer in answers:
            if isinstance(answer, BaseException):
                raise RuleBroken(f"并发重发其一未得到应答：{answer}")
            results.append(result_in((answer.body or {})["result"]))
        if len(results) != 2 or results[0] != results[1]:
            raise RuleBroken("同一业务流水号同时发送两次，两次应答不同")
        moved = before - self.available()
        if moved != (self.data.amount_fen if results[0].succeeded else 0):
            raise RuleBroken(f"同一业务流水号同时发送两次，余额减少 {moved} 分（重复扣款）")

    def request_no_reused(self) -> None:
        request_no = self.request_no("REUSE")
        self.debit(request_no)
        before = self.available()
        exchange = self.client.post(self.client.envelope(
            Transaction.DEBIT.value, self.debit_body(request_no, self.data.amount_fen + 1)))
        answer = self.client.open(exchange)
        if answer.infcode != Errors.REQUEST_NO_REUSED.infcode:
            raise RuleBroken(f"同一业务流水号、不同金额应答 {Errors.REQUEST_NO_REUSED.infcode} "
                             f"request_no_reused，实际 infcode={answer.infcode}")
        if self.available() != before:
            raise RuleBroken("流水号冲突的请求动了余额")

    def refund_never_more_than_paid(self) -> None:
        request_no = self.request_no("PAID")
        paid = self.debit(request_no)
        before = self.available()
        too_much = self.registry.refund(self.request_no("RFX"), request_no, paid.amount_fen + 1,
                                        purpose="接口合规测试")
        if too_much.succeeded or self.available() != before:
            raise RuleBroken("退款金额超过原扣款仍被受理")
        full = self.registry.refund(f"{request_no}-RF", request_no, paid.amount_fen,
                                    purpose="接口合规测试退回")
        if not full.succeeded:
            raise RuleBroken(f"全额退款未成功（{full.failure_reason}）")
        again = self.registry.refund(self.request_no("RF2"), request_no, 1,
                                     purpose="接口合规测试")
        if again.succeeded:
            raise RuleBroken("已全额退款后再退 1 分仍被受理")
        if self.available() != before + paid.amount_fen:
            raise RuleBroken("退款后余额与扣款前不符")

    def query_unknown(self) -> None:
        answer = self.call(Transaction.QUERY, {"request_no": self.request_no("NEVER")})
        body = answer.body or {}
        if body.get("found") is not False or body.get("result") is not None:
            raise RuleBroken("未知业务流水号应答 {\"found\": false, \"result\": null}")

    def query_known(self) -> None:
        request_no = self.request_no("QUERY")
        result = self.debit(request_no)
        found = self.registry.query(request_no)
        if found != result:
            raise RuleBroken("按业务流水号查询的结果与扣款应答不同")

    def bad_signature_refused(self) -> None:
        before = self.available()
        request_no = self.request_no("FORGED")
        envelope = self.client.envelope(Transaction.DEBIT.value, self.debit_body(request_no))
        signature = envelope["signature"]
        envelope["signature"] = ("A" if signature[0] != "A" else "B") + signature[1:]
        self.sending_debit(request_no)
        exchange = self.client.post(envelope)
        if self.registry.query(request_no) is not None or self.available() != before:
            raise RuleBroken("签名错误的扣款请求被执行了")
        self.expect_refused(exchange, Errors.BAD_SIGNATURE, "签名错误的请求")

    def replay_refused(self) -> None:
        envelope = self.client.envelope(Transaction.QUERY.value,
                                        {"request_no": self.request_no("REPLAY")})
        first = self.client.open(self.client.post(envelope))
        if not first.ok:
            raise RuleBroken("首次发送的报文被拒绝")
        self.expect_refused(self.client.post(envelope), Errors.REPLAYED_MSGID,
                            "重放的报文（同一 msgid）")

    def stale_timestamp_refused(self) -> None:
        for offset in (-(DEFAULT_SKEW_SECONDS + 60), DEFAULT_SKEW_SECONDS + 60):
            envelope = self.client.envelope(Transaction.QUERY.value,
                                            {"request_no": self.request_no("STALE")},
                                            now=time.time() + offset)
            self.expect_refused(self.client.post(envelope), Errors.STALE_TIMESTAMP,
                                f"时间戳偏差 {offset:+d} 秒的请求")

    def rules(self) -> list[tuple[str, str, Callable[[], None]]]:
        return [
            ("ping", "连通，应答签名可验证", self.ping),
            ("lookup", "查询参保人（不含手机号）", self.lookup),
            ("lookup-unknown", "查无此人答 null 而非报错", self.lookup_unknown),
            ("batch-lookup", "批量查询只返回已知参保人", self.batch_lookup),
            ("batch-lookup-with-balances", "批量查询可同时返回个人账户余额",
             self.batch_lookup_with_balances),
            ("contact-check", "手机号核验只答是/否", self.contact_check),
            ("settlements-within-period", "结算记录只返回所请求期间内的", self.settlements),
            ("debit-retry-idempotent", "同一流水号重发不重复扣款", self.debit_retry_idempotent),
            ("debit-concurrent-double-send", "同一流水号并发发送只扣一次",
             self.debit_concurrent_double_send),
            ("request-no-reused", "同一流水号不同内容报 2002", self.request_no_reused),
            ("refund-never-more-than-paid", "退款不超过原扣款", self.refund_never_more_than_paid),
            ("query-unknown", "未知流水号答“未找到”而非报错", self.query_unknown),
            ("query-known", "按流水号查询得到原结果", self.query_known),
            ("bad-signature-refused", "签名错误的请求被拒绝且不执行", self.bad_signature_refused),
            ("replay-refused", "重放的 msgid 被拒绝", self.replay_refused),
            ("stale-timestamp-refused", "超出时间窗的请求被拒绝", self.stale_timestamp_refused),
        ]


def run_contract(config: RegistryConfig, data: ContractData,
                 echo: Callable[[str], None] | None = None) -> ContractReport:
    """Every rule in order (a broken rule does not stop the others); the debits made are
    refunded at the end."""
    contract = Contract(config, data)
    report = ContractReport()
    rules = contract.rules()
    rules.append(("cleanup-refunds", "测试扣款已全部退回", contract.refund_all))
    for rule, title, check in rules:
        try:
            check()
            outcome = RuleOutcome(rule, title, True)
        except RuleBroken as exc:
            outcome = RuleOutcome(rule, title, False, str(exc))
        except Exception as exc:  # unavailable, refused, malformed: the rule is not kept
            outcome = RuleOutcome(rule, title, False, f"{type(exc).__name__}: {exc}")
        report.outcomes.append(outcome)
        if echo is not None:
            echo(outcome.line())
    report.unrefunded = list(contract.unrefunded)
    return report

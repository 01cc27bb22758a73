"""``huiminbao bench phases``' stopwatches: each named step is timed while the block runs, and
the real functions are back afterwards."""

from __future__ import annotations

from collections import defaultdict

from huiminbao.enrollment import quoting
from huiminbao_bench.phases import STEPS, PhaseReport, format_report, stopwatches


def test_every_step_named_exists_and_is_restored_after_timing() -> None:
    original_quote = quoting.quote
    spent: dict[str, float] = defaultdict(float)
    with stopwatches(spent):
        assert quoting.quote is not original_quote  # wrapped while timing
    assert quoting.quote is original_quote
    assert {label for _owner, _attribute, label, _depth in STEPS} >= {
        "quote (every rule checked)", "registry: debit", "order paid, policy issued"}


def test_the_report_accounts_for_the_whole_enrollment() -> None:
    report = PhaseReport(samples=10, total_ms=20.0, health_ms=1.0, steps=[
        ("quote (every rule checked)", 0, 5.0), ("registry: persons", 1, 1.0),
        ("order written", 0, 3.0)])
    text = format_report(report)
    assert "Flask, validation, JSON and the rest" in text
    assert "12.00 ms" in text  # 20 − (5 + 3): nested steps are not counted twice
    assert "20.0×" in text

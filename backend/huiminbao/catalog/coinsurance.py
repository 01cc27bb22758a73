"""Co-insurance (共保体, 002 三(一)): several insurers underwrite one product together and share
its premiums and claim payouts by agreed shares. Pure rules, no Flask, no database.

Shares are basis points of the whole (10,000 = 100 %), exactly one insurer is the lead
(主承保). ``split_by_shares`` divides an amount of money in integer fen:

- every insurer but the lead gets its exact share truncated toward zero
  (``amount * share_bp / 10000`` without the fraction), so it is never more than its share
  and never more than 1 fen less;
- the lead gets the rest, so the parts always sum to the amount. The lead's part may differ
  from its exact share by the rounding of all the others (at most one fen per other insurer).

Truncation toward zero makes the split of a refund the exact negative of the split of the
payment it returns: ``split(-a) == -split(a)`` part by part, so a refunded premium leaves each
insurer's account exactly where it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WHOLE_BP = 10_000
MAX_INSURERS = 10
MAX_NAME = 200

SHARES_SUM = "各承保机构份额之和必须为100%"
ONE_LEAD = "必须指定且只能指定一家主承保机构"
DUPLICATE = "同一承保机构不能重复列出"
NONE_LISTED = "请至少列出一家承保机构"
TOO_MANY = f"共保体最多{MAX_INSURERS}家承保机构"
NAME_MISSING = "请填写承保机构名称"
NAME_TOO_LONG = f"承保机构名称不能超过{MAX_NAME}个字"
SHARE_RANGE = "每家承保机构的份额必须大于0%且不超过100%"


@dataclass(frozen=True)
class Share:
    insurer: str  # the insurer's name (or any key naming it, e.g. a ledger account part)
    share_bp: int  # basis points: 5000 = 50 %
    lead: bool = False


@dataclass(frozen=True)
class ShareProblem:
    field: str  # "insurers", or "insurers.<index>.<name|share_bp>"
    rule: str
    message: str  # Chinese


def validate_shares(shares: Sequence[Share]) -> list[ShareProblem]:
    """Every problem with a list of co-insurers, all at once (empty when it is valid)."""
    problems: list[ShareProblem] = []
    if not shares:
        return [ShareProblem("insurers", "insurers_required", NONE_LISTED)]
    if len(shares) > MAX_INSURERS:
        problems.append(ShareProblem("insurers", "insurers_max", TOO_MANY))
    seen: set[str] = set()
    for index, share in enumerate(shares):
        name = share.insurer.strip()
        if not name:
            problems.append(ShareProblem(f"insurers.{index}.insurer", "insurer_required",
                                         NAME_MISSING))
        elif len(name) > MAX_NAME:
            problems.append(ShareProblem(f"insurers.{index}.insurer", "insurer_length",
                                         NAME_TOO_LONG))
        elif name in seen:
            problems.append(ShareProblem(f"insurers.{index}.insurer", "insurer_unique",
                                         DUPLICATE))
        seen.add(name)
        if not 0 < share.share_bp <= WHOLE_BP:
            problems.append(ShareProblem(f"insurers.{index}.share_bp", "share_range",
                                         SHARE_RANGE))
    if sum(share.share_bp for share in shares) != WHOLE_BP:
        problems.append(ShareProblem("insurers", "shares_sum", SHARES_SUM))
    if sum(1 for share in shares if share.lead) != 1:
        problems.append(ShareProblem("insurers", "one_lead", ONE_LEAD))
    return problems


def _truncated_share(amount_fen: int, share_bp: int) -> int:
    """``amount * share / 10000`` rounded toward zero (Python's // floors, so mind the sign)."""
    part = abs(amount_fen) * share_bp // WHOLE_BP
    return part if amount_fen >= 0 else -part


def split_by_shares(amount_fen: int, shares: Sequence[Share]) -> list[tuple[str, int]]:
    """``amount_fen`` divided among the insurers in the order given: (insurer, fen) each.

    Non-lead insurers get their share truncated toward zero; the lead gets the remainder, so the
    parts sum to ``amount_fen`` exactly (see the module's docstring). Negative amounts (refunds)
    split as the exact negative of the positive amount. The shares must be valid
    (``validate_shares``); anything else raises ``ValueError``.
    """
    if validate_shares(shares):
        raise ValueError("invalid co-insurer shares")
    parts = [(share.insurer, 0 if share.lead else _truncated_share(amount_fen, share.share_bp))
             for share in shares]
    remainder = amount_fen - sum(fen for _insurer, fen in parts)
    return [(insurer, fen + remainder if share.lead else fen)
            for (insurer, fen), share in zip(parts, shares, strict=True)]

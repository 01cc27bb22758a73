"""Pure product rules: benefit categories, the benefit floor and the enrollment window.

No Flask, no database: these run in unit tests in microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class BenefitCategory(StrEnum):
    COMPLIANT = "compliant"  # 合规费用: in-policy costs left to the person
    REASONABLE = "reasonable"  # 合理费用: listed out-of-policy items
    SPECIAL_DRUG = "special_drug"  # 特药

    @property
    def label(self) -> str:
        return {
            BenefitCategory.COMPLIANT: "医保范围内合规费用",
            BenefitCategory.REASONABLE: "医保范围外合理费用",
            BenefitCategory.SPECIAL_DRUG: "特定药品费用",
        }[self]


class ProductStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


BASIS_POINTS = 10_000


@dataclass(frozen=True)
class EnrollmentWindow:
    opens_on: date
    closes_on: date  # inclusive

    def is_open_on(self, day: date) -> bool:
        return self.opens_on <= day <= self.closes_on


@dataclass(frozen=True)
class CoveragePeriod:
    starts_on: date
    ends_on: date  # inclusive

    def covers(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on

    def has_started_on(self, day: date) -> bool:
        return day >= self.starts_on


def one_year_from(start: date) -> date:
    """The last day of a one-year period starting on ``start`` (29 Feb starts end on 28 Feb)."""
    try:
        anniversary = start.replace(year=start.year + 1)
    except ValueError:  # 29 February: the anniversary falls on 1 March of a common year
        return start.replace(year=start.year + 1, day=28)
    return date.fromordinal(anniversary.toordinal() - 1)

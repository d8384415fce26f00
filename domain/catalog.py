"""Rules of the catalogue: product types, money, currencies."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from domain.errors import BadRequest, Conflict, error_class

CENT = Decimal("0.01")
MAX_PRICE = Decimal("99999999.99")


class ProductType(StrEnum):
    CREDENTIAL = "credential"
    CERTIFICATE = "certificate"
    ENROLLMENT = "enrollment"
    MEMBERSHIP = "membership"


# Products that give access to course runs, and so may name target runs.
PRODUCT_TYPES_WITH_TARGET_RUNS = frozenset({ProductType.CREDENTIAL, ProductType.ENROLLMENT})

InvalidPrice = error_class(BadRequest, "invalid_price")
TargetRunsNotAllowed = error_class(BadRequest, "target_course_runs_not_allowed")
InvalidCourseRunDates = error_class(BadRequest, "invalid_course_run_dates")
InUse = error_class(Conflict, "in_use")
OrganizationNotInOffering = error_class(BadRequest, "organization_not_in_offering")


def quantize_money(amount: Decimal) -> Decimal:
    """Money has exactly two places; more precision is an input error, not rounding."""
    if not amount.is_finite() or amount < 0 or amount > MAX_PRICE:
        raise InvalidPrice(f"A price must be between 0.00 and {MAX_PRICE}.")
    quantized = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    if quantized != amount:
        raise InvalidPrice("A price has at most two decimal places.")
    return quantized


def check_target_runs(product_type: ProductType, target_run_count: int) -> None:
    if target_run_count and product_type not in PRODUCT_TYPES_WITH_TARGET_RUNS:
        raise TargetRunsNotAllowed(
            f"A {product_type} product cannot target course runs; "
            "only credential and enrollment products do."
        )


# Dates of course runs lie within these years: a run in year 1 or 9999 is a
# typo, and a schedule computed from one overflows (year 10000).
RUN_YEARS = range(1970, 2201)


def check_course_run_dates(
    *,
    start: datetime | None,
    end: datetime | None,
    enrollment_start: datetime | None,
    enrollment_end: datetime | None,
) -> None:
    """Each date within RUN_YEARS; each pair, when both ends are known, in
    order, and a run ends after it starts."""
    named = {
        "start": start,
        "end": end,
        "enrollment_start": enrollment_start,
        "enrollment_end": enrollment_end,
    }
    for name, value in named.items():
        if value is not None and value.year not in RUN_YEARS:
            raise InvalidCourseRunDates(
                f"{name} must lie between {RUN_YEARS[0]} and {RUN_YEARS[-1]}."
            )
    if start is not None and end is not None and end <= start:
        raise InvalidCourseRunDates("end must be after start.")
    if (
        enrollment_start is not None
        and enrollment_end is not None
        and (enrollment_start > enrollment_end)
    ):
        raise InvalidCourseRunDates("enrollment_start must not be after enrollment_end.")

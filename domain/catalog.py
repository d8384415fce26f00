"""Rules of the catalogue: product types, money, currencies."""

from __future__ import annotations

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


def check_course_run_dates(
    *, start: object, end: object, enrollment_start: object, enrollment_end: object
) -> None:
    """Each pair, when both ends are known, must be in order."""
    pairs = (
        ("start", start, "end", end),
        ("enrollment_start", enrollment_start, "enrollment_end", enrollment_end),
    )
    for first_name, first, last_name, last in pairs:
        if first is not None and last is not None and first > last:  # type: ignore[operator]
            raise InvalidCourseRunDates(f"{first_name} must not be after {last_name}.")

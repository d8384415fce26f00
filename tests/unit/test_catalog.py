"""Pure rules of the catalogue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.catalog import (
    MAX_PRICE,
    InvalidCourseRunDates,
    InvalidPrice,
    ProductType,
    TargetRunsNotAllowed,
    check_course_run_dates,
    check_target_runs,
    quantize_money,
)


@given(st.decimals(min_value=0, max_value=MAX_PRICE, places=2))
def test_two_place_amounts_keep_their_value(amount: Decimal) -> None:
    assert quantize_money(amount) == amount
    assert quantize_money(amount).as_tuple().exponent == -2


@pytest.mark.parametrize("amount", ["0.001", "-0.01", "NaN", "Infinity", "100000000.00"])
def test_invalid_amounts(amount: str) -> None:
    with pytest.raises(InvalidPrice):
        quantize_money(Decimal(amount))


@pytest.mark.parametrize("product_type", [ProductType.CREDENTIAL, ProductType.ENROLLMENT])
def test_runs_can_be_targeted_by_access_products(product_type: ProductType) -> None:
    check_target_runs(product_type, 2)


@pytest.mark.parametrize("product_type", [ProductType.CERTIFICATE, ProductType.MEMBERSHIP])
def test_other_products_target_no_run(product_type: ProductType) -> None:
    check_target_runs(product_type, 0)
    with pytest.raises(TargetRunsNotAllowed):
        check_target_runs(product_type, 1)


def test_course_run_dates_in_order() -> None:
    now = datetime.now(UTC)
    later = now + timedelta(days=1)
    check_course_run_dates(start=now, end=later, enrollment_start=None, enrollment_end=None)
    check_course_run_dates(start=None, end=now, enrollment_start=now, enrollment_end=now)
    with pytest.raises(InvalidCourseRunDates):
        check_course_run_dates(start=later, end=now, enrollment_start=None, enrollment_end=None)
    with pytest.raises(InvalidCourseRunDates):
        check_course_run_dates(start=None, end=None, enrollment_start=later, enrollment_end=now)


def test_error_codes_are_stable() -> None:
    # The API contract names these codes; a rename would break clients.
    assert InvalidPrice.code == "invalid_price"
    assert TargetRunsNotAllowed("x").status == 400

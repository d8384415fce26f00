"""Payment schedules (spec 20, "Payment schedule"): examples and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.catalog import ProductType
from domain.payment_schedule import (
    DEFAULT_LIMITS,
    DEFAULT_WITHDRAWAL_PERIOD_DAYS,
    PARIS,
    CourseDatesMissing,
    RunDates,
    SchedulePolicy,
    add_months,
    check_limits,
    compute_schedule,
    course_window,
    is_working_day,
    next_working_day,
    paris_day,
    split_for,
)

# The spec's limits and withdrawal period, which these examples are written for.
SPEC_DEFAULTS = {"limits": DEFAULT_LIMITS, "withdrawal_days": DEFAULT_WITHDRAWAL_PERIOD_DAYS}


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=PARIS)


def schedule(
    total: str,
    anchor: datetime,
    start: datetime | None,
    end: datetime | None,
    product_type: ProductType = ProductType.CREDENTIAL,
) -> list[tuple[date, str]]:
    payments = compute_schedule(
        total=Decimal(total),
        product_type=product_type,
        anchor=anchor,
        course_start=start,
        course_end=end,
        **SPEC_DEFAULTS,
    )
    return [(item.due_date, str(item.amount)) for item in payments]


def test_limits_pick_the_split() -> None:
    assert split_for(Decimal("150.00"), DEFAULT_LIMITS) == [30, 70]
    assert split_for(Decimal("200.00"), DEFAULT_LIMITS) == [30, 70]
    assert split_for(Decimal("200.01"), DEFAULT_LIMITS) == [30, 35, 35]
    assert split_for(Decimal("1000.00"), DEFAULT_LIMITS) == [30, 25, 25, 20]
    assert split_for(Decimal("5000.00"), DEFAULT_LIMITS) == [30, 25, 25, 20]


def test_three_installments_before_a_course() -> None:
    # Signed Monday 2 March 2026; +16 days = Wednesday 18 March, a working day.
    assert schedule("450.00", at("2026-03-02"), at("2026-04-06"), at("2026-09-30")) == [
        (date(2026, 3, 18), "135.00"),
        (date(2026, 4, 6), "157.50"),
        (date(2026, 5, 6), "157.50"),
    ]


def test_first_date_moves_past_weekends_and_french_holidays() -> None:
    # 28 April + 16 = Thursday 14 May 2026, Ascension; then Friday 15 May.
    first = schedule("450.00", at("2026-04-28"), at("2026-06-01"), at("2026-12-01"))[0]
    assert first[0] == date(2026, 5, 15)
    # 25 July + 16 = Monday 10 August (a working day), no move.
    assert schedule("100.00", at("2026-07-25"), at("2026-09-01"), at("2026-12-01"))[0][0] == (
        date(2026, 8, 10)
    )
    # 30 July + 16 = Saturday 15 August (Assumption) → Monday 17 August.
    assert schedule("100.00", at("2026-07-30"), at("2026-09-01"), at("2026-12-01"))[0][0] == (
        date(2026, 8, 17)
    )


def test_course_starting_within_the_withdrawal_period_is_paid_at_once() -> None:
    assert schedule("450.00", at("2026-03-02"), at("2026-03-10"), at("2026-09-30")) == [
        (date(2026, 3, 2), "135.00"),
        (date(2026, 3, 10), "157.50"),
        (date(2026, 4, 10), "157.50"),
    ]


def test_course_already_started_goes_monthly_from_now() -> None:
    assert schedule("450.00", at("2026-03-02"), at("2026-01-05"), at("2026-09-30")) == [
        (date(2026, 3, 2), "135.00"),
        (date(2026, 4, 2), "157.50"),
        (date(2026, 5, 2), "157.50"),
    ]


def test_due_moments_follow_the_course_start() -> None:
    """Timers fire at the course start's time; tests rely on seconds-ahead starts."""
    anchor = at("2026-03-02", 10)
    start = at("2026-03-05", 14)
    payments = compute_schedule(
        total=Decimal("450.00"),
        product_type=ProductType.CREDENTIAL,
        anchor=anchor,
        course_start=start,
        course_end=start + timedelta(days=45),
        **SPEC_DEFAULTS,
    )
    assert [item.due_at for item in payments] == [anchor, start, start + timedelta(days=31)]


def test_course_end_closes_the_schedule_and_takes_the_remainder() -> None:
    assert schedule("1200.00", at("2026-03-02"), at("2026-04-06"), at("2026-05-20")) == [
        (date(2026, 3, 18), "360.00"),
        (date(2026, 4, 6), "300.00"),
        (date(2026, 5, 6), "300.00"),
        (date(2026, 5, 20), "240.00"),
    ]
    assert schedule("1200.00", at("2026-03-02"), at("2026-04-06"), at("2026-04-20")) == [
        (date(2026, 3, 18), "360.00"),
        (date(2026, 4, 6), "300.00"),
        (date(2026, 4, 20), "540.00"),
    ]


def test_rounding_keeps_the_total() -> None:
    payments = schedule("333.33", at("2026-03-02"), at("2026-04-06"), at("2026-09-30"))
    assert [amount for _, amount in payments] == ["100.00", "116.67", "116.66"]


def test_certificate_is_one_payment_now_even_without_course_dates() -> None:
    anchor = at("2026-03-02")
    assert schedule("49.00", anchor, None, None, ProductType.CERTIFICATE) == [
        (date(2026, 3, 2), "49.00")
    ]


def test_free_orders_have_no_schedule() -> None:
    assert schedule("0.00", at("2026-03-02"), None, None) == []


def test_missing_course_dates_are_refused() -> None:
    with pytest.raises(CourseDatesMissing) as caught:
        schedule("450.00", at("2026-03-02"), None, at("2026-09-30"))
    assert caught.value.status == 422
    assert caught.value.code == "course_dates_missing"


def test_dates_are_french_calendar_days() -> None:
    # 23:30 UTC on 1 March is already 2 March in Paris.
    assert paris_day(datetime(2026, 3, 1, 23, 30, tzinfo=UTC)) == date(2026, 3, 2)


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2027, 12, 15), 2) == date(2028, 2, 15)


def test_limits_must_split_one_hundred_percent() -> None:
    check_limits(DEFAULT_LIMITS)
    for bad in ({}, {100: [50, 40]}, {100: [110, -10]}, {100: []}):
        with pytest.raises(ValueError):
            check_limits(bad)


# --- properties --------------------------------------------------------------------

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("20000.00"), places=2)
days = st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31))


@settings(max_examples=400, deadline=None)
@given(
    total=amounts,
    anchor_day=days,
    start_offset=st.integers(-200, 400),
    length=st.integers(0, 500),
    hour=st.integers(0, 23),
)
def test_schedule_properties(
    total: Decimal, anchor_day: date, start_offset: int, length: int, hour: int
) -> None:
    anchor = datetime(anchor_day.year, anchor_day.month, anchor_day.day, hour, tzinfo=PARIS)
    start = anchor + timedelta(days=start_offset)
    end = start + timedelta(days=length)
    payments = compute_schedule(
        total=total,
        product_type=ProductType.CREDENTIAL,
        anchor=anchor,
        course_start=start,
        course_end=end,
        **SPEC_DEFAULTS,
    )
    dates = [item.due_date for item in payments]
    moments = [item.due_at for item in payments]
    assert moments == sorted(moments)
    assert moments[0] >= anchor
    assert all(moment <= max(end, anchor) for moment in moments)
    # Every cent of the total, never more, no empty installment.
    assert sum(item.amount for item in payments) == total
    assert all(
        item.amount > 0 and item.amount == item.amount.quantize(Decimal("0.01"))
        for item in payments
    )
    assert 1 <= len(payments) <= len(split_for(total, DEFAULT_LIMITS))
    # In order, from the anchor, within the course window.
    assert dates == sorted(dates)
    assert dates[0] >= anchor_day
    assert all(day <= max(paris_day(end), anchor_day) for day in dates)
    # Deferred first payments fall on French working days.
    if dates[0] != anchor_day:
        assert is_working_day(dates[0])
        assert dates[0] == next_working_day(anchor_day + timedelta(days=16))


def test_a_few_cents_are_one_payment_at_the_first_date() -> None:
    assert schedule("0.01", at("2026-03-02"), at("2026-04-06"), at("2026-09-30")) == [
        (date(2026, 3, 18), "0.01")
    ]


def test_course_window_skips_runs_that_have_ended() -> None:
    past = RunDates(start=at("2026-01-05"), end=at("2026-03-01"))
    future = RunDates(start=at("2026-09-01"), end=at("2026-12-01"))
    assert course_window([past, future], at=at("2026-05-01")) == (future.start, future.end)
    # Before the first run ends, both count.
    assert course_window([past, future], at=at("2026-02-01")) == (past.start, future.end)
    # Every run over, or a remaining run without dates: no window.
    assert course_window([past], at=at("2026-05-01")) == (None, None)
    undated = RunDates(start=None, end=None)
    assert course_window([past, undated], at=at("2026-05-01")) == (None, None)


def test_the_policy_makes_the_schedule_with_its_own_settings() -> None:
    policy = SchedulePolicy(limits={1000: [20, 30, 30, 20]}, withdrawal_days=20, reminder_days=1)
    runs = [RunDates(start=at("2026-09-01"), end=at("2027-03-01"))]
    payments = policy.schedule(
        total=Decimal("999.99"),
        product_type=ProductType.CREDENTIAL,
        anchor=at("2026-06-01"),
        runs=runs,
    )
    assert [str(item.amount) for item in payments] == ["200.00", "300.00", "300.00", "199.99"]
    assert payments[0].due_date == next_working_day(date(2026, 6, 21))
    assert policy.reminder_before == timedelta(days=1)
    # It travels in workflow inputs as JSON and comes back the same.
    assert SchedulePolicy.model_validate_json(policy.model_dump_json()) == policy

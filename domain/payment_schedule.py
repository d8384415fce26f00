"""Payment schedules: how many installments, how much, and when (spec 20).

Dates are calendar days in France (Europe/Paris): the withdrawal period and
working days are French notions, and a signature at 00:30 in Paris is that
day there whatever UTC says.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from zoneinfo import ZoneInfo

import holidays
from pydantic import BaseModel

from domain.catalog import CENT, ProductType
from domain.errors import Unprocessable, error_class

PARIS = ZoneInfo("Europe/Paris")
DEFAULT_LIMITS: dict[int, list[int]] = {200: [30, 70], 500: [30, 35, 35], 1000: [30, 25, 25, 20]}
DEFAULT_WITHDRAWAL_PERIOD_DAYS = 16

CourseDatesMissing = error_class(Unprocessable, "course_dates_missing")


class ScheduledPayment(BaseModel):
    due_date: date
    amount: Decimal


def check_limits(limits: Mapping[int, Sequence[int]]) -> None:
    """Each split is a list of positive percentages adding up to 100."""
    if not limits:
        raise ValueError("at least one limit is needed")
    for limit, split in limits.items():
        if not split or any(part <= 0 for part in split) or sum(split) != 100:
            raise ValueError(f"the split for {limit} must be positive percentages adding up to 100")


def split_for(total: Decimal, limits: Mapping[int, Sequence[int]]) -> list[int]:
    """The first limit at or above the total wins; above the last, the last split."""
    ordered = sorted(limits.items())
    for limit, split in ordered:
        if total <= limit:
            return list(split)
    return list(ordered[-1][1])


def paris_day(moment: datetime) -> date:
    return moment.astimezone(PARIS).date()


@cache
def _french_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("FR", years=year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _french_holidays(day.year)


def next_working_day(day: date) -> date:
    """The day itself when it is a working day, else the next one."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def add_months(day: date, months: int) -> date:
    """Same day of the month, or the month's last day when it is shorter."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_dates(
    *, anchor: date, course_start: date, course_end: date, count: int, withdrawal_days: int
) -> list[date]:
    first = next_working_day(anchor + timedelta(days=withdrawal_days))
    if first >= course_start:
        # The course starts before the withdrawal period ends: pay at once.
        first = anchor
    if count == 1 or first >= course_end:
        return [first]
    second = course_start if first < course_start else add_months(first, 1)
    dates = [first]
    for index in range(count - 1):
        due = add_months(second, index)
        if due > course_end:
            # The course is over before the schedule: its end closes it.
            dates.append(course_end)
            break
        dates.append(due)
    return dates


def split_amounts(total: Decimal, percentages: Sequence[int], count: int) -> list[Decimal]:
    """Cents rounded half up; the last installment takes the remainder, so the
    sum is exactly the total."""
    amounts = [
        (total * percentage / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        for percentage in percentages[: count - 1]
    ]
    amounts.append(total - sum(amounts, Decimal("0.00")))
    return amounts


def compute_schedule(
    *,
    total: Decimal,
    product_type: ProductType,
    anchor: datetime,
    course_start: datetime | None,
    course_end: datetime | None,
    limits: Mapping[int, Sequence[int]] = DEFAULT_LIMITS,
    withdrawal_days: int = DEFAULT_WITHDRAWAL_PERIOD_DAYS,
) -> list[ScheduledPayment]:
    """The installments of a paid order; none for a free one.

    `anchor` is the learner's signature date, or the order's date when no
    contract is needed."""
    if total <= 0:
        return []
    today = paris_day(anchor)
    if product_type is ProductType.CERTIFICATE:
        return [ScheduledPayment(due_date=today, amount=total)]
    if course_start is None or course_end is None:
        raise CourseDatesMissing("The course has no start or end date: no schedule can be set.")
    percentages = split_for(total, limits)
    dates = due_dates(
        anchor=today,
        course_start=paris_day(course_start),
        course_end=paris_day(course_end),
        count=len(percentages),
        withdrawal_days=withdrawal_days,
    )
    amounts = split_amounts(total, percentages, len(dates))
    if any(amount <= 0 for amount in amounts):
        # A total of a few cents rounds a share to nothing: one payment, first date.
        return [ScheduledPayment(due_date=dates[0], amount=total)]
    return [
        ScheduledPayment(due_date=due, amount=amount)
        for due, amount in zip(dates, amounts, strict=True)
    ]

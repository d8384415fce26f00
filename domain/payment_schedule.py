"""Payment schedules: how many installments, how much, and when (spec 20).

Dates are calendar days in France (Europe/Paris): the withdrawal period and
working days are French notions, and a signature at 00:30 in Paris is that
day there whatever UTC says.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from zoneinfo import ZoneInfo

import holidays
from pydantic import BaseModel, ConfigDict

from domain.catalog import CENT, RUN_YEARS, ProductType
from domain.errors import Unprocessable, error_class

PARIS = ZoneInfo("Europe/Paris")
DEFAULT_LIMITS: dict[int, list[int]] = {200: [30, 70], 500: [30, 35, 35], 1000: [30, 25, 25, 20]}
DEFAULT_WITHDRAWAL_PERIOD_DAYS = 16

CourseDatesMissing = error_class(Unprocessable, "course_dates_missing")


class ScheduledPayment(BaseModel):
    """An installment: when it is debited (`due_at`) and its French calendar day."""

    due_at: datetime
    amount: Decimal

    @property
    def due_date(self) -> date:
        return paris_day(self.due_at)


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


def _at_time_of(day: date, moment: datetime) -> datetime:
    """`day` at the Paris time of day of `moment`."""
    local = moment.astimezone(PARIS)
    return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=PARIS)


def add_months_at(moment: datetime, months: int) -> datetime:
    local = moment.astimezone(PARIS)
    return _at_time_of(add_months(local.date(), months), local)


def due_moments(
    *,
    anchor: datetime,
    course_start: datetime,
    course_end: datetime,
    count: int,
    withdrawal_days: int,
) -> list[datetime]:
    """When each installment is debited.

    The first: the anchor plus the withdrawal period, on the next French
    working day (at the anchor's time of day), or the anchor itself when the
    course starts before that. The second: the course start (or a month after
    the first), then monthly at the same time; the course end closes it."""
    today = paris_day(anchor)
    first_day = next_working_day(today + timedelta(days=withdrawal_days))
    first = anchor if first_day >= paris_day(course_start) else _at_time_of(first_day, anchor)
    if count == 1 or first >= course_end:
        return [first]
    second = course_start if first < course_start else add_months_at(first, 1)
    moments = [first]
    for index in range(count - 1):
        due = add_months_at(second, index)
        if due > course_end:
            moments.append(course_end)
            break
        moments.append(due)
    return moments


def split_amounts(total: Decimal, percentages: Sequence[int], count: int) -> list[Decimal]:
    """Cents rounded half up; the last installment takes the remainder, so the
    sum is exactly the total."""
    amounts = [
        (total * percentage / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        for percentage in percentages[: count - 1]
    ]
    amounts.append(total - sum(amounts, Decimal("0.00")))
    return amounts


class RunDates(BaseModel):
    """A course run's dates, as far as the schedule cares."""

    start: datetime | None
    end: datetime | None


# Runs stored before their dates were checked may end at the calendar's end
# (an "open-ended" run): such an end is read as this one, which leaves the
# schedule's arithmetic room (a month later, a day in Paris) before year 10000.
LAST_SANE_END = datetime(RUN_YEARS[-1], 12, 31, 23, 0, tzinfo=UTC)


def _sane(moment: datetime | None) -> bool:
    return moment is not None and moment.year in RUN_YEARS


def course_window(
    runs: Sequence[RunDates], *, at: datetime
) -> tuple[datetime | None, datetime | None]:
    """From the first start to the last end of the runs that have not ended at
    `at`: a run already over must not move the due dates (it would make the
    learner pay at once, without a withdrawal period). (None, None) when a
    remaining run has no dates or a start outside RUN_YEARS, or none remains;
    an end past RUN_YEARS counts as LAST_SANE_END."""
    remaining = [run for run in runs if run.end is None or run.end > at]
    if not remaining or any(not _sane(run.start) or run.end is None for run in remaining):
        return None, None
    starts = [run.start for run in remaining if run.start is not None]
    ends = [min(run.end, LAST_SANE_END) for run in remaining if run.end is not None]
    return min(starts), max(ends)


def compute_schedule(
    *,
    total: Decimal,
    product_type: ProductType,
    anchor: datetime,
    course_start: datetime | None,
    course_end: datetime | None,
    limits: Mapping[int, Sequence[int]],
    withdrawal_days: int,
) -> list[ScheduledPayment]:
    """The installments of a paid order; none for a free one.

    `anchor` is the learner's signature moment, or the order's when no
    contract is needed. `limits` and `withdrawal_days` have no default: a
    caller that forgot them once made the contract differ from the debits
    (SchedulePolicy.schedule is the way in)."""
    if total <= 0:
        return []
    if product_type is ProductType.CERTIFICATE:
        return [ScheduledPayment(due_at=anchor, amount=total)]
    if course_start is None or course_end is None:
        raise CourseDatesMissing(
            "The course has no start or end date (or one out of range): no schedule can be set."
        )
    percentages = split_for(total, limits)
    moments = due_moments(
        anchor=anchor,
        course_start=course_start,
        course_end=course_end,
        count=len(percentages),
        withdrawal_days=withdrawal_days,
    )
    amounts = split_amounts(total, percentages, len(moments))
    if any(amount <= 0 for amount in amounts):
        # A total of a few cents rounds a share to nothing: one payment, first date.
        return [ScheduledPayment(due_at=moments[0], amount=total)]
    return [
        ScheduledPayment(due_at=due, amount=amount)
        for due, amount in zip(moments, amounts, strict=True)
    ]


class SchedulePolicy(BaseModel):
    """The settings a schedule is made with, fixed when the order is created
    and carried in its workflow input: the plan shown, the contract signed and
    the installments debited come from this one value (settings changed later
    do not touch orders already placed)."""

    model_config = ConfigDict(frozen=True)

    limits: dict[int, list[int]] = DEFAULT_LIMITS
    withdrawal_days: int = DEFAULT_WITHDRAWAL_PERIOD_DAYS
    reminder_days: float = 2

    @property
    def reminder_before(self) -> timedelta:
        return timedelta(days=self.reminder_days)

    def schedule(
        self,
        *,
        total: Decimal,
        product_type: ProductType,
        anchor: datetime,
        runs: Sequence[RunDates],
    ) -> list[ScheduledPayment]:
        """The installments of an order of `total` anchored at `anchor`, over
        the runs that have not ended by then."""
        start, end = course_window(runs, at=anchor)
        return compute_schedule(
            total=total,
            product_type=product_type,
            anchor=anchor,
            course_start=start,
            course_end=end,
            limits=self.limits,
            withdrawal_days=self.withdrawal_days,
        )

"""What operators ask without knowing an id: which orders are in a state,
whose they are, which are overdue (Temporal's visibility, through the
search attributes), and what happened and is next for one order (its events
in the database and its pending timers in Temporal, one timeline)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecution, WorkflowHistory

from domain.errors import Unprocessable, error_class
from domain.orders import OrderState
from models import users
from services import orders, workflows
from workflows import search
from workflows.order import workflow_id

UnsafeQueryValue = error_class(Unprocessable, "unsafe_query_value")
# Visibility queries quote values in single quotes: a value holding one (or a
# backslash) could end the string; no id of ours does.
SAFE_VALUE = re.compile(r"^[^'\\\x00-\x1f]{1,255}$")
# Asking Temporal stays quick or fails: an operator retries.
WITHIN = timedelta(seconds=10)


@dataclass(frozen=True)
class FoundOrder:
    workflow_id: str
    running: bool
    state: str | None
    learner: str | None
    organization: str | None
    next_due_at: datetime | None
    overdue_since: datetime | None


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    source: str  # "event" (the database) or "timer" (Temporal, pending)
    text: str


def _quoted(value: str) -> str:
    if not SAFE_VALUE.fullmatch(value):
        raise UnsafeQueryValue(f"Cannot search for {value!r}: quotes and control characters.")
    return f"'{value}'"


def orders_query(*, state: OrderState | None, learners: list[str], overdue: bool) -> str:
    """The visibility query of `guichet orders find`."""
    clauses = [f"{search.KIND.name}='order'"]
    if state is not None:
        clauses.append(f"{search.ORDER_STATE.name}='{state.value}'")
    if learners:
        clauses.append(f"{search.LEARNER.name} IN ({', '.join(map(_quoted, learners))})")
    if overdue:
        clauses.append(f"{search.OVERDUE_SINCE.name} IS NOT NULL")
    return " AND ".join(clauses)


def _found(item: WorkflowExecution) -> FoundOrder:
    attributes = item.typed_search_attributes
    return FoundOrder(
        workflow_id=item.id,
        running=item.close_time is None,
        state=attributes.get(search.ORDER_STATE),
        learner=attributes.get(search.LEARNER),
        organization=attributes.get(search.ORGANIZATION),
        next_due_at=attributes.get(search.NEXT_DUE_AT),
        overdue_since=attributes.get(search.OVERDUE_SINCE),
    )


async def find_orders(
    *,
    temporal: Client,
    session: AsyncSession,
    state: OrderState | None = None,
    learner: str | None = None,
    email: str | None = None,
    overdue: bool = False,
    limit: int = 100,
) -> list[FoundOrder]:
    """Orders by state, learner (id, or email resolved in the database) or
    overdue; an email no user has finds nothing."""
    learners = [learner] if learner else []
    if email is not None:
        learners = await users.ids_by_email(session=session, email=email)
        if not learners:
            return []
    query = orders_query(state=state, learners=learners, overdue=overdue)
    found = await workflows.find(temporal=temporal, query=query, within=WITHIN, limit=limit)
    return [_found(item) for item in found]


def pending_timers(history: WorkflowHistory) -> list[TimelineEntry]:
    """Timers started and neither fired nor canceled: what the workflow waits
    for next (a due date, a reminder, a retry, the grace period's end)."""
    started: dict[str, TimelineEntry] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            timer = event.timer_started_event_attributes
            set_at = event.event_time.ToDatetime(tzinfo=UTC)
            fires = set_at + timer.start_to_fire_timeout.ToTimedelta()
            started[timer.timer_id] = TimelineEntry(
                at=fires, source="timer", text=f"fires (set {set_at:%Y-%m-%d %H:%M:%S})"
            )
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            started.pop(event.timer_fired_event_attributes.timer_id, None)
        elif event.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
            started.pop(event.timer_canceled_event_attributes.timer_id, None)
    return list(started.values())


def _event_text(event) -> str:
    moved = f" ({event.from_state or '-'} -> {event.to_state})" if event.to_state else ""
    detail = "".join(f" {key}={value}" for key, value in sorted((event.detail or {}).items()))
    return f"{event.type}{moved}{detail}"


async def order_timeline(
    *, temporal: Client, session: AsyncSession, order_id: uuid.UUID
) -> list[TimelineEntry]:
    """The order's events, then what its workflow waits for, by time."""
    entries = [
        TimelineEntry(at=event.at, source="event", text=_event_text(event))
        for event in await orders.events(session=session, order_id=order_id)
    ]
    try:
        history = await workflows.history(
            temporal=temporal, workflow_id=workflow_id(order_id), within=WITHIN
        )
    except workflows.WorkflowClosed:
        return entries  # no workflow (any more) for this order
    return sorted(entries + pending_timers(history), key=lambda entry: entry.at)

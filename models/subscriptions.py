"""Academy subscriptions: granted by a fulfilled checkout intent, then kept
as the payment provider runs them (domain/subscriptions.py folds its events).

One row per (learner, academy): a learner who subscribes again after a
cancellation gets the same row with the new subscription's ids."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    String,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.subscriptions import (
    LIVE,
    NoticeRequest,
    SubscriptionNews,
    SubscriptionNotFound,
    SubscriptionState,
    SubscriptionStatus,
    fold,
    later,
)
from models import accounting
from models.academies import Academy, CheckoutIntent
from models.base import Base, TimestampMixin, UTCDateTime, new_id, upsert_insert, utcnow

LIVE_VALUES = [status.value for status in LIVE]


class AcademySubscription(TimestampMixin, Base):
    """What a fulfilled checkout intent grants, as the provider keeps it."""

    __tablename__ = "academy_subscriptions"
    __table_args__ = (UniqueConstraint("user_id", "academy_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    academy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("academies.id", ondelete="CASCADE"))
    checkout_intent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("checkout_intents.id", ondelete="CASCADE")
    )
    # Whether the learner has the academy: the status is one of LIVE.
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(
        String(40), default=SubscriptionStatus.ACTIVE.value, server_default="active"
    )
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The provider's time of the last event whose word on the state was taken.
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SentSubscriptionEmail(Base):
    """The guard that makes each subscription mail go out once per event."""

    __tablename__ = "subscription_emails"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("academy_subscriptions.id", ondelete="CASCADE")
    )
    recipient: Mapped[str] = mapped_column(String(320))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def _state(row: AcademySubscription) -> SubscriptionState:
    return SubscriptionState(
        subscription_id=row.stripe_subscription_id,
        status=SubscriptionStatus(row.status),
        current_period_end=row.current_period_end,
        cancel_at=row.cancel_at,
        canceled_at=row.canceled_at,
        last_event_at=row.last_event_at,
    )


def _write(row: AcademySubscription, state: SubscriptionState) -> None:
    row.stripe_subscription_id = state.subscription_id
    row.status = state.status.value
    row.is_active = state.is_live
    row.current_period_end = state.current_period_end
    row.cancel_at = state.cancel_at
    row.canceled_at = state.canceled_at
    row.last_event_at = state.last_event_at
    row.updated_at = utcnow()


async def grant(*, session: AsyncSession, intent: CheckoutIntent) -> None:
    """The subscription a fulfilled intent gives, once: its events may have
    made the row first (they name the intent too)."""
    row = await _learners_row(session, intent)
    if row.checkout_intent_id != intent.id and not row.is_active:
        # A new purchase after a cancellation: the row starts again from it.
        _restart(row, intent.id)


async def _learners_row(session: AsyncSession, intent: CheckoutIntent) -> AcademySubscription:
    """The learner's row for the intent's academy (made from the intent if
    they have none), locked."""
    await session.execute(
        upsert_insert(session)(AcademySubscription)
        .values(
            id=new_id(),
            user_id=intent.user_id,
            academy_id=intent.academy_id,
            checkout_intent_id=intent.id,
            is_active=True,
            status=SubscriptionStatus.ACTIVE.value,
        )
        .on_conflict_do_nothing()
    )
    row = await _of_learner(session, intent.user_id, intent.academy_id)
    assert row is not None
    return row


def _restart(row: AcademySubscription, intent_id: uuid.UUID) -> None:
    row.checkout_intent_id = intent_id
    _write(row, SubscriptionState())


async def _of_learner(
    session: AsyncSession, user_id: str, academy_id: uuid.UUID
) -> AcademySubscription | None:
    return await session.scalar(
        select(AcademySubscription)
        .where(AcademySubscription.user_id == user_id, AcademySubscription.academy_id == academy_id)
        .with_for_update()
    )


async def _row_for(session: AsyncSession, news: SubscriptionNews) -> AcademySubscription | None:
    """The row an event is about: by its subscription, else by the intent
    it names (an event may come before the intent is fulfilled)."""
    found = await session.scalar(
        select(AcademySubscription)
        .where(AcademySubscription.stripe_subscription_id == news.subscription_id)
        .with_for_update()
    )
    if found is not None or news.checkout_intent_id is None:
        return found
    try:
        intent_id = uuid.UUID(news.checkout_intent_id)
    except ValueError:
        return None
    intent = await session.get(CheckoutIntent, intent_id)
    if intent is None:
        return None
    row = await _learners_row(session, intent)
    if row.checkout_intent_id != intent.id:
        held = await session.get(CheckoutIntent, row.checkout_intent_id)
        if row.is_active or (held is not None and held.created_at > intent.created_at):
            # Another subscription of theirs, live or newer: not this one's row.
            return None
        _restart(row, intent.id)
    return row


@dataclass(frozen=True)
class Applied:
    row: AcademySubscription
    # Its word on the state was taken (not older than what was applied).
    taken: bool


async def apply(*, session: AsyncSession, news: SubscriptionNews) -> Applied | None:
    """Fold one event into the row it is about; None when it is about no
    subscription of ours."""
    row = await _row_for(session, news)
    if row is None:
        return None
    state, taken = fold(_state(row), news)
    _write(row, state)
    await session.flush()
    return Applied(row=row, taken=taken)


async def apply_with_payment(*, session: AsyncSession, news: SubscriptionNews) -> Applied | None:
    """`apply`, and a renewal's money in the cash book (once per invoice,
    whatever the order events come in)."""
    applied = await apply(session=session, news=news)
    if applied is not None and news.renews:
        assert news.amount is not None and news.currency is not None
        await accounting.record_academy_payment(
            session=session,
            source=f"invoice:{news.invoice_id}",
            user_id=applied.row.user_id,
            academy_id=applied.row.academy_id,
            amount=news.amount,
            currency=news.currency,
            at=news.created,
        )
    return applied


def notice_of(news: SubscriptionNews, applied: Applied | None) -> NoticeRequest | None:
    """The mail an applied event calls for: none for a late one (a payment
    failed that a newer event has settled)."""
    if applied is None or not applied.taken or news.notice is None:
        return None
    return NoticeRequest(
        event_id=news.event_id, subscription_row_id=applied.row.id, notice=news.notice
    )


async def record_cancel(
    *,
    session: AsyncSession,
    row: AcademySubscription,
    status: SubscriptionStatus | None,
    cancel_at: datetime | None,
) -> None:
    """The provider's answer to our cancellation, its word as of now: an
    event made before it (delivered late) no longer changes the state."""
    now = utcnow()
    row.cancel_at = cancel_at or row.current_period_end
    if status is not None:
        row.status = status.value
        row.is_active = status in LIVE
    row.last_event_at = later(row.last_event_at, now)
    row.updated_at = now
    await session.flush()


# --- reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionView:
    subscription: AcademySubscription
    academy: Academy


def _views_query():
    return select(AcademySubscription, Academy).join(
        Academy, Academy.id == AcademySubscription.academy_id
    )


async def of_user(
    *, session: AsyncSession, user_id: str, offset: int, limit: int
) -> tuple[int, list[SubscriptionView]]:
    query = (
        _views_query()
        .where(AcademySubscription.user_id == user_id)
        .order_by(AcademySubscription.created_at.desc(), AcademySubscription.id)
    )
    count = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = await session.execute(query.offset(offset).limit(limit))
    return int(count or 0), [SubscriptionView(*row) for row in rows]


async def get(
    *, session: AsyncSession, id: uuid.UUID, user_id: str | None, for_update: bool = False
) -> SubscriptionView:
    query = _views_query().where(AcademySubscription.id == id)
    if user_id is not None:
        query = query.where(AcademySubscription.user_id == user_id)
    if for_update:
        query = query.with_for_update(of=AcademySubscription)
    found = (await session.execute(query)).one_or_none()
    if found is None:
        raise SubscriptionNotFound(f"No subscription {id}.")
    return SubscriptionView(*found)


async def live_one(
    *, session: AsyncSession, user_id: str, academy_id: uuid.UUID
) -> AcademySubscription | None:
    return await session.scalar(
        select(AcademySubscription).where(
            AcademySubscription.user_id == user_id,
            AcademySubscription.academy_id == academy_id,
            AcademySubscription.status.in_(LIVE_VALUES),
        )
    )


async def reserve_email(
    *, session: AsyncSession, event_id: str, kind: str, subscription_id: uuid.UUID, recipient: str
) -> bool:
    """True if this mail was never sent; the row commits with the sending."""
    statement = (
        upsert_insert(session)(SentSubscriptionEmail)
        .values(
            event_id=event_id,
            kind=kind,
            subscription_id=subscription_id,
            recipient=recipient,
            sent_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["event_id", "kind"])
        .returning(SentSubscriptionEmail.event_id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None

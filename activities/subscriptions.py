"""Activities of academy subscriptions: the mail an event calls for, and
the backfill of the provider's events a webhook did not bring."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.emails import mail_once
from domain.academies import IntentPaid
from domain.emails import EmailContext, EmailKind
from domain.errors import MalformedNotification
from domain.subscriptions import NoticeRequest
from integrations.mail import Mailer, render
from integrations.payments.base import PaymentProvider, ProviderUnavailable, intent_paid
from models import inbound_events, subscriptions
from models.users import User


class MissingEvents(BaseModel):
    since: datetime
    # At most this many a run: the next run takes the rest.
    limit: int = 500


class CaughtUp(BaseModel):
    """What an event stored by the backfill asks of its workflow."""

    applied: bool = False
    # An academy checkout it pays: the intent's workflow is told.
    checkout_intent_id: str | None = None
    paid: IntentPaid | None = None
    notice: NoticeRequest | None = None


class SubscriptionActivities:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        payments: PaymentProvider,
        mailer: Mailer,
        subscriptions_url: str,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._payments = payments
        self._mailer = mailer
        self._subscriptions_url = subscriptions_url

    @activity.defn(name="subscriptions.notify")
    async def notify(self, request: NoticeRequest) -> bool:
        """The mail, once per event; True if this call sent it. A refusal
        for good is logged and not retried; a server down is retried."""
        return await mail_once(
            self._sessionmaker,
            lambda session: self._send(session, request),
            kind=request.notice.value,
        )

    async def _send(self, session: AsyncSession, request: NoticeRequest) -> bool:
        view = await subscriptions.get(
            session=session, id=request.subscription_row_id, user_id=None
        )
        learner = await session.get(User, view.subscription.user_id)
        if learner is None or not learner.email:
            return False
        fresh = await subscriptions.reserve_email(
            session=session,
            event_id=request.event_id,
            kind=request.notice.value,
            subscription_id=view.subscription.id,
            recipient=learner.email,
        )
        if not fresh:
            return False
        context = EmailContext(
            learner_name=learner.name or learner.email,
            product_title=view.academy.long_name or view.academy.name,
            subscriptions_url=self._subscriptions_url,
        )
        kind = EmailKind(request.notice.value)
        # Sent inside the transaction: a failure rolls the guard back for the retry.
        await self._mailer.send(render(kind=kind, language=None, context=context, to=learner.email))
        return True

    @activity.defn(name="subscriptions.missing_events")
    async def missing_events(self, request: MissingEvents) -> list[str]:
        """The provider's subscription events since then that Guichet has not stored."""
        try:
            listed = await self._payments.recent_events(since=request.since)
        except ProviderUnavailable as outage:
            raise ApplicationError(str(outage), type="provider_unavailable") from None
        async with self._sessionmaker() as session:
            stored = await inbound_events.stored_among(
                session=session, source=self._payments.name, event_ids=listed
            )
        return [event_id for event_id in listed if event_id not in stored][: request.limit]

    @activity.defn(name="subscriptions.catch_up")
    async def catch_up(self, event_id: str) -> CaughtUp:
        """Read one event back from the provider, then store and fold it in
        one transaction, as its webhook would have."""
        try:
            event, payload = await self._payments.event(event_id=event_id)
        except ProviderUnavailable as outage:
            raise ApplicationError(str(outage), type="provider_unavailable") from None
        except MalformedNotification as unreadable:
            raise ApplicationError(str(unreadable), non_retryable=True) from None
        async with self._sessionmaker.begin() as session:
            if not await inbound_events.store_once(
                session=session,
                source=self._payments.name,
                event_id=event.event_id,
                payload=payload,
            ):
                return CaughtUp()  # its webhook came meanwhile
            caught = CaughtUp(applied=True)
            if event.subscription is not None:
                applied = await subscriptions.apply_with_payment(
                    session=session, news=event.subscription
                )
                caught.notice = subscriptions.notice_of(event.subscription, applied)
        if event.pays_checkout:
            caught.checkout_intent_id = event.checkout_intent_id
            caught.paid = intent_paid(event)
        return caught

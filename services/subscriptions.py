"""Academy subscriptions: a learner's list, their cancellation, and the
provider's events folded into them (from a webhook, in its transaction).

A subscription is the provider's process; Guichet keeps a record of it. An
event is stored and folded in one transaction; the mail it calls for (a
payment failed) is a workflow started in that same transaction, so a mail
server down never holds up the record, and Temporal down keeps nothing (the
provider delivers the event again)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from domain.payments import PaymentProviderUnavailable
from domain.subscriptions import (
    LIVE,
    SubscriptionNews,
    SubscriptionNotActive,
    SubscriptionStatus,
    notice_workflow_id,
)
from integrations.payments.base import PaymentProvider, ProviderUnavailable
from models import subscriptions
from models.subscriptions import SubscriptionView
from services import workflows
from settings import Settings
from workflows.subscription import SubscriptionNoticeWorkflow


async def receive_news(
    *, session: AsyncSession, temporal: Client, settings: Settings, news: SubscriptionNews
) -> bool:
    """Fold a provider event into the subscription it is about; False when
    it is about none of ours."""
    applied = await subscriptions.apply_with_payment(session=session, news=news)
    notice = subscriptions.notice_of(news, applied)
    if notice is not None:
        await workflows.start(
            temporal=temporal,
            run=SubscriptionNoticeWorkflow.run,
            workflow_id=notice_workflow_id(news.event_id),
            workflow_input=notice,
            task_queue=settings.task_queue,
            within=workflows.SIGNAL_BUDGET,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    return applied is not None


async def of_user(
    *, session: AsyncSession, user_id: str, offset: int, limit: int
) -> tuple[int, list[SubscriptionView]]:
    """A learner's academy subscriptions, newest first."""
    return await subscriptions.of_user(session=session, user_id=user_id, offset=offset, limit=limit)


async def cancel(
    *,
    session: AsyncSession,
    provider: PaymentProvider,
    subscription_id: uuid.UUID,
    user_id: str | None,
) -> SubscriptionView:
    """Cancel at the end of the period paid: the learner keeps the academy
    until then. Asking again answers the same; 409 `subscription_not_active`
    once it is over. With `user_id`, only that learner's (another's is a 404)."""
    view = await subscriptions.get(
        session=session, id=subscription_id, user_id=user_id, for_update=True
    )
    row = view.subscription
    if SubscriptionStatus(row.status) not in LIVE or row.stripe_subscription_id is None:
        raise SubscriptionNotActive(f"Subscription {row.id} is {row.status}: nothing to cancel.")
    if row.cancel_at is not None:
        return view
    try:
        answer = await provider.cancel_subscription(reference=row.stripe_subscription_id)
    except ProviderUnavailable:
        raise PaymentProviderUnavailable(
            "The payment provider cannot be reached; nothing was canceled. Retry later."
        ) from None
    await subscriptions.record_cancel(
        session=session, row=row, status=answer.status, cancel_at=answer.cancel_at
    )
    return view

"""Academy subscription workflows.

SubscriptionNoticeWorkflow (`subscription-notice:<event id>`): the mail a
provider event calls for (a payment failed), apart from the webhook that
folded it: a mail server down never holds the event up.

StripeEventsBackfillWorkflow (Temporal Schedule `stripe-events-backfill`):
the provider's subscription events of the last days that no webhook
brought are read back, stored and folded as their webhook would have been;
a checkout they pay is told to its intent's workflow.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError

from workflows import search
from workflows.academy import SIGNAL_PAID

with workflow.unsafe.imports_passed_through():
    from activities.emails import EMAIL_RETRY
    from activities.subscriptions import MissingEvents, SubscriptionActivities
    from domain.academies import intent_workflow_id
    from domain.subscriptions import BACKFILL_WINDOW, NoticeRequest

MAIL_OPTIONS = {"start_to_close_timeout": timedelta(seconds=60), "retry_policy": EMAIL_RETRY}
PROVIDER_OPTIONS = {
    "start_to_close_timeout": timedelta(seconds=120),
    # The next scheduled run tries again: a provider down ends this one.
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=5),
}


@workflow.defn(name="SubscriptionNoticeWorkflow")
class SubscriptionNoticeWorkflow:
    @workflow.run
    async def run(self, request: NoticeRequest) -> bool:
        search.index_start("subscription_notice")
        return await _notify(request)


async def _notify(request: NoticeRequest) -> bool:
    try:
        return await workflow.execute_activity_method(
            SubscriptionActivities.notify, request, **MAIL_OPTIONS
        )
    except ActivityError:
        workflow.logger.warning("subscription mail %s not sent", request.notice.value)
        return False


class BackfillResult(BaseModel):
    missing: int = 0
    applied: int = 0
    checkouts: int = 0
    notices: int = 0


@workflow.defn(name="StripeEventsBackfillWorkflow")
class StripeEventsBackfillWorkflow:
    @workflow.run
    async def run(self) -> BackfillResult:
        search.index_start("stripe_events_backfill")
        missing = await workflow.execute_activity_method(
            SubscriptionActivities.missing_events,
            MissingEvents(since=workflow.now() - BACKFILL_WINDOW),
            **PROVIDER_OPTIONS,
        )
        result = BackfillResult(missing=len(missing))
        for event_id in missing:
            caught = await workflow.execute_activity_method(
                SubscriptionActivities.catch_up, event_id, **PROVIDER_OPTIONS
            )
            result.applied += caught.applied
            if caught.checkout_intent_id and caught.paid:
                result.checkouts += await _tell_intent(caught.checkout_intent_id, caught.paid)
            if caught.notice is not None:
                result.notices += await _notify(caught.notice)
        return result


async def _tell_intent(intent_id: str, paid: object) -> bool:
    """The intent's workflow hears it is paid; False when it is over."""
    handle = workflow.get_external_workflow_handle(intent_workflow_id(intent_id))
    try:
        await handle.signal(SIGNAL_PAID, paid)
    except FailureError:
        return False
    return True

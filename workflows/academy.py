"""Academy workflows.

CatalogSyncWorkflow: one catalogue sync, started by the `catalog-sync`
Temporal Schedule (or the admin trigger). A source that stays down past the
retry policy becomes an error of the result; what was stored before stays.

CheckoutIntentWorkflow (`checkout-intent:<id>`): a created intent expires at
`expires_at` unless Stripe says it is paid first; a paid one is fulfilled
(an AcademySubscription), flagged errored_fulfillment_stalled when that
takes longer than the stall limit, and fulfilled once it succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import search
from workflows.process_owned import WritesItsRow

with workflow.unsafe.imports_passed_through():
    from activities.academies import (
        AcademyActivities,
        IntentMove,
        IntentPaidRequest,
        SyncRecord,
    )
    from domain.academies import (
        CheckoutUnavailable,
        IntentInput,
        IntentPaid,
        IntentState,
        SyncInput,
        SyncResult,
    )

SIGNAL_PAID = "paid"
# Runs started before the workflow wrote its own row replay without it.
PATCH_WRITES_ITS_ROW = "intent-writes-its-row"
# Runs started before intents had a payment page replay without one.
PATCH_OPENS_CHECKOUT = "intent-opens-checkout"
# The provider down: its page is asked again at most this far apart, until
# the intent expires.
CHECKOUT_OPTIONS = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}
WRITE_OPTIONS = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}


@workflow.defn(name="CatalogSyncWorkflow")
class CatalogSyncWorkflow:
    @workflow.run
    async def run(self, params: SyncInput | None = None) -> SyncResult:
        search.index_start("catalog_sync")
        source_options = _source_options(params or SyncInput())
        result = SyncResult()
        try:
            payload = await workflow.execute_activity_method(
                AcademyActivities.fetch_catalog, **source_options
            )
            result = await workflow.execute_activity_method(
                AcademyActivities.upsert, payload, **WRITE_OPTIONS
            )
        except ActivityError as error:
            result.errors.append(f"catalogue: {_cause(error)}")
        try:
            result.prices = await workflow.execute_activity_method(
                AcademyActivities.sync_prices, **source_options
            )
        except ActivityError as error:
            result.errors.append(f"prices: {_cause(error)}")
        await workflow.execute_activity_method(
            AcademyActivities.record_sync,
            SyncRecord(workflow_id=workflow.info().workflow_id, result=result),
            **WRITE_OPTIONS,
        )
        return result


def _source_options(params: SyncInput) -> dict:
    """A source down past these retries fails its step, not the run."""
    return {
        "start_to_close_timeout": timedelta(seconds=60),
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(seconds=1),
            maximum_interval=params.source_max_interval,
            maximum_attempts=params.source_attempts,
        ),
    }


def _cause(error: ActivityError) -> str:
    return str(error.cause or error)


@workflow.defn(name="CheckoutIntentWorkflow")
class CheckoutIntentWorkflow(WritesItsRow):
    def __init__(self) -> None:
        super().__init__()
        self._paid: IntentPaid | None = None
        self._checkout_url: str | None = None
        self._checkout_refusal: str | None = None

    @workflow.run
    async def run(self, params: IntentInput) -> IntentState:
        search.index_start("checkout_intent", (search.LEARNER, params.user_id))
        if params.user_id is not None and workflow.patched(PATCH_WRITES_ITS_ROW):
            # No intent row exists without a workflow to expire or fulfil it.
            await self._write_row(
                workflow.execute_activity_method(
                    AcademyActivities.create_intent, params, **WRITE_OPTIONS
                )
            )
        opening = None
        if params.user_id is not None and workflow.patched(PATCH_OPENS_CHECKOUT):
            # Beside the expiry timer: a provider down never keeps the intent alive.
            opening = asyncio.create_task(self._open_checkout(params))
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._paid is not None,
                timeout=max(params.expires_at - workflow.now(), timedelta(0)),
            )
        if opening is not None:
            await self._stop_opening(opening)
        if self._paid is None:
            return await self._move(params, IntentState.EXPIRED)
        state = await workflow.execute_activity_method(
            AcademyActivities.mark_paid,
            IntentPaidRequest(intent_id=params.intent_id, paid=self._paid),
            **WRITE_OPTIONS,
        )
        if state is not IntentState.PAID:
            return state
        return await self._fulfil(params)

    async def _open_checkout(self, params: IntentInput) -> None:
        try:
            self._checkout_url = await workflow.execute_activity_method(
                AcademyActivities.open_checkout, params.intent_id, **CHECKOUT_OPTIONS
            )
        except ActivityError as error:
            self._checkout_refusal = _cause(error)

    @staticmethod
    async def _stop_opening(opening: asyncio.Task[None]) -> None:
        """Still asking the provider when the intent ends: no page is needed."""
        if not opening.done():
            opening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await opening

    @workflow.update(name="checkout")
    async def checkout(self) -> str:
        """The URL of the page where the learner pays, once it is made."""
        await workflow.wait_condition(
            lambda: self._checkout_url is not None or self._checkout_refusal is not None
        )
        if self._checkout_url is None:
            refused = CheckoutUnavailable
            raise ApplicationError(
                f"The payment page could not be made: {self._checkout_refusal}",
                {"status": refused.status, "details": None},
                type=refused.code,
            )
        return self._checkout_url

    async def _fulfil(self, params: IntentInput) -> IntentState:
        fulfilment = workflow.start_activity_method(
            AcademyActivities.fulfil, params.intent_id, **WRITE_OPTIONS
        )
        try:
            await workflow.wait_condition(fulfilment.done, timeout=params.stall_after)
        except TimeoutError:
            # Still retrying: say so where operators look, keep trying.
            await self._move(
                params,
                IntentState.ERRORED_FULFILLMENT_STALLED,
                error=f"fulfilment not done within {params.stall_after}",
            )
        return await fulfilment

    async def _move(
        self, params: IntentInput, target: IntentState, error: str | None = None
    ) -> IntentState:
        return await workflow.execute_activity_method(
            AcademyActivities.move_intent,
            IntentMove(intent_id=params.intent_id, target=target, error=error),
            **WRITE_OPTIONS,
        )

    @workflow.signal(name=SIGNAL_PAID)
    def paid(self, news: IntentPaid) -> None:
        if self._paid is None:
            self._paid = news

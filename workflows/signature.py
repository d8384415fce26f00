"""SignatureWorkflow (id `signature:<contract_id>`, child of the order workflow).

The order workflow starts the provider's procedure itself (the learner's
link is its answer) and then this workflow to watch the procedure.

Provider webhooks can come late, twice, out of order, or never; so every
wake-up (a webhook signal, the poll timer, a `refresh` update from the API)
asks the provider where the procedure stands, and the facts are recorded
once whichever path saw them first. The learner's signature is told to the
order at once; the workflow ends when both parties have signed, or when the
procedure is refused, expires, or the order is canceled.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows import search

with workflow.unsafe.imports_passed_through():
    from activities.signatures import SignatureActivities
    from domain.signatures import (
        Notification,
        SignatureState,
        SignatureWorkflowInput,
        next_poll_interval,
    )

WORKFLOW_ID_PREFIX = "signature:"
ACTIVITY_OPTIONS = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}


def workflow_id(contract_id: object) -> str:
    return f"{WORKFLOW_ID_PREFIX}{contract_id}"


# Signals the order workflow listens to.
SIGNAL_SUBMITTED = "signature_submitted"
SIGNAL_LEARNER_SIGNED = "learner_signed"
SIGNAL_RESET = "contract_reset"


@workflow.defn(name="SignatureWorkflow")
class SignatureWorkflow:
    def __init__(self) -> None:
        self._params: SignatureWorkflowInput | None = None
        self._state = SignatureState()
        self._woken = False
        self._canceled = False
        self._outcome: str | None = None
        # One provider check at a time, whoever asks.
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, params: SignatureWorkflowInput) -> str:
        self._params = params
        search.index_start(
            "signature",
            (search.LEARNER, params.learner),
            (search.ORGANIZATION, params.organization_code),
        )
        if params.submission is None:
            submission = await workflow.execute_activity_method(
                SignatureActivities.submit, params.contract_id, **ACTIVITY_OPTIONS
            )
            await self._order().signal(SIGNAL_SUBMITTED, submission.invitation_link)
        deadline = workflow.now() + params.validity
        interval = params.poll_interval
        while self._outcome is None:
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                await self._expire()
                break
            try:
                await workflow.wait_condition(
                    lambda: self._woken or self._canceled or self._outcome is not None,
                    timeout=min(interval, remaining),
                )
            except TimeoutError:
                interval = next_poll_interval(interval, params.poll_max_interval)
            if self._canceled:
                await workflow.execute_activity_method(
                    SignatureActivities.abort, params.contract_id, **ACTIVITY_OPTIONS
                )
                self._outcome = "canceled"
                break
            self._woken = False
            if self._outcome is None:
                await self._check()
        await workflow.wait_condition(workflow.all_handlers_finished)
        assert self._outcome is not None
        return self._outcome

    def _order(self) -> workflow.ExternalWorkflowHandle:
        assert self._params is not None
        return workflow.get_external_workflow_handle(self._params.order_workflow_id)

    async def _check(self) -> None:
        assert self._params is not None
        async with self._lock:
            if self._outcome is not None:
                return
            state = await workflow.execute_activity_method(
                SignatureActivities.check, self._params.contract_id, **ACTIVITY_OPTIONS
            )
            if state.student and not self._state.student:
                await self._order().signal(SIGNAL_LEARNER_SIGNED)
            self._state = state
            if state.refused and not state.student:
                await self._reset()
                self._outcome = "refused"
            elif state.fully_signed:
                self._outcome = "signed"
            elif state.refused:
                # The organization refused after the learner signed: the order
                # stands on the learner's signature; operators follow up.
                self._outcome = "refused_by_organization"

    async def _reset(self) -> None:
        assert self._params is not None
        await workflow.execute_activity_method(
            SignatureActivities.reset, self._params.contract_id, **ACTIVITY_OPTIONS
        )
        await self._order().signal(SIGNAL_RESET)

    async def _expire(self) -> None:
        async with self._lock:
            if self._state.student:
                self._outcome = "expired_after_learner"
                return
            await self._reset()
            self._outcome = "expired"

    @workflow.signal(name="notification")
    def notification(self, notification: Notification) -> None:
        """A provider webhook: a hint to check now, not a fact in itself."""
        self._woken = True

    @workflow.signal(name="cancel")
    def cancel(self) -> None:
        self._canceled = True

    @workflow.update(name="refresh")
    async def refresh(self) -> SignatureState:
        """Who has signed, as the provider says now (the API's signature-state)."""
        await workflow.wait_condition(lambda: self._params is not None)
        await self._check()
        return self._state

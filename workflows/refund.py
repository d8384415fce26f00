"""The refund of an order, a process of its own.

RefundWorkflow (id `refund:<order_id>`) takes over an order that is
refunding (its order workflow handed it over and ended) or whose order
workflow is over (completed, canceled): every paid installment refunded at
the provider, once each; the enrollments revoked; the contract's signature
closed, so the organization cannot sign a refunded order; the learner told.
Its `refunded` update answers once the money is back, before the mail.

ProviderRefundWorkflow (id `provider-refund:<refund reference>`) records a
refund made at the provider (its dashboard, say), whenever its news comes.
"""

from __future__ import annotations

import contextlib

from temporalio import workflow
from temporalio.exceptions import FailureError

from workflows import search

with workflow.unsafe.imports_passed_through():
    from activities.emails import EmailRequest
    from activities.enrollments import EnrollmentActivities
    from activities.orders import DebitActivities, OrderActivities, RefundOrder
    from domain.emails import EmailKind
    from domain.orders import WITHDRAWAL, OrderState, PaymentNews, RefundWorkflowInput
    from workflows import signature
    from workflows.options import MONEY_OPTIONS, FirstStep, SideEffects, call, db_step

WORKFLOW_ID_PREFIX = "refund:"
PROVIDER_REFUND_ID_PREFIX = "provider-refund:"


def workflow_id(order_id: object) -> str:
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


def provider_refund_workflow_id(refund_reference: str) -> str:
    return f"{PROVIDER_REFUND_ID_PREFIX}{refund_reference}"


@workflow.defn(name="RefundWorkflow")
class RefundWorkflow:
    def __init__(self) -> None:
        self._refunded = False
        self._refund = FirstStep()

    @workflow.run
    async def run(self, params: RefundWorkflowInput) -> OrderState:
        search.index_start("order_refund")
        # A business refusal (nothing refundable): the update says why.
        await self._refund.run(
            workflow.execute_activity_method(
                DebitActivities.refund,
                RefundOrder(order_id=params.order_id, actor=params.actor, reason=params.reason),
                **MONEY_OPTIONS,
            )
        )
        if workflow.patched("refund-answers-before-lms"):
            # The money is back: the admin's answer waits for no LMS.
            self._refunded = True
        await call(EnrollmentActivities.revoke, params.order_id)
        await self._close_signature(params)
        self._refunded = True
        apart = SideEffects()
        withdrawn = params.reason == WITHDRAWAL
        kind = EmailKind.ORDER_WITHDRAWN if withdrawn else EmailKind.ORDER_REFUNDED
        apart.mail(EmailRequest(order_id=params.order_id, kind=kind))
        await workflow.wait_condition(workflow.all_handlers_finished)
        await apart.done()
        return OrderState.REFUNDED

    async def _close_signature(self, params: RefundWorkflowInput) -> None:
        """The contract's signature workflow aborts the provider's procedure
        and ends; not running (never submitted, signed, expired): nothing to do."""
        snapshot = await db_step(OrderActivities.load, params.order_id)
        if snapshot.contract_id is None:
            return
        handle = workflow.get_external_workflow_handle(signature.workflow_id(snapshot.contract_id))
        with contextlib.suppress(FailureError):
            await handle.signal(signature.SignatureWorkflow.cancel)

    @workflow.update(name="refunded")
    async def refunded(self) -> OrderState:
        """Answers once every paid installment is refunded (or why not)."""
        refused = self._refund
        await workflow.wait_condition(lambda: self._refunded or refused.refusal is not None)
        if refused.refusal is not None:
            raise refused.refusal
        return OrderState.REFUNDED


@workflow.defn(name="ProviderRefundWorkflow")
class ProviderRefundWorkflow:
    @workflow.run
    async def run(self, news: PaymentNews) -> None:
        search.index_start("provider_refund")
        await db_step(DebitActivities.record_provider_refund, news)

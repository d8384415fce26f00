"""OrderWorkflow (id `order:<order_id>`): one order, from creation to its end.

The workflow holds the order's facts and asks `domain.orders.next_state`
where the order stands; activities write each transition to the database.
The API talks to it with updates, which answer once the change is written:
`created` (the API starts the workflow with it), `save_payment_method`,
`cancel`.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.emails import EmailActivities, EmailRequest
    from activities.enrollments import EnrollmentActivities
    from activities.failures import as_application_error
    from activities.orders import (
        CancelOrder,
        ClaimOrder,
        CreateOrder,
        DebitActivities,
        DebitRequest,
        EnterPending,
        OrderActivities,
        RefundOrder,
        SavePaymentMethod,
    )
    from domain.emails import EmailKind, MailRecipient
    from domain.errors import DomainError
    from domain.orders import (
        COLLECTING_STATES,
        CONFIRMED_STATES,
        ENROLLING_STATES,
        FINAL_STATES,
        SIGNABLE_STATES,
        WAITING_FOR_LEARNER,
        CancelRequest,
        InstallmentInfo,
        InstallmentState,
        OrderSnapshot,
        OrderState,
        OrderWorkflowInput,
        PaymentNews,
        RefundRequest,
        SavedPaymentMethod,
        Transition,
        check_cancel,
        check_payment_method_accepted,
        check_refundable,
        check_voucher_sendable,
        next_state,
    )
    from domain.signatures import OrderNotSignable, SignatureWorkflowInput
    from domain.vouchers import UnusableVoucher
    from workflows import signature

WORKFLOW_ID_PREFIX = "order:"
SIGNAL_PAYMENT_UPDATED = "payment_updated"
# Workflows started before these existed replay without them.
PATCH_ORDER_CONFIRMED_EMAIL = "order-confirmed-email"
PATCH_INSTALLMENT_COLLECTION = "installment-collection"
PATCH_ENROLLMENTS = "enrollments"
PATCH_REFUND_CLOSES_SIGNATURE = "refund-closes-signature"
PATCH_LOCAL_DB_STEPS = "local-db-steps"
# A charge may wait on an unavailable provider: retried with backoff, never
# given up (the installment stays `error` meanwhile).
DEBIT_OPTIONS = {
    "start_to_close_timeout": timedelta(seconds=60),
    # The debit heartbeats: if its worker dies it is retried within seconds.
    "heartbeat_timeout": timedelta(seconds=5),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
    ),
}
ACTIVITY_OPTIONS = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}


async def _db_step(activity: Any, argument: Any) -> Any:
    """A database-only step, as a local activity: it runs inside the workflow
    task that asked for it, so a tunnel step costs one server round trip, not
    one per write. Runs recorded before this replay it as a regular activity."""
    if workflow.patched(PATCH_LOCAL_DB_STEPS):
        return await workflow.execute_local_activity_method(activity, argument, **ACTIVITY_OPTIONS)
    return await workflow.execute_activity_method(activity, argument, **ACTIVITY_OPTIONS)


def workflow_id(order_id: object) -> str:
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


def _not_signable(state: OrderState) -> None:
    raise OrderNotSignable(f"An order in state {state} has no contract to sign.")


def _already_claimed() -> None:
    raise UnusableVoucher("This voucher has already been used.")


def _business_error(error: ActivityError) -> BaseException:
    """The activity's own ApplicationError (a business refusal) when there is one."""
    return error.cause if isinstance(error.cause, ApplicationError) else error


@workflow.defn(name="OrderWorkflow")
class OrderWorkflow:
    def __init__(self) -> None:
        self._snapshot: OrderSnapshot | None = None
        self._failure: BaseException | None = None
        self._ready = False
        # Changes of state go one at a time, whoever asks (updates, timers).
        self._lock = asyncio.Lock()
        self._changes = 0
        self._params: OrderWorkflowInput | None = None
        self._signature: workflow.ChildWorkflowHandle | None = None
        self._invitation_link: str | None = None
        self._confirmed = False
        self._reminded: set[object] = set()
        # The refused installment a new card should pay now.
        self._retry: object | None = None
        self._refund_served = False
        # A refund made at the provider, recorded by a run started for it.
        self._provider_refund_recorded = False
        self._enrolled = False
        # Installments whose charge the provider has news about (webhooks).
        self._payment_news: set[object] = set()

    # --- the order's life ---------------------------------------------------------

    @workflow.run
    async def run(self, params: OrderWorkflowInput) -> OrderState:
        self._params = params
        if params.new_order is None:
            return await self._serve_refund(params)
        try:
            self._snapshot = await _db_step(
                OrderActivities.create,
                CreateOrder(new=params.new_order, policy=params.schedule_policy),
            )
        except ActivityError as error:
            # No row was written: the workflow fails, so a retry with the same
            # Idempotency-Key may start it again.
            self._failure = _business_error(error)
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise self._failure from None
        async with self._lock:
            await self._advance("created")
            self._ready = True
        while True:
            # Here, not in the updates: the API's answer never waits for a mail.
            await self._confirm_once()
            await self._enroll_once()
            if self._state in FINAL_STATES:
                break
            if self._state in COLLECTING_STATES and workflow.patched(PATCH_INSTALLMENT_COLLECTION):
                await self._collect_next(params.schedule_policy.reminder_before)
            else:
                await self._wait_for_progress(params.stuck_timeout)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    async def _serve_refund(self, params: OrderWorkflowInput) -> OrderState:
        """A new run for an order whose workflow has ended: it lives for the
        refund that started it, the admin's update or the provider's news of
        a refund made there (a payment_updated signal)."""
        self._snapshot = await _db_step(OrderActivities.load, params.existing_order_id)
        self._ready = True
        await workflow.wait_condition(lambda: self._refund_served or self._provider_refund_recorded)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    # --- installments -------------------------------------------------------------

    async def _collect_next(self, reminder_before: timedelta) -> None:
        """Remind, wait for the due time, debit: the next installment, once."""
        assert self._snapshot is not None
        seen = self._changes
        item = self._snapshot.next_installment()
        if item is None or (item.state is InstallmentState.REFUSED and self._retry != item.id):
            # All paid (the order is completing), or waiting for a new card.
            await workflow.wait_condition(lambda: self._changes != seen)
            return
        if self._retry != item.id:
            if await self._sleep_until(item.due_at - reminder_before, seen):
                return
            await self._remind(item)
            if await self._sleep_until(item.due_at, seen):
                return
        await self._debit(item)

    async def _sleep_until(self, moment: datetime, seen: int) -> bool:
        """Sleep until `moment`; True if a change (new card, cancel) woke us first."""
        delay = moment - workflow.now()
        if delay <= timedelta(0):
            return False
        try:
            await workflow.wait_condition(lambda: self._changes != seen, timeout=delay)
        except TimeoutError:
            return False
        return True

    async def _remind(self, item: InstallmentInfo) -> None:
        if item.id in self._reminded or item.due_at <= workflow.now():
            return
        self._reminded.add(item.id)
        await self._email(EmailKind.INSTALLMENT_REMINDER, item.id)

    async def _debit(self, item: InstallmentInfo) -> None:
        async with self._lock:
            assert self._snapshot is not None
            if self._state not in COLLECTING_STATES:
                return  # canceled while we waited for the lock
            self._retry = None
            self._payment_news.discard(item.id)
            seen = self._changes
            result = await workflow.execute_activity_method(
                DebitActivities.debit,
                DebitRequest(order_id=self._snapshot.order_id, installment_id=item.id),
                **DEBIT_OPTIONS,
            )
            if result is not InstallmentState.PENDING:
                self._snapshot = self._snapshot.with_installment(item.id, result)
                await self._advance(f"installment_{result.value}")
                self._changes += 1
        if result is InstallmentState.PENDING:
            await self._await_verdict(item, seen)
        elif result is InstallmentState.REFUSED:
            await self._email(EmailKind.INSTALLMENT_REFUSED, item.id)
        elif self._snapshot.next_installment() is None:
            await self._email(EmailKind.INSTALLMENTS_FULLY_PAID, item.id)
        else:
            await self._email(EmailKind.INSTALLMENT_PAID, item.id)

    async def _await_verdict(self, item: InstallmentInfo, seen: int) -> None:
        """The provider confirms this charge later: its webhook, a cancel or
        the poll timer (in case the webhook is lost) sends us to ask again."""
        assert self._params is not None
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: item.id in self._payment_news or self._changes != seen,
                timeout=self._params.pending_charge_poll,
            )

    async def _email(self, kind: EmailKind, installment_id: object | None = None) -> None:
        await workflow.execute_activity_method(
            EmailActivities.send,
            EmailRequest(order_id=self._order_id, kind=kind, installment_id=installment_id),
            **ACTIVITY_OPTIONS,
        )

    async def _enroll_once(self) -> None:
        if self._enrolled or self._state not in ENROLLING_STATES or not self._facts.has_owner:
            return
        if workflow.patched(PATCH_ENROLLMENTS):
            self._enrolled = True
            await workflow.execute_activity_method(
                EnrollmentActivities.grant, self._order_id, **ACTIVITY_OPTIONS
            )

    async def _unenroll(self, *, whatever_this_run_granted: bool = False) -> None:
        """Revoke the order's enrollments. A refund run revokes whatever an
        earlier run of this order granted (the activity is idempotent)."""
        if self._enrolled or (whatever_this_run_granted and workflow.patched(PATCH_ENROLLMENTS)):
            self._enrolled = False
            await workflow.execute_activity_method(
                EnrollmentActivities.revoke, self._order_id, **ACTIVITY_OPTIONS
            )

    async def _confirm_once(self) -> None:
        """The order_confirmed email, once the order is pending or completed."""
        if self._confirmed or self._state not in CONFIRMED_STATES or not self._facts.has_owner:
            return
        self._confirmed = True
        if workflow.patched(PATCH_ORDER_CONFIRMED_EMAIL):
            await self._email(EmailKind.ORDER_CONFIRMED)

    @property
    def _state(self) -> OrderState:
        assert self._snapshot is not None
        return self._snapshot.state

    async def _wait_for_progress(self, stuck_timeout: timedelta) -> None:
        seen = self._changes
        if self._state not in WAITING_FOR_LEARNER:
            await workflow.wait_condition(lambda: self._changes != seen)
            return
        try:
            await workflow.wait_condition(lambda: self._changes != seen, timeout=stuck_timeout)
        except TimeoutError:
            async with self._lock:
                if self._changes == seen and self._state in WAITING_FOR_LEARNER:
                    # It was holding a seat the learner did not come back for.
                    await self._cancel(CancelRequest(reason="stuck", actor="system"))

    async def _advance(self, event: str) -> None:
        """Move to where the facts say the order stands, if it is elsewhere."""
        assert self._snapshot is not None
        target = next_state(self._snapshot.facts)
        if target is self._state:
            return
        transition = Transition(
            order_id=self._snapshot.order_id,
            from_state=self._state,
            to_state=target,
            event=event,
            at=workflow.now(),
        )
        if target is OrderState.PENDING and not self._snapshot.facts.installments:
            assert self._params is not None
            self._snapshot = await _db_step(
                OrderActivities.enter_pending,
                EnterPending(transition=transition, policy=self._params.schedule_policy),
            )
        else:
            await _db_step(OrderActivities.transition, transition)
            self._snapshot = self._snapshot.model_copy(update={"state": target})
        self._changes += 1

    async def _cancel(self, request: CancelRequest) -> None:
        assert self._snapshot is not None
        if self._signature is not None and not self._signature.done():
            # The child aborts the provider's procedure before it ends.
            await self._signature.signal(signature.SignatureWorkflow.cancel)
        await _db_step(
            OrderActivities.cancel,
            CancelOrder(order_id=self._snapshot.order_id, from_state=self._state, request=request),
        )
        self._snapshot = self._snapshot.model_copy(update={"state": OrderState.CANCELED})
        self._changes += 1
        await self._unenroll()

    async def _close_signature(self) -> None:
        """A refunded order's contract must not be signed afterwards: its
        signature workflow (a child of this run, or of the run an earlier
        workflow of this order was) aborts the provider's procedure and ends."""
        assert self._snapshot is not None
        if self._signature is not None and not self._signature.done():
            await self._signature.signal(signature.SignatureWorkflow.cancel)
            return
        if self._snapshot.contract_id is None:
            return
        handle = workflow.get_external_workflow_handle(
            signature.workflow_id(self._snapshot.contract_id)
        )
        # Not running (never submitted, fully signed, expired): nothing to close.
        with contextlib.suppress(FailureError):
            await handle.signal(signature.SignatureWorkflow.cancel)

    async def _when_ready(self) -> OrderSnapshot:
        await workflow.wait_condition(lambda: self._ready or self._failure is not None)
        if self._failure is not None:
            raise self._failure
        assert self._snapshot is not None
        return self._snapshot

    # --- updates from the API -------------------------------------------------------

    @workflow.update(name="created")
    async def created(self) -> OrderSnapshot:
        """Answers once the order is written and past draft (or refused)."""
        return await self._when_ready()

    @workflow.update(name="save_payment_method")
    async def save_payment_method(self, token: str) -> SavedPaymentMethod:
        await self._when_ready()
        async with self._lock:
            self._refuse(check_payment_method_accepted, self._state, self._facts)
            try:
                saved = await workflow.execute_activity_method(
                    OrderActivities.save_payment_method,
                    SavePaymentMethod(order_id=self._order_id, token=token),
                    **ACTIVITY_OPTIONS,
                )
            except ActivityError as error:
                raise _business_error(error) from None
            assert self._snapshot is not None
            facts = self._facts.model_copy(update={"payment_method_saved": True})
            self._snapshot = self._snapshot.model_copy(update={"facts": facts})
            await self._advance("payment_method_saved")
            refused = self._snapshot.next_installment()
            if refused is not None and refused.state is InstallmentState.REFUSED:
                # A new card pays the refused installment at once.
                self._retry = refused.id
            self._changes += 1
            return saved

    @workflow.update(name="claim")
    async def claim(self, owner_id: str) -> OrderState:
        """A learner brings this prepaid seat's voucher: the seat is theirs."""
        await self._when_ready()
        async with self._lock:
            if self._state is not OrderState.TO_OWN:
                self._refuse(_already_claimed)
            try:
                self._snapshot = await _db_step(
                    OrderActivities.claim, ClaimOrder(order_id=self._order_id, owner_id=owner_id)
                )
            except ActivityError as error:
                raise _business_error(error) from None
            self._changes += 1
            return self._state

    @workflow.update(name="submit_for_signature")
    async def submit_for_signature(self) -> str:
        """The invitation link to sign the contract: starts the signature
        workflow, or asks the link again when it runs."""
        await self._when_ready()
        if self._state not in SIGNABLE_STATES or self._snapshot.contract_id is None:
            self._refuse(_not_signable, self._state)
        if self._signature is not None and not self._signature.done():
            if self._invitation_link is None:
                await self._wait_for_link()
            assert self._invitation_link is not None
            return self._invitation_link
        self._invitation_link = None
        self._signature = await workflow.start_child_workflow(
            signature.SignatureWorkflow.run,
            self._signature_input(),
            id=signature.workflow_id(self._snapshot.contract_id),
            # The organization may sign after the order is over.
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )
        await self._wait_for_link()
        assert self._invitation_link is not None
        return self._invitation_link

    async def _wait_for_link(self) -> None:
        child = self._signature
        assert child is not None
        await workflow.wait_condition(lambda: self._invitation_link is not None or child.done())
        if self._invitation_link is None:
            await child  # raises the child's failure (e.g. the provider refused)

    def _signature_input(self) -> SignatureWorkflowInput:
        assert self._params is not None and self._snapshot is not None
        timing = self._params.signature
        return SignatureWorkflowInput(
            contract_id=self._snapshot.contract_id,
            order_workflow_id=workflow.info().workflow_id,
            poll_interval=timing.poll_interval,
            poll_max_interval=timing.poll_max_interval,
            validity=timing.validity,
        )

    async def _learn(self, event: str, **facts: bool) -> None:
        """A fact from the signature workflow: the order moves on if it can."""
        async with self._lock:
            assert self._snapshot is not None
            if self._state in FINAL_STATES:
                return
            updated = self._facts.model_copy(update=facts)
            self._snapshot = self._snapshot.model_copy(update={"facts": updated})
            await self._advance(event)

    @workflow.signal(name=signature.SIGNAL_SUBMITTED)
    async def signature_submitted(self, invitation_link: str) -> None:
        self._invitation_link = invitation_link
        await self._learn("submitted_for_signature", contract_submitted=True)

    @workflow.signal(name=signature.SIGNAL_LEARNER_SIGNED)
    async def learner_signed(self) -> None:
        await self._learn("learner_signed", learner_signed=True)

    @workflow.signal(name=signature.SIGNAL_RESET)
    async def contract_reset(self) -> None:
        self._invitation_link = None
        await self._learn("contract_reset", contract_submitted=False)

    @workflow.signal(name=SIGNAL_PAYMENT_UPDATED)
    async def payment_updated(self, news: PaymentNews) -> None:
        """A provider webhook about a charge: wakes a debit waiting for its
        verdict, or records a refund made at the provider."""
        self._payment_news.add(news.installment_id)
        if news.refund_reference is not None:
            await workflow.execute_activity_method(
                DebitActivities.record_provider_refund, news, **ACTIVITY_OPTIONS
            )
            self._provider_refund_recorded = True

    @workflow.update(name="refund")
    async def refund(self, request: RefundRequest) -> OrderState:
        """Refund every paid installment and stop collecting the rest."""
        await self._when_ready()
        try:
            async with self._lock:
                if self._state is OrderState.REFUNDED:
                    return self._state
                self._refuse(check_refundable, self._state)
                await workflow.execute_activity_method(
                    DebitActivities.refund,
                    RefundOrder(order_id=self._order_id, actor=request.actor),
                    **DEBIT_OPTIONS,
                )
                assert self._snapshot is not None
                self._snapshot = self._snapshot.model_copy(update={"state": OrderState.REFUNDED})
                self._changes += 1
                await self._unenroll(whatever_this_run_granted=True)
                if workflow.patched(PATCH_REFUND_CLOSES_SIGNATURE):
                    await self._close_signature()
            await self._email(EmailKind.ORDER_REFUNDED)
            return self._state
        finally:
            self._refund_served = True

    @workflow.update(name="send_voucher")
    async def send_voucher(self, recipient: MailRecipient) -> bool:
        """The voucher_issued email of an unclaimed prepaid seat, once per
        order; False if it had been sent already."""
        await self._when_ready()
        # Under the lock: a claim in flight cannot slip between check and mail.
        async with self._lock:
            self._refuse(check_voucher_sendable, self._state)
            return await workflow.execute_activity_method(
                EmailActivities.send,
                EmailRequest(
                    order_id=self._order_id, kind=EmailKind.VOUCHER_ISSUED, recipient=recipient
                ),
                **ACTIVITY_OPTIONS,
            )

    @workflow.update(name="cancel")
    async def cancel(self, request: CancelRequest) -> OrderState:
        await self._when_ready()
        async with self._lock:
            self._refuse(check_cancel, self._state)
            await self._cancel(request)
            return self._state

    @property
    def _order_id(self) -> object:
        assert self._snapshot is not None
        return self._snapshot.order_id

    @property
    def _facts(self):
        assert self._snapshot is not None
        return self._snapshot.facts

    @staticmethod
    def _refuse(check, *args) -> None:
        """Run a domain check; its refusal fails the update with the error code."""
        try:
            check(*args)
        except DomainError as error:
            raise as_application_error(error) from None

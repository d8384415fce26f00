"""OrderWorkflow (id `order:<order_id>`): one order, from creation until it
is completed, canceled or handed over to its refund.

The workflow is an event loop around one value, `domain.orders.OrderProcess`:
updates and signals bring facts, `next_state` says where the order stands,
local activities write each transition. Collecting the schedule is a
component (workflows/installments.py); the refund is a workflow of its own
(workflows/refund.py), which this one hands the order over to.
The API talks to it with updates, which answer once the change is written.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.emails import EmailActivities, EmailRequest
    from activities.enrollments import EnrollmentActivities
    from activities.failures import as_application_error
    from activities.orders import (
        CancelOrder,
        ClaimOrder,
        CreateOrder,
        EnterPending,
        OrderActivities,
        RefundOrder,
        SavePaymentMethod,
    )
    from activities.signatures import SignatureActivities
    from domain.emails import EmailKind, MailRecipient
    from domain.errors import DomainError
    from domain.orders import (
        COLLECTING_STATES,
        WAITING_FOR_LEARNER,
        WITHDRAWAL,
        CancelRequest,
        CardOnFile,
        DebitOutcome,
        OrderProcess,
        OrderSnapshot,
        OrderState,
        OrderWorkflowInput,
        PaymentNews,
        PayNow,
        RefundRequest,
        SavedPaymentMethod,
        check_cancel,
        check_payable,
        check_payment_method_accepted,
        check_refundable,
        check_signable,
        check_voucher_sendable,
    )
    from domain.payments import CardSource
    from domain.signatures import SignatureWorkflowInput, Submission
    from domain.vouchers import already_used
    from workflows import search, signature
    from workflows.installments import InstallmentCollector
    from workflows.options import (
        EMAIL_OPTIONS,
        FirstStep,
        SideEffects,
        business_error,
        call,
        db_step,
    )
    from workflows.search import order_attributes, order_details

WORKFLOW_ID_PREFIX = "order:"
SIGNAL_PAYMENT_UPDATED = "payment_updated"


def workflow_id(order_id: object) -> str:
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


def _already_claimed() -> None:
    raise already_used()


def _on_file(saved: SavedPaymentMethod) -> CardOnFile:
    return CardOnFile.of(
        reference=saved.reference, exp_month=saved.exp_month, exp_year=saved.exp_year
    )


def _refuse(check, *args, **kwargs):
    """Run a domain check (and answer what it answers); its refusal fails the
    update with the error code."""
    try:
        return check(*args, **kwargs)
    except DomainError as error:
        raise as_application_error(error) from None


@workflow.defn(name="OrderWorkflow")
class OrderWorkflow:
    def __init__(self) -> None:
        # None until the order is written (or its creation refused).
        self._process: OrderProcess | None = None
        # Set once the order is written; a "pay now" update waits for it.
        self._collector: InstallmentCollector | None = None
        self._creation = FirstStep()
        self._apart = SideEffects()
        # Changes of state go one at a time, whoever asks (updates, timers).
        self.lock = asyncio.Lock()
        self._params: OrderWorkflowInput | None = None
        self._index = search.Index()
        self._signature: workflow.ChildWorkflowHandle | None = None
        self._signature_started: asyncio.Task[None] | None = None

    @property
    def process(self) -> OrderProcess:
        assert self._process is not None
        return self._process

    @process.setter
    def process(self, value: OrderProcess) -> None:
        self._process = value
        self._index.set(order_attributes(value))
        # Not a command: the Web UI asks for it; replays need no patch.
        workflow.set_current_details(order_details(value))

    # --- the order's life ---------------------------------------------------------

    @workflow.run
    async def run(self, params: OrderWorkflowInput) -> OrderState:
        self._params = params
        new = params.new_order
        self._index = search.index_start(
            "order", (search.LEARNER, new.owner_id), (search.OFFERING, str(new.offering_id))
        )
        # Refused, the workflow fails: a retry with the same Idempotency-Key
        # may start it again.
        snapshot = await self._creation.run(
            db_step(
                OrderActivities.create,
                CreateOrder(new=params.new_order, policy=params.schedule_policy),
            )
        )
        async with self.lock:
            self.process = OrderProcess(snapshot=snapshot)
            await self.advance("created")
        collector = self._collector = InstallmentCollector(
            self,
            reminder_before=params.schedule_policy.reminder_before,
            pending_charge_poll=params.pending_charge_poll,
            dunning=params.dunning,
        )
        # Runs started before card_expiring existed replay without the watcher.
        watcher = (
            asyncio.create_task(self._tell_of_card_expiry(params.card_expiry_notice))
            if workflow.patched("card-expiry-notice")
            else None
        )
        while True:
            # Decide on a settled order: no update is half-way through a change.
            async with self.lock:
                pass
            # Here, not in the updates: the API's answer never waits for a mail.
            await self._confirm_once()
            async with self.lock:
                await self._resume_once()
            self._enroll_once()
            if self.process.is_over:
                break
            if self.process.state in COLLECTING_STATES:
                await collector.collect_next()
            else:
                await self._wait_for_progress(params.stuck_timeout)
        if watcher is not None:
            await watcher  # it ends with the order
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._apart.done()
        return self.process.state

    async def _tell_of_card_expiry(self, notice: timedelta) -> None:
        """card_expiring, `notice` before the first installment the saved card
        expires before; once per card (a new one that expires too is told
        again). Reckoned again at every change of the order."""
        while not self.process.is_over:
            seen = self.process.changes

            def changed(seen: int = seen) -> bool:
                return self.process.changes != seen or self.process.is_over

            due = self.process.card_expiry_notice(notice)
            if due is None:
                await workflow.wait_condition(changed)
                continue
            moment, item = due
            delay = moment - workflow.now()
            if delay > timedelta(0):
                try:
                    await workflow.wait_condition(changed, timeout=delay)
                    continue
                except TimeoutError:
                    pass
            assert self.process.snapshot.card is not None
            card = self.process.snapshot.card.reference
            self.process = self.process.expiry_told_of()
            self.email(EmailKind.CARD_EXPIRING, item.id, once_per=f"card:{card}")

    async def advance(self, event: str) -> None:
        """Move to where the facts say the order stands, if it is elsewhere."""
        transition = self.process.next_transition(event=event, at=workflow.now())
        if transition is None:
            return
        if transition.to_state is OrderState.PENDING and not self.process.facts.installments:
            assert self._params is not None
            snapshot = await db_step(
                OrderActivities.enter_pending,
                EnterPending(transition=transition, policy=self._params.schedule_policy),
            )
            self.process = self.process.moved(snapshot)
        else:
            await db_step(OrderActivities.transition, transition)
            self.process = self.process.moved_to(transition.to_state)

    def email(
        self,
        kind: EmailKind,
        installment_id: object | None = None,
        *,
        next_retry_at: datetime | None = None,
        once_per: str | None = None,
    ) -> None:
        """Sent apart: the order moves on whatever becomes of the mail."""
        self._apart.mail(
            EmailRequest(
                order_id=self.process.order_id,
                kind=kind,
                installment_id=installment_id,
                next_retry_at=next_retry_at,
                once_per=once_per,
            )
        )

    async def suspend(self) -> None:
        """The grace period is over and the installment still unpaid: the
        enrollments are suspended until it is paid (nothing if it was paid,
        or the order ended, meanwhile)."""
        assert self._params is not None
        async with self.lock:
            due = self.process.suspension_at(self._params.dunning.grace_period)
            if due is None or due > workflow.now() or self.process.state not in COLLECTING_STATES:
                return
            await db_step(OrderActivities.suspend, self.process.order_id)
            self.process = self.process.suspending()
            self._apart.call(EnrollmentActivities.suspend, self.process.order_id)
            unpaid = self.process.snapshot.next_installment()
            self.email(EmailKind.ORDER_SUSPENDED, unpaid.id if unpaid else None)

    async def _resume_once(self) -> None:
        """Paid up again after a suspension: the suspension ends, and the
        enrollments are granted again (_enroll_once)."""
        if self.process.wants_resumption():
            await db_step(OrderActivities.resume, self.process.order_id)
            self.process = self.process.model_copy(update={"suspended": False})

    async def _confirm_once(self) -> None:
        """The order_confirmed email, once the order is pending or completed."""
        if self.process.wants_confirmation():
            self.process = self.process.model_copy(update={"confirmed": True})
            self.email(EmailKind.ORDER_CONFIRMED)

    def _enroll_once(self) -> None:
        """Apart, like mails: an LMS that is down holds up nothing. The grant
        enrolls only an order still paid for when it runs, so a cancel or a
        refund meanwhile (which revoke) wins whatever the order of events."""
        if self.process.wants_enrollment():
            self.process = self.process.model_copy(update={"enrolled": True})
            self._apart.call(EnrollmentActivities.grant, self.process.order_id)

    async def _wait_for_progress(self, stuck_timeout: timedelta) -> None:
        seen = self.process.changes
        if self.process.state not in WAITING_FOR_LEARNER:
            await workflow.wait_condition(lambda: self.process.changes != seen)
            return
        try:
            await workflow.wait_condition(
                lambda: self.process.changes != seen, timeout=stuck_timeout
            )
        except TimeoutError:
            async with self.lock:
                if self.process.changes == seen and self.process.state in WAITING_FOR_LEARNER:
                    # It was holding a seat the learner did not come back for.
                    await self._cancel(CancelRequest(reason="stuck", actor="system"))

    async def _cancel(self, request: CancelRequest) -> None:
        if self._signature_started is not None:
            await self._signature_started  # a watcher being started is one to stop
        if self._signature is not None and not self._signature.done():
            # The child aborts the provider's procedure before it ends.
            await self._signature.signal(signature.SignatureWorkflow.cancel)
        await db_step(
            OrderActivities.cancel,
            CancelOrder(
                order_id=self.process.order_id, from_state=self.process.state, request=request
            ),
        )
        self.process = self.process.moved_to(OrderState.CANCELED)
        # Runs started before the mail existed replay without it.
        if workflow.patched("order-canceled-mail"):
            withdrawn = request.reason == WITHDRAWAL
            self.email(EmailKind.ORDER_WITHDRAWN if withdrawn else EmailKind.ORDER_CANCELED)
        if self.process.enrolled:
            self.process = self.process.model_copy(update={"enrolled": False})
            self._apart.call(EnrollmentActivities.revoke, self.process.order_id)

    async def _when_ready(self) -> OrderProcess:
        refused = self._creation
        await workflow.wait_condition(
            lambda: self._process is not None or refused.refusal is not None
        )
        if refused.refusal is not None:
            raise refused.refusal
        return self.process

    # --- updates from the API -------------------------------------------------------

    @workflow.update(name="created")
    async def created(self) -> OrderSnapshot:
        """Answers once the order is written and past draft (or refused)."""
        await self._when_ready()
        # The first transition is written under the lock: wait for it.
        async with self.lock:
            return self.process.snapshot

    @workflow.update(name="save_payment_method")
    async def save_payment_method(self, card: str | CardSource) -> SavedPaymentMethod:
        """`card`: a token, or (since card setups) a CardSource; a plain
        string is what updates sent before and histories replay."""
        source = card if isinstance(card, CardSource) else CardSource(token=card)
        await self._when_ready()
        saved = await self._save_card(source)
        assert saved is not None
        return saved

    @workflow.update(name="pay_installment")
    async def pay_installment(self, request: PayNow) -> DebitOutcome:
        """Charge a refused installment now (with a new card, or the saved
        one); answers the verdict. The dunning ladder, if it was waiting,
        sees the change and goes on from the new state."""
        await self._when_ready()
        await workflow.wait_condition(lambda: self._collector is not None)
        assert self._collector is not None
        async with self.lock:
            item = _refuse(check_payable, self.process.snapshot, request.installment_id)
            if request.card is not None:
                saved = await self._save_card_locked(request.card)
                self.process = self.process.card_saved(
                    setup_reference=request.card.setup_reference, card=_on_file(saved)
                )
            outcome = await self._collector.charge(item)
        self._collector.tell(item, outcome)
        self.process = self.process.changed()  # wakes a ladder waiting on this one
        return outcome

    @workflow.signal(name="card_setup_succeeded")
    async def card_setup_succeeded(self, setup_reference: str) -> None:
        """The provider says a card setup made for this order succeeded (the
        learner may have closed the tab after authenticating): saved as if
        the learner had brought it back. A setup saved already, or an order
        that takes no card now, changes nothing."""
        await self._when_ready()
        try:
            await self._save_card(CardSource(setup_reference=setup_reference), news=True)
        except (ApplicationError, ActivityError) as refusal:
            # A signal has nobody to answer: the order's events keep the rest.
            workflow.logger.info("card setup not saved: %s", refusal)

    async def _save_card(
        self, source: CardSource, *, news: bool = False
    ) -> SavedPaymentMethod | None:
        """Save the card; None for a provider's `news` of a setup saved already."""
        async with self.lock:
            if news and source.setup_reference in self.process.card_setups:
                return None
            _refuse(check_payment_method_accepted, self.process.state, self.process.facts)
            saved = await self._save_card_locked(source)
            self.process = self.process.card_saved(
                setup_reference=source.setup_reference, card=_on_file(saved)
            )
            await self.advance("payment_method_saved")
            # Wakes a collector waiting for a new card, whatever the state.
            self.process = self.process.changed()
            return saved

    async def _save_card_locked(self, source: CardSource) -> SavedPaymentMethod:
        """The provider keeps the card and the order's row says so; the
        caller holds the lock and decides what the card does next."""
        try:
            return await call(
                OrderActivities.save_payment_method,
                SavePaymentMethod(
                    order_id=self.process.order_id,
                    token=source.token,
                    setup_reference=source.setup_reference,
                ),
            )
        except ActivityError as error:
            raise business_error(error) from None

    @workflow.update(name="claim")
    async def claim(self, owner_id: str) -> OrderState:
        """A learner brings this prepaid seat's voucher: the seat is theirs."""
        await self._when_ready()
        async with self.lock:
            if self.process.state is not OrderState.TO_OWN:
                _refuse(_already_claimed)
            try:
                snapshot = await db_step(
                    OrderActivities.claim,
                    ClaimOrder(order_id=self.process.order_id, owner_id=owner_id),
                )
            except ActivityError as error:
                raise business_error(error) from None
            self.process = self.process.moved(snapshot)
            return self.process.state

    @workflow.update(name="submit_for_signature")
    async def submit_for_signature(self) -> str:
        """The invitation link to sign the contract. The procedure is started
        here (the link is the answer), then a signature workflow watches it;
        while one does, the same link is answered again."""
        process = await self._when_ready()
        has_contract = process.snapshot.contract_id is not None
        _refuse(check_signable, process.state, has_contract=has_contract)
        watcher = self._signature
        if watcher is not None:
            # A reset (refused, expired) clears the link; its watcher ends.
            await workflow.wait_condition(
                lambda: self.process.invitation_link is not None or watcher.done()
            )
            if self.process.invitation_link is not None:
                return self.process.invitation_link
        async with self.lock:
            if self.process.invitation_link is not None:
                return self.process.invitation_link  # submitted meanwhile
            # Canceled, say, while it waited for the lock.
            _refuse(check_signable, self.process.state, has_contract=has_contract)
            try:
                submission = await call(
                    SignatureActivities.submit, self.process.snapshot.contract_id
                )
            except ActivityError as error:
                raise business_error(error) from None
            self.process = self.process.model_copy(
                update={"invitation_link": submission.invitation_link}
            ).knowing(contract_submitted=True)
            await self.advance("submitted_for_signature")
            # Not awaited: the learner's answer does not wait for the watcher.
            self._signature_started = asyncio.create_task(self._watch_signature(submission))
            return submission.invitation_link

    async def _watch_signature(self, submission: Submission) -> None:
        assert self._params is not None
        timing = self._params.signature
        self._signature = await workflow.start_child_workflow(
            signature.SignatureWorkflow.run,
            SignatureWorkflowInput(
                contract_id=self.process.snapshot.contract_id,
                order_workflow_id=workflow.info().workflow_id,
                poll_interval=timing.poll_interval,
                poll_max_interval=timing.poll_max_interval,
                validity=timing.validity,
                submission=submission,
                learner=self.process.snapshot.owner_id,
                organization_code=self.process.snapshot.organization_code,
            ),
            id=signature.workflow_id(self.process.snapshot.contract_id),
            # The organization may sign after the order is over.
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )

    @workflow.update(name="hand_over_for_refund")
    async def hand_over_for_refund(self, request: RefundRequest) -> OrderState:
        """The order stops collecting (refunding) and this workflow ends; the
        refund's own workflow takes it from there."""
        await self._when_ready()
        async with self.lock:
            if self.process.state in (OrderState.REFUNDING, OrderState.REFUNDED):
                return self.process.state
            _refuse(check_refundable, self.process.state)
            snapshot = await db_step(
                OrderActivities.hand_over_for_refund,
                RefundOrder(
                    order_id=self.process.order_id, actor=request.actor, reason=request.reason
                ),
            )
            self.process = self.process.moved(snapshot)
            return self.process.state

    @workflow.update(name="send_voucher")
    async def send_voucher(self, recipient: MailRecipient) -> bool:
        """The voucher_issued email of an unclaimed prepaid seat, once per
        order; False if it had been sent already."""
        await self._when_ready()
        # Under the lock: a claim in flight cannot slip between check and mail.
        async with self.lock:
            _refuse(check_voucher_sendable, self.process.state)
            request = EmailRequest(
                order_id=self.process.order_id, kind=EmailKind.VOUCHER_ISSUED, recipient=recipient
            )
            try:
                return await workflow.execute_activity_method(
                    EmailActivities.send, request, **EMAIL_OPTIONS
                )
            except ActivityError as error:
                raise business_error(error) from None  # email_not_sent

    @workflow.update(name="cancel")
    async def cancel(self, request: CancelRequest) -> OrderState:
        await self._when_ready()
        async with self.lock:
            _refuse(check_cancel, self.process.state)
            await self._cancel(request)
            return self.process.state

    # --- news from the signature workflow and the provider ----------------------------

    async def _learn(self, event: str, **facts: bool) -> None:
        """A fact from the signature workflow: the order moves on if it can."""
        await self._when_ready()
        async with self.lock:
            if self.process.is_over:
                return
            self.process = self.process.knowing(**facts)
            await self.advance(event)

    @workflow.signal(name=signature.SIGNAL_SUBMITTED)
    async def signature_submitted(self, invitation_link: str) -> None:
        await self._when_ready()
        self.process = self.process.model_copy(update={"invitation_link": invitation_link})
        await self._learn("submitted_for_signature", contract_submitted=True)

    @workflow.signal(name=signature.SIGNAL_LEARNER_SIGNED)
    async def learner_signed(self) -> None:
        await self._learn("learner_signed", learner_signed=True)

    @workflow.signal(name=signature.SIGNAL_RESET)
    async def contract_reset(self) -> None:
        await self._when_ready()
        self.process = self.process.model_copy(update={"invitation_link": None})
        await self._learn("contract_reset", contract_submitted=False)

    @workflow.signal(name=SIGNAL_PAYMENT_UPDATED)
    async def payment_updated(self, news: PaymentNews) -> None:
        """A provider webhook about a charge: wakes a debit waiting for its
        verdict (refunds made at the provider go to their own workflow)."""
        await self._when_ready()
        self.process = self.process.told(news.installment_id)

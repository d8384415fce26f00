"""Where an order stands, as a pure function of what is known about it.

The order workflow gathers facts (organization chosen, owner, contract
signed, payment method saved, installment results) and asks `next_state`;
cancel and refund are commands; every transition written is checked
against ALLOWED_TRANSITIONS (models/orders.py `record_transition`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from domain.errors import Conflict, Unprocessable, error_class
from domain.payment_schedule import PARIS, SchedulePolicy, paris_day
from domain.payments import CardSource, DunningPolicy
from domain.signatures import OrderNotSignable


class OrderState(StrEnum):
    DRAFT = "draft"
    ASSIGNED = "assigned"
    TO_OWN = "to_own"
    TO_SIGN_AND_TO_SAVE_PAYMENT_METHOD = "to_sign_and_to_save_payment_method"
    TO_SIGN = "to_sign"
    SIGNING = "signing"
    TO_SAVE_PAYMENT_METHOD = "to_save_payment_method"
    PENDING = "pending"
    PENDING_PAYMENT = "pending_payment"
    NO_PAYMENT = "no_payment"
    FAILED_PAYMENT = "failed_payment"
    COMPLETED = "completed"
    CANCELED = "canceled"
    REFUNDING = "refunding"
    REFUNDED = "refunded"


class InstallmentState(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    REFUSED = "refused"
    # The bank wants the learner (3-D Secure) before this off-session charge
    # goes through: not a refusal; the learner confirms it, or pays another way.
    ACTION_REQUIRED = "action_required"
    # The provider could not be reached: retried, not yet a verdict.
    ERROR = "error"
    CANCELED = "canceled"
    REFUNDED = "refunded"


# Orders in these states no longer hold a seat nor block a new order for the
# same (owner, offering).
INACTIVE_STATES = frozenset({OrderState.CANCELED, OrderState.REFUNDING, OrderState.REFUNDED})

# States an order may wait in for the learner; the stuck-order timer cancels
# an order still in one of them after GUICHET_ORDER_STUCK_TIMEOUT.
WAITING_FOR_LEARNER = frozenset(
    {
        OrderState.TO_SIGN_AND_TO_SAVE_PAYMENT_METHOD,
        OrderState.TO_SIGN,
        OrderState.SIGNING,
        OrderState.TO_SAVE_PAYMENT_METHOD,
    }
)

SIGNABLE_STATES = frozenset(
    {OrderState.TO_SIGN_AND_TO_SAVE_PAYMENT_METHOD, OrderState.TO_SIGN, OrderState.SIGNING}
)
# Still being set up: the contract is not yet to sign.
_BEFORE_CONTRACT = frozenset({OrderState.DRAFT, OrderState.ASSIGNED, OrderState.TO_OWN})


def check_signable(state: OrderState, *, has_contract: bool) -> None:
    """Only an order waiting for its contract's signature submits it; the
    refusal says why (no contract, signed already, over)."""
    if not has_contract:
        raise OrderNotSignable("This order has no contract to sign.")
    if state in SIGNABLE_STATES:
        return
    if is_active(state) and state not in _BEFORE_CONTRACT:
        raise OrderNotSignable("This order's contract is signed already.")
    raise OrderNotSignable(f"An order in state {state} can no longer be signed.")


class OrderFacts(BaseModel):
    """Everything the next state depends on."""

    model_config = ConfigDict(frozen=True)

    organization_assigned: bool
    has_owner: bool
    is_free: bool
    # A to_own order claimed with its 100 % voucher (standalone or bulk sale).
    prepaid: bool = False
    contract_required: bool = False
    contract_submitted: bool = False
    learner_signed: bool = False
    payment_method_saved: bool = False
    installments: tuple[InstallmentState, ...] = ()


def _state_from_installments(installments: Sequence[InstallmentState]) -> OrderState:
    if not installments:
        # A paid order always has a schedule; without one there is nothing to wait for.
        return OrderState.PENDING
    if all(item is InstallmentState.PAID for item in installments):
        return OrderState.COMPLETED
    if InstallmentState.REFUSED in installments:
        first_refused = installments.index(InstallmentState.REFUSED)
        return OrderState.NO_PAYMENT if first_refused == 0 else OrderState.FAILED_PAYMENT
    if installments[0] is InstallmentState.PAID:
        return OrderState.PENDING_PAYMENT
    return OrderState.PENDING


def _state_of_contract(facts: OrderFacts) -> OrderState | None:
    """The contract step, while the learner has not signed; None once done."""
    if not facts.contract_required or facts.learner_signed:
        return None
    if facts.contract_submitted:
        return OrderState.SIGNING
    if not facts.is_free and not facts.payment_method_saved:
        return OrderState.TO_SIGN_AND_TO_SAVE_PAYMENT_METHOD
    return OrderState.TO_SIGN


def next_state(facts: OrderFacts) -> OrderState:
    """The state of an order that is neither canceled nor refunded."""
    if not facts.organization_assigned:
        return OrderState.DRAFT
    if not facts.has_owner:
        return OrderState.TO_OWN
    if facts.prepaid:
        return OrderState.COMPLETED
    contract_step = _state_of_contract(facts)
    if contract_step is not None:
        return contract_step
    if facts.is_free:
        return OrderState.COMPLETED
    if not facts.payment_method_saved:
        return OrderState.TO_SAVE_PAYMENT_METHOD
    return _state_from_installments(facts.installments)


S = OrderState

# Which state may follow which: the flow as facts arrive (a replaced card
# retries a refused installment, a refused or expired signature resets the
# contract), plus the cancel and refund commands.
ALLOWED_TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    S.DRAFT: frozenset({S.ASSIGNED, S.CANCELED}),
    S.ASSIGNED: frozenset(
        {
            S.TO_OWN,
            S.TO_SIGN_AND_TO_SAVE_PAYMENT_METHOD,
            S.TO_SIGN,
            S.TO_SAVE_PAYMENT_METHOD,
            S.COMPLETED,
            S.CANCELED,
        }
    ),
    S.TO_OWN: frozenset({S.COMPLETED, S.CANCELED}),
    S.TO_SIGN_AND_TO_SAVE_PAYMENT_METHOD: frozenset({S.TO_SIGN, S.SIGNING, S.CANCELED}),
    S.TO_SIGN: frozenset({S.SIGNING, S.CANCELED}),
    S.SIGNING: frozenset(
        {
            S.TO_SIGN_AND_TO_SAVE_PAYMENT_METHOD,
            S.TO_SIGN,
            S.TO_SAVE_PAYMENT_METHOD,
            S.PENDING,
            S.COMPLETED,
            S.CANCELED,
        }
    ),
    S.TO_SAVE_PAYMENT_METHOD: frozenset({S.PENDING, S.CANCELED}),
    S.PENDING: frozenset({S.PENDING_PAYMENT, S.NO_PAYMENT, S.COMPLETED, S.CANCELED}),
    S.PENDING_PAYMENT: frozenset({S.FAILED_PAYMENT, S.COMPLETED, S.CANCELED, S.REFUNDING}),
    S.NO_PAYMENT: frozenset({S.PENDING, S.PENDING_PAYMENT, S.COMPLETED, S.CANCELED}),
    S.FAILED_PAYMENT: frozenset({S.PENDING_PAYMENT, S.COMPLETED, S.CANCELED, S.REFUNDING}),
    S.COMPLETED: frozenset({S.REFUNDING}),
    S.CANCELED: frozenset({S.REFUNDING}),
    S.REFUNDING: frozenset({S.REFUNDED}),
    S.REFUNDED: frozenset(),
}

# Orders that took money may be refunded.
REFUNDABLE_STATES = frozenset(
    state for state, following in ALLOWED_TRANSITIONS.items() if S.REFUNDING in following
)

InvalidTransition = error_class(Conflict, "invalid_order_transition")
OrderCompleted = error_class(Conflict, "order_completed")
OrderNotCancelable = error_class(Conflict, "order_not_cancelable")


def check_transition(current: OrderState, target: OrderState) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        raise InvalidTransition(f"An order cannot go from {current} to {target}.")


def check_cancel(current: OrderState) -> None:
    """Cancel: from any state but completed and the refund states."""
    if current is OrderState.COMPLETED:
        raise OrderCompleted("A completed order cannot be canceled.")
    if current in INACTIVE_STATES:
        raise OrderNotCancelable(f"An order in state {current} cannot be canceled.")


def is_active(state: OrderState) -> bool:
    return state not in INACTIVE_STATES


# --- what the order workflow carries ------------------------------------------------


class BillingAddress(BaseModel):
    first_name: str
    last_name: str
    address: str
    postcode: str
    city: str
    country: str


class NewOrder(BaseModel):
    """An order to create, as the API validated it.

    A prepaid seat (standalone or bulk sale) has no owner yet and comes with
    its own single-use 100 % voucher, `prepaid_voucher_code`, which the
    learner claims it with."""

    order_id: uuid.UUID
    owner_id: str | None
    offering_id: uuid.UUID
    organization_id: uuid.UUID | None = None
    voucher_code: str | None = None
    billing_address: BillingAddress | None = None
    has_waived_withdrawal_right: bool = False
    idempotency_key: str | None = None
    prepaid_voucher_code: str | None = None
    # How many seats the admin's request made, this one among them.
    batch_size: int | None = None
    # The learner's language: every mail of the order is written in it.
    language: str = "fr"

    def fingerprint(self) -> str:
        """What the learner (or the admin) asked for, hashed: a retry with the
        same Idempotency-Key must ask for the same order (Stripe's rule)."""
        fields = {
            "offering_id",
            "organization_id",
            "voucher_code",
            "billing_address",
            "has_waived_withdrawal_right",
        }
        # Only for seats: learners' fingerprints stay what they were.
        if self.batch_size is not None:
            fields.add("batch_size")
        asked = self.model_dump_json(include=fields)
        return hashlib.sha256(asked.encode()).hexdigest()


class SignatureTiming(BaseModel):
    """Defaults are the spec's: new input fields always get one, so workflows
    started before the field existed still decode their input on replay."""

    poll_interval: timedelta = timedelta(seconds=30)
    poll_max_interval: timedelta = timedelta(minutes=10)
    validity: timedelta = timedelta(days=99)


# Why an order was canceled or refunded when the learner withdrew (EU
# Directive 2023/2673): on its events, and it picks the order_withdrawn mail.
WITHDRAWAL = "withdrawal"


class RefundRequest(BaseModel):
    actor: str
    reason: str = "requested"


class RefundWorkflowInput(BaseModel):
    """The refund of one order (workflow `refund:<order_id>`)."""

    order_id: uuid.UUID
    actor: str
    # WITHDRAWAL: the learner withdrew (the mail says so, to the signatories too).
    reason: str = "requested"


class OrderWorkflowInput(BaseModel):
    """A new order to create, and how its process is timed."""

    new_order: NewOrder
    stuck_timeout: timedelta
    signature: SignatureTiming = SignatureTiming()
    # The schedule's limits, withdrawal period and reminder delay, from the
    # settings at creation: the contract and the debits use the same.
    schedule_policy: SchedulePolicy = SchedulePolicy()
    pending_charge_poll: timedelta = timedelta(minutes=1)
    dunning: DunningPolicy = DunningPolicy()
    # The learner is told this long before an installment that the saved
    # card expires before it (GUICHET_CARD_EXPIRY_NOTICE).
    card_expiry_notice: timedelta = timedelta(days=30)


class SavedPaymentMethod(BaseModel):
    """A provider reference and what may be shown: never a full card number."""

    provider: str
    reference: str
    customer_reference: str | None
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    setup_reference: str | None = None


class PaymentNews(BaseModel):
    """What a verified provider webhook says about an installment's charge."""

    installment_id: uuid.UUID
    event: str
    # Set for a refund the provider reports (made by Guichet or at the provider).
    refund_reference: str | None = None


class DebitOutcome(BaseModel):
    """What one debit came to; after a refusal, the dunning ladder's reckoning
    as the installment's row now holds it."""

    state: InstallmentState
    refusals: int = 0
    first_refused_at: datetime | None = None
    decline_code: str | None = None


class InstallmentInfo(BaseModel):
    id: uuid.UUID
    due_at: datetime
    state: InstallmentState
    # None in snapshots taken before it was kept (operators' details only).
    amount: Decimal | None = None
    # Its refusals so far, the first one's moment and the last decline code:
    # what the dunning ladder is reckoned from.
    refusals: int = 0
    first_refused_at: datetime | None = None
    decline_code: str | None = None


class CardOnFile(BaseModel):
    """The saved card, as far as its expiry goes."""

    reference: str
    # The last day it may be charged: the end of its expiry month.
    expires_on: date

    @classmethod
    def of(cls, *, reference: str, exp_month: int, exp_year: int) -> CardOnFile:
        following = date(exp_year + exp_month // 12, exp_month % 12 + 1, 1)
        return cls(reference=reference, expires_on=following - timedelta(days=1))


class OrderSnapshot(BaseModel):
    """The order as the workflow knows it after an activity."""

    order_id: uuid.UUID
    state: OrderState
    facts: OrderFacts
    contract_id: uuid.UUID | None = None
    schedule: tuple[InstallmentInfo, ...] = ()
    # None before a card is saved (and in snapshots taken before it existed).
    card: CardOnFile | None = None
    # What operators find the order by (search attributes); None in
    # snapshots taken before they were kept, and the owner of a seat not
    # claimed yet.
    owner_id: str | None = None
    product_id: uuid.UUID | None = None
    organization_code: str | None = None
    currency: str | None = None

    def with_installment(
        self, installment_id: uuid.UUID, state: InstallmentState, **reckoning: object
    ) -> OrderSnapshot:
        """The same order with one installment in a new state (and its facts);
        `reckoning`: its refusals, first refusal and decline code, when a
        refusal changed them."""
        changes = {"state": state, **reckoning}
        schedule = tuple(
            item.model_copy(update=changes) if item.id == installment_id else item
            for item in self.schedule
        )
        facts = self.facts.model_copy(
            update={"installments": tuple(item.state for item in schedule)}
        )
        return self.model_copy(update={"schedule": schedule, "facts": facts})

    def next_installment(self) -> InstallmentInfo | None:
        """The first installment not paid yet (they are debited in order)."""
        return next(
            (item for item in self.schedule if item.state is not InstallmentState.PAID), None
        )


class Transition(BaseModel):
    order_id: uuid.UUID
    from_state: OrderState
    to_state: OrderState
    event: str
    # The order's schedule is anchored here when it reaches pending.
    at: datetime


class CancelRequest(BaseModel):
    reason: str
    actor: str


# The order has a schedule being collected.
COLLECTING_STATES = frozenset(
    {
        OrderState.PENDING,
        OrderState.PENDING_PAYMENT,
        OrderState.NO_PAYMENT,
        OrderState.FAILED_PAYMENT,
    }
)

# An order's process is over in these: its workflow ends (at refunding, the
# refund's own workflow takes the order over).
FINAL_STATES = frozenset(
    {OrderState.COMPLETED, OrderState.CANCELED, OrderState.REFUNDING, OrderState.REFUNDED}
)
# The order_confirmed email goes once an order reaches one of these.
CONFIRMED_STATES = frozenset({OrderState.PENDING, OrderState.COMPLETED})
# The learner has access once the order is paid for in part, or complete.
ENROLLING_STATES = frozenset({OrderState.PENDING_PAYMENT, OrderState.COMPLETED})

# States in which a (new) payment method may be saved on a paid order.
PAYMENT_METHOD_STATES = frozenset(
    {
        OrderState.TO_SIGN_AND_TO_SAVE_PAYMENT_METHOD,
        OrderState.TO_SIGN,
        OrderState.SIGNING,
        OrderState.TO_SAVE_PAYMENT_METHOD,
        OrderState.PENDING,
        OrderState.PENDING_PAYMENT,
        OrderState.NO_PAYMENT,
        OrderState.FAILED_PAYMENT,
    }
)
PaymentMethodNotAccepted = error_class(Conflict, "payment_method_not_accepted")
OrderExists = error_class(Conflict, "order_exists")
BillingAddressRequired = error_class(Unprocessable, "billing_address_required")


NotRefundable = error_class(Conflict, "order_not_refundable")
IdempotencyKeyReused = error_class(Unprocessable, "idempotency_key_reused")
EnrollmentClosed = error_class(Unprocessable, "enrollment_closed")


class RunWindow(Protocol):
    start: datetime | None
    end: datetime | None
    enrollment_start: datetime | None
    enrollment_end: datetime | None


def is_open_for_enrollment(run: RunWindow, *, at: datetime) -> bool:
    """Within its enrollment dates (each optional), and not over."""
    if run.enrollment_start is not None and at < run.enrollment_start:
        return False
    if run.enrollment_end is not None and at >= run.enrollment_end:
        return False
    return run.end is None or at < run.end


def check_enrollment_open(runs: Sequence[RunWindow], *, at: datetime) -> None:
    """A product giving access to course runs is sold while one of them takes
    enrollments; a product without target runs (a membership) always is."""
    if runs and not any(is_open_for_enrollment(run, at=at) for run in runs):
        raise EnrollmentClosed("Enrollment is closed for every session of this product.")


def check_same_request(*, first: str | None, retry: str) -> None:
    """An Idempotency-Key answers the same order only to the same request.
    Orders written before fingerprints existed (None) accept any retry."""
    if first is not None and first != retry:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for another request: use a new key for a new order."
        )


VoucherClaimed = error_class(Conflict, "voucher_already_claimed")


def check_voucher_sendable(state: OrderState) -> None:
    """Only a seat nobody has claimed yet has a code worth sending."""
    if state is not OrderState.TO_OWN:
        raise VoucherClaimed(f"This order is {state}: its voucher is no longer to hand out.")


def check_refundable(state: OrderState) -> None:
    if state not in REFUNDABLE_STATES and state is not OrderState.REFUNDING:
        raise NotRefundable(f"An order in state {state} has nothing to refund.")


InstallmentNotPayable = error_class(Conflict, "installment_not_payable")
WithdrawalPeriodOver = error_class(Conflict, "withdrawal_period_over")


def withdrawal_deadline(*, anchor: datetime, days: int) -> datetime:
    """The end of the withdrawal period: midnight at the end of the French
    day `days` after the anchor's (the learner's signature, or the order's
    creation when there is no contract)."""
    last_day = paris_day(anchor) + timedelta(days=days)
    return datetime.combine(last_day + timedelta(days=1), time(), tzinfo=PARIS)


def check_withdrawable(*, has_right: bool, deadline: datetime | None, at: datetime) -> None:
    """Withdrawal: an order with the right (not waived, not free nor
    prepaid) before its deadline; a contract not signed yet has not started
    the period (no deadline)."""
    if not has_right:
        raise WithdrawalPeriodOver("This order has no withdrawal right (waived, or nothing paid).")
    if deadline is not None and at >= deadline:
        raise WithdrawalPeriodOver("The withdrawal period of this order is over.")


class PayNow(BaseModel):
    """Charge a refused installment at once, with the card given (or the
    saved one): the learner's "pay now", an admin's "retry now"."""

    installment_id: uuid.UUID
    card: CardSource | None = None


# Installments still to be paid by the saved card.
UNPAID_STATES = frozenset(
    {
        InstallmentState.PENDING,
        InstallmentState.REFUSED,
        InstallmentState.ACTION_REQUIRED,
        InstallmentState.ERROR,
    }
)
# Installments a learner pays now (or an admin retries): a refused charge, or
# one waiting for the learner's authentication.
PAYABLE_NOW = frozenset({InstallmentState.REFUSED, InstallmentState.ACTION_REQUIRED})


def check_installment_payable(
    *, order_state: OrderState, installment_state: InstallmentState | None
) -> None:
    """Only a refused or action_required installment of an order still
    collecting is paid now."""
    if installment_state is None:
        raise InstallmentNotPayable("This order has no such installment.")
    if order_state not in COLLECTING_STATES or installment_state not in PAYABLE_NOW:
        raise InstallmentNotPayable(
            f"An installment {installment_state} of an order {order_state} is not to pay now."
        )


def check_awaiting_learner(installment_state: InstallmentState | None) -> None:
    """Only a charge the bank wants the learner to authenticate has a payment
    to confirm on-session."""
    if installment_state is not InstallmentState.ACTION_REQUIRED:
        raise InstallmentNotPayable(
            "This installment has no payment waiting for your authentication."
        )


def check_payable(snapshot: OrderSnapshot, installment_id: uuid.UUID) -> InstallmentInfo:
    item = next((item for item in snapshot.schedule if item.id == installment_id), None)
    check_installment_payable(
        order_state=snapshot.state, installment_state=item.state if item else None
    )
    assert item is not None
    return item


def check_payment_method_accepted(state: OrderState, facts: OrderFacts) -> None:
    if facts.is_free or state not in PAYMENT_METHOD_STATES:
        raise PaymentMethodNotAccepted(f"An order in state {state} takes no payment method.")


# --- the order workflow's state -----------------------------------------------------


def retry_at(dunning: DunningPolicy, item: InstallmentInfo) -> datetime | None:
    """When the dunning ladder charges this refused installment again, if it does."""
    return dunning.next_retry_at(
        first_refused_at=item.first_refused_at,
        refusals=item.refusals,
        decline_code=item.decline_code,
    )


class CollectionStep(StrEnum):
    """What collecting the schedule asks for next."""

    # Nothing to debit: all paid (the order is completing), or a refused
    # installment waits for a new card.
    WAIT = "wait"
    # Remind before the due time, then debit at it.
    DEBIT_WHEN_DUE = "debit_when_due"
    # A new card pays the refused installment now.
    DEBIT_NOW = "debit_now"
    # A soft refusal: the saved card is charged again at the dunning ladder's
    # next step (DunningPolicy.next_retry_at).
    RETRY_LATER = "retry_later"
    # The charge waits for the learner's authentication: read its verdict
    # when the provider has news (or at the next poll).
    AWAIT_LEARNER = "await_learner"


class OrderProcess(BaseModel):
    """Everything the order workflow knows and has done, in one value: the
    workflow class is the event loop around it. Every method answers a new
    value; `changes` counts what a waiting step may be woken by."""

    snapshot: OrderSnapshot
    changes: int = 0
    invitation_link: str | None = None
    confirmed: bool = False
    enrolled: bool = False
    reminded: frozenset[uuid.UUID] = frozenset()
    # The refused installment a new card should pay now.
    retry: uuid.UUID | None = None
    # Installments whose charge the provider has news about (webhooks).
    payment_news: frozenset[uuid.UUID] = frozenset()
    # Card setups saved already: the provider's news of one is then nothing new.
    card_setups: frozenset[str] = frozenset()
    # The enrollments are suspended: an installment unpaid past the grace period.
    suspended: bool = False
    # Cards the learner was told expire before an installment (card_expiring).
    expiry_told: frozenset[str] = frozenset()

    @property
    def state(self) -> OrderState:
        return self.snapshot.state

    @property
    def facts(self) -> OrderFacts:
        return self.snapshot.facts

    @property
    def order_id(self) -> uuid.UUID:
        return self.snapshot.order_id

    @property
    def is_over(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def next_due_at(self) -> datetime | None:
        """When the next installment still to collect is due; None once the
        order is over or nothing is left to collect."""
        if self.is_over:
            return None
        waiting = (
            item.due_at for item in self.snapshot.schedule if item.state is InstallmentState.PENDING
        )
        return min(waiting, default=None)

    @property
    def overdue_since(self) -> datetime | None:
        """The first refusal of an installment still refused or waiting for
        the learner; None when nothing is overdue (or the order is over)."""
        if self.is_over:
            return None
        refused = (
            item.first_refused_at
            for item in self.snapshot.schedule
            if item.state in PAYABLE_NOW and item.first_refused_at is not None
        )
        return min(refused, default=None)

    def changed(self, **update: object) -> OrderProcess:
        return self.model_copy(update={**update, "changes": self.changes + 1})

    def moved(self, snapshot: OrderSnapshot) -> OrderProcess:
        """The order as an activity wrote it."""
        return self.changed(snapshot=snapshot)

    def moved_to(self, state: OrderState) -> OrderProcess:
        return self.moved(self.snapshot.model_copy(update={"state": state}))

    def knowing(self, **facts: bool) -> OrderProcess:
        """New facts; the state follows when `next_transition` is written."""
        updated = self.facts.model_copy(update=facts)
        return self.model_copy(
            update={"snapshot": self.snapshot.model_copy(update={"facts": updated})}
        )

    def next_transition(self, *, event: str, at: datetime) -> Transition | None:
        """The move the facts ask for, or None where the order already stands."""
        target = next_state(self.facts)
        if target is self.state:
            return None
        return Transition(
            order_id=self.order_id, from_state=self.state, to_state=target, event=event, at=at
        )

    def card_saved(
        self, *, setup_reference: str | None = None, card: CardOnFile | None = None
    ) -> OrderProcess:
        """A saved card; a refused (or action_required) installment is charged
        with it at once."""
        process = self.knowing(payment_method_saved=True)
        if card is not None:
            process = process.model_copy(
                update={"snapshot": process.snapshot.model_copy(update={"card": card})}
            )
        if setup_reference is not None:
            process = process.model_copy(
                update={"card_setups": process.card_setups | {setup_reference}}
            )
        unpaid = process.snapshot.next_installment()
        if unpaid is not None and unpaid.state in PAYABLE_NOW:
            return process.model_copy(update={"retry": unpaid.id})
        return process

    def reminded_of(self, installment_id: uuid.UUID) -> OrderProcess:
        return self.model_copy(update={"reminded": self.reminded | {installment_id}})

    def debiting(self, installment_id: uuid.UUID) -> OrderProcess:
        """A debit starts: news from the provider from now on is about it."""
        return self.model_copy(
            update={"retry": None, "payment_news": self.payment_news - {installment_id}}
        )

    def debited(self, installment_id: uuid.UUID, result: DebitOutcome) -> OrderProcess:
        """A debit's verdict (not PENDING: that one the provider tells later)."""
        reckoning = (
            result.model_dump(include={"refusals", "first_refused_at", "decline_code"})
            if result.state in PAYABLE_NOW and result.first_refused_at is not None
            else {}
        )
        return self.changed(
            snapshot=self.snapshot.with_installment(installment_id, result.state, **reckoning)
        )

    def told(self, installment_id: uuid.UUID) -> OrderProcess:
        """The provider has news about this installment's charge."""
        return self.model_copy(update={"payment_news": self.payment_news | {installment_id}})

    def collection_step(
        self, dunning: DunningPolicy | None = None
    ) -> tuple[CollectionStep, InstallmentInfo | None]:
        """What to do next; with no `dunning` (runs started before automatic
        retries existed), a refused installment waits for a new card."""
        item = self.snapshot.next_installment()
        if item is None:
            return CollectionStep.WAIT, None
        if self.retry == item.id:
            return CollectionStep.DEBIT_NOW, item
        if item.state is InstallmentState.ACTION_REQUIRED:
            return CollectionStep.AWAIT_LEARNER, item
        if item.state is InstallmentState.REFUSED:
            if dunning is not None and retry_at(dunning, item) is not None:
                return CollectionStep.RETRY_LATER, item
            return CollectionStep.WAIT, None
        return CollectionStep.DEBIT_WHEN_DUE, item

    def suspension_at(self, grace_period: timedelta) -> datetime | None:
        """When the enrollments are suspended if the unpaid installment stays
        unpaid (refused, or waiting for the learner): its first refusal plus
        the grace period; None when there is no access to suspend."""
        if self.suspended or not self.enrolled:
            return None
        item = self.snapshot.next_installment()
        if item is None or item.state not in PAYABLE_NOW or item.first_refused_at is None:
            return None
        return item.first_refused_at + grace_period

    def card_expiry_notice(self, notice: timedelta) -> tuple[datetime, InstallmentInfo] | None:
        """When to tell the learner the saved card expires before an
        installment it is to pay (`notice` before that installment's due
        time), and which; None when it does not, or they were told."""
        card = self.snapshot.card
        if (
            card is None
            or card.reference in self.expiry_told
            or self.state not in COLLECTING_STATES
        ):
            return None
        item = next(
            (
                item
                for item in self.snapshot.schedule
                if item.state in UNPAID_STATES and paris_day(item.due_at) > card.expires_on
            ),
            None,
        )
        return (item.due_at - notice, item) if item else None

    def expiry_told_of(self) -> OrderProcess:
        assert self.snapshot.card is not None
        return self.model_copy(
            update={"expiry_told": self.expiry_told | {self.snapshot.card.reference}}
        )

    def suspending(self) -> OrderProcess:
        """Suspended: the access is withdrawn until the order is paid up again."""
        return self.changed(suspended=True, enrolled=False)

    def wants_resumption(self) -> bool:
        """Paid up again: the suspension ends (and the access comes back)."""
        return self.suspended and self.state in ENROLLING_STATES

    def wants_confirmation(self) -> bool:
        return not self.confirmed and self.state in CONFIRMED_STATES and self.facts.has_owner

    def wants_enrollment(self) -> bool:
        return not self.enrolled and self.state in ENROLLING_STATES and self.facts.has_owner

    def paid_in_full(self) -> bool:
        return self.snapshot.next_installment() is None

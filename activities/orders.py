"""Activities of the order workflow: every write to orders and their events.

Each runs in one transaction and may run twice: creation is keyed by the
order id, transitions are conditional on the expected state."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from sqlalchemy import func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.failures import raises_domain_errors
from activities.liveness import heartbeating
from domain.errors import Unprocessable, error_class
from domain.invoices import TransactionKind, installment_line
from domain.orders import (
    PAYABLE_NOW,
    CancelRequest,
    CardOnFile,
    DebitOutcome,
    InstallmentInfo,
    InstallmentState,
    NewOrder,
    OrderSnapshot,
    OrderState,
    PaymentNews,
    Transition,
    next_state,
)
from domain.payment_schedule import SchedulePolicy, paris_day
from domain.payments import AUTHENTICATION_REQUIRED
from integrations.payments.base import (
    ChargeDeclined,
    ChargePending,
    ChargeRequiresAction,
    Customer,
    PaymentProvider,
    ProviderUnavailable,
    SavedPaymentMethod,
)
from models import accounting, catalog, invoices, orders
from models.base import UTCDateTime, utcnow
from models.catalog import Product
from models.contracts import Contract
from models.orders import Installment, Order, PaymentMethod

NoPaymentMethod = error_class(Unprocessable, "no_payment_method")


class SavePaymentMethod(BaseModel):
    order_id: uuid.UUID
    # One of the two (domain.payments.CardSource).
    token: str | None = None
    setup_reference: str | None = None


class CreateOrder(BaseModel):
    new: NewOrder
    policy: SchedulePolicy


class EnterPending(BaseModel):
    transition: Transition
    policy: SchedulePolicy


class ClaimOrder(BaseModel):
    order_id: uuid.UUID
    owner_id: str


class CancelOrder(BaseModel):
    order_id: uuid.UUID
    from_state: OrderState
    request: CancelRequest


class RefundOrder(BaseModel):
    order_id: uuid.UUID
    actor: str
    reason: str = "requested"


async def _transition(
    *,
    session: AsyncSession,
    order_id: uuid.UUID,
    from_state: OrderState,
    to_state: OrderState,
    event: str,
    detail: dict | None = None,
) -> bool:
    """orders.record_transition, counted once committed."""
    moved = await orders.record_transition(
        session=session,
        order_id=order_id,
        from_state=from_state,
        to_state=to_state,
        event=event,
        detail=detail,
    )
    if moved:
        metrics.order_moved(session, from_state=from_state, to_state=to_state)
    return moved


async def _enter_refunding(session: AsyncSession, order: Order, request: RefundOrder) -> None:
    """refunding, and nothing more to collect; once."""
    state = OrderState(order.state)
    if state is OrderState.REFUNDING:
        return
    await _transition(
        session=session,
        order_id=order.id,
        from_state=state,
        to_state=OrderState.REFUNDING,
        event="refund_requested",
        detail={"actor": request.actor, "reason": request.reason},
    )
    await orders.cancel_remaining_installments(session=session, order_id=order.id)


class OrderActivities:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        payments: PaymentProvider,
    ) -> None:
        # No settings: what an order is planned with travels in its workflow input.
        self._sessionmaker = sessionmaker
        self._payments = payments

    async def _snapshot(self, session: AsyncSession, order_id: uuid.UUID) -> OrderSnapshot:
        order = (
            await session.scalars(
                select(Order)
                .where(Order.id == order_id)
                .options(
                    selectinload(Order.installments),
                    selectinload(Order.payment_method),
                    selectinload(Order.organization),
                )
                .execution_options(populate_existing=True)
            )
        ).one()
        contract = await session.scalar(select(Contract).where(Contract.order_id == order_id))
        card = order.payment_method
        return OrderSnapshot(
            card=CardOnFile.of(
                reference=card.reference, exp_month=card.exp_month, exp_year=card.exp_year
            )
            if card
            else None,
            order_id=order.id,
            owner_id=order.owner_id,
            product_id=order.product_id,
            organization_code=order.organization.code if order.organization else None,
            currency=order.currency,
            state=OrderState(order.state),
            facts=orders.facts_of(order, contract=contract),
            contract_id=contract.id if contract else None,
            schedule=tuple(
                InstallmentInfo(
                    id=item.id,
                    due_at=item.due_at,
                    state=InstallmentState(item.state),
                    amount=item.amount,
                    refusals=item.attempt,
                    first_refused_at=item.first_refused_at,
                    decline_code=item.decline_code,
                )
                for item in order.installments
            ),
        )

    @activity.defn(name="orders.create")
    @raises_domain_errors
    async def create(self, request: CreateOrder) -> OrderSnapshot:
        """Write the order and take it past draft in one transaction: most
        orders (free, prepaid seats, paid ones waiting for a card) need no
        second activity before the API can answer."""
        async with self._sessionmaker.begin() as session:
            order = await orders.create_order(
                session=session, new=request.new, policy=request.policy
            )
            snapshot = await self._snapshot(session, order.id)
            target = next_state(snapshot.facts)
            if target is snapshot.state or target is OrderState.PENDING:
                return snapshot
            await _transition(
                session=session,
                order_id=order.id,
                from_state=snapshot.state,
                to_state=target,
                event="created",
            )
            return snapshot.model_copy(update={"state": target})

    @activity.defn(name="orders.load")
    @raises_domain_errors
    async def load(self, order_id: uuid.UUID) -> OrderSnapshot:
        async with self._sessionmaker() as session:
            return await self._snapshot(session, order_id)

    @activity.defn(name="orders.transition")
    @raises_domain_errors
    async def transition(self, transition: Transition) -> None:
        async with self._sessionmaker.begin() as session:
            await _transition(
                session=session,
                order_id=transition.order_id,
                from_state=transition.from_state,
                to_state=transition.to_state,
                event=transition.event,
            )

    @activity.defn(name="orders.enter_pending")
    @raises_domain_errors
    async def enter_pending(self, request: EnterPending) -> OrderSnapshot:
        """Store the payment schedule and move to pending, in one transaction."""
        transition = request.transition
        async with self._sessionmaker.begin() as session:
            order = await orders.get_order(session=session, id=transition.order_id)
            has_schedule = await session.scalar(
                select(Installment.id).where(Installment.order_id == order.id).limit(1)
            )
            if has_schedule is None:
                await self._store_schedule(session, order, transition, request.policy)
            await _transition(
                session=session,
                order_id=order.id,
                from_state=transition.from_state,
                to_state=OrderState.PENDING,
                event=transition.event,
            )
            return await self._snapshot(session, order.id)

    async def _store_schedule(
        self, session: AsyncSession, order: Order, transition: Transition, policy: SchedulePolicy
    ) -> None:
        product = await catalog.get(session=session, model=Product, id=order.product_id)
        contract = await session.scalar(select(Contract).where(Contract.order_id == order.id))
        anchor = (contract.student_signed_on if contract else None) or transition.at
        payments = orders.schedule_for(
            policy=policy, product=product, total=order.total, anchor=anchor
        )
        for position, payment in enumerate(payments):
            session.add(
                Installment(
                    order_id=order.id,
                    position=position,
                    due_date=payment.due_date,
                    due_at=payment.due_at,
                    amount=payment.amount,
                    state=InstallmentState.PENDING.value,
                )
            )
        # Sessions do not autoflush: the snapshot read next must see them.
        await session.flush()
        await orders.add_event(
            session=session,
            order_id=order.id,
            type="schedule_stored",
            detail={
                "installments": [
                    {"due_date": str(item.due_date), "amount": str(item.amount)}
                    for item in payments
                ]
            },
        )

    @activity.defn(name="orders.save_payment_method")
    @raises_domain_errors
    async def save_payment_method(self, request: SavePaymentMethod) -> SavedPaymentMethod:
        async with self._sessionmaker() as session:
            order = await orders.get_order(session=session, id=request.order_id)
            customer = await orders.customer(
                session=session, owner_id=str(order.owner_id), provider=self._payments.name
            )
        # The provider call stays outside the transaction: it may be slow.
        saved = await self._provider_card(request, customer)
        async with self._sessionmaker.begin() as session:
            existing = await session.get(PaymentMethod, request.order_id)
            if existing is None:
                existing = PaymentMethod(order_id=request.order_id)
                session.add(existing)
            for field, value in saved.model_dump().items():
                setattr(existing, field, value)
            await orders.add_event(
                session=session,
                order_id=request.order_id,
                type="payment_method_saved",
                detail={"brand": saved.brand, "last4": saved.last4},
            )
        return saved

    async def _provider_card(
        self, request: SavePaymentMethod, customer: Customer
    ) -> SavedPaymentMethod:
        order_id = str(request.order_id)
        if request.setup_reference is not None:
            return await self._payments.saved_from_setup(
                reference=request.setup_reference, customer=customer, order_id=order_id
            )
        assert request.token is not None
        return await self._payments.save_payment_method(
            token=request.token, customer=customer, order_id=order_id
        )

    @activity.defn(name="orders.claim")
    @raises_domain_errors
    async def claim(self, request: ClaimOrder) -> OrderSnapshot:
        async with self._sessionmaker.begin() as session:
            await orders.claim_prepaid(
                session=session, order_id=request.order_id, owner_id=request.owner_id
            )
            return await self._snapshot(session, request.order_id)

    @activity.defn(name="orders.hand_over_for_refund")
    @raises_domain_errors
    async def hand_over_for_refund(self, request: RefundOrder) -> OrderSnapshot:
        """The order stops collecting and waits, refunding, for its refund's
        workflow."""
        await withdraw_waiting_charges(self._sessionmaker, self._payments, request.order_id)
        async with self._sessionmaker.begin() as session:
            order = await orders.get_order(session=session, id=request.order_id)
            await _enter_refunding(session, order, request)
            return await self._snapshot(session, request.order_id)

    @activity.defn(name="orders.suspend")
    @raises_domain_errors
    async def suspend(self, order_id: uuid.UUID) -> None:
        """suspended_at set, with its event; once."""
        await self._mark_suspension(order_id, suspended=True)

    @activity.defn(name="orders.resume")
    @raises_domain_errors
    async def resume(self, order_id: uuid.UUID) -> None:
        """suspended_at cleared (the unpaid installment is paid), with its event; once."""
        await self._mark_suspension(order_id, suspended=False)

    async def _mark_suspension(self, order_id: uuid.UUID, *, suspended: bool) -> None:
        current = Order.suspended_at.is_(None) if suspended else Order.suspended_at.is_not(None)
        async with self._sessionmaker.begin() as session:
            changed = await session.scalar(
                update(Order)
                .where(Order.id == order_id, current)
                .values(suspended_at=utcnow() if suspended else None, updated_at=utcnow())
                .returning(Order.id)
            )
            if changed is not None:
                kind = "suspended" if suspended else "reactivated"
                await orders.add_event(session=session, order_id=order_id, type=kind)

    @activity.defn(name="orders.cancel")
    @raises_domain_errors
    async def cancel(self, request: CancelOrder) -> None:
        await withdraw_waiting_charges(self._sessionmaker, self._payments, request.order_id)
        async with self._sessionmaker.begin() as session:
            moved = await _transition(
                session=session,
                order_id=request.order_id,
                from_state=request.from_state,
                to_state=OrderState.CANCELED,
                event="canceled",
                detail=request.request.model_dump(),
            )
            if moved:
                await orders.cancel_remaining_installments(
                    session=session, order_id=request.order_id
                )
                await orders.retire_full_voucher(session=session, order_id=request.order_id)


class DebitRequest(BaseModel):
    order_id: uuid.UUID
    installment_id: uuid.UUID


def _superseded(installment: Installment, card: PaymentMethod) -> bool:
    """The charge of this attempt waits for the learner, and was made with
    another card than the one to pay with now."""
    return (
        installment.state == InstallmentState.ACTION_REQUIRED.value
        and installment.charge_key == idempotency_key(installment)
        and installment.charge_payment_method not in (None, card.reference)
    )


def idempotency_key(installment: Installment) -> str:
    """`installment:<id>`, and a new key per card after a refusal: the
    provider would otherwise replay the refusal instead of charging the new card."""
    key = f"installment:{installment.id}"
    return key if installment.attempt == 0 else f"{key}:{installment.attempt}"


async def _record_movement(
    session: AsyncSession, installment: Installment, kind: TransactionKind, reference: str
) -> None:
    """The invoice (or credit note), transaction and cash-book entry of one
    installment's money, in the caller's transaction."""
    signed = -installment.amount if kind is TransactionKind.REFUND else installment.amount
    await accounting.record_card_movement(
        session=session,
        order_id=installment.order_id,
        source=f"{kind.value}:{installment.id}",
        amount=signed,
        at=utcnow(),
    )
    facts = await orders.invoicing_facts(session=session, order_id=installment.order_id)
    await invoices.record_installment_movement(
        session=session,
        order_id=installment.order_id,
        installment_id=installment.id,
        facts=facts,
        line=installment_line(
            facts=facts, kind=kind, position=installment.position, amount=installment.amount
        ),
        kind=kind,
        reference=reference,
        year=paris_day(utcnow()).year,
    )


async def _currency_of(session: AsyncSession, order_id: uuid.UUID) -> str:
    return (await session.scalars(select(Order.currency).where(Order.id == order_id))).one()


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession],
    installment: Installment,
    state: InstallmentState,
    key: str,
    detail: dict,
    *,
    decline_code: str | None = None,
) -> None:
    """One charge's verdict on its installment, with the order's event (and
    the invoice of a payment); a paid installment is never written again."""
    async with sessionmaker.begin() as session:
        values: dict = {"state": state.value, "updated_at": utcnow()}
        if state in PAYABLE_NOW:
            # The dunning ladder counts from the first refusal (or charge
            # that needed the learner); a refusal moves to a new attempt.
            if state is InstallmentState.REFUSED:
                values["attempt"] = Installment.attempt + 1
            now = literal(utcnow(), UTCDateTime())
            values["first_refused_at"] = func.coalesce(Installment.first_refused_at, now)
            values["decline_code"] = decline_code
        changed = await session.scalar(
            update(Installment)
            .where(
                Installment.id == installment.id,
                Installment.state != InstallmentState.PAID.value,
            )
            .values(values)
            .returning(Installment.charge_reference)
        )
        if changed is None:
            return  # paid by an earlier run: nothing more to write
        if state is InstallmentState.PAID:
            await _record_movement(session, installment, TransactionKind.PAYMENT, changed)
        metrics.charged(
            session,
            state=state,
            decline_code=decline_code,
            amount=installment.amount,
            currency=await _currency_of(session, installment.order_id),
        )
        await orders.add_event(
            session=session,
            order_id=installment.order_id,
            type=f"debit_{state.value}",
            detail={"installment_id": str(installment.id), "key": key} | detail,
        )


async def _withdrawn(
    sessionmaker: async_sessionmaker[AsyncSession],
    payments: PaymentProvider,
    installment: Installment,
) -> bool:
    """Cancel the charge of an installment waiting for the learner (another
    card pays, or the order ends), so a late authentication takes nothing;
    the caller records it. False when the learner had paid it meanwhile:
    recorded paid. Raises (to be retried) while it is neither canceled nor paid."""
    assert installment.charge_reference is not None and installment.charge_key is not None
    reference, key = installment.charge_reference, installment.charge_key
    try:
        await payments.cancel_charge(reference=reference, idempotency_key=key)
        charged = await payments.confirm_charge(reference=reference, idempotency_key=key)
    except ChargeDeclined:
        return True
    except (ChargeRequiresAction, ChargePending, ProviderUnavailable) as still:
        # Charging another card now could take the money twice.
        raise ApplicationError(f"charge {reference} not withdrawn yet: {still!r}") from None
    detail = {"reference": charged.reference}
    await _record(sessionmaker, installment, InstallmentState.PAID, key, detail)
    return False


async def _record_withdrawal(
    sessionmaker: async_sessionmaker[AsyncSession],
    installment: Installment,
    *,
    next_attempt: bool = False,
) -> None:
    """The withdrawn charge on the order's events; with `next_attempt`, the
    installment's next charge gets a new idempotency key (same transaction:
    a retried activity does not withdraw twice)."""
    key = installment.charge_key
    async with sessionmaker.begin() as session:
        if next_attempt:
            await session.execute(
                update(Installment)
                .where(Installment.id == installment.id, Installment.charge_key == key)
                .values(attempt=Installment.attempt + 1, updated_at=utcnow())
            )
        await orders.add_event(
            session=session,
            order_id=installment.order_id,
            type="debit_withdrawn",
            detail={"installment_id": str(installment.id), "key": key},
        )


async def withdraw_waiting_charges(
    sessionmaker: async_sessionmaker[AsyncSession], payments: PaymentProvider, order_id: uuid.UUID
) -> None:
    """Before an order stops collecting (cancel, refund): every charge still
    waiting for the learner is withdrawn, or recorded paid if it was."""
    async with sessionmaker() as session:
        waiting = (
            await session.scalars(
                select(Installment).where(
                    Installment.order_id == order_id,
                    Installment.state == InstallmentState.ACTION_REQUIRED.value,
                )
            )
        ).all()
    for installment in waiting:
        if await _withdrawn(sessionmaker, payments, installment):
            await _record_withdrawal(sessionmaker, installment)


class DebitActivities:
    """The charge of one installment, never twice: it is prepared at the
    provider and its reference stored before it is confirmed, so a run after
    a crash confirms (or reads the verdict of) that same charge."""

    def __init__(
        self, *, sessionmaker: async_sessionmaker[AsyncSession], payments: PaymentProvider
    ) -> None:
        self._sessionmaker = sessionmaker
        self._payments = payments

    @activity.defn(name="orders.refund")
    @raises_domain_errors
    @heartbeating
    async def refund(self, request: RefundOrder) -> None:
        """refunding, every paid installment refunded (once each), refunded."""
        async with self._sessionmaker.begin() as session:
            order = await orders.get_order(session=session, id=request.order_id, view=True)
            if OrderState(order.state) is OrderState.REFUNDED:
                return
            await _enter_refunding(session, order, request)
        paid = [item for item in order.installments if item.state == InstallmentState.PAID.value]
        for installment in paid:
            await self._refund_installment(order, installment)
        async with self._sessionmaker.begin() as session:
            await _transition(
                session=session,
                order_id=order.id,
                from_state=OrderState.REFUNDING,
                to_state=OrderState.REFUNDED,
                event="refunded",
            )

    async def _refund_installment(self, order: Order, installment: Installment) -> None:
        assert installment.charge_reference is not None
        try:
            reference = await self._payments.refund(
                charge_reference=installment.charge_reference,
                amount=installment.amount,
                currency=order.currency,
                idempotency_key=f"refund:{installment.id}",
            )
        except ProviderUnavailable as outage:
            raise ApplicationError(f"payment provider unavailable: {outage}") from None
        async with self._sessionmaker.begin() as session:
            await self._mark_refunded(session, installment, reference)

    async def _mark_refunded(
        self, session: AsyncSession, installment: Installment, reference: str
    ) -> None:
        """paid → refunded with its credit note and event; once."""
        refunded = await session.scalar(
            update(Installment)
            .where(
                Installment.id == installment.id,
                Installment.state == InstallmentState.PAID.value,
            )
            .values(state=InstallmentState.REFUNDED.value, updated_at=utcnow())
            .returning(Installment.id)
        )
        if refunded is None:
            return  # recorded by an earlier run, or never paid
        await _record_movement(session, installment, TransactionKind.REFUND, reference)
        metrics.refunded(
            session,
            amount=installment.amount,
            currency=await _currency_of(session, installment.order_id),
        )
        await orders.add_event(
            session=session,
            order_id=installment.order_id,
            type="installment_refunded",
            detail={"installment_id": str(installment.id), "reference": reference},
        )

    @activity.defn(name="orders.debit")
    @raises_domain_errors
    @heartbeating
    async def debit(self, request: DebitRequest) -> InstallmentState | DebitOutcome:
        """PAID, REFUSED (with the ladder's reckoning), ACTION_REQUIRED (the
        bank wants the learner; asking again reads whether they have
        authenticated), or PENDING when the provider confirms later (its
        webhook or the next poll will tell); raises while it is unavailable.
        A plain InstallmentState is what runs before the dunning ladder
        recorded (their histories replay it)."""
        async with self._sessionmaker() as session:
            installment = await session.get(Installment, request.installment_id)
            order = await orders.get_order(session=session, id=request.order_id, view=True)
        assert installment is not None
        if installment.state == InstallmentState.PAID.value:
            return DebitOutcome(state=InstallmentState.PAID)
        card = order.payment_method
        if card is None:
            raise NoPaymentMethod("The order has no saved payment method.")
        if _superseded(installment, card):
            installment = await self._withdraw_charge(installment)
            if installment.state == InstallmentState.PAID.value:
                return DebitOutcome(state=InstallmentState.PAID)
        key = idempotency_key(installment)
        # Asked again while the learner has not answered the bank: no new event.
        waiting = installment.state == InstallmentState.ACTION_REQUIRED.value and (
            installment.charge_key == key
        )
        try:
            reference = await self._prepared_charge(order, installment, card, key)
            charged = await self._payments.confirm_charge(reference=reference, idempotency_key=key)
        except ChargeDeclined as refusal:
            detail = {"reason": str(refusal), "decline_code": refusal.code}
            await _record(
                self._sessionmaker,
                installment,
                InstallmentState.REFUSED,
                key,
                detail,
                decline_code=refusal.code,
            )
            return await self._refusal_of(installment.id)
        except ChargeRequiresAction:
            if not waiting:
                await _record(
                    self._sessionmaker,
                    installment,
                    InstallmentState.ACTION_REQUIRED,
                    key,
                    {"reason": "the bank wants the learner to authenticate"},
                    decline_code=AUTHENTICATION_REQUIRED,
                )
            return await self._refusal_of(installment.id)
        except ChargePending:
            await _record(
                self._sessionmaker,
                installment,
                InstallmentState.PENDING,
                key,
                {"reason": "processing"},
            )
            return DebitOutcome(state=InstallmentState.PENDING)
        except ProviderUnavailable as outage:
            await _record(
                self._sessionmaker,
                installment,
                InstallmentState.ERROR,
                key,
                {"reason": str(outage)},
            )
            # Retried by the activity's retry policy, with backoff.
            raise ApplicationError(f"payment provider unavailable: {outage}") from None
        await _record(
            self._sessionmaker,
            installment,
            InstallmentState.PAID,
            key,
            {"reference": charged.reference},
        )
        return DebitOutcome(state=InstallmentState.PAID)

    async def _withdraw_charge(self, installment: Installment) -> Installment:
        """Another card is to pay an installment whose charge waits for the
        learner: that charge is withdrawn first, then the attempt moves on,
        so the new card gets a new charge and the old one is never paid too."""
        if await _withdrawn(self._sessionmaker, self._payments, installment):
            await _record_withdrawal(self._sessionmaker, installment, next_attempt=True)
        return await self._reloaded(installment)

    async def _reloaded(self, installment: Installment) -> Installment:
        async with self._sessionmaker() as session:
            row = await session.get(Installment, installment.id, populate_existing=True)
        assert row is not None
        return row

    async def _refusal_of(self, installment_id: uuid.UUID) -> DebitOutcome:
        """An installment that did not pay (refused, or waiting for the
        learner) as its row now says: refusals, first refusal, decline code;
        or PAID if an earlier run had paid it."""
        async with self._sessionmaker() as session:
            row = await session.get(Installment, installment_id, populate_existing=True)
        assert row is not None
        return DebitOutcome(
            state=InstallmentState(row.state),
            refusals=row.attempt,
            first_refused_at=row.first_refused_at,
            decline_code=row.decline_code,
        )

    async def _prepared_charge(
        self, order: Order, installment: Installment, card: PaymentMethod, key: str
    ) -> str:
        """The charge of this attempt at the provider, prepared once and stored
        before anyone confirms it."""
        if installment.charge_key == key and installment.charge_reference:
            return installment.charge_reference
        reference = await self._payments.create_charge(
            amount=installment.amount,
            currency=order.currency,
            payment_method=card.reference,
            customer=card.customer_reference,
            idempotency_key=key,
            description=f"{order.offering.product.title} {installment.position + 1}"
            f"/{len(order.installments)}",
        )
        async with self._sessionmaker.begin() as session:
            await session.execute(
                update(Installment)
                .where(
                    Installment.id == installment.id,
                    Installment.state != InstallmentState.PAID.value,
                )
                .values(
                    charge_reference=reference,
                    charge_key=key,
                    charge_payment_method=card.reference,
                    updated_at=utcnow(),
                )
            )
        return reference

    @activity.defn(name="orders.record_provider_refund")
    @raises_domain_errors
    async def record_provider_refund(self, news: PaymentNews) -> None:
        """A paid installment the provider reports refunded (from its dashboard,
        say) is refunded here too, with its credit note; one Guichet made
        itself is already recorded and nothing changes."""
        async with self._sessionmaker.begin() as session:
            installment = await session.get(Installment, news.installment_id)
            assert installment is not None and news.refund_reference is not None
            await self._mark_refunded(session, installment, news.refund_reference)

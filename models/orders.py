"""Orders, their audit trail, payment schedule and saved payment method.

State changes go through `record_transition`: a conditional update on the
expected state plus an order_events row in the same transaction, so an
activity that runs twice writes the transition once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    UniqueConstraint,
    distinct,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship, selectinload

from domain.catalog import OrganizationNotInOffering, ProductType
from domain.errors import Conflict, NotFound, error_class
from domain.invoices import InvoicingFacts, order_lines
from domain.orders import (
    INACTIVE_STATES,
    BillingAddressRequired,
    InstallmentState,
    NewOrder,
    OrderExists,
    OrderFacts,
    OrderState,
    check_enrollment_open,
    check_transition,
    withdrawal_deadline,
)
from domain.payment_schedule import (
    DEFAULT_WITHDRAWAL_PERIOD_DAYS,
    RunDates,
    ScheduledPayment,
    SchedulePolicy,
)
from domain.payments import Customer
from domain.vouchers import (
    VoucherNotValidForOffering,
    VoucherUsage,
    VoucherUse,
    already_used,
    check_usable,
    count_uses,
)
from models import catalog, invoices, vouchers
from models.base import Base, Money, TimestampMixin, UTCDateTime, new_id, utcnow
from models.catalog import Offering, Organization, Product
from models.contracts import Contract
from models.users import User
from models.vouchers import Voucher

ORDER_STATES_SQL = ", ".join(f"'{item.value}'" for item in OrderState)
INSTALLMENT_STATES_SQL = ", ".join(f"'{item.value}'" for item in InstallmentState)
INACTIVE_VALUES = sorted(item.value for item in INACTIVE_STATES)
INACTIVE_STATES_SQL = ", ".join(f"'{item}'" for item in INACTIVE_VALUES)

OrderNotFound = error_class(NotFound, "order_not_found")
StateDiverged = error_class(Conflict, "order_state_changed")


class Order(TimestampMixin, Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(f"state IN ({ORDER_STATES_SQL})", name="state"),
        CheckConstraint("total >= 0 AND discount >= 0 AND price >= 0", name="amounts"),
        # The same Idempotency-Key from the same user is the same order.
        UniqueConstraint("owner_id", "idempotency_key"),
        # One active order per learner and offering; canceled and refunded
        # ones no longer count.
        Index(
            "uq_orders_active_owner_offering",
            "owner_id",
            "offering_id",
            unique=True,
            postgresql_where=text(f"owner_id IS NOT NULL AND state NOT IN ({INACTIVE_STATES_SQL})"),
            sqlite_where=text(f"owner_id IS NOT NULL AND state NOT IN ({INACTIVE_STATES_SQL})"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # None while a prepaid (to_own) order waits for the learner who claims it.
    owner_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    offering_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("offerings.id", ondelete="RESTRICT"), index=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="RESTRICT"))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    state: Mapped[str] = mapped_column(String(40), default=OrderState.DRAFT.value, index=True)
    price: Mapped[Decimal] = mapped_column(Money())
    discount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    total: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    contract_required: Mapped[bool] = mapped_column(Boolean, default=False)
    voucher_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("vouchers.id", ondelete="RESTRICT"), index=True
    )
    # This order was paid in advance (standalone or bulk sale): its voucher
    # is what the learner claims it with.
    is_prepaid: Mapped[bool] = mapped_column(Boolean, default=False)
    billing_address: Mapped[dict[str, str] | None] = mapped_column(JSON)
    has_waived_withdrawal_right: Mapped[bool] = mapped_column(Boolean, default=False)
    # GUICHET_WITHDRAWAL_PERIOD_DAYS when the order was created: what its
    # contract and schedule were planned with.
    withdrawal_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_WITHDRAWAL_PERIOD_DAYS)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # The hash of the request an Idempotency-Key was first used with.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(5), default="fr")
    # Set while the order's enrollments are suspended: an installment still
    # unpaid after the dunning grace period; cleared once it is paid.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    installments: Mapped[list[Installment]] = relationship(
        lazy="raise", order_by="Installment.position"
    )
    payment_method: Mapped[PaymentMethod | None] = relationship(lazy="raise")
    offering: Mapped[Offering] = relationship(lazy="raise")
    organization: Mapped[Organization | None] = relationship(lazy="raise")
    voucher: Mapped[Voucher | None] = relationship(lazy="raise")
    contract: Mapped[Contract | None] = relationship(lazy="raise", viewonly=True)

    @property
    def has_withdrawal_right(self) -> bool:
        """An online distance contract the learner pays for and did not waive."""
        return not self.has_waived_withdrawal_right and self.total > 0 and not self.is_prepaid

    @property
    def withdrawal_deadline(self) -> datetime | None:
        """None without the right, or while the contract waits for the
        learner's signature (the period has not started)."""
        if not self.has_withdrawal_right:
            return None
        if self.contract_required:
            signed = self.contract.student_signed_on if self.contract else None
            if signed is None:
                return None
            return withdrawal_deadline(anchor=signed, days=self.withdrawal_days)
        return withdrawal_deadline(anchor=self.created_at, days=self.withdrawal_days)


class OrderEvent(Base):
    __tablename__ = "order_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    type: Mapped[str] = mapped_column(String(50))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Installment(TimestampMixin, Base):
    __tablename__ = "installments"
    __table_args__ = (
        UniqueConstraint("order_id", "position"),
        CheckConstraint(f"state IN ({INSTALLMENT_STATES_SQL})", name="state"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    # When the timer debits it (its French day is due_date).
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Refusals so far: a retry with a new card needs a new idempotency key.
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    # The provider's charge, stored before it is confirmed (so a crash never
    # loses a debit) and kept to refund it; charge_key is the idempotency key
    # it was prepared with: a new attempt (new card) prepares a new charge.
    charge_reference: Mapped[str | None] = mapped_column(String(255))
    charge_key: Mapped[str | None] = mapped_column(String(255))
    # The card that charge was made with: a charge waiting for the learner's
    # authentication is withdrawn when another card is to pay instead.
    charge_payment_method: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[Decimal] = mapped_column(Money())
    state: Mapped[str] = mapped_column(String(20), default=InstallmentState.PENDING.value)
    # The dunning ladder's reckoning: the first refusal (or charge that needed
    # the learner), and the last decline code (soft ones are retried by
    # themselves, hard ones and authentication_required wait for the learner).
    first_refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decline_code: Mapped[str | None] = mapped_column(String(60))


class PaymentMethod(TimestampMixin, Base):
    """The card saved for an order's installments: a provider reference and
    what may be shown (never a full number)."""

    __tablename__ = "payment_methods"

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(255))
    customer_reference: Mapped[str | None] = mapped_column(String(255))
    brand: Mapped[str] = mapped_column(String(30))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    # The card setup it was saved from (None for a bare token): its webhook,
    # arriving after the learner brought it back, saves nothing twice.
    setup_reference: Mapped[str | None] = mapped_column(String(255))


# --- repository -------------------------------------------------------------------


def order_view_query() -> Select[tuple[Order]]:
    """An order with everything its API shape shows, in two queries: what
    an order has one of is joined to it, its installments come next. (One
    query per relation made a learner's order read 9 round trips, most of
    its time: bench/idle_orders.py.)"""
    offering = joinedload(Order.offering)
    return select(Order).options(
        selectinload(Order.installments),
        joinedload(Order.payment_method),
        offering.joinedload(Offering.course),
        offering.joinedload(Offering.product),
        joinedload(Order.organization),
        joinedload(Order.voucher),
        joinedload(Order.contract),
    )


async def get_order(
    *,
    session: AsyncSession,
    id: uuid.UUID,
    owner_id: str | None = None,
    view: bool = False,
    for_update: bool = False,
) -> Order:
    """An order; with `owner_id`, only that learner's (another's is a 404)."""
    query = (order_view_query() if view else select(Order)).where(Order.id == id)
    if owner_id is not None:
        query = query.where(Order.owner_id == owner_id)
    if for_update:
        query = query.with_for_update()
    found = (await session.scalars(query)).one_or_none()
    if found is None:
        raise OrderNotFound(f"No order with id {id}.")
    return found


async def add_event(
    *,
    session: AsyncSession,
    order_id: uuid.UUID,
    type: str,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        OrderEvent(
            order_id=order_id,
            type=type,
            from_state=from_state,
            to_state=to_state,
            detail=detail or {},
        )
    )


async def record_transition(
    *,
    session: AsyncSession,
    order_id: uuid.UUID,
    from_state: OrderState,
    to_state: OrderState,
    event: str,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Move the order from `from_state` to `to_state` with its event.

    True if this call moved it; False if it was already there (a retried
    activity); StateDiverged if it is somewhere else; InvalidTransition if
    the order's flow has no such step."""
    check_transition(from_state, to_state)
    moved = await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.state == from_state.value)
        .values(state=to_state.value, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount == 1:
        await add_event(
            session=session,
            order_id=order_id,
            type=event,
            from_state=from_state.value,
            to_state=to_state.value,
            detail=detail,
        )
        return True
    current = await session.scalar(select(Order.state).where(Order.id == order_id))
    if current == to_state.value:
        return False
    raise StateDiverged(
        f"Order {order_id} is {current}, not {from_state}: cannot move it to {to_state}."
    )


# --- creation ---------------------------------------------------------------------


@dataclass
class OrderPlan:
    """A new order, checked: who sells it, at what price."""

    offering: Offering
    organization_id: uuid.UUID
    voucher: Voucher | None
    discount: Decimal

    @property
    def total(self) -> Decimal:
        return self.offering.product.price - self.discount

    @property
    def organization(self) -> Organization:
        return next(item for item in self.offering.organizations if item.id == self.organization_id)


def run_dates(product: Product) -> list[RunDates]:
    """The dates of the course runs a product's schedule is made over."""
    return [RunDates(start=run.start, end=run.end) for run in product.target_course_runs]


def schedule_for(
    *, policy: SchedulePolicy, product: Product, total: Decimal, anchor: datetime
) -> list[ScheduledPayment]:
    """The one schedule of an order: its plan, its contract and its debits."""
    return policy.schedule(
        total=total,
        product_type=ProductType(product.type),
        anchor=anchor,
        runs=run_dates(product),
    )


async def _active_order_counts(
    *, session: AsyncSession, organization_ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(Order.organization_id, func.count())
        .where(Order.organization_id.in_(organization_ids), Order.state.not_in(INACTIVE_VALUES))
        .group_by(Order.organization_id)
    )
    return {organization_id: count for organization_id, count in rows.all()}


async def choose_organization(
    *, session: AsyncSession, offering: Offering, wanted: uuid.UUID | None
) -> uuid.UUID:
    """The organization asked for, or the offering's least busy one."""
    ids = [organization.id for organization in offering.organizations]
    if wanted is not None:
        if wanted not in ids:
            raise OrganizationNotInOffering("This organization does not sell this offering.")
        return wanted
    if not ids:
        raise OrganizationNotInOffering("No organization sells this offering.")
    counts = await _active_order_counts(session=session, organization_ids=ids)
    by_load = sorted(offering.organizations, key=lambda item: (counts.get(item.id, 0), item.code))
    return by_load[0].id


async def voucher_uses(*, session: AsyncSession, voucher_id: uuid.UUID) -> list[VoucherUse]:
    rows = await session.execute(
        select(Order.owner_id, Order.state).where(Order.voucher_id == voucher_id)
    )
    return [VoucherUse(owner_id=owner, state=state) for owner, state in rows.all()]


def _counted_use() -> Any:
    """An order that counts as a use of its voucher (domain.vouchers.count_uses)."""
    return Order.owner_id.is_not(None) & Order.state.not_in(INACTIVE_VALUES)


async def voucher_usage(
    *, session: AsyncSession, voucher_ids: list[uuid.UUID]
) -> dict[uuid.UUID, VoucherUsage]:
    """Counted orders and distinct learners of each voucher (one query a page)."""
    if not voucher_ids:
        return {}
    rows = await session.execute(
        select(Order.voucher_id, func.count(), func.count(distinct(Order.owner_id)))
        .where(Order.voucher_id.in_(voucher_ids), _counted_use())
        .group_by(Order.voucher_id)
    )
    found = {voucher: VoucherUsage(uses=uses, users=users) for voucher, uses, users in rows.all()}
    return {voucher: found.get(voucher, VoucherUsage()) for voucher in voucher_ids}


async def voucher_orders(
    *, session: AsyncSession, voucher_id: uuid.UUID, limit: int
) -> list[tuple[Order, str | None]]:
    """The newest orders that carry a voucher (counted or not), each with its
    learner's email."""
    rows = await session.execute(
        select(Order, User.email)
        .outerjoin(User, User.id == Order.owner_id)
        .where(Order.voucher_id == voucher_id)
        .order_by(Order.created_at.desc(), Order.id)
        .limit(limit)
    )
    return [(order, email) for order, email in rows.all()]


def _check_offering(voucher: Voucher, offering: Offering) -> None:
    if voucher.offering_id is not None and voucher.offering_id != offering.id:
        raise VoucherNotValidForOffering("This voucher is for another offering.")


async def _checked_voucher(
    *, session: AsyncSession, code: str, offering: Offering, owner_id: str, lock: bool
) -> Voucher:
    voucher = await vouchers.find_active(session=session, code=code, lock=lock)
    _check_offering(voucher, offering)
    check_usable(
        validity=voucher.validity,
        user_id=owner_id,
        multiple_use=voucher.multiple_use,
        multiple_users=voucher.multiple_users,
        uses=await voucher_uses(session=session, voucher_id=voucher.id),
        at=utcnow(),
    )
    return voucher


async def refuse_second_active_order(*, session: AsyncSession, new: NewOrder) -> None:
    existing = await session.scalar(
        select(Order.id).where(
            Order.owner_id == new.owner_id,
            Order.offering_id == new.offering_id,
            Order.state.not_in(INACTIVE_VALUES),
            Order.id != new.order_id,
        )
    )
    if existing is not None:
        raise OrderExists(
            "You already have an order for this offering.", details={"order_id": str(existing)}
        )


async def plan_order(
    *, session: AsyncSession, new: NewOrder, policy: SchedulePolicy, lock: bool = False
) -> OrderPlan:
    """Every rule a new order must pass; the API runs it before starting the
    workflow, the creation activity again in its transaction (`lock`: its
    voucher's row locked until the order is written)."""
    offering = await catalog.get(session=session, model=Offering, id=new.offering_id)
    product = offering.product
    voucher = None
    discount = Decimal("0.00")
    if new.prepaid_voucher_code:
        # Paid in advance: the seat's own voucher is written with the order.
        discount = product.price
    elif new.voucher_code:
        assert new.owner_id is not None
        voucher = await _checked_voucher(
            session=session,
            code=new.voucher_code,
            offering=offering,
            owner_id=new.owner_id,
            lock=lock,
        )
        discount = voucher.discount.taken_off(product.price)
    check_enrollment_open(product.target_course_runs, at=utcnow())
    plan = OrderPlan(
        offering=offering,
        organization_id=await choose_organization(
            session=session, offering=offering, wanted=new.organization_id
        ),
        voucher=voucher,
        discount=discount,
    )
    if plan.total > 0:
        if new.billing_address is None:
            raise BillingAddressRequired("A billing address is required for a paid order.")
        # Fails now with course_dates_missing rather than when the schedule is due.
        schedule_for(policy=policy, product=product, total=plan.total, anchor=utcnow())
    if new.owner_id is not None:
        await refuse_second_active_order(session=session, new=new)
    return plan


def _prepaid_voucher(code: str, offering: Offering) -> Voucher:
    return Voucher(
        id=new_id(),
        code=code,
        discount_rate=Decimal("1"),
        offering_id=offering.id,
        multiple_use=False,
        multiple_users=False,
        for_prepaid_seat=True,
    )


def _contract_for(order: Order, plan: OrderPlan, new: NewOrder, policy: SchedulePolicy) -> Contract:
    """The contract with a snapshot of what is agreed; the schedule is the one
    projected today (the real one is anchored at the learner's signature)."""
    product = plan.offering.product
    organization = plan.organization
    schedule = schedule_for(policy=policy, product=product, total=plan.total, anchor=utcnow())
    return Contract(
        order_id=order.id,
        definition_title=f"Contrat - {product.title}",
        definition_body=product.description,
        context={
            "learner": new.owner_id,
            "organization": {"code": organization.code, "title": organization.title},
            "course": {"code": plan.offering.course.code, "title": plan.offering.course.title},
            "product": product.title,
            "total": str(plan.total),
            "currency": product.currency,
            "schedule": [
                {"due_date": str(item.due_date), "amount": str(item.amount)} for item in schedule
            ],
        },
    )


async def create_order(*, session: AsyncSession, new: NewOrder, policy: SchedulePolicy) -> Order:
    """Insert the order, assigned to its organization; idempotent on its id."""
    existing = await session.get(Order, new.order_id)
    if existing is not None:
        return existing
    plan = await plan_order(session=session, new=new, policy=policy, lock=True)
    product = plan.offering.product
    if new.prepaid_voucher_code:
        plan.voucher = _prepaid_voucher(new.prepaid_voucher_code, plan.offering)
        session.add(plan.voucher)
    order = Order(
        id=new.order_id,
        owner_id=new.owner_id,
        offering_id=plan.offering.id,
        product_id=product.id,
        course_id=plan.offering.course_id,
        organization_id=plan.organization_id,
        state=OrderState.ASSIGNED.value,
        price=product.price,
        discount=plan.discount,
        total=plan.total,
        currency=product.currency,
        contract_required=product.contract_required,
        voucher_id=plan.voucher.id if plan.voucher else None,
        billing_address=new.billing_address.model_dump() if new.billing_address else None,
        has_waived_withdrawal_right=new.has_waived_withdrawal_right,
        withdrawal_days=policy.withdrawal_days,
        idempotency_key=new.idempotency_key,
        request_fingerprint=new.fingerprint() if new.idempotency_key else None,
        is_prepaid=new.prepaid_voucher_code is not None,
        language=new.language,
    )
    session.add(order)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # Another request created this learner's order for the offering meanwhile.
        await refuse_second_active_order(session=session, new=new)
        raise
    await add_event(session=session, order_id=order.id, type="created", to_state="draft")
    await add_event(
        session=session,
        order_id=order.id,
        type="assigned",
        from_state="draft",
        to_state="assigned",
        detail={"organization_id": str(plan.organization_id)},
    )
    if product.contract_required and not order.is_prepaid:
        session.add(_contract_for(order, plan, new, policy))
    if order.total > 0:
        await invoices.create_main_invoice(
            session=session,
            order_id=order.id,
            day=utcnow().strftime("%Y%m%d"),
            billing_address=order.billing_address,
            issuer=plan.organization.as_issuer(),
            lines=order_lines(
                title=product.title,
                price=product.price,
                discount=plan.discount,
                tax_rate=product.tax_rate,
            ),
            currency=order.currency,
        )
    await session.flush()
    return order


async def invoicing_facts(*, session: AsyncSession, order_id: uuid.UUID) -> InvoicingFacts:
    """Who sells what on an order's next document: its organization as it is
    now, its product's title and tax rate, its schedule's length."""
    order = (
        await session.scalars(
            select(Order)
            .where(Order.id == order_id)
            .options(joinedload(Order.organization), selectinload(Order.installments))
        )
    ).one()
    product = await session.get_one(Product, order.product_id)
    assert order.organization is not None, "an order that takes money has its organization"
    return InvoicingFacts(
        organization_id=order.organization.id,
        issuer=order.organization.as_issuer(),
        product_title=product.title,
        tax_rate=product.tax_rate,
        installment_count=len(order.installments),
    )


def facts_of(order: Order, *, contract: Contract | None = None) -> OrderFacts:
    return OrderFacts(
        organization_assigned=order.organization_id is not None,
        has_owner=order.owner_id is not None,
        is_free=order.total == 0,
        prepaid=order.is_prepaid and order.owner_id is not None,
        contract_required=order.contract_required,
        contract_submitted=bool(contract and contract.submitted_for_signature_on),
        learner_signed=bool(contract and contract.student_signed_on),
        payment_method_saved=order.payment_method is not None,
        installments=tuple(InstallmentState(item.state) for item in order.installments),
    )


async def cancel_remaining_installments(*, session: AsyncSession, order_id: uuid.UUID) -> None:
    await session.execute(
        update(Installment)
        .where(
            Installment.order_id == order_id,
            Installment.state.in_(
                [
                    InstallmentState.PENDING.value,
                    InstallmentState.ERROR.value,
                    # Its charge was withdrawn at the provider first.
                    InstallmentState.ACTION_REQUIRED.value,
                ]
            ),
        )
        .values(state=InstallmentState.CANCELED.value, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def retire_full_voucher(*, session: AsyncSession, order_id: uuid.UUID) -> None:
    """A canceled order's 100 % voucher must never be claimable again: the
    prepaid seat it stood for was given up."""
    order = await get_order(session=session, id=order_id)
    if order.voucher_id is None:
        return
    voucher = await session.get(Voucher, order.voucher_id)
    if voucher is not None and voucher.is_active and voucher.discount.is_full:
        voucher.is_active = False
        await add_event(
            session=session,
            order_id=order_id,
            type="voucher_retired",
            detail={"code": voucher.code},
        )


async def voucher_for_plan(
    *, session: AsyncSession, code: str, offering: Offering
) -> tuple[Voucher, bool]:
    """The voucher a payment plan applies, and whether it claims a prepaid order
    (then the learner skips the contract and payment steps). Its dates and
    cap are checked (true for anyone); who may use it, at the order."""
    voucher = await vouchers.find_active(session=session, code=code)
    _check_offering(voucher, offering)
    uses = await voucher_uses(session=session, voucher_id=voucher.id)
    refusal = voucher.validity.refusal(at=utcnow(), used=count_uses(uses))
    if refusal is not None:
        raise refusal
    prepaid = await session.scalar(
        select(Order.id).where(Order.voucher_id == voucher.id, Order.is_prepaid).limit(1)
    )
    return voucher, prepaid is not None


async def claim_prepaid(*, session: AsyncSession, order_id: uuid.UUID, owner_id: str) -> bool:
    """Give a prepaid seat to the learner who brings its voucher; completed at once.

    True if this call claimed it; False if this learner already had (a
    retried activity); unusable_voucher if someone else has."""
    claimed = await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.owner_id.is_(None), Order.is_prepaid)
        .values(owner_id=owner_id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount == 0:
        current_owner = await session.scalar(select(Order.owner_id).where(Order.id == order_id))
        if current_owner == owner_id:
            return False
        raise already_used()
    await add_event(session=session, order_id=order_id, type="claimed", detail={"owner": owner_id})
    await record_transition(
        session=session,
        order_id=order_id,
        from_state=OrderState.TO_OWN,
        to_state=OrderState.COMPLETED,
        event="claimed",
    )
    return True


async def prepaid_order_of(*, session: AsyncSession, voucher_id: uuid.UUID) -> Order | None:
    """The prepaid seat a voucher stands for, if it stands for one."""
    return (
        await session.scalars(select(Order).where(Order.voucher_id == voucher_id, Order.is_prepaid))
    ).one_or_none()


async def customer(*, session: AsyncSession, owner_id: str, provider: str) -> Customer:
    """The learner as a provider's customer: their name and email, and their
    customer at this provider from a card saved before, if any."""
    user = await session.get(User, owner_id)
    return Customer(
        id=owner_id,
        email=user.email if user else "",
        name=user.name if user else "",
        reference=await _customer_reference(session=session, owner_id=owner_id, provider=provider),
    )


async def _customer_reference(*, session: AsyncSession, owner_id: str, provider: str) -> str | None:
    return await session.scalar(
        select(PaymentMethod.customer_reference)
        .join(Order, Order.id == PaymentMethod.order_id)
        .where(
            Order.owner_id == owner_id,
            PaymentMethod.provider == provider,
            PaymentMethod.customer_reference.is_not(None),
        )
        .limit(1)
    )

"""Orders: the use cases of the tunnel, for the JSON routes, the back office
and the webhooks alike.

An order is process-owned: every change goes through its workflow
(`order:<id>`), whose activities write the rows; this module checks what
can be refused early, calls the workflow through the gateway and reads the
result back from the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.emails import MailRecipient
from domain.errors import NotFound, Unprocessable, error_class
from domain.orders import (
    COLLECTING_STATES,
    PAYABLE_NOW,
    WITHDRAWAL,
    CancelRequest,
    InstallmentState,
    NewOrder,
    NotRefundable,
    OrderState,
    OrderWorkflowInput,
    PaymentNews,
    PayNow,
    RefundRequest,
    RefundWorkflowInput,
    SignatureTiming,
    check_awaiting_learner,
    check_cancel,
    check_installment_payable,
    check_payment_method_accepted,
    check_refundable,
    check_same_request,
    check_signable,
    check_voucher_sendable,
    check_withdrawable,
)
from domain.payment_schedule import ScheduledPayment, paris_day
from domain.payments import (
    CardSetup,
    CardSource,
    ChargeAction,
    DunningPolicy,
    PaymentProviderUnavailable,
)
from domain.vouchers import VoucherNotValidForOffering, already_used, new_code, normalize_code
from integrations.payments.base import PaymentProvider, ProviderUnavailable
from models import catalog, orders
from models.base import utcnow
from models.catalog import Course, Offering, Organization, list_page
from models.orders import Installment, Order, OrderEvent
from models.users import User
from models.vouchers import Voucher
from services import workflows
from settings import Settings
from workflows.order import OrderWorkflow, workflow_id
from workflows.refund import (
    ProviderRefundWorkflow,
    RefundWorkflow,
    provider_refund_workflow_id,
)
from workflows.refund import workflow_id as refund_workflow_id

logger = logging.getLogger(__name__)

OfferingNotFound = error_class(NotFound, "offering_not_found")
CourseCodeRequired = error_class(Unprocessable, "course_code_required")

# Orders created with an Idempotency-Key get an id derived from (user, key):
# concurrent retries meet in the same workflow, `order:<id>`.
IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0f3e0c-8f6a-4f4e-9a57-6f2b1c9d2a11")
# Prepaid seats are created a few at a time: each is its own workflow start.
SEAT_CREATION_CONCURRENCY = 32
CSV_BATCH = 500
PAYABLE_NOW_VALUES = frozenset(state.value for state in PAYABLE_NOW)


@dataclass(frozen=True)
class Created:
    """A created order, or the prepaid seat a voucher claimed (`claimed`)."""

    order: Order
    claimed: bool = False


@dataclass(frozen=True)
class Seats:
    """Prepaid seats made, or found again for a retried request (`replayed`)."""

    orders: list[Order]
    replayed: bool


@dataclass(frozen=True)
class Plan:
    price: Decimal
    discount: Decimal
    total: Decimal
    currency: str
    schedule: list[ScheduledPayment]
    # The voucher claims a prepaid seat: no contract, no payment.
    prepaid: bool


# --- reads ------------------------------------------------------------------------


async def get(*, session: AsyncSession, order_id: uuid.UUID, owner_id: str | None = None) -> Order:
    """An order with what its API shape shows; with `owner_id`, only theirs."""
    return await orders.get_order(session=session, id=order_id, owner_id=owner_id, view=True)


async def _fresh(session: AsyncSession, order_id: uuid.UUID) -> Order:
    """The order as the workflow left it: objects this session loaded
    before are stale, so they are read again."""
    session.expire_all()
    return await get(session=session, order_id=order_id)


async def page_of_owner(
    *, session: AsyncSession, owner_id: str, state: OrderState | None, offset: int, limit: int
) -> tuple[int, list[Order]]:
    query = (
        orders.order_view_query()
        .where(Order.owner_id == owner_id)
        .order_by(Order.created_at.desc(), Order.id)
    )
    if state is not None:
        query = query.where(Order.state == state.value)
    return await list_page(session=session, query=query, offset=offset, limit=limit)


@dataclass(frozen=True)
class OrderSearch:
    """What an operator looks orders up by (the admin list, the back office):
    a learner by id or email, an organization by code, an offering, the
    day the order was created (from, to: both included, UTC days)."""

    state: OrderState | None = None
    voucher_code: str | None = None
    product_id: uuid.UUID | None = None
    learner: str | None = None
    organization: str | None = None
    offering_id: uuid.UUID | None = None
    created_from: date | None = None
    created_to: date | None = None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _admin_query(search: OrderSearch) -> Any:
    """Orders newest first, filtered as the admin list (and the back office) asks."""
    query = orders.order_view_query().order_by(Order.created_at.desc(), Order.id)
    if search.state is not None:
        query = query.where(Order.state == search.state.value)
    if search.product_id is not None:
        query = query.where(Order.offering.has(Offering.product_id == search.product_id))
    if search.offering_id is not None:
        query = query.where(Order.offering_id == search.offering_id)
    if search.voucher_code:
        query = query.join(Voucher, Voucher.id == Order.voucher_id).where(
            Voucher.code == normalize_code(search.voucher_code)
        )
    if search.learner:
        learner = search.learner.strip()
        by_email = select(User.id).where(func.lower(User.email) == learner.lower())
        query = query.where((Order.owner_id == learner) | Order.owner_id.in_(by_email))
    if search.organization:
        codes = select(Organization.id).where(
            func.lower(Organization.code) == search.organization.strip().lower()
        )
        query = query.where(Order.organization_id.in_(codes))
    if search.created_from is not None:
        query = query.where(Order.created_at >= _day_start(search.created_from))
    if search.created_to is not None:
        query = query.where(Order.created_at < _day_start(search.created_to + timedelta(days=1)))
    return query


async def admin_page(
    *, session: AsyncSession, search: OrderSearch, offset: int, limit: int
) -> tuple[int, list[Order]]:
    query = _admin_query(search)
    return await list_page(session=session, query=query, offset=offset, limit=limit)


@dataclass(frozen=True)
class PaymentIssue:
    """An order whose collection is stuck on an installment: refused, or
    waiting for the learner's authentication."""

    order: Order
    installment: Installment
    # When the dunning ladder charges it again by itself (None: it waits for
    # the learner), reckoned with today's GUICHET_DUNNING_RETRY_DELAYS.
    next_retry_at: datetime | None
    days_overdue: int


def _payment_issues_query() -> Any:
    """Orders in no_payment or failed_payment, or with an installment
    waiting for the learner; the longest overdue first."""
    waiting = select(Installment.order_id).where(
        Installment.state == InstallmentState.ACTION_REQUIRED.value
    )
    stuck = (OrderState.NO_PAYMENT.value, OrderState.FAILED_PAYMENT.value)
    collecting = [state.value for state in COLLECTING_STATES]
    return (
        orders.order_view_query()
        .where(Order.state.in_(stuck) | (Order.state.in_(collecting) & Order.id.in_(waiting)))
        .order_by(Order.updated_at, Order.id)
    )


async def payment_issues(
    *, session: AsyncSession, dunning: DunningPolicy, offset: int, limit: int
) -> tuple[int, list[PaymentIssue]]:
    """The back office's "payment issues" list, a page at a time."""
    count, found = await list_page(
        session=session, query=_payment_issues_query(), offset=offset, limit=limit
    )
    today = paris_day(utcnow())
    issues = []
    for order in found:
        unpaid = next(
            (item for item in order.installments if item.state in PAYABLE_NOW_VALUES), None
        )
        if unpaid is None:
            continue  # paid meanwhile
        retry = dunning.next_retry_at(
            first_refused_at=unpaid.first_refused_at,
            refusals=unpaid.attempt,
            decline_code=unpaid.decline_code,
        )
        waiting = unpaid.state == InstallmentState.ACTION_REQUIRED.value
        issues.append(
            PaymentIssue(
                order=order,
                installment=unpaid,
                next_retry_at=None if waiting else retry,
                days_overdue=max((today - unpaid.due_date).days, 0),
            )
        )
    return count, issues


def workflow_ids(order_id: uuid.UUID) -> dict[str, str]:
    """The workflows an order may have, by what they do (operators open them
    in the Temporal Web UI)."""
    return {"order": workflow_id(order_id), "refund": refund_workflow_id(order_id)}


async def admin_batches(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    search: OrderSearch,
) -> AsyncIterator[Sequence[Order]]:
    """Every order the filters keep, a batch at a time (CSV exports):
    memory stays flat whatever the count."""
    query = _admin_query(search)
    async with sessionmaker() as session:
        offset = 0
        while batch := (await session.scalars(query.offset(offset).limit(CSV_BATCH))).all():
            yield batch
            offset += CSV_BATCH
            session.expunge_all()


async def events(*, session: AsyncSession, order_id: uuid.UUID) -> list[OrderEvent]:
    rows = await session.scalars(
        select(OrderEvent)
        .where(OrderEvent.order_id == order_id)
        .order_by(OrderEvent.at, OrderEvent.id)
    )
    return list(rows.all())


async def by_ids(*, session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Order]:
    query = orders.order_view_query().where(Order.id.in_(ids)).order_by(Order.created_at, Order.id)
    return list((await session.scalars(query)).all())


async def payment_plan(
    *, session: AsyncSession, settings: Settings, offering_id: uuid.UUID, voucher_code: str | None
) -> Plan:
    """The price and schedule of an order placed now, with the policy new
    orders get: what the contract will say and the debits will be."""
    offering = await catalog.get(session=session, model=Offering, id=offering_id)
    product = offering.product
    discount, prepaid = Decimal("0.00"), False
    if voucher_code:
        voucher, prepaid = await orders.voucher_for_plan(
            session=session, code=voucher_code, offering=offering
        )
        discount = voucher.discount.taken_off(product.price)
    total = product.price - discount
    schedule = orders.schedule_for(
        policy=settings.schedule_policy(), product=product, total=total, anchor=utcnow()
    )
    return Plan(
        price=product.price,
        discount=discount,
        total=total,
        currency=product.currency,
        schedule=schedule,
        prepaid=prepaid,
    )


# --- the workflow -----------------------------------------------------------------


def _summary(
    offering: Offering, organization: Organization, *, total: Decimal, prepaid: bool = False
) -> str:
    """The line the Temporal Web UI shows for an order: what, for how much,
    by whom; ids and codes only (the visibility store is not encrypted)."""
    return " · ".join(
        (
            "Prepaid seat" if prepaid else "Order",
            f"{total} {offering.product.currency}",
            offering.course.code,
            f"organization {organization.code}",
        )
    )


def workflow_input(*, settings: Settings, new: NewOrder) -> OrderWorkflowInput:
    return OrderWorkflowInput(
        new_order=new,
        stuck_timeout=settings.order_stuck_timeout,
        schedule_policy=settings.schedule_policy(),
        pending_charge_poll=settings.pending_charge_poll,
        dunning=settings.dunning_policy(),
        card_expiry_notice=settings.card_expiry_notice,
        signature=SignatureTiming(
            poll_interval=settings.signature_poll_interval,
            poll_max_interval=settings.signature_poll_max_interval,
            validity=timedelta(days=settings.signature_validity_days),
        ),
    )


async def _update(
    *, temporal: Client, settings: Settings, order_id: uuid.UUID, update: Any, argument: Any = None
) -> Any:
    return await workflows.update(
        temporal=temporal,
        run=OrderWorkflow.run,
        workflow_id=workflow_id(order_id),
        update=update,
        argument=argument,
        within=settings.workflow_call_timeout,
    )


async def _checked_update(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    order: Order,
    check: Callable[[Order], None],
    update: Any,
    argument: Any = None,
) -> Any:
    """`update` on the order's workflow once `check` passes on the order.

    When the workflow ends between the two (canceled or completed meanwhile),
    the check runs again on the order as it is now: the answer is that
    state's own refusal, as a moment later, not 409 `workflow_closed`."""
    check(order)
    try:
        return await _update(
            temporal=temporal,
            settings=settings,
            order_id=order.id,
            update=update,
            argument=argument,
        )
    except workflows.WorkflowClosed:
        check(await _fresh(session, order.id))
        raise


async def _update_with_start(
    *,
    temporal: Client,
    settings: Settings,
    order_id: uuid.UUID,
    run_input: OrderWorkflowInput,
    update: Any,
    argument: Any = None,
    id_conflict_policy: WorkflowIDConflictPolicy,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    summary: str | None = None,
) -> Any:
    return await workflows.update_with_start(
        temporal=temporal,
        run=OrderWorkflow.run,
        workflow_id=workflow_id(order_id),
        workflow_input=run_input,
        task_queue=settings.task_queue,
        update=update,
        argument=argument,
        within=settings.workflow_call_timeout,
        id_conflict_policy=id_conflict_policy,
        id_reuse_policy=id_reuse_policy,
        summary=summary,
    )


async def _start(
    *,
    temporal: Client,
    settings: Settings,
    new: NewOrder,
    id_conflict_policy: WorkflowIDConflictPolicy,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    summary: str | None = None,
) -> None:
    """Start the order's workflow and wait until it has written the order."""
    await _update_with_start(
        temporal=temporal,
        settings=settings,
        order_id=new.order_id,
        run_input=workflow_input(settings=settings, new=new),
        update=OrderWorkflow.created,
        id_conflict_policy=id_conflict_policy,
        id_reuse_policy=id_reuse_policy,
        summary=summary,
    )


# --- the learner's tunnel ----------------------------------------------------------


def new_order_id(*, owner_id: str, idempotency_key: str | None) -> uuid.UUID:
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{owner_id}\n{idempotency_key}")


async def offering_of(
    *,
    session: AsyncSession,
    offering_id: uuid.UUID | None,
    product_id: uuid.UUID | None,
    course_code: str | None,
) -> uuid.UUID:
    """The offering an order names, by id or by (product, course code)."""
    if offering_id is not None:
        return offering_id
    found = await session.scalar(
        select(Offering.id)
        .join(Course, Course.id == Offering.course_id)
        .where(Offering.product_id == product_id, Course.code == course_code)
    )
    if found is None:
        raise OfferingNotFound("No offering for this product and course.")
    return found


async def create(
    *, session: AsyncSession, temporal: Client, settings: Settings, new: NewOrder
) -> Created:
    """Create the order (or answer the one its Idempotency-Key made), or
    claim the prepaid seat its voucher stands for."""
    seat = await _prepaid_seat(session, new.voucher_code)
    if seat is not None:
        return Created(
            order=await _claim(
                session=session, temporal=temporal, settings=settings, seat=seat, new=new
            ),
            claimed=True,
        )
    existing = await session.get(Order, new.order_id)
    summary = None
    if existing is not None:
        check_same_request(first=existing.request_fingerprint, retry=new.fingerprint())
    else:
        # Refuse bad requests before any workflow exists.
        plan = await orders.plan_order(session=session, new=new, policy=settings.schedule_policy())
        summary = _summary(plan.offering, plan.organization, total=plan.total)
    # WorkflowAlreadyStartedError: its workflow has ended, the order is written.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await _start(
            temporal=temporal,
            settings=settings,
            new=new,
            summary=summary,
            # A creation refused by a concurrent change failed the workflow:
            # the same key may try again. A created order's key returns it.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    order = await _fresh(session, new.order_id)
    # A concurrent request with the same key and another body may have won.
    if new.idempotency_key is not None:
        check_same_request(first=order.request_fingerprint, retry=new.fingerprint())
    return Created(order=order)


async def _prepaid_seat(session: AsyncSession, voucher_code: str | None) -> Order | None:
    """The prepaid seat an active voucher stands for, if it stands for one."""
    if not voucher_code:
        return None
    voucher = await session.scalar(
        select(Voucher).where(Voucher.code == normalize_code(voucher_code), Voucher.is_active)
    )
    if voucher is None:
        return None
    return await orders.prepaid_order_of(session=session, voucher_id=voucher.id)


async def _claim(
    *, session: AsyncSession, temporal: Client, settings: Settings, seat: Order, new: NewOrder
) -> Order:
    if seat.offering_id != new.offering_id:
        raise VoucherNotValidForOffering("This voucher is for another product or course.")
    if seat.owner_id == new.owner_id:
        return await _fresh(session, seat.id)  # a retried claim
    if seat.owner_id is not None:
        raise already_used()
    await orders.refuse_second_active_order(
        session=session, new=new.model_copy(update={"order_id": seat.id})
    )
    try:
        await _update(
            temporal=temporal,
            settings=settings,
            order_id=seat.id,
            update=OrderWorkflow.claim,
            argument=new.owner_id,
        )
    except workflows.WorkflowClosed:
        # Another learner claimed the seat meanwhile and its workflow ended:
        # for this one, the voucher is used, as if it had been used before.
        claimed = await _fresh(session, seat.id)
        if claimed.owner_id == new.owner_id:
            return claimed
        raise already_used() from None
    return await _fresh(session, seat.id)


async def save_payment_method(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    owner_id: str | None,
    order_id: uuid.UUID,
    card: CardSource,
) -> Order:
    """Save the card from a token or a setup the learner confirmed; the
    learner's own order (`owner_id`), or any for a provider's webhook."""
    await _checked_update(
        session=session,
        temporal=temporal,
        settings=settings,
        order=await get(session=session, order_id=order_id, owner_id=owner_id),
        check=_takes_a_card,
        update=OrderWorkflow.save_payment_method,
        argument=card,
    )
    return await _fresh(session, order_id)


async def create_card_setup(
    *,
    session: AsyncSession,
    provider: PaymentProvider,
    owner_id: str,
    order_id: uuid.UUID,
    token: str | None,
) -> CardSetup:
    """A card setup at the provider for the learner's order, which must be
    waiting for a card. Nothing is written here: the card is saved when the
    learner (or the provider's webhook) brings the setup back."""
    order = await get(session=session, order_id=order_id, owner_id=owner_id)
    _takes_a_card(order)
    customer = await orders.customer(session=session, owner_id=owner_id, provider=provider.name)
    async with _learner_waits():
        return await provider.create_setup(customer=customer, order_id=str(order_id), token=token)


@contextlib.asynccontextmanager
async def _learner_waits() -> AsyncIterator[None]:
    """A provider call the learner waits for: an outage is their 503."""
    try:
        yield
    except ProviderUnavailable:
        raise PaymentProviderUnavailable(
            "The payment provider cannot be reached; try again in a moment."
        ) from None


def _takes_a_card(order: Order) -> None:
    check_payment_method_accepted(OrderState(order.state), orders.facts_of(order))


def _signable(order: Order) -> None:
    check_signable(OrderState(order.state), has_contract=order.contract_required)


def check_cancelable(order: Order) -> None:
    check_cancel(OrderState(order.state))


def check_refund(order: Order) -> None:
    """Something was paid, and the order is in a state a refund can follow."""
    check_refundable(OrderState(order.state))
    if not any(item.state == InstallmentState.PAID.value for item in order.installments):
        raise NotRefundable("Nothing was paid on this order.")


def _voucher_sendable(order: Order) -> None:
    check_voucher_sendable(OrderState(order.state))


async def submit_for_signature(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    owner_id: str,
    order_id: uuid.UUID,
) -> str:
    """The learner's invitation link to sign the order's contract."""
    return await _checked_update(
        session=session,
        temporal=temporal,
        settings=settings,
        order=await orders.get_order(session=session, id=order_id, owner_id=owner_id),
        check=_signable,
        update=OrderWorkflow.submit_for_signature,
    )


async def cancel(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    order_id: uuid.UUID,
    actor: str,
    owner_id: str | None = None,
    reason: str = "requested",
) -> Order:
    """Cancel an order: the learner's own (`owner_id`), or any for an admin."""
    await _checked_update(
        session=session,
        temporal=temporal,
        settings=settings,
        order=await orders.get_order(session=session, id=order_id, owner_id=owner_id),
        check=check_cancelable,
        update=OrderWorkflow.cancel,
        argument=CancelRequest(reason=reason, actor=actor),
    )
    return await _fresh(session, order_id)


# --- the back office ----------------------------------------------------------------


async def refund(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    order_id: uuid.UUID,
    actor: str,
    reason: str = "requested",
) -> Order:
    """Refund every paid installment. A running order workflow first hands
    the order over (it stops collecting and ends); then the refund's own
    workflow refunds, revokes, closes the signature and tells the learner."""
    order = await get(session=session, order_id=order_id)
    check_refund(order)
    request = RefundRequest(actor=actor, reason=reason)
    # Closed: its order workflow has ended (completed, canceled) or handed over.
    with contextlib.suppress(workflows.WorkflowClosed):
        await _update(
            temporal=temporal,
            settings=settings,
            order_id=order.id,
            update=OrderWorkflow.hand_over_for_refund,
            argument=request,
        )
    await workflows.update_with_start(
        temporal=temporal,
        run=RefundWorkflow.run,
        workflow_id=refund_workflow_id(order.id),
        workflow_input=RefundWorkflowInput(order_id=order.id, actor=actor, reason=reason),
        task_queue=settings.task_queue,
        update=RefundWorkflow.refunded,
        within=settings.workflow_call_timeout,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return await _fresh(session, order.id)


async def withdraw(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    order_id: uuid.UUID,
    owner_id: str,
) -> Order:
    """The learner withdraws (EU Directive 2023/2673) before the deadline: the
    order is canceled, or, if something was paid, refunded in full (the
    remaining installments canceled, the enrollments revoked); the
    order_withdrawn mail goes to the learner and the organization's
    signatories. A second call answers the same."""
    order = await get(session=session, order_id=order_id, owner_id=owner_id)
    if await _withdrawn(session, order_id):
        return order
    check_withdrawable(
        has_right=order.has_withdrawal_right, deadline=order.withdrawal_deadline, at=utcnow()
    )
    paid = any(item.state == InstallmentState.PAID.value for item in order.installments)
    act = refund if paid else cancel
    return await act(
        session=session,
        temporal=temporal,
        settings=settings,
        order_id=order_id,
        actor=owner_id,
        reason=WITHDRAWAL,
    )


async def _withdrawn(session: AsyncSession, order_id: uuid.UUID) -> bool:
    """The order was canceled or refunded because the learner withdrew."""
    ended = await session.scalars(
        select(OrderEvent.detail).where(
            OrderEvent.order_id == order_id,
            OrderEvent.type.in_(("canceled", "refund_requested")),
        )
    )
    return any((detail or {}).get("reason") == WITHDRAWAL for detail in ended)


async def send_voucher(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    order_id: uuid.UUID,
    recipient: MailRecipient,
) -> bool:
    """Email a prepaid seat's voucher; False if it had been sent before."""
    return await _checked_update(
        session=session,
        temporal=temporal,
        settings=settings,
        order=await orders.get_order(session=session, id=order_id),
        check=_voucher_sendable,
        update=OrderWorkflow.send_voucher,
        argument=recipient,
    )


async def _offering_of_product(
    session: AsyncSession, product_id: uuid.UUID, course_code: str | None
) -> Offering:
    query = catalog.loading_query(Offering).where(Offering.product_id == product_id)
    if course_code is not None:
        query = query.join(Course, Course.id == Offering.course_id).where(
            Course.code == course_code
        )
    found = (await session.scalars(query.limit(2))).all()
    if not found:
        raise OfferingNotFound("No offering for this product (and course).")
    if len(found) > 1:
        raise CourseCodeRequired("This product is sold with several courses: give course_code.")
    return found[0]


async def create_prepaid(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    product_id: uuid.UUID,
    course_code: str | None,
    organization_id: uuid.UUID | None,
    count: int,
    admin_id: str,
    idempotency_key: str | None,
) -> Seats:
    """`count` ownerless to_own orders, each with its own single-use 100 %
    voucher a learner claims the seat with.

    With an Idempotency-Key, seat ids derive from (admin, key, position): a
    retry, even while the first call still runs, meets the same seats and
    starts only those not written yet; `replayed` when all already were."""
    offering = await _offering_of_product(session, product_id, course_code)
    chosen = await orders.choose_organization(
        session=session, offering=offering, wanted=organization_id
    )
    organization = next(item for item in offering.organizations if item.id == chosen)
    summary = _summary(offering, organization, total=offering.product.price, prepaid=True)
    seats = [
        NewOrder(
            order_id=_seat_id(admin_id=admin_id, idempotency_key=idempotency_key, position=index),
            owner_id=None,
            offering_id=offering.id,
            organization_id=organization_id,
            prepaid_voucher_code=new_code(),
            idempotency_key=idempotency_key,
            batch_size=count if idempotency_key else None,
        )
        for index in range(count)
    ]
    ids = [seat.order_id for seat in seats]
    written = {order.id: order for order in await by_ids(session=session, ids=ids)}
    for order in list(written.values())[:1]:
        check_same_request(first=order.request_fingerprint, retry=seats[0].fingerprint())
    gate = asyncio.Semaphore(SEAT_CREATION_CONCURRENCY)

    async def start(seat: NewOrder) -> None:
        # Already started and ended (a seat claimed meanwhile): it is written.
        async with gate:
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await _start(
                    temporal=temporal,
                    settings=settings,
                    new=seat,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING
                    if idempotency_key
                    else WorkflowIDConflictPolicy.FAIL,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                    summary=summary,
                )

    await asyncio.gather(*(start(seat) for seat in seats if seat.order_id not in written))
    return Seats(orders=await by_ids(session=session, ids=ids), replayed=len(written) == count)


def _seat_id(*, admin_id: str, idempotency_key: str | None, position: int) -> uuid.UUID:
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{admin_id}\n{idempotency_key}\nseat {position}")


# --- provider news ------------------------------------------------------------------


async def payment_news(
    *, temporal: Client, settings: Settings, order_id: uuid.UUID, news: PaymentNews
) -> None:
    """A verified provider event about one of the order's charges. A refund
    made at the provider, most often long after the order completed, is
    recorded by a workflow of its own, whether the order's runs or not
    (tests/reliability/test_stripe_redelivery.py: such refunds were dropped
    once the order's workflow had ended); other news wakes a debit waiting
    for its verdict, and is moot once the order's workflow is over."""
    if news.refund_reference is not None:
        await workflows.start(
            temporal=temporal,
            run=ProviderRefundWorkflow.run,
            workflow_id=provider_refund_workflow_id(news.refund_reference),
            workflow_input=news,
            task_queue=settings.task_queue,
            within=workflows.SIGNAL_BUDGET,
            # A redelivered event while the first is being recorded: one run.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        return
    running = await workflows.signal(
        temporal=temporal,
        workflow_id=workflow_id(order_id),
        signal=OrderWorkflow.payment_updated,
        argument=news,
        within=workflows.SIGNAL_BUDGET,
    )
    if not running:
        logger.info("payment news after the order's workflow ended")


async def card_setup_succeeded(
    *, temporal: Client, order_id: uuid.UUID, setup_reference: str
) -> bool:
    """The provider says a card setup for this order succeeded: the order's
    workflow saves it unless it has already (False when the order's workflow
    is over: nothing takes a card then)."""
    return await workflows.signal(
        temporal=temporal,
        workflow_id=workflow_id(order_id),
        signal=OrderWorkflow.card_setup_succeeded,
        argument=setup_reference,
        within=workflows.SIGNAL_BUDGET,
    )


async def pay_installment(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    order_id: uuid.UUID,
    installment_id: uuid.UUID,
    card: CardSource | None,
    owner_id: str | None = None,
) -> Installment:
    """Charge a refused installment now, with `card` or the saved one: the
    learner's own order (`owner_id`), or any for an admin. The installment as
    the charge left it (paid, refused with its decline code, pending)."""

    def payable(order: Order) -> None:
        found = next((item for item in order.installments if item.id == installment_id), None)
        check_installment_payable(
            order_state=OrderState(order.state),
            installment_state=InstallmentState(found.state) if found else None,
        )

    await _checked_update(
        session=session,
        temporal=temporal,
        settings=settings,
        order=await get(session=session, order_id=order_id, owner_id=owner_id),
        check=payable,
        update=OrderWorkflow.pay_installment,
        argument=PayNow(installment_id=installment_id, card=card),
    )
    fresh = await _fresh(session, order_id)
    return next(item for item in fresh.installments if item.id == installment_id)


@dataclass(frozen=True)
class PendingPayment:
    """A charge waiting for the learner, as their front end confirms it."""

    action: ChargeAction
    amount: Decimal
    currency: str


async def installment_payment(
    *,
    session: AsyncSession,
    provider: PaymentProvider,
    order_id: uuid.UUID,
    installment_id: uuid.UUID,
    owner_id: str,
) -> PendingPayment:
    """What the learner's front end needs to authenticate the off-session
    charge of an action_required installment of their order."""
    order = await get(session=session, order_id=order_id, owner_id=owner_id)
    found = next((item for item in order.installments if item.id == installment_id), None)
    check_awaiting_learner(InstallmentState(found.state) if found else None)
    assert found is not None and found.charge_reference and found.charge_key
    async with _learner_waits():
        action = await provider.charge_action(
            reference=found.charge_reference, idempotency_key=found.charge_key
        )
    return PendingPayment(action=action, amount=found.amount, currency=order.currency)

"""Orders: the learner's tunnel (create, read, payment method, cancel), the
admin cancel, and the payment plan of an offering.

Writes go through the order workflow (updates), never straight to the
database; reads come from the database."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.auth import Claims
from api.csv import csv_line
from api.deps import (
    AdminUser,
    CurrentUser,
    ReadSessionDep,
    SettingsDep,
    TemporalDep,
    require_roles,
    workflow_call,
)
from api.errors import ERROR_RESPONSES
from api.pagination import Page, PageDep, paginate
from api.schemas.common import QueryText
from api.schemas.orders import (
    AdminOrderDetail,
    AdminOrderOut,
    OrderCreate,
    OrderEventOut,
    OrderOut,
    PaymentMethodIn,
    PaymentPlan,
    PlannedPayment,
    PrepaidOrdersCreate,
    VoucherEmailIn,
    VoucherEmailOut,
    VoucherState,
)
from domain.emails import MailRecipient
from domain.errors import NotFound, Unprocessable, error_class
from domain.orders import (
    BillingAddress,
    CancelRequest,
    InstallmentState,
    NewOrder,
    NotRefundable,
    OrderState,
    OrderWorkflowInput,
    RefundRequest,
    SignatureTiming,
    check_cancel,
    check_payment_method_accepted,
    check_refundable,
    check_voucher_sendable,
)
from domain.vouchers import UnusableVoucher, VoucherNotValidForOffering, new_code, normalize_code
from models import catalog, orders
from models.base import utcnow
from models.catalog import Course, Offering
from models.orders import Order, OrderEvent
from models.vouchers import Voucher
from settings import Settings
from workflows.order import OrderWorkflow, workflow_id

router = APIRouter(prefix="/api/v1/orders", tags=["orders"], responses=ERROR_RESPONSES)
admin_router = APIRouter(
    prefix="/api/v1/admin/orders",
    tags=["admin: orders"],
    dependencies=[Depends(require_roles())],
    responses=ERROR_RESPONSES,
)
plan_router = APIRouter(prefix="/api/v1/offerings", tags=["offerings"], responses=ERROR_RESPONSES)

OfferingNotFound = error_class(NotFound, "offering_not_found")
CourseCodeRequired = error_class(Unprocessable, "course_code_required")

# Orders created with an Idempotency-Key get an id derived from (user, key):
# concurrent retries meet in the same workflow, `order:<id>`.
IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0f3e0c-8f6a-4f4e-9a57-6f2b1c9d2a11")

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retries with the same key return the same order, never a second one.",
    ),
]


def order_out(order: Order) -> OrderOut:
    out = OrderOut.model_validate(order)
    return out.model_copy(update={"voucher_code": order.voucher.code if order.voucher else None})


async def _view(session: AsyncSession, order_id: uuid.UUID) -> OrderOut:
    """The order as the workflow left it: objects this request loaded before
    are stale, so they are read again."""
    session.expire_all()
    return order_out(await orders.get_order(session=session, id=order_id, view=True))


def new_order_id(owner_id: str, idempotency_key: str | None) -> uuid.UUID:
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{owner_id}\n{idempotency_key}")


async def _offering_id(session: AsyncSession, body: OrderCreate) -> uuid.UUID:
    if body.offering_id is not None:
        return body.offering_id
    found = await session.scalar(
        select(Offering.id)
        .join(Course, Course.id == Offering.course_id)
        .where(Offering.product_id == body.product_id, Course.code == body.course_code)
    )
    if found is None:
        raise OfferingNotFound("No offering for this product and course.")
    return found


async def order_update(
    *,
    temporal: TemporalDep,
    settings: Settings,
    order_id: uuid.UUID,
    update: Any,
    argument: Any = None,
) -> Any:
    """Send `update` to the order's running workflow; its answer, or its
    refusal as the DomainError, within the workflow call timeout."""
    handle = temporal.get_workflow_handle_for(OrderWorkflow.run, workflow_id(order_id))
    arguments = () if argument is None else (argument,)
    return await workflow_call(
        handle.execute_update(update, *arguments), within=settings.workflow_call_timeout
    )


async def order_update_with_start(
    *,
    temporal: TemporalDep,
    settings: Settings,
    order_id: uuid.UUID,
    workflow_input: OrderWorkflowInput,
    update: Any,
    argument: Any = None,
    id_conflict_policy: WorkflowIDConflictPolicy,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
) -> Any:
    """Send `update` to the order's workflow, starting it with `workflow_input`
    unless one is running; answers within the workflow call timeout."""
    operation = WithStartWorkflowOperation(
        OrderWorkflow.run,
        workflow_input,
        id=workflow_id(order_id),
        task_queue=settings.task_queue,
        id_conflict_policy=id_conflict_policy,
        id_reuse_policy=id_reuse_policy,
    )
    arguments = () if argument is None else (argument,)
    return await workflow_call(
        temporal.execute_update_with_start_workflow(
            update, *arguments, start_workflow_operation=operation
        ),
        within=settings.workflow_call_timeout,
    )


async def start_order(
    *,
    new: NewOrder,
    temporal: TemporalDep,
    settings: Settings,
    id_conflict_policy: WorkflowIDConflictPolicy,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
) -> None:
    """Start the order's workflow and wait until it has written the order."""
    await order_update_with_start(
        temporal=temporal,
        settings=settings,
        order_id=new.order_id,
        workflow_input=_workflow_input(new, settings),
        update=OrderWorkflow.created,
        id_conflict_policy=id_conflict_policy,
        id_reuse_policy=id_reuse_policy,
    )


def refund_run_input(order_id: uuid.UUID, settings: Settings) -> OrderWorkflowInput:
    """The input of a run started again, for a refund, on an order whose
    workflow has ended (completed, canceled)."""
    return _workflow_input(None, settings).model_copy(update={"existing_order_id": order_id})


def _workflow_input(new: NewOrder | None, settings: Settings) -> OrderWorkflowInput:
    return OrderWorkflowInput(
        new_order=new,
        stuck_timeout=settings.order_stuck_timeout,
        schedule_policy=settings.schedule_policy(),
        pending_charge_poll=settings.pending_charge_poll,
        signature=SignatureTiming(
            poll_interval=settings.signature_poll_interval,
            poll_max_interval=settings.signature_poll_max_interval,
            validity=timedelta(days=settings.signature_validity_days),
        ),
    )


@router.post(
    "",
    status_code=201,
    summary="Create an order",
    description="Starts the order's workflow and answers once the order is written and past "
    "draft. With the voucher of a prepaid seat, claims that seat instead: 200 with the "
    "completed order. 400 `invalid_voucher` / `unusable_voucher` / `voucher_not_valid_for_offering` / "
    "`organization_not_in_offering`, 409 `order_exists`, 422 `billing_address_required` / "
    "`course_dates_missing`.",
)
async def create_order(
    body: OrderCreate,
    response: Response,
    user: CurrentUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    new = NewOrder(
        order_id=new_order_id(user.sub, idempotency_key),
        owner_id=user.sub,
        offering_id=await _offering_id(session, body),
        organization_id=body.organization_id,
        voucher_code=body.voucher_code,
        billing_address=BillingAddress(**body.billing_address.model_dump())
        if body.billing_address
        else None,
        has_waived_withdrawal_right=body.has_waived_withdrawal_right,
        idempotency_key=idempotency_key,
    )
    seat = await _prepaid_seat(session, body.voucher_code)
    if seat is not None:
        response.status_code = 200
        return await _claim(
            seat=seat, new=new, session=session, temporal=temporal, settings=settings
        )
    if await session.get(Order, new.order_id) is None:
        # Refuse bad requests before any workflow exists.
        await orders.plan_order(session=session, new=new, policy=settings.schedule_policy())
    # WorkflowAlreadyStartedError: its workflow has ended, the order is written.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await start_order(
            new=new,
            temporal=temporal,
            settings=settings,
            # A creation refused by a concurrent change failed the workflow:
            # the same key may try again. A created order's key returns it.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    return await _view(session, new.order_id)


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
    *,
    seat: Order,
    new: NewOrder,
    session: AsyncSession,
    temporal: TemporalDep,
    settings: Settings,
) -> OrderOut:
    if seat.offering_id != new.offering_id:
        raise VoucherNotValidForOffering("This voucher is for another product or course.")
    if seat.owner_id == new.owner_id:
        return await _view(session, seat.id)  # a retried claim
    if seat.owner_id is not None:
        raise UnusableVoucher("This voucher has already been used.")
    await orders.refuse_second_active_order(
        session=session, new=new.model_copy(update={"order_id": seat.id})
    )
    await order_update(
        temporal=temporal,
        settings=settings,
        order_id=seat.id,
        update=OrderWorkflow.claim,
        argument=new.owner_id,
    )
    return await _view(session, seat.id)


@router.get("", summary="List my orders")
async def list_orders(
    request: Request,
    user: CurrentUser,
    session: ReadSessionDep,
    params: PageDep,
    state: OrderState | None = None,
) -> Page[OrderOut]:
    query = (
        orders.order_view_query()
        .where(Order.owner_id == user.sub)
        .order_by(Order.created_at.desc(), Order.id)
    )
    if state is not None:
        query = query.where(Order.state == state.value)
    return await paginate(
        request=request, session=session, params=params, query=query, each=order_out
    )


@router.get("/{order_id}", summary="Read one of my orders")
async def read_order(order_id: uuid.UUID, user: CurrentUser, session: ReadSessionDep) -> OrderOut:
    order = await orders.get_order(session=session, id=order_id, owner_id=user.sub, view=True)
    return order_out(order)


@router.post(
    "/{order_id}/payment-method",
    summary="Save the card paying the installments",
    description="`payment_method_id` is the token of the provider's front-end SDK. 400 "
    "`invalid_payment_method` (nothing changes), 422 `payment_method_not_accepted`.",
)
async def save_payment_method(
    order_id: uuid.UUID,
    body: PaymentMethodIn,
    user: CurrentUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> OrderOut:
    order = await orders.get_order(session=session, id=order_id, owner_id=user.sub, view=True)
    check_payment_method_accepted(OrderState(order.state), orders.facts_of(order))
    await order_update(
        temporal=temporal,
        settings=settings,
        order_id=order_id,
        update=OrderWorkflow.save_payment_method,
        argument=body.payment_method_id,
    )
    return await _view(session, order_id)


async def _cancel(
    *,
    order: Order,
    actor: Claims,
    temporal: TemporalDep,
    session: AsyncSession,
    settings: Settings,
) -> OrderOut:
    check_cancel(OrderState(order.state))
    await order_update(
        temporal=temporal,
        settings=settings,
        order_id=order.id,
        update=OrderWorkflow.cancel,
        argument=CancelRequest(reason="requested", actor=actor.sub),
    )
    return await _view(session, order.id)


@router.post(
    "/{order_id}/cancel",
    summary="Cancel one of my orders",
    description="422 `order_completed` on a completed order; 409 `order_not_cancelable` once "
    "canceled or refunded.",
)
async def cancel_order(
    order_id: uuid.UUID,
    user: CurrentUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> OrderOut:
    order = await orders.get_order(session=session, id=order_id, owner_id=user.sub)
    return await _cancel(
        order=order, actor=user, temporal=temporal, session=session, settings=settings
    )


def admin_order_out(order: Order) -> AdminOrderOut:
    voucher = (
        VoucherState(code=order.voucher.code, is_used=order.owner_id is not None)
        if order.voucher
        else None
    )
    return AdminOrderOut(**order_out(order).model_dump(), owner_id=order.owner_id, voucher=voucher)


def admin_query(
    state: OrderState | None, voucher_code: str | None, product_id: uuid.UUID | None = None
) -> Select[tuple[Order]]:
    """Orders newest first, filtered as the admin list (and the back office) asks."""
    query = orders.order_view_query().order_by(Order.created_at.desc(), Order.id)
    if state is not None:
        query = query.where(Order.state == state.value)
    if product_id is not None:
        query = query.where(Order.offering.has(Offering.product_id == product_id))
    if voucher_code:
        query = query.join(Voucher, Voucher.id == Order.voucher_id).where(
            Voucher.code == normalize_code(voucher_code)
        )
    return query


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


# Prepaid seats are created a few at a time: each is its own workflow start.
SEAT_CREATION_CONCURRENCY = 32


@admin_router.post(
    "",
    status_code=201,
    summary="Create prepaid seats (standalone or bulk sale)",
    description="`count` (at most 1000) ownerless `to_own` orders, each with its own "
    "single-use 100 % voucher; a learner claims one by ordering with its voucher.",
)
async def create_prepaid_orders(
    body: PrepaidOrdersCreate,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> list[AdminOrderOut]:
    offering = await _offering_of_product(session, body.product_id, body.course_code)
    await orders.choose_organization(
        session=session, offering=offering, wanted=body.organization_id
    )
    seats = [
        NewOrder(
            order_id=uuid.uuid4(),
            owner_id=None,
            offering_id=offering.id,
            organization_id=body.organization_id,
            prepaid_voucher_code=new_code(),
        )
        for _ in range(body.count)
    ]
    gate = asyncio.Semaphore(SEAT_CREATION_CONCURRENCY)

    async def start(seat: NewOrder) -> None:
        async with gate:
            await start_order(
                new=seat,
                temporal=temporal,
                settings=settings,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )

    await asyncio.gather(*(start(seat) for seat in seats))
    created = (
        await session.scalars(
            orders.order_view_query()
            .where(Order.id.in_([seat.order_id for seat in seats]))
            .order_by(Order.created_at, Order.id)
        )
    ).all()
    return [admin_order_out(order) for order in created]


@admin_router.get("", summary="List orders")
async def admin_list_orders(
    request: Request,
    session: ReadSessionDep,
    params: PageDep,
    state: OrderState | None = None,
    voucher_code: QueryText | None = None,
    product_id: uuid.UUID | None = None,
) -> Page[AdminOrderOut]:
    return await paginate(
        request=request,
        session=session,
        params=params,
        query=admin_query(state, voucher_code, product_id),
        each=admin_order_out,
    )


CSV_COLUMNS = [
    "id", "created_at", "state", "owner_id", "course_code", "product", "organization",
    "total", "currency", "voucher_code", "voucher_is_used", "card",
]  # fmt: skip


def _csv_row(order: Order) -> list[str]:
    card = order.payment_method
    return [
        str(order.id),
        order.created_at.isoformat(),
        order.state,
        order.owner_id or "",
        order.offering.course.code,
        order.offering.product.title,
        order.organization.code if order.organization else "",
        str(order.total),
        order.currency,
        order.voucher.code if order.voucher else "",
        ("yes" if order.owner_id else "no") if order.voucher else "",
        f"{card.brand} •••• {card.last4}" if card else "",
    ]


CSV_BATCH = 500


@admin_router.get(
    ".csv",
    summary="Export orders as CSV",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def admin_orders_csv(
    request: Request, state: OrderState | None = None, voucher_code: QueryText | None = None
) -> StreamingResponse:
    query = admin_query(state, voucher_code)
    sessionmaker = request.app.state.read_sessionmaker

    async def lines() -> AsyncIterator[str]:
        yield csv_line(CSV_COLUMNS)
        async with sessionmaker() as session:
            offset = 0
            while batch := (await session.scalars(query.offset(offset).limit(CSV_BATCH))).all():
                for order in batch:
                    yield csv_line(_csv_row(order))
                offset += CSV_BATCH
                session.expunge_all()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="orders.csv"'},
    )


@admin_router.get("/{order_id}", summary="Read any order, with its event trail")
async def admin_read_order(order_id: uuid.UUID, session: ReadSessionDep) -> AdminOrderDetail:
    order = await orders.get_order(session=session, id=order_id, view=True)
    events = (
        await session.scalars(
            select(OrderEvent)
            .where(OrderEvent.order_id == order_id)
            .order_by(OrderEvent.at, OrderEvent.id)
        )
    ).all()
    return AdminOrderDetail(
        **admin_order_out(order).model_dump(),
        events=[OrderEventOut.model_validate(event) for event in events],
    )


@admin_router.post(
    "/{order_id}/refund",
    summary="Refund an order",
    description="refunding → every paid installment refunded through the provider → "
    "refunded, with the order_refunded email. 409 `order_not_refundable` when nothing was "
    "paid (or it is already refunded).",
)
async def admin_refund_order(
    order_id: uuid.UUID,
    admin: AdminUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> OrderOut:
    order = await orders.get_order(session=session, id=order_id, view=True)
    check_refundable(OrderState(order.state))
    if not any(item.state == InstallmentState.PAID.value for item in order.installments):
        raise NotRefundable("Nothing was paid on this order.")
    # A running workflow takes the update; an ended one (completed,
    # canceled) is run again for the refund.
    await order_update_with_start(
        temporal=temporal,
        settings=settings,
        order_id=order.id,
        workflow_input=refund_run_input(order.id, settings),
        update=OrderWorkflow.refund,
        argument=RefundRequest(actor=admin.sub),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return await _view(session, order.id)


@admin_router.post(
    "/{order_id}/cancel",
    summary="Cancel any order",
    description="Including ownerless (to_own) prepaid orders. Same errors as the learner's.",
)
async def admin_cancel_order(
    order_id: uuid.UUID,
    admin: AdminUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> OrderOut:
    order = await orders.get_order(session=session, id=order_id)
    return await _cancel(
        order=order, actor=admin, temporal=temporal, session=session, settings=settings
    )


@admin_router.post(
    "/{order_id}/voucher-email",
    summary="Email a prepaid seat's voucher code",
    description="Sends the `voucher_issued` email (the order's language) to whoever the seat is "
    "for. Once per order: `sent` is false if it had been sent before. 409 "
    "`voucher_already_claimed` once the seat has an owner (or was canceled).",
)
async def admin_send_voucher(
    order_id: uuid.UUID,
    body: VoucherEmailIn,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> VoucherEmailOut:
    order = await orders.get_order(session=session, id=order_id)
    check_voucher_sendable(OrderState(order.state))
    sent = await order_update(
        temporal=temporal,
        settings=settings,
        order_id=order.id,
        update=OrderWorkflow.send_voucher,
        argument=MailRecipient(email=body.email, name=body.name),
    )
    return VoucherEmailOut(sent=sent)


@plan_router.get(
    "/{offering_id}/payment-plan",
    summary="Price, discount and projected payment schedule of an offering",
    description="The schedule as it would be for an order placed now. 400 `invalid_voucher` "
    "or `voucher_not_valid_for_offering` for a bad `voucher_code`.",
)
async def payment_plan(
    offering_id: uuid.UUID,
    session: ReadSessionDep,
    settings: SettingsDep,
    voucher_code: QueryText | None = None,
) -> PaymentPlan:
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
    return PaymentPlan(
        price=product.price,
        discount=discount,
        discounted_price=total,
        currency=product.currency,
        payment_schedule=[PlannedPayment.model_validate(item) for item in schedule],
        skip_contract_inputs=prepaid,
    )

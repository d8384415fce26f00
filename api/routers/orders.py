"""Orders: the learner's tunnel (create, read, payment method, cancel), the
admin cancel, and the payment plan of an offering.

Writes go through the order workflow (updates), never straight to the
database; reads come from the database."""

from __future__ import annotations

import contextlib
import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.auth import Claims
from api.deps import (
    AdminUser,
    CurrentUser,
    ReadSessionDep,
    SettingsDep,
    TemporalDep,
    domain_errors_of,
    require_roles,
)
from api.errors import ERROR_RESPONSES
from api.pagination import Page, PageDep, build_page
from api.schemas.common import QueryText
from api.schemas.orders import OrderCreate, OrderOut, PaymentMethodIn, PaymentPlan, PlannedPayment
from domain.catalog import ProductType
from domain.errors import NotFound, error_class
from domain.orders import (
    BillingAddress,
    CancelRequest,
    NewOrder,
    OrderState,
    OrderWorkflowInput,
    check_cancel,
    check_payment_method_accepted,
)
from domain.payment_schedule import compute_schedule
from models import catalog, orders
from models.base import utcnow
from models.catalog import Course, Offering
from models.orders import Order
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


def _workflow_input(new: NewOrder, settings: Settings) -> OrderWorkflowInput:
    return OrderWorkflowInput(new_order=new, stuck_timeout=settings.order_stuck_timeout)


@router.post(
    "",
    status_code=201,
    summary="Create an order",
    description="Starts the order's workflow and answers once the order is written and past "
    "draft. 400 `invalid_voucher` / `unusable_voucher` / `voucher_not_valid_for_offering` / "
    "`organization_not_in_offering`, 409 `order_exists`, 422 `billing_address_required` / "
    "`course_dates_missing`.",
)
async def create_order(
    body: OrderCreate,
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
    if await session.get(Order, new.order_id) is None:
        # Refuse bad requests before any workflow exists.
        await orders.plan_order(session=session, new=new)
    start = WithStartWorkflowOperation(
        OrderWorkflow.run,
        _workflow_input(new, settings),
        id=workflow_id(new.order_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # A creation refused by a concurrent change failed the workflow: the
        # same key may try again. A created order's key returns that order.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )
    # WorkflowAlreadyStartedError: its workflow has ended, the order is written.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await domain_errors_of(
            temporal.execute_update_with_start_workflow(
                OrderWorkflow.created, start_workflow_operation=start
            )
        )
    return await _view(session, new.order_id)


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
    count, rows = await catalog.list_page(
        session=session, query=query, offset=params.offset, limit=params.page_size
    )
    results = [order_out(row) for row in rows]
    return build_page(request=request, params=params, count=count, results=results)


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
) -> OrderOut:
    order = await orders.get_order(session=session, id=order_id, owner_id=user.sub, view=True)
    check_payment_method_accepted(OrderState(order.state), orders.facts_of(order))
    handle = temporal.get_workflow_handle_for(OrderWorkflow.run, workflow_id(order_id))
    await domain_errors_of(
        handle.execute_update(OrderWorkflow.save_payment_method, body.payment_method_id)
    )
    return await _view(session, order_id)


async def _cancel(
    *, order: Order, actor: Claims, temporal: TemporalDep, session: AsyncSession
) -> OrderOut:
    check_cancel(OrderState(order.state))
    handle = temporal.get_workflow_handle_for(OrderWorkflow.run, workflow_id(order.id))
    request = CancelRequest(reason="requested", actor=actor.sub)
    await domain_errors_of(handle.execute_update(OrderWorkflow.cancel, request))
    return await _view(session, order.id)


@router.post(
    "/{order_id}/cancel",
    summary="Cancel one of my orders",
    description="422 `order_completed` on a completed order; 409 `order_not_cancelable` once "
    "canceled or refunded.",
)
async def cancel_order(
    order_id: uuid.UUID, user: CurrentUser, session: ReadSessionDep, temporal: TemporalDep
) -> OrderOut:
    order = await orders.get_order(session=session, id=order_id, owner_id=user.sub)
    return await _cancel(order=order, actor=user, temporal=temporal, session=session)


@admin_router.post(
    "/{order_id}/cancel",
    summary="Cancel any order",
    description="Including ownerless (to_own) prepaid orders. Same errors as the learner's.",
)
async def admin_cancel_order(
    order_id: uuid.UUID, admin: AdminUser, session: ReadSessionDep, temporal: TemporalDep
) -> OrderOut:
    order = await orders.get_order(session=session, id=order_id)
    return await _cancel(order=order, actor=admin, temporal=temporal, session=session)


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
    start, end = orders.course_window(product)
    schedule = compute_schedule(
        total=total,
        product_type=ProductType(product.type),
        anchor=utcnow(),
        course_start=start,
        course_end=end,
        limits=settings.payment_schedule_limits,
        withdrawal_days=settings.withdrawal_period_days,
    )
    return PaymentPlan(
        price=product.price,
        discount=discount,
        discounted_price=total,
        currency=product.currency,
        payment_schedule=[PlannedPayment.model_validate(item) for item in schedule],
        skip_contract_inputs=prepaid,
    )

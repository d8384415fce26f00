"""Orders: the learner's tunnel (create, read, payment method, cancel), the
admin routes, and the payment plan of an offering: adapters over
services/orders.py."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from api.csv import streamed_csv
from api.deps import (
    AdminUser,
    CurrentUser,
    ReadSessionDep,
    SettingsDep,
    TemporalDep,
    require_roles,
)
from api.errors import ERROR_RESPONSES, RATE_LIMITED_RESPONSE
from api.pagination import Page, PageDep, build_page, known_query_only
from api.schemas.common import QueryText
from api.schemas.orders import (
    AdminOrderDetail,
    AdminOrderOut,
    CardSetupIn,
    CardSetupOut,
    InstallmentOut,
    OrderCreate,
    OrderOut,
    PaymentMethodIn,
    PaymentPlan,
    PayNowIn,
    PendingPaymentOut,
    PlannedPayment,
    PrepaidOrdersCreate,
    VoucherEmailIn,
    VoucherEmailOut,
    admin_order_detail,
    admin_order_out,
    order_out,
)
from domain.emails import MailRecipient, preferred_language
from domain.orders import BillingAddress, NewOrder, OrderState
from domain.payments import CardSource
from services import orders

router = APIRouter(prefix="/api/v1/orders", tags=["orders"], responses=ERROR_RESPONSES)
admin_router = APIRouter(
    prefix="/api/v1/admin/orders",
    tags=["admin: orders"],
    dependencies=[Depends(require_roles())],
    responses=ERROR_RESPONSES,
)
plan_router = APIRouter(prefix="/api/v1/offerings", tags=["offerings"], responses=ERROR_RESPONSES)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retries with the same key and body return the same order, never a second "
        "one; the same key with another body is refused (422 `idempotency_key_reused`).",
    ),
]


@router.post(
    "",
    status_code=201,
    summary="Create an order",
    description="Starts the order's workflow and answers once the order is written and past "
    "draft. With the voucher of a prepaid seat, claims that seat instead: 200 with the "
    "completed order. 400 `invalid_voucher` / `unusable_voucher` / `voucher_not_valid_for_offering` / "
    "`organization_not_in_offering`, 409 `order_exists`, 422 `billing_address_required` / "
    "`course_dates_missing` / `idempotency_key_reused`.",
)
async def create_order(
    body: OrderCreate,
    request: Request,
    response: Response,
    user: CurrentUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    new = NewOrder(
        order_id=orders.new_order_id(owner_id=user.sub, idempotency_key=idempotency_key),
        owner_id=user.sub,
        offering_id=await orders.offering_of(
            session=session,
            offering_id=body.offering_id,
            product_id=body.product_id,
            course_code=body.course_code,
        ),
        organization_id=body.organization_id,
        voucher_code=body.voucher_code,
        billing_address=BillingAddress(**body.billing_address.model_dump())
        if body.billing_address
        else None,
        has_waived_withdrawal_right=body.has_waived_withdrawal_right,
        idempotency_key=idempotency_key,
        language=body.language or preferred_language(request.headers.get("accept-language")),
    )
    created = await orders.create(session=session, temporal=temporal, settings=settings, new=new)
    if created.claimed:
        response.status_code = 200
    return order_out(created.order)


@router.get("", summary="List my orders")
async def list_orders(
    request: Request,
    user: CurrentUser,
    session: ReadSessionDep,
    params: PageDep,
    state: OrderState | None = None,
) -> Page[OrderOut]:
    count, found = await orders.page_of_owner(
        session=session,
        owner_id=user.sub,
        state=state,
        offset=params.offset,
        limit=params.page_size,
    )
    return build_page(
        request=request, params=params, count=count, results=[order_out(item) for item in found]
    )


@router.get("/{order_id}", summary="Read one of my orders")
async def read_order(order_id: uuid.UUID, user: CurrentUser, session: ReadSessionDep) -> OrderOut:
    return order_out(await orders.get(session=session, order_id=order_id, owner_id=user.sub))


@router.post(
    "/{order_id}/payment-method",
    summary="Save the card paying the installments",
    description="`payment_method_id` is the token of the provider's front-end SDK, or "
    "`setup_reference` a card setup the learner confirmed (and authenticated). 400 "
    "`invalid_payment_method` (refused, failed setup; nothing changes), 409 "
    "`payment_method_requires_authentication` while the bank waits for the learner (details: "
    "the setup to finish, with its `next_action_url` on the dummy backend), 409 "
    "`payment_method_not_accepted` when the order waits for no card (free, signing, ended).",
)
async def save_payment_method(
    order_id: uuid.UUID,
    body: PaymentMethodIn,
    user: CurrentUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> OrderOut:
    order = await orders.save_payment_method(
        session=session,
        temporal=temporal,
        settings=settings,
        owner_id=user.sub,
        order_id=order_id,
        card=CardSource(token=body.payment_method_id, setup_reference=body.setup_reference),
    )
    return order_out(order)


@router.post(
    "/{order_id}/payment-method/setup",
    status_code=201,
    summary="Start saving a card under strong customer authentication",
    description="A card setup for off-session charges (Stripe: a SetupIntent the front end "
    "confirms with Stripe.js and its `client_secret`, where 3-D Secure happens). The dummy "
    "backend takes the card here as `payment_method_id` and, when the bank wants a "
    "challenge (`pm_card_authenticationRequiredOnSetup`), gives the page that plays it in "
    "`next_action_url`. Then `POST …/payment-method` with the `setup_reference`. 400 "
    "`invalid_payment_method`, 409 `payment_method_not_accepted`, 503 "
    "`payment_provider_unavailable`.",
)
async def create_card_setup(
    order_id: uuid.UUID,
    body: CardSetupIn,
    request: Request,
    user: CurrentUser,
    session: ReadSessionDep,
) -> CardSetupOut:
    setup = await orders.create_card_setup(
        session=session,
        provider=request.app.state.payment_provider,
        owner_id=user.sub,
        order_id=order_id,
        token=body.payment_method_id,
    )
    return CardSetupOut.model_validate(setup.model_dump())


PAY_NOW_ERRORS = (
    "409 `installment_not_payable` unless the installment is refused or action_required and "
    "the order still collecting; with a card, the card errors of `…/payment-method`."
)


@router.get(
    "/{order_id}/installments/{installment_id}/payment",
    summary="The payment of an installment waiting for my authentication",
    description="For an `action_required` installment (the bank wants the learner to "
    "authenticate the off-session charge, 3-D Secure): what the front end confirms it with "
    "on-session. The verdict reaches the order by the provider's webhook (or the order's "
    "own polling). 409 `installment_not_payable` for any other installment, 503 "
    "`payment_provider_unavailable`.",
)
async def installment_payment(
    order_id: uuid.UUID,
    installment_id: uuid.UUID,
    user: CurrentUser,
    session: ReadSessionDep,
    request: Request,
) -> PendingPaymentOut:
    pending = await orders.installment_payment(
        session=session,
        provider=request.app.state.payment_provider,
        order_id=order_id,
        installment_id=installment_id,
        owner_id=user.sub,
    )
    return PendingPaymentOut(
        client_secret=pending.action.client_secret,
        amount=pending.amount,
        currency=pending.currency,
        next_action_url=pending.action.next_action_url,
    )


@router.post(
    "/{order_id}/installments/{installment_id}/pay",
    summary="Pay a refused installment now",
    description="Charges the refused (or action_required) installment at once with the card "
    "given (`payment_method_id` or a confirmed `setup_reference`, then saved for the next ones) "
    "or, with an empty body, the saved card. Answers the installment: `paid`, `refused` with "
    "its `decline_code`, `action_required` (the bank wants the learner: see `…/payment`), or "
    "`pending` while the provider confirms. " + PAY_NOW_ERRORS,
)
async def pay_installment(
    order_id: uuid.UUID,
    installment_id: uuid.UUID,
    body: PayNowIn,
    user: CurrentUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> InstallmentOut:
    installment = await orders.pay_installment(
        session=session,
        temporal=temporal,
        settings=settings,
        order_id=order_id,
        installment_id=installment_id,
        card=body.card(),
        owner_id=user.sub,
    )
    return InstallmentOut.model_validate(installment)


@router.post(
    "/{order_id}/cancel",
    summary="Cancel one of my orders",
    description="409 `order_completed` on a completed order; 409 `order_not_cancelable` once "
    "canceled or refunded.",
)
async def cancel_order(
    order_id: uuid.UUID,
    user: CurrentUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> OrderOut:
    order = await orders.cancel(
        session=session,
        temporal=temporal,
        settings=settings,
        order_id=order_id,
        actor=user.sub,
        owner_id=user.sub,
    )
    return order_out(order)


@router.post(
    "/{order_id}/withdraw",
    summary="Withdraw from one of my orders (EU right of withdrawal)",
    description="Before the order's `withdrawal_deadline` (or before its contract is "
    "signed): one call cancels the order, or, if something was paid, refunds every paid "
    "installment (answered `refunding`, then `refunded`), cancels the remaining ones and "
    "revokes the enrollments; the learner and the organization's signatories get the "
    "`order_withdrawn` mail. A second call answers the same. 409 `withdrawal_period_over` "
    "after the deadline, or when the learner waived the right (or the order is free or "
    "prepaid).",
)
async def withdraw_order(
    order_id: uuid.UUID,
    user: CurrentUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> OrderOut:
    order = await orders.withdraw(
        session=session, temporal=temporal, settings=settings, order_id=order_id, owner_id=user.sub
    )
    return order_out(order)


@admin_router.post(
    "",
    status_code=201,
    summary="Create prepaid seats (standalone or bulk sale)",
    description="`count` (at most 1000) ownerless `to_own` orders, each with its own "
    "single-use 100 % voucher; a learner claims one by ordering with its voucher. With an "
    "`Idempotency-Key`, a retry by the same admin answers the same seats (200), never new "
    "ones, also while the first call still runs; the same key with another body is 422 "
    "`idempotency_key_reused`.",
)
async def create_prepaid_orders(
    body: PrepaidOrdersCreate,
    response: Response,
    admin: AdminUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> list[AdminOrderOut]:
    created = await orders.create_prepaid(
        session=session,
        temporal=temporal,
        settings=settings,
        product_id=body.product_id,
        course_code=body.course_code,
        organization_id=body.organization_id,
        count=body.count,
        admin_id=admin.sub,
        idempotency_key=idempotency_key,
    )
    if created.replayed:
        response.status_code = 200
    return [admin_order_out(order) for order in created.orders]


async def order_search(
    state: OrderState | None = None,
    voucher_code: QueryText | None = None,
    product_id: uuid.UUID | None = None,
    learner: Annotated[
        QueryText | None, Query(max_length=320, description="the learner's user id or email")
    ] = None,
    organization: Annotated[
        QueryText | None, Query(max_length=100, description="the organization's code")
    ] = None,
    offering_id: uuid.UUID | None = None,
    created_from: Annotated[date | None, Query(description="created on or after (UTC day)")] = None,
    created_to: Annotated[date | None, Query(description="created on or before (UTC day)")] = None,
) -> orders.OrderSearch:
    return orders.OrderSearch(
        state=state,
        voucher_code=voucher_code,
        product_id=product_id,
        learner=learner,
        organization=organization,
        offering_id=offering_id,
        created_from=created_from,
        created_to=created_to,
    )


SearchDep = Annotated[orders.OrderSearch, Depends(order_search)]


@admin_router.get(
    "",
    summary="List orders",
    description="Filtered by state, voucher, product, learner (id or email), organization "
    "(code), offering and creation day; 422 `unknown_query_parameter` for any other parameter.",
    dependencies=[Depends(known_query_only)],
)
async def admin_list_orders(
    request: Request, session: ReadSessionDep, params: PageDep, search: SearchDep
) -> Page[AdminOrderOut]:
    count, found = await orders.admin_page(
        session=session, search=search, offset=params.offset, limit=params.page_size
    )
    return build_page(
        request=request,
        params=params,
        count=count,
        results=[admin_order_out(order) for order in found],
    )


CSV_COLUMNS = [
    "id", "created_at", "state", "owner_id", "course_code", "product", "organization",
    "total", "currency", "voucher_code", "voucher_is_used", "card",
]  # fmt: skip


def _csv_row(order) -> list[str]:
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


@admin_router.get(
    ".csv",
    summary="Export orders as CSV",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
    dependencies=[Depends(known_query_only)],
)
async def admin_orders_csv(request: Request, search: SearchDep) -> StreamingResponse:
    batches = orders.admin_batches(sessionmaker=request.app.state.read_sessionmaker, search=search)
    return streamed_csv(columns=CSV_COLUMNS, batches=batches, row=_csv_row, filename="orders.csv")


@admin_router.get("/{order_id}", summary="Read any order, with its event trail")
async def admin_read_order(order_id: uuid.UUID, session: ReadSessionDep) -> AdminOrderDetail:
    order = await orders.get(session=session, order_id=order_id)
    return admin_order_detail(order, await orders.events(session=session, order_id=order_id))


@admin_router.post(
    "/{order_id}/refund",
    summary="Refund an order",
    description="refunding → every paid installment refunded through the provider → "
    "refunded, with the order_refunded email; the contract's signature, if still open, is "
    "closed. 409 `order_not_refundable` when nothing was paid (or it is already refunded).",
)
async def admin_refund_order(
    order_id: uuid.UUID,
    admin: AdminUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> OrderOut:
    order = await orders.refund(
        session=session, temporal=temporal, settings=settings, order_id=order_id, actor=admin.sub
    )
    return order_out(order)


@admin_router.post(
    "/{order_id}/installments/{installment_id}/retry",
    summary="Retry a refused installment now",
    description='The back office\'s "retry now": the saved card is charged at once, as the '
    "learner's pay now. " + PAY_NOW_ERRORS,
)
async def admin_retry_installment(
    order_id: uuid.UUID,
    installment_id: uuid.UUID,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> InstallmentOut:
    installment = await orders.pay_installment(
        session=session,
        temporal=temporal,
        settings=settings,
        order_id=order_id,
        installment_id=installment_id,
        card=None,
    )
    return InstallmentOut.model_validate(installment)


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
    order = await orders.cancel(
        session=session, temporal=temporal, settings=settings, order_id=order_id, actor=admin.sub
    )
    return order_out(order)


@admin_router.post(
    "/{order_id}/voucher-email",
    summary="Email a prepaid seat's voucher code",
    description="Sends the `voucher_issued` email (the order's language) to whoever the seat is "
    "for. Once per order: `sent` is false if it had been sent before. 409 "
    "`voucher_already_claimed` once the seat has an owner (or was canceled); 422 "
    "`email_not_sent` when the mail server refuses the address (recorded on the order).",
)
async def admin_send_voucher(
    order_id: uuid.UUID,
    body: VoucherEmailIn,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> VoucherEmailOut:
    sent = await orders.send_voucher(
        session=session,
        temporal=temporal,
        settings=settings,
        order_id=order_id,
        recipient=MailRecipient(email=body.email, name=body.name),
    )
    return VoucherEmailOut(sent=sent)


@plan_router.get(
    "/{offering_id}/payment-plan",
    summary="Price, discount and projected payment schedule of an offering",
    description="The schedule as it would be for an order placed now. 400 `invalid_voucher` "
    "or `voucher_not_valid_for_offering` for a bad `voucher_code`. With a `voucher_code`, "
    "throttled per client IP (GUICHET_VOUCHER_LOOKUP_RATE_LIMIT): 429 `rate_limited` over it.",
    responses=RATE_LIMITED_RESPONSE,
)
async def payment_plan(
    offering_id: uuid.UUID,
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    voucher_code: QueryText | None = None,
) -> PaymentPlan:
    if voucher_code is not None:
        # Each lookup is a guess at a code: counted, so codes cannot be enumerated.
        await request.app.state.rate_limiter.check(
            limit=settings.voucher_lookup_rate_limit,
            scope="voucher-lookup",
            key=request.client.host if request.client else "unknown",
        )
    plan = await orders.payment_plan(
        session=session, settings=settings, offering_id=offering_id, voucher_code=voucher_code
    )
    return PaymentPlan(
        price=plan.price,
        discount=plan.discount,
        discounted_price=plan.total,
        currency=plan.currency,
        payment_schedule=[PlannedPayment.model_validate(item) for item in plan.schedule],
        skip_contract_inputs=plan.prepaid,
    )

"""Back office: orders (list with vouchers, order page with cancel and refund)
and new standalone orders (prepaid seats), through the admin JSON routes'
functions: the same checks, the same workflows."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import ValidationError

from api.auth import Claims
from api.csv import attachment, csv_line
from api.pages.access import (
    PAGE_SIZE,
    PREFIX,
    csrf_checked,
    page_number,
    pages_of,
    render,
    see_other,
    staff_with,
)
from api.pages.catalog import offering_search
from api.routers.invoices import pdf_response
from api.schemas.invoices import invoice_out
from api.schemas.orders import PrepaidOrdersCreate, admin_order_detail, admin_order_out
from domain.errors import DomainError
from domain.orders import PAYABLE_NOW, OrderState
from services import catalog, invoices, orders

SEAT_COLUMNS = ["order_id", "voucher_code", "product", "course_code", "organization"]

Admin = Annotated[Claims, Depends(staff_with())]
router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _choice(value: str, kind):
    try:
        return kind(value) if value else None
    except ValueError:
        return None


# The list's filters, as the form sends them (an unreadable one is ignored:
# the page shows it back, empty of results rather than an error page).
FILTERS = ("state", "product_id", "voucher_code", "learner", "organization", "from", "to")


def _search(filters: dict[str, str]) -> orders.OrderSearch:
    return orders.OrderSearch(
        state=_choice(filters["state"], OrderState),
        voucher_code=filters["voucher_code"].strip() or None,
        product_id=_choice(filters["product_id"], uuid.UUID),
        learner=filters["learner"].strip()[:320] or None,
        organization=filters["organization"].strip()[:100] or None,
        created_from=_choice(filters["from"], date.fromisoformat),
        created_to=_choice(filters["to"], date.fromisoformat),
    )


@router.get("/orders")
async def orders_list(request: Request, staff: Admin, page: int = 1) -> HTMLResponse:
    page = page_number(page)
    filters = {name: request.query_params.get(name, "").replace("\x00", "") for name in FILTERS}
    async with request.app.state.read_sessionmaker() as session:
        count, found = await orders.admin_page(
            session=session,
            search=_search(filters),
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        products = await catalog.products_by_title(session=session)
    return render(
        request,
        "orders.html",
        staff=staff,
        orders=[admin_order_out(order) for order in found],
        states=list(OrderState),
        products=products,
        filters=filters,
        query=urlencode({name: value for name, value in filters.items() if value}),
        page=page,
        pages=pages_of(count),
        count=count,
    )


async def _order_page(
    request: Request,
    staff: Claims,
    order_id: uuid.UUID,
    *,
    error: str | None = None,
    notice: str | None = None,
    confirming: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    async with request.app.state.read_sessionmaker() as session:
        order = admin_order_detail(
            await orders.get(session=session, order_id=order_id),
            await orders.events(session=session, order_id=order_id),
        )
        documents = await invoices.of_order(session=session, order_id=order_id, owner_id=None)
    return render(
        request,
        "order.html",
        staff=staff,
        order=order,
        invoices=[invoice_out(issued) for issued in documents],
        workflows=orders.workflow_ids(order_id),
        error=error,
        notice=notice,
        confirming=confirming,
        payable_now={state.value for state in PAYABLE_NOW},
        status_code=status_code,
    )


@router.get("/orders/new")
async def new_orders_form(
    request: Request, staff: Admin, q: str = "", offering_id: str = ""
) -> HTMLResponse:
    return await _new_orders_page(request, staff, search=q, offering_id=offering_id)


async def _new_orders_page(
    request: Request,
    staff: Claims,
    *,
    search: str = "",
    offering_id: str = "",
    form: dict | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """First find the offering (server-side search: product title, course
    title or code), then the seats, among its own organizations."""
    async with request.app.state.read_sessionmaker() as session:
        chosen, found = await offering_search(
            session=session, search=search, offering_id=offering_id
        )
    return render(
        request,
        "new_orders.html",
        staff=staff,
        search=search,
        found=found,
        searched=bool(search.strip()),
        chosen=chosen,
        # A new key each time the form is shown (a corrected form is a new request).
        form=(form or {"count": "1"}) | {"idempotency_key": str(uuid.uuid4())},
        error=error,
        status_code=status_code,
    )


@router.post("/orders/new", dependencies=[Depends(csrf_checked)])
async def create_orders(
    request: Request,
    staff: Admin,
    product_id: Annotated[str, Form()] = "",
    course_code: Annotated[str, Form()] = "",
    organization_id: Annotated[str, Form()] = "",
    count: Annotated[str, Form()] = "1",
    idempotency_key: Annotated[str, Form(max_length=64)] = "",
    offering_id: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "product_id": product_id,
        "course_code": course_code,
        "organization_id": organization_id,
        "count": count,
        "idempotency_key": idempotency_key,
    }
    try:
        body = PrepaidOrdersCreate(
            product_id=uuid.UUID(product_id),
            course_code=course_code.strip() or None,
            organization_id=uuid.UUID(organization_id) if organization_id else None,
            count=int(count),
        )
    except (ValueError, ValidationError):
        return await _new_orders_page(
            request,
            staff,
            offering_id=offering_id,
            form=form,
            error="Choose an offering and a number of seats from 1 to 1000.",
            status_code=422,
        )
    try:
        async with request.app.state.read_sessionmaker() as session:
            created = await orders.create_prepaid(
                session=session,
                temporal=request.app.state.temporal,
                settings=request.app.state.settings,
                product_id=body.product_id,
                course_code=body.course_code,
                organization_id=body.organization_id,
                count=body.count,
                admin_id=staff.sub,
                idempotency_key=idempotency_key or None,
            )
    except DomainError as error:
        return await _new_orders_page(
            request,
            staff,
            offering_id=offering_id,
            form=form,
            error=error.message,
            status_code=error.status,
        )
    ids = ",".join(str(order.id) for order in created.orders)
    return see_other(f"{PREFIX}/orders/created?ids={quote(ids)}")


def _ids(text: str) -> list[uuid.UUID]:
    return [found for part in text.split(",") if (found := _choice(part, uuid.UUID))][:1000]


async def _seats(request: Request, ids: list[uuid.UUID]) -> list:
    async with request.app.state.read_sessionmaker() as session:
        return await orders.by_ids(session=session, ids=ids)


@router.get("/orders/created")
async def created_orders(request: Request, staff: Admin, ids: str = "") -> HTMLResponse:
    found = await _seats(request, _ids(ids))
    return render(
        request,
        "orders_created.html",
        staff=staff,
        orders=[admin_order_out(order) for order in found],
        ids=ids,
    )


@router.get("/orders/created.csv")
async def created_orders_csv(request: Request, staff: Admin, ids: str = "") -> StreamingResponse:
    found = [admin_order_out(order) for order in await _seats(request, _ids(ids))]

    async def lines():
        yield csv_line(SEAT_COLUMNS)
        for order in found:
            yield csv_line(
                [
                    order.id,
                    order.voucher.code if order.voucher else "",
                    order.offering.product.title,
                    order.offering.course.code,
                    order.organization.title if order.organization else "",
                ]
            )

    return StreamingResponse(
        lines(), media_type="text/csv; charset=utf-8", headers=attachment("standalone-orders.csv")
    )


@router.get("/orders/{order_id}")
async def order_page(request: Request, staff: Admin, order_id: uuid.UUID) -> HTMLResponse:
    return await _order_page(request, staff, order_id, notice=request.query_params.get("done"))


@router.get("/orders/{order_id}/invoices/{invoice_id}.pdf")
async def invoice_pdf(
    request: Request, staff: Admin, order_id: uuid.UUID, invoice_id: uuid.UUID
) -> Response:
    async with request.app.state.read_sessionmaker() as session:
        found = await invoices.pdf(
            session=session, order_id=order_id, invoice_id=invoice_id, owner_id=None
        )
    return pdf_response(found)


# What each order action checks before it asks for confirmation, does once
# confirmed, and says when done.
ACTIONS = {
    "cancel": (orders.check_cancelable, orders.cancel, "Order canceled."),
    "refund": (orders.check_refund, orders.refund, "Order refunded."),
}


@router.post("/orders/{order_id}/{action}", dependencies=[Depends(csrf_checked)])
async def order_action(
    request: Request,
    staff: Admin,
    order_id: uuid.UUID,
    action: str,
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """cancel or refund, as the admin routes do them (through the workflow),
    once confirmed: the first click only asks (one click used to refund a
    running order)."""
    if action not in ACTIONS:
        return await _order_page(request, staff, order_id, error="Unknown action.", status_code=404)
    check, act, done = ACTIONS[action]
    try:
        async with request.app.state.read_sessionmaker() as session:
            if confirmed != "yes":
                check(await orders.get(session=session, order_id=order_id))
                return await _order_page(request, staff, order_id, confirming=action)
            await act(
                session=session,
                temporal=request.app.state.temporal,
                settings=request.app.state.settings,
                order_id=order_id,
                actor=staff.sub,
            )
    except DomainError as error:
        return await _order_page(
            request, staff, order_id, error=error.message, status_code=error.status
        )
    return see_other(f"{PREFIX}/orders/{order_id}?done={quote(done)}")


@router.post(
    "/orders/{order_id}/installments/{installment_id}/retry",
    dependencies=[Depends(csrf_checked)],
)
async def retry_installment(
    request: Request, staff: Admin, order_id: uuid.UUID, installment_id: uuid.UUID
) -> Response:
    """Charge a refused (or action_required) installment now with the saved
    card, as the admin route does."""
    try:
        async with request.app.state.read_sessionmaker() as session:
            installment = await orders.pay_installment(
                session=session,
                temporal=request.app.state.temporal,
                settings=request.app.state.settings,
                order_id=order_id,
                installment_id=installment_id,
                card=None,
            )
    except DomainError as error:
        return await _order_page(
            request, staff, order_id, error=error.message, status_code=error.status
        )
    verdict = installment.state + (
        f" ({installment.decline_code})" if installment.decline_code else ""
    )
    return see_other(f"{PREFIX}/orders/{order_id}?done={quote(f'Retried: {verdict}.')}")


@router.get("/payment-issues")
async def payment_issues(request: Request, staff: Admin, page: int = 1) -> HTMLResponse:
    """Orders whose collection is stuck: refused, or waiting for the
    learner's authentication; the longest overdue first."""
    page = page_number(page)
    async with request.app.state.read_sessionmaker() as session:
        count, issues = await orders.payment_issues(
            session=session,
            dunning=request.app.state.settings.dunning_policy(),
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
    return render(
        request,
        "payment_issues.html",
        staff=staff,
        issues=issues,
        page=page,
        pages=pages_of(count),
        count=count,
    )

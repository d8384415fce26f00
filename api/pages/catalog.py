"""Back office: organizations (with their signatories and what their invoices
print) and products (with their tax rate), created and edited through the
functions the JSON admin routes call, checked by the same request models: a
refusal (a code taken, a bad email) is shown on the page with its reason."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.auth import Claims
from api.cache import cleared_after_writes
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
from api.schemas.catalog import (
    OrganizationCreate,
    OrganizationUpdate,
    ProductCreate,
    ProductUpdate,
)
from domain.catalog import ProductType
from domain.errors import DomainError
from services import catalog

Admin = Annotated[Claims, Depends(staff_with())]
router = APIRouter(
    prefix=PREFIX, include_in_schema=False, dependencies=[Depends(cleared_after_writes)]
)

# "Name <email>", one signatory a line.
SIGNATORY = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>\s]+)>\s*$")
ISSUER_ADDRESS = ("address", "postcode", "city", "country")


LISTED = {"organizations": "organization", "products": "product"}
# Cleared in the edit form: cleared on the organization.
CLEARABLE = ("legal_name", "address", "registration_number", "vat_number")


def _signatories(text: str) -> list[dict[str, str]]:
    found = []
    for line in filter(str.strip, text.splitlines()):
        match = SIGNATORY.match(line)
        if match is None:
            raise ValueError(f"Not a signatory (Name <email>): {line.strip()!r}")
        found.append(match.groupdict())
    return found


def _organization_fields(form: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        name: form.get(name, "").strip() or None
        for name in ("code", "title", "country", "legal_name", "registration_number", "vat_number")
    }
    place = {name: form.get(f"address_{name}", "").strip() for name in ISSUER_ADDRESS}
    fields["address"] = place if any(place.values()) else None
    fields["signatories"] = _signatories(form.get("signatories", ""))
    return fields


def _product_fields(form: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        name: form.get(name, "").strip() or None
        for name in ("type", "title", "price", "currency", "tax_rate")
    }
    fields["description"] = form.get("description", "")
    fields["contract_required"] = form.get("contract_required") == "on"
    return fields


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _problem(error: Exception) -> tuple[str, int]:
    """What the page says of a refusal, and its status."""
    if isinstance(error, ValidationError):
        text = "; ".join(
            f"{'.'.join(map(str, item['loc'])) or 'form'}: {item['msg']}" for item in error.errors()
        )
        return text, 422
    if isinstance(error, DomainError):
        return error.message, error.status
    return str(error), 422


async def _form(request: Request) -> dict[str, str]:
    return {key: str(value) for key, value in (await request.form()).items()}


async def _page(
    request: Request,
    staff: Claims,
    path: str,
    *,
    item_id: uuid.UUID | None = None,
    page: int = 1,
    form: dict[str, str] | None = None,
    error: Exception | None = None,
) -> HTMLResponse:
    """The list with its creation form, or one item's edit form."""
    page = page_number(page)
    item, count, items = None, 0, []
    async with request.app.state.read_sessionmaker() as session:
        if item_id is not None:
            item = await catalog.get_item(session=session, kind=path, id=item_id)
        else:
            count, items = await catalog.page_of(
                session=session, kind=path, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
            )
    message, status = _problem(error) if error else (None, 200)
    return render(
        request,
        f"{path}.html",
        staff=staff,
        items=items,
        item=item,
        form=form or {},
        error=message,
        notice=request.query_params.get("done"),
        product_types=list(ProductType),
        page=page,
        pages=pages_of(count),
        count=count,
        status_code=status,
    )


async def _saved(request: Request, staff: Claims, path: str, item_id, write) -> Response:
    """Validate and write in one transaction; a refusal shows the page again."""
    form = await _form(request)
    try:
        async with request.app.state.sessionmaker.begin() as session:
            written = await write(session, form)
    except (ValidationError, DomainError, ValueError) as error:
        return await _page(request, staff, path, item_id=item_id, form=form, error=error)
    done = "Saved." if item_id else f"{LISTED[path].capitalize()} created."
    # Created: its own page, to check what was saved or go on editing.
    return see_other(f"{PREFIX}/{path}/{item_id or written.id}?done={quote(done)}")


# --- organizations -----------------------------------------------------------------


@router.get("/organizations")
async def organizations(request: Request, staff: Admin, page: int = 1) -> HTMLResponse:
    return await _page(request, staff, "organizations", page=page)


@router.get("/organizations/{item_id}")
async def organization(request: Request, staff: Admin, item_id: uuid.UUID) -> HTMLResponse:
    return await _page(request, staff, "organizations", item_id=item_id)


@router.post("/organizations", dependencies=[Depends(csrf_checked)])
async def create_organization(request: Request, staff: Admin) -> Response:
    async def write(session, form: dict[str, str]) -> Any:
        body = OrganizationCreate.model_validate(_present(_organization_fields(form)))
        return await catalog.create_organization(session=session, fields=body.model_dump())

    return await _saved(request, staff, "organizations", None, write)


@router.post("/organizations/{item_id}", dependencies=[Depends(csrf_checked)])
async def update_organization(request: Request, staff: Admin, item_id: uuid.UUID) -> Response:
    async def write(session, form: dict[str, str]) -> None:
        fields = _organization_fields(form)
        changes = OrganizationUpdate.model_validate(_present(fields)).model_dump(exclude_none=True)
        changes |= {name: None for name in CLEARABLE if fields[name] is None}
        await catalog.update_organization(session=session, id=item_id, changes=changes)

    return await _saved(request, staff, "organizations", item_id, write)


# --- products ----------------------------------------------------------------------


@router.get("/products")
async def products(request: Request, staff: Admin, page: int = 1) -> HTMLResponse:
    return await _page(request, staff, "products", page=page)


@router.get("/products/{item_id}")
async def product(request: Request, staff: Admin, item_id: uuid.UUID) -> HTMLResponse:
    return await _page(request, staff, "products", item_id=item_id)


@router.post("/products", dependencies=[Depends(csrf_checked)])
async def create_product(request: Request, staff: Admin) -> Response:
    async def write(session, form: dict[str, str]) -> Any:
        body = ProductCreate.model_validate(_present(_product_fields(form)))
        fields = body.model_dump(exclude={"target_course_run_ids"})
        return await catalog.create_product(
            session=session, fields=fields, target_course_run_ids=None
        )

    return await _saved(request, staff, "products", None, write)


@router.post("/products/{item_id}", dependencies=[Depends(csrf_checked)])
async def update_product(request: Request, staff: Admin, item_id: uuid.UUID) -> Response:
    async def write(session, form: dict[str, str]) -> None:
        fields = _present(_product_fields(form))
        fields.pop("type", None)  # fixed at creation
        changes = ProductUpdate.model_validate(fields).model_dump(exclude_none=True)
        await catalog.update_product(
            session=session, id=item_id, changes=changes, target_course_run_ids=None
        )

    return await _saved(request, staff, "products", item_id, write)

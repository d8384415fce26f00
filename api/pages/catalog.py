"""Back office: the catalogue. Organizations (with their signatories and what
their invoices print), courses (with the organizations that teach them),
course runs (dates typed in Paris time), products (with their tax rate) and
offerings (a course sold as a product by organizations), created and edited
through the functions the JSON admin routes call, checked by the same request
models: a refusal (a code taken, a bad email, an offering that exists) is
shown on the page with its reason. An offering's organizations and deep links
are edited on its own page (api/pages/deep_links.py)."""

from __future__ import annotations

import contextlib
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
    paris_moment,
    refusal_of,
    render,
    see_other,
    staff_with,
)
from api.schemas.catalog import (
    CourseCreate,
    CourseRunCreate,
    CourseRunUpdate,
    CourseUpdate,
    OfferingCreate,
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


LISTED = {
    "organizations": "organization",
    "courses": "course",
    "course-runs": "course run",
    "products": "product",
}
COURSE_RUN_DATES = ("start", "end", "enrollment_start", "enrollment_end")
# The offerings page's deep-link filter: anything else is no filter.
LINK_FILTERS = {"with": True, "without": False}
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


def _course_fields(form: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        name: form.get(name, "").strip() or None for name in ("code", "title")
    }
    fields["organization_ids"] = form["organization_ids"]
    return fields


def _course_run_fields(form: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {name: paris_moment(form.get(name, "")) for name in COURSE_RUN_DATES}
    fields["title"] = form.get("title", "").strip() or None
    fields["course_id"] = form.get("course_id") or None
    return fields


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


async def _form(request: Request) -> dict[str, Any]:
    """The fields typed, and the organizations ticked (a list, maybe empty)."""
    form = await request.form()
    fields: dict[str, Any] = {key: str(value) for key, value in form.items()}
    fields["organization_ids"] = [str(value) for value in form.getlist("organization_ids")]
    return fields


async def _choices(session: Any, path: str) -> dict[str, Any]:
    """What the page's forms offer to pick from."""
    if path == "courses":
        return {"organizations": await catalog.organizations_by_title(session=session)}
    if path == "course-runs":
        courses = await catalog.courses_by_code(session=session)
        return {"courses": courses, "course_codes": {item.id: item.code for item in courses}}
    return {}


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
        choices = await _choices(session, path)
    message, status = refusal_of(error) if error else (None, 200)
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
        **choices,
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


def _register_pages(path: str) -> None:
    """The list (with its creation form) and one item's edit form of a kind."""

    async def listed(request: Request, staff: Admin, page: int = 1) -> HTMLResponse:
        return await _page(request, staff, path, page=page)

    async def one(request: Request, staff: Admin, item_id: uuid.UUID) -> HTMLResponse:
        return await _page(request, staff, path, item_id=item_id)

    router.add_api_route(f"/{path}", listed, methods=["GET"], name=f"{path} page")
    router.add_api_route(f"/{path}/{{item_id}}", one, methods=["GET"], name=f"one of {path}")


for _path in LISTED:
    _register_pages(_path)


# --- organizations -----------------------------------------------------------------


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


# --- courses -----------------------------------------------------------------------


@router.post("/courses", dependencies=[Depends(csrf_checked)])
async def create_course(request: Request, staff: Admin) -> Response:
    async def write(session, form: dict[str, Any]) -> Any:
        body = CourseCreate.model_validate(_present(_course_fields(form)))
        return await catalog.create_course(
            session=session,
            code=body.code,
            title=body.title,
            organization_ids=body.organization_ids,
        )

    return await _saved(request, staff, "courses", None, write)


@router.post("/courses/{item_id}", dependencies=[Depends(csrf_checked)])
async def update_course(request: Request, staff: Admin, item_id: uuid.UUID) -> Response:
    async def write(session, form: dict[str, Any]) -> None:
        # Every box unticked: the course is taught by no organization.
        changes = CourseUpdate.model_validate(_present(_course_fields(form)))
        await catalog.update_course(
            session=session,
            id=item_id,
            changes=changes.model_dump(exclude_none=True, exclude={"organization_ids"}),
            organization_ids=changes.organization_ids,
        )

    return await _saved(request, staff, "courses", item_id, write)


# --- course runs -------------------------------------------------------------------


@router.post("/course-runs", dependencies=[Depends(csrf_checked)])
async def create_course_run(request: Request, staff: Admin) -> Response:
    async def write(session, form: dict[str, Any]) -> Any:
        body = CourseRunCreate.model_validate(_present(_course_run_fields(form)))
        return await catalog.create_course_run(session=session, fields=body.model_dump())

    return await _saved(request, staff, "course-runs", None, write)


@router.post("/course-runs/{item_id}", dependencies=[Depends(csrf_checked)])
async def update_course_run(request: Request, staff: Admin, item_id: uuid.UUID) -> Response:
    async def write(session, form: dict[str, Any]) -> None:
        fields = _course_run_fields(form)
        fields.pop("course_id")  # a run stays with its course
        # A date emptied in the form is emptied on the run.
        changes = CourseRunUpdate.model_validate(_present(fields)).model_dump(exclude_none=True)
        changes |= {name: None for name in COURSE_RUN_DATES if fields[name] is None}
        await catalog.update_course_run(session=session, id=item_id, changes=changes)

    return await _saved(request, staff, "course-runs", item_id, write)


# --- offerings ---------------------------------------------------------------------

# Offerings a form's search finds (seed 000: a search field, not a list of all).
FOUND_AT_MOST = 20


async def offering_search(*, session: Any, search: str, offering_id: str) -> tuple[Any, list[Any]]:
    """The offering a form chose (`offering_id`; none if not an offering's
    id) and those its search finds (product title, course title or code)."""
    chosen = None
    with contextlib.suppress(ValueError, DomainError):
        chosen = (await catalog.get_offering(session=session, id=uuid.UUID(offering_id))).offering
    found: list[Any] = []
    if search.strip():
        _count, hits = await catalog.search_offerings(
            session=session,
            query=search.strip()[:200],
            course_code=None,
            product_type=None,
            offset=0,
            limit=FOUND_AT_MOST,
        )
        found = [item.offering for item in hits]
    return chosen, found


async def _offerings_page(
    request: Request,
    staff: Claims,
    *,
    query: str = "",
    links: str = "",
    page: int = 1,
    form: dict[str, Any] | None = None,
    error: Exception | None = None,
) -> HTMLResponse:
    """The offerings found, and the form that creates one."""
    page = page_number(page)
    async with request.app.state.read_sessionmaker() as session:
        count, found = await catalog.search_offerings(
            session=session,
            query=query.strip() or None,
            course_code=None,
            product_type=None,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
            has_deep_links=LINK_FILTERS.get(links),
        )
        choices = {
            "courses": await catalog.courses_by_code(session=session),
            "products": await catalog.products_by_title(session=session),
            "organizations": await catalog.organizations_by_title(session=session),
        }
    message, status = refusal_of(error) if error else (None, 200)
    return render(
        request,
        "offerings.html",
        staff=staff,
        offerings=[item.offering for item in found],
        active={item.offering.id: item.deep_link for item in found},
        query=query,
        links=links if links in LINK_FILTERS else "",
        page=page,
        pages=pages_of(count),
        count=count,
        form=form or {"organization_ids": []},
        error=message,
        status_code=status,
        **choices,
    )


@router.get("/offerings")
async def offerings(
    request: Request, staff: Admin, query: str = "", links: str = "", page: int = 1
) -> HTMLResponse:
    return await _offerings_page(request, staff, query=query, links=links, page=page)


@router.post("/offerings", dependencies=[Depends(csrf_checked)])
async def create_offering(request: Request, staff: Admin) -> Response:
    form = await _form(request)
    fields = {name: form.get(name) or None for name in ("course_id", "product_id")}
    try:
        body = OfferingCreate.model_validate(
            _present(fields) | {"organization_ids": form["organization_ids"]}
        )
        async with request.app.state.sessionmaker.begin() as session:
            served = await catalog.create_offering(
                session=session,
                course_id=body.course_id,
                product_id=body.product_id,
                organization_ids=body.organization_ids,
            )
    except (ValidationError, DomainError) as error:
        return await _offerings_page(request, staff, form=form, error=error)
    # Its page: where its deep links are added.
    return see_other(f"{PREFIX}/offerings/{served.offering.id}?done={quote('Offering created.')}")

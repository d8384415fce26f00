"""Catalogue: public offering search/read and the admin CRUD of every object,
adapters over services/catalog.py."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from api.cache import cleared_after_writes
from api.deps import ReadSessionDep, SessionDep, require_roles
from api.errors import ERROR_RESPONSES
from api.pagination import Page, PageDep, PageParams, build_page, known_query_only
from api.schemas.catalog import (
    CourseCreate,
    CourseOut,
    CourseRunCreate,
    CourseRunOut,
    CourseRunUpdate,
    CourseUpdate,
    OfferingCreate,
    OfferingOut,
    OfferingUpdate,
    OrganizationCreate,
    OrganizationOut,
    OrganizationUpdate,
    ProductCreate,
    ProductOut,
    ProductUpdate,
)
from api.schemas.common import QueryText
from domain.catalog import ProductType
from services import catalog

public_router = APIRouter(prefix="/api/v1/offerings", tags=["offerings"], responses=ERROR_RESPONSES)
admin_router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin: catalogue"],
    dependencies=[Depends(require_roles()), Depends(cleared_after_writes)],
    responses=ERROR_RESPONSES,
)


def offering_out(served: catalog.ServedOffering) -> OfferingOut:
    out = OfferingOut.model_validate(served.offering)
    return out.model_copy(update={"deep_link": served.deep_link})


async def _offerings_page(
    request: Request,
    session: Any,
    params: PageParams,
    *,
    query: str | None = None,
    course_code: str | None = None,
    product_type: ProductType | None = None,
    has_deep_links: bool | None = None,
) -> Page[OfferingOut]:
    count, found = await catalog.search_offerings(
        session=session,
        query=query,
        course_code=course_code,
        product_type=product_type,
        offset=params.offset,
        limit=params.page_size,
        has_deep_links=has_deep_links,
    )
    results = [offering_out(served) for served in found]
    return build_page(request=request, params=params, count=count, results=results)


def _changes(body: BaseModel, *, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields the client sent (PATCH semantics)."""
    return body.model_dump(exclude_unset=True, exclude=skip)


# --- offerings: public reads ---------------------------------------------------


@public_router.get("", summary="Search offerings")
async def search_offerings(
    request: Request,
    session: ReadSessionDep,
    params: PageDep,
    query: Annotated[
        QueryText | None,
        Query(
            max_length=200,
            description="Substring of the product title, course title or course code",
        ),
    ] = None,
    course_code: Annotated[QueryText | None, Query(max_length=100)] = None,
    product_type: ProductType | None = None,
) -> Page[OfferingOut]:
    """Case-insensitive search over product title, course title and course code."""
    return await _offerings_page(
        request, session, params, query=query, course_code=course_code, product_type=product_type
    )


@public_router.get("/{offering_id}", summary="Read an offering")
async def read_offering(offering_id: uuid.UUID, session: ReadSessionDep) -> OfferingOut:
    """The offering with `deep_link`: one of its active CPF links, or null."""
    return offering_out(await catalog.get_offering(session=session, id=offering_id))


# --- admin: shared list / read / delete ------------------------------------------


def _register_reads_and_delete(*, path: str, out: type[BaseModel], label: str) -> None:
    """GET list, GET one and DELETE are the same for every catalogue object."""

    # response_model is given explicitly: `out` is a closure variable that a
    # string annotation could not resolve.
    @admin_router.get(
        f"/{path}", summary=f"List {label}s", name=f"list_{path}", response_model=Page[out]
    )
    async def list_items(request: Request, session: SessionDep, params: PageDep) -> Any:
        count, found = await catalog.page_of(
            session=session, kind=path, offset=params.offset, limit=params.page_size
        )
        results = [out.model_validate(item) for item in found]
        return build_page(request=request, params=params, count=count, results=results)

    @admin_router.get(
        f"/{path}/{{id}}", summary=f"Read a {label}", name=f"read_{path}", response_model=out
    )
    async def read_item(id: uuid.UUID, session: SessionDep) -> Any:
        return out.model_validate(await catalog.get_item(session=session, kind=path, id=id))

    @admin_router.delete(
        f"/{path}/{{id}}",
        status_code=204,
        summary=f"Delete a {label}",
        description=f"409 `in_use` while other records still refer to the {label}.",
        name=f"delete_{path}",
    )
    async def delete_item(id: uuid.UUID, session: SessionDep) -> Response:
        await catalog.delete_item(session=session, kind=path, id=id)
        return Response(status_code=204)


# --- organizations -----------------------------------------------------------

_register_reads_and_delete(path="organizations", out=OrganizationOut, label="organization")


@admin_router.post("/organizations", status_code=201, summary="Create an organization")
async def create_organization(body: OrganizationCreate, session: SessionDep) -> OrganizationOut:
    organization = await catalog.create_organization(session=session, fields=body.model_dump())
    return OrganizationOut.model_validate(organization)


@admin_router.patch("/organizations/{id}", summary="Update an organization")
async def update_organization(
    id: uuid.UUID, body: OrganizationUpdate, session: SessionDep
) -> OrganizationOut:
    organization = await catalog.update_organization(session=session, id=id, changes=_changes(body))
    return OrganizationOut.model_validate(organization)


# --- courses -------------------------------------------------------------------

_register_reads_and_delete(path="courses", out=CourseOut, label="course")


@admin_router.post("/courses", status_code=201, summary="Create a course")
async def create_course(body: CourseCreate, session: SessionDep) -> CourseOut:
    course = await catalog.create_course(
        session=session, code=body.code, title=body.title, organization_ids=body.organization_ids
    )
    return CourseOut.model_validate(course)


@admin_router.patch("/courses/{id}", summary="Update a course")
async def update_course(id: uuid.UUID, body: CourseUpdate, session: SessionDep) -> CourseOut:
    course = await catalog.update_course(
        session=session,
        id=id,
        changes=_changes(body, skip=frozenset({"organization_ids"})),
        organization_ids=body.organization_ids,
    )
    return CourseOut.model_validate(course)


# --- course runs -----------------------------------------------------------------

_register_reads_and_delete(path="course-runs", out=CourseRunOut, label="course run")


@admin_router.post("/course-runs", status_code=201, summary="Create a course run")
async def create_course_run(body: CourseRunCreate, session: SessionDep) -> CourseRunOut:
    course_run = await catalog.create_course_run(session=session, fields=body.model_dump())
    return CourseRunOut.model_validate(course_run)


@admin_router.patch("/course-runs/{id}", summary="Update a course run")
async def update_course_run(
    id: uuid.UUID, body: CourseRunUpdate, session: SessionDep
) -> CourseRunOut:
    course_run = await catalog.update_course_run(session=session, id=id, changes=_changes(body))
    return CourseRunOut.model_validate(course_run)


# --- products --------------------------------------------------------------------

_register_reads_and_delete(path="products", out=ProductOut, label="product")


@admin_router.post("/products", status_code=201, summary="Create a product")
async def create_product(body: ProductCreate, session: SessionDep) -> ProductOut:
    product = await catalog.create_product(
        session=session,
        fields=body.model_dump(exclude={"target_course_run_ids"}),
        target_course_run_ids=body.target_course_run_ids,
    )
    return ProductOut.model_validate(product)


@admin_router.patch(
    "/products/{id}",
    summary="Update a product",
    description="The type is fixed at creation and cannot be changed.",
)
async def update_product(id: uuid.UUID, body: ProductUpdate, session: SessionDep) -> ProductOut:
    product = await catalog.update_product(
        session=session,
        id=id,
        changes=_changes(body, skip=frozenset({"target_course_run_ids"})),
        target_course_run_ids=body.target_course_run_ids,
    )
    return ProductOut.model_validate(product)


# --- offerings -------------------------------------------------------------------


@admin_router.get(
    "/offerings",
    summary="List offerings",
    description="`query`: substring of the product title, course title or course code; "
    "`has_deep_links`: only offerings with (true) or without (false) a deep link, active "
    "or not. An unknown query parameter is a 422 `unknown_query_parameter`.",
    dependencies=[Depends(known_query_only)],
)
async def list_offerings(
    request: Request,
    session: SessionDep,
    params: PageDep,
    query: Annotated[QueryText | None, Query(max_length=200)] = None,
    has_deep_links: bool | None = None,
) -> Page[OfferingOut]:
    return await _offerings_page(
        request, session, params, query=query, has_deep_links=has_deep_links
    )


@admin_router.get("/offerings/{id}", summary="Read an offering")
async def admin_read_offering(id: uuid.UUID, session: SessionDep) -> OfferingOut:
    return offering_out(await catalog.get_offering(session=session, id=id))


@admin_router.post(
    "/offerings",
    status_code=201,
    summary="Create an offering",
    description="One offering per (course, product): 409 `offering_exists` otherwise.",
)
async def create_offering(body: OfferingCreate, session: SessionDep) -> OfferingOut:
    served = await catalog.create_offering(
        session=session,
        course_id=body.course_id,
        product_id=body.product_id,
        organization_ids=body.organization_ids,
    )
    return offering_out(served)


@admin_router.patch(
    "/offerings/{id}",
    summary="Change the organizations of an offering",
    description="409 `organization_has_deep_link` when a removed organization still has a "
    "deep link on the offering.",
)
async def update_offering(id: uuid.UUID, body: OfferingUpdate, session: SessionDep) -> OfferingOut:
    served = await catalog.set_offering_organizations(
        session=session, id=id, organization_ids=body.organization_ids
    )
    return offering_out(served)


@admin_router.delete(
    "/offerings/{id}",
    status_code=204,
    summary="Delete an offering",
    description="Its deep links go with it; 409 `in_use` while orders refer to it.",
)
async def delete_offering(id: uuid.UUID, session: SessionDep) -> Response:
    await catalog.delete_offering(session=session, id=id)
    return Response(status_code=204)

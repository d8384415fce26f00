"""Catalogue: public offering search/read and the admin CRUD of every object."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.cache import cleared_after_writes
from api.deps import ReadSessionDep, SessionDep, require_roles
from api.errors import ERROR_RESPONSES
from api.pagination import Page, PageDep, paginate
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
from models import catalog
from models.base import Base
from models.catalog import Course, CourseRun, Offering, Organization, Product
from services import deep_links

public_router = APIRouter(prefix="/api/v1/offerings", tags=["offerings"], responses=ERROR_RESPONSES)
admin_router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin: catalogue"],
    dependencies=[Depends(require_roles()), Depends(cleared_after_writes)],
    responses=ERROR_RESPONSES,
)


# --- offerings: public reads ---------------------------------------------------


async def offerings_out(*, session: AsyncSession, offerings: list[Offering]) -> list[OfferingOut]:
    links = await deep_links.active_links_by_offering(
        session=session, offering_ids=[item.id for item in offerings]
    )
    return [
        OfferingOut.model_validate(item).model_copy(update={"deep_link": links[item.id]})
        for item in offerings
    ]


async def offering_out(*, session: AsyncSession, offering_id: uuid.UUID) -> OfferingOut:
    offering = await catalog.get(session=session, model=Offering, id=offering_id)
    return (await offerings_out(session=session, offerings=[offering]))[0]


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
    statement = catalog.search_offerings(
        query=query, course_code=course_code, product_type=product_type
    )
    return await paginate(
        request=request,
        session=session,
        params=params,
        query=statement,
        convert=lambda rows: offerings_out(session=session, offerings=rows),
    )


@public_router.get("/{offering_id}", summary="Read an offering")
async def read_offering(offering_id: uuid.UUID, session: ReadSessionDep) -> OfferingOut:
    """The offering with `deep_link`: one of its active CPF links, or null."""
    return await offering_out(session=session, offering_id=offering_id)


# --- admin: shared list / read / delete ------------------------------------------


def _register_reads_and_delete(
    *, path: str, model: type[Base], out: type[BaseModel], label: str, order_by: Any
) -> None:
    """GET list, GET one and DELETE are the same for every catalogue object."""

    # response_model is given explicitly: `out` is a closure variable that a
    # string annotation could not resolve.
    @admin_router.get(
        f"/{path}", summary=f"List {label}s", name=f"list_{path}", response_model=Page[out]
    )
    async def list_items(request: Request, session: SessionDep, params: PageDep) -> Any:
        query = catalog.loading_query(model).order_by(*order_by)
        return await paginate(
            request=request, session=session, params=params, query=query, each=out.model_validate
        )

    @admin_router.get(
        f"/{path}/{{id}}", summary=f"Read a {label}", name=f"read_{path}", response_model=out
    )
    async def read_item(id: uuid.UUID, session: SessionDep) -> Any:
        return out.model_validate(await catalog.get(session=session, model=model, id=id))

    @admin_router.delete(
        f"/{path}/{{id}}",
        status_code=204,
        summary=f"Delete a {label}",
        description=f"409 `in_use` while other records still refer to the {label}.",
        name=f"delete_{path}",
    )
    async def delete_item(id: uuid.UUID, session: SessionDep) -> Response:
        row = await catalog.get(session=session, model=model, id=id)
        await catalog.delete_row(session=session, row=row)
        return Response(status_code=204)


def _apply(row: Base, changes: BaseModel, *, skip: frozenset[str] = frozenset()) -> None:
    """Copy the fields the client sent (PATCH semantics) onto the row."""
    for field, value in changes.model_dump(exclude_unset=True, exclude=skip).items():
        setattr(row, field, value)


# --- organizations -----------------------------------------------------------

_register_reads_and_delete(
    path="organizations",
    model=Organization,
    out=OrganizationOut,
    label="organization",
    order_by=(Organization.code,),
)


@admin_router.post("/organizations", status_code=201, summary="Create an organization")
async def create_organization(body: OrganizationCreate, session: SessionDep) -> OrganizationOut:
    organization = Organization(**body.model_dump())
    await catalog.save_organization(session=session, organization=organization)
    return OrganizationOut.model_validate(organization)


@admin_router.patch("/organizations/{id}", summary="Update an organization")
async def update_organization(
    id: uuid.UUID, body: OrganizationUpdate, session: SessionDep
) -> OrganizationOut:
    organization = await catalog.get(session=session, model=Organization, id=id)
    _apply(organization, body)
    await catalog.save_organization(session=session, organization=organization)
    return OrganizationOut.model_validate(organization)


# --- courses -------------------------------------------------------------------

_register_reads_and_delete(
    path="courses", model=Course, out=CourseOut, label="course", order_by=(Course.code,)
)


@admin_router.post("/courses", status_code=201, summary="Create a course")
async def create_course(body: CourseCreate, session: SessionDep) -> CourseOut:
    course = Course(code=body.code, title=body.title)
    await catalog.save_course(
        session=session, course=course, organization_ids=body.organization_ids
    )
    return CourseOut.model_validate(course)


@admin_router.patch("/courses/{id}", summary="Update a course")
async def update_course(id: uuid.UUID, body: CourseUpdate, session: SessionDep) -> CourseOut:
    course = await catalog.get(session=session, model=Course, id=id)
    _apply(course, body, skip=frozenset({"organization_ids"}))
    await catalog.save_course(
        session=session, course=course, organization_ids=body.organization_ids
    )
    return CourseOut.model_validate(course)


# --- course runs -----------------------------------------------------------------

_register_reads_and_delete(
    path="course-runs",
    model=CourseRun,
    out=CourseRunOut,
    label="course run",
    order_by=(CourseRun.start, CourseRun.id),
)


@admin_router.post("/course-runs", status_code=201, summary="Create a course run")
async def create_course_run(body: CourseRunCreate, session: SessionDep) -> CourseRunOut:
    course_run = CourseRun(**body.model_dump())
    await catalog.save_course_run(session=session, course_run=course_run)
    return CourseRunOut.model_validate(course_run)


@admin_router.patch("/course-runs/{id}", summary="Update a course run")
async def update_course_run(
    id: uuid.UUID, body: CourseRunUpdate, session: SessionDep
) -> CourseRunOut:
    course_run = await catalog.get(session=session, model=CourseRun, id=id)
    _apply(course_run, body)
    await catalog.save_course_run(session=session, course_run=course_run)
    return CourseRunOut.model_validate(course_run)


# --- products --------------------------------------------------------------------

_register_reads_and_delete(
    path="products",
    model=Product,
    out=ProductOut,
    label="product",
    order_by=(Product.title, Product.id),
)


@admin_router.post("/products", status_code=201, summary="Create a product")
async def create_product(body: ProductCreate, session: SessionDep) -> ProductOut:
    product = Product(**body.model_dump(exclude={"target_course_run_ids"}))
    await catalog.save_product(
        session=session, product=product, target_course_run_ids=body.target_course_run_ids
    )
    return ProductOut.model_validate(product)


@admin_router.patch(
    "/products/{id}",
    summary="Update a product",
    description="The type is fixed at creation and cannot be changed.",
)
async def update_product(id: uuid.UUID, body: ProductUpdate, session: SessionDep) -> ProductOut:
    product = await catalog.get(session=session, model=Product, id=id)
    _apply(product, body, skip=frozenset({"target_course_run_ids"}))
    await catalog.save_product(
        session=session, product=product, target_course_run_ids=body.target_course_run_ids
    )
    return ProductOut.model_validate(product)


# --- offerings -------------------------------------------------------------------


@admin_router.get("/offerings", summary="List offerings")
async def list_offerings(
    request: Request, session: SessionDep, params: PageDep
) -> Page[OfferingOut]:
    statement = catalog.search_offerings(query=None, course_code=None, product_type=None)
    return await paginate(
        request=request,
        session=session,
        params=params,
        query=statement,
        convert=lambda rows: offerings_out(session=session, offerings=rows),
    )


@admin_router.get("/offerings/{id}", summary="Read an offering")
async def admin_read_offering(id: uuid.UUID, session: SessionDep) -> OfferingOut:
    return await offering_out(session=session, offering_id=id)


@admin_router.post(
    "/offerings",
    status_code=201,
    summary="Create an offering",
    description="One offering per (course, product): 409 `offering_exists` otherwise.",
)
async def create_offering(body: OfferingCreate, session: SessionDep) -> OfferingOut:
    offering = await catalog.create_offering(
        session=session,
        course_id=body.course_id,
        product_id=body.product_id,
        organization_ids=body.organization_ids,
    )
    return await offering_out(session=session, offering_id=offering.id)


@admin_router.patch(
    "/offerings/{id}",
    summary="Change the organizations of an offering",
    description="409 `organization_has_deep_link` when a removed organization still has a "
    "deep link on the offering.",
)
async def update_offering(id: uuid.UUID, body: OfferingUpdate, session: SessionDep) -> OfferingOut:
    offering = await catalog.get(session=session, model=Offering, id=id)
    await catalog.set_offering_organizations(
        session=session, offering=offering, organization_ids=body.organization_ids
    )
    return await offering_out(session=session, offering_id=id)


@admin_router.delete(
    "/offerings/{id}",
    status_code=204,
    summary="Delete an offering",
    description="Its deep links go with it; 409 `in_use` while orders refer to it.",
)
async def delete_offering(id: uuid.UUID, session: SessionDep) -> Response:
    offering = await catalog.get(session=session, model=Offering, id=id)
    await catalog.delete_row(session=session, row=offering)
    return Response(status_code=204)

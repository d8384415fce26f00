"""The catalogue (plain records, written in the request's transaction):
organizations, courses, course runs, products and offerings; the public
offering search; what the back office offers to choose from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog import ProductType
from models import catalog
from models import deep_links as deep_link_rows
from models.base import Base
from models.catalog import Course, CourseRun, Offering, Organization, Product, list_page
from services import deep_links

# The objects every admin route lists, reads and deletes alike, and their order.
KINDS: dict[str, tuple[type[Base], tuple[Any, ...]]] = {
    "organizations": (Organization, (Organization.code,)),
    "courses": (Course, (Course.code,)),
    "course-runs": (CourseRun, (CourseRun.start, CourseRun.id)),
    "products": (Product, (Product.title, Product.id)),
}


@dataclass(frozen=True)
class ServedOffering:
    offering: Offering
    # One of its active CPF links, at random; None when none is active.
    deep_link: str | None


# --- every kind: list, read, delete -------------------------------------------


async def page_of(
    *, session: AsyncSession, kind: str, offset: int, limit: int
) -> tuple[int, list[Any]]:
    model, order_by = KINDS[kind]
    query = catalog.loading_query(model).order_by(*order_by)
    return await list_page(session=session, query=query, offset=offset, limit=limit)


async def get_item(*, session: AsyncSession, kind: str, id: uuid.UUID) -> Any:
    return await catalog.get(session=session, model=KINDS[kind][0], id=id)


async def delete_item(*, session: AsyncSession, kind: str, id: uuid.UUID) -> None:
    """409 `in_use` while other records still refer to it."""
    row = await get_item(session=session, kind=kind, id=id)
    await catalog.delete_row(session=session, row=row)


def _apply(row: Base, changes: dict[str, Any]) -> None:
    """PATCH semantics: the fields the client sent, onto the row."""
    for field, value in changes.items():
        setattr(row, field, value)


# --- organizations, courses, course runs, products -------------------------------


async def create_organization(*, session: AsyncSession, fields: dict[str, Any]) -> Organization:
    organization = Organization(**fields)
    return await catalog.save_organization(session=session, organization=organization)


async def update_organization(
    *, session: AsyncSession, id: uuid.UUID, changes: dict[str, Any]
) -> Organization:
    organization = await catalog.get(session=session, model=Organization, id=id)
    _apply(organization, changes)
    return await catalog.save_organization(session=session, organization=organization)


async def create_course(
    *, session: AsyncSession, code: str, title: str, organization_ids: list[uuid.UUID] | None
) -> Course:
    course = Course(code=code, title=title)
    await catalog.save_course(session=session, course=course, organization_ids=organization_ids)
    return course


async def update_course(
    *,
    session: AsyncSession,
    id: uuid.UUID,
    changes: dict[str, Any],
    organization_ids: list[uuid.UUID] | None,
) -> Course:
    course = await catalog.get(session=session, model=Course, id=id)
    _apply(course, changes)
    await catalog.save_course(session=session, course=course, organization_ids=organization_ids)
    return course


async def create_course_run(*, session: AsyncSession, fields: dict[str, Any]) -> CourseRun:
    course_run = CourseRun(**fields)
    return await catalog.save_course_run(session=session, course_run=course_run)


async def update_course_run(
    *, session: AsyncSession, id: uuid.UUID, changes: dict[str, Any]
) -> CourseRun:
    course_run = await catalog.get(session=session, model=CourseRun, id=id)
    _apply(course_run, changes)
    return await catalog.save_course_run(session=session, course_run=course_run)


async def create_product(
    *,
    session: AsyncSession,
    fields: dict[str, Any],
    target_course_run_ids: list[uuid.UUID] | None,
) -> Product:
    product = Product(**fields)
    await catalog.save_product(
        session=session, product=product, target_course_run_ids=target_course_run_ids
    )
    return product


async def update_product(
    *,
    session: AsyncSession,
    id: uuid.UUID,
    changes: dict[str, Any],
    target_course_run_ids: list[uuid.UUID] | None,
) -> Product:
    product = await catalog.get(session=session, model=Product, id=id)
    _apply(product, changes)
    await catalog.save_product(
        session=session, product=product, target_course_run_ids=target_course_run_ids
    )
    return product


# --- offerings ---------------------------------------------------------------------


async def _served(session: AsyncSession, offerings: list[Offering]) -> list[ServedOffering]:
    links = await deep_links.active_links_by_offering(
        session=session, offering_ids=[item.id for item in offerings]
    )
    return [ServedOffering(offering=item, deep_link=links[item.id]) for item in offerings]


async def search_offerings(
    *,
    session: AsyncSession,
    query: str | None,
    course_code: str | None,
    product_type: ProductType | None,
    offset: int,
    limit: int,
    has_deep_links: bool | None = None,
) -> tuple[int, list[ServedOffering]]:
    """Case-insensitive search over product title, course title and course
    code; `has_deep_links`: only those with (or without) a deep link."""
    statement = catalog.search_offerings(
        query=query, course_code=course_code, product_type=product_type
    )
    if has_deep_links is not None:
        statement = statement.where(deep_link_rows.having_links(has=has_deep_links))
    count, found = await list_page(session=session, query=statement, offset=offset, limit=limit)
    return count, await _served(session, found)


async def get_offering(*, session: AsyncSession, id: uuid.UUID) -> ServedOffering:
    offering = await catalog.get(session=session, model=Offering, id=id)
    return (await _served(session, [offering]))[0]


async def create_offering(
    *,
    session: AsyncSession,
    course_id: uuid.UUID,
    product_id: uuid.UUID,
    organization_ids: list[uuid.UUID],
) -> ServedOffering:
    """One offering per (course, product): 409 `offering_exists` otherwise."""
    offering = await catalog.create_offering(
        session=session,
        course_id=course_id,
        product_id=product_id,
        organization_ids=organization_ids,
    )
    return await get_offering(session=session, id=offering.id)


async def set_offering_organizations(
    *, session: AsyncSession, id: uuid.UUID, organization_ids: list[uuid.UUID]
) -> ServedOffering:
    """409 `organization_has_deep_link` when a removed organization still has a
    deep link on the offering."""
    offering = await catalog.get(session=session, model=Offering, id=id)
    await catalog.set_offering_organizations(
        session=session, offering=offering, organization_ids=organization_ids
    )
    return await get_offering(session=session, id=id)


async def delete_offering(*, session: AsyncSession, id: uuid.UUID) -> None:
    """Its deep links go with it; 409 `in_use` while orders refer to it."""
    offering = await catalog.get(session=session, model=Offering, id=id)
    await catalog.delete_row(session=session, row=offering)


# --- what the back office offers to choose from -------------------------------------


async def products_by_title(*, session: AsyncSession) -> list[Product]:
    return list((await session.scalars(select(Product).order_by(Product.title))).all())


async def courses_by_code(*, session: AsyncSession) -> list[Course]:
    return list((await session.scalars(select(Course).order_by(Course.code))).all())


async def organizations_by_title(*, session: AsyncSession) -> list[Organization]:
    return list((await session.scalars(select(Organization).order_by(Organization.title))).all())

"""The catalogue: what the back office offers to choose from."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.catalog import Course, Organization, Product


async def products_by_title(*, session: AsyncSession) -> list[Product]:
    return list((await session.scalars(select(Product).order_by(Product.title))).all())


async def courses_by_code(*, session: AsyncSession) -> list[Course]:
    return list((await session.scalars(select(Course).order_by(Course.code))).all())


async def organizations_by_title(*, session: AsyncSession) -> list[Organization]:
    return list((await session.scalars(select(Organization).order_by(Organization.title))).all())

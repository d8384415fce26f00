"""Enrollments: what a learner's orders gave them access to."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.catalog import list_page
from models.enrollments import Enrollment


async def page_of_user(
    *, session: AsyncSession, user_id: str, offset: int, limit: int
) -> tuple[int, list[Enrollment]]:
    query = (
        select(Enrollment)
        .where(Enrollment.user_id == user_id)
        .order_by(Enrollment.created_at.desc(), Enrollment.id)
    )
    return await list_page(session=session, query=query, offset=offset, limit=limit)

"""What learners bought access to: course runs, granted and revoked by orders."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin, new_id, upsert_insert, utcnow


class Enrollment(TimestampMixin, Base):
    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("user_id", "course_run_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    course_run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("course_runs.id", ondelete="RESTRICT")
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_order: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )


async def grant(
    *, session: AsyncSession, user_id: str, course_run_ids: list[uuid.UUID], order_id: uuid.UUID
) -> None:
    """Active enrollments in these runs (reactivated if they existed)."""
    insert = upsert_insert(session)
    for course_run_id in course_run_ids:
        statement = insert(Enrollment).values(
            id=new_id(),
            user_id=user_id,
            course_run_id=course_run_id,
            is_active=True,
            created_by_order=order_id,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["user_id", "course_run_id"],
                set_={"is_active": True, "created_by_order": order_id, "updated_at": utcnow()},
            )
        )


async def revoke(*, session: AsyncSession, order_id: uuid.UUID) -> list[Enrollment]:
    """Deactivate what this order granted; returns the enrollments touched."""
    await session.execute(
        update(Enrollment)
        .where(Enrollment.created_by_order == order_id, Enrollment.is_active.is_(True))
        .values(is_active=False, updated_at=utcnow())
    )
    return list(
        (
            await session.scalars(select(Enrollment).where(Enrollment.created_by_order == order_id))
        ).all()
    )

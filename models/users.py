"""Users, created from the claims of their first authenticated request."""

from __future__ import annotations

from sqlalchemy import String, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin, upsert_insert, utcnow


class User(TimestampMixin, Base):
    __tablename__ = "users"

    # The identity provider's `sub`: we never mint user ids ourselves.
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    name: Mapped[str] = mapped_column(String(255), default="")


async def upsert_from_claims(*, session: AsyncSession, id: str, email: str, name: str) -> None:
    """Insert the user, or refresh email/name when the token says otherwise.

    The WHERE on the update keeps an unchanged user from costing a write on
    every request."""
    insert = upsert_insert(session)
    statement = insert(User).values(id=id, email=email, name=name)
    statement = statement.on_conflict_do_update(
        index_elements=[User.id],
        set_={
            "email": statement.excluded.email,
            "name": statement.excluded.name,
            "updated_at": utcnow(),
        },
        where=or_(User.email != statement.excluded.email, User.name != statement.excluded.name),
    )
    await session.execute(statement)


async def ids_by_email(*, session: AsyncSession, email: str) -> list[str]:
    """The users known by this email (case aside): an identity provider may
    have given it to more than one."""
    rows = await session.scalars(
        select(User.id).where(func.lower(User.email) == email.strip().lower()).order_by(User.id)
    )
    return list(rows.all())

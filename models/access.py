"""Back-office staff sessions: the server's record of who is logged in, so
that logging out ends a session for good (a cookie alone cannot be revoked)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow


class StaffSession(Base):
    __tablename__ = "staff_sessions"

    # SHA-256 of the secret in the browser's cookie: a copy of this table
    # opens no session.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    # The claims of the token pasted at login (sub, email, name, roles); the
    # token itself is kept nowhere.
    claims: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


async def add(
    *, session: AsyncSession, id: str, user_id: str, claims: dict[str, Any], expires_at: datetime
) -> None:
    session.add(StaffSession(id=id, user_id=user_id, claims=claims, expires_at=expires_at))
    await session.flush()


async def live(*, session: AsyncSession, id: str, now: datetime) -> StaffSession | None:
    row = await session.get(StaffSession, id)
    return row if row is not None and row.expires_at > now else None


async def remove(*, session: AsyncSession, id: str) -> None:
    await session.execute(delete(StaffSession).where(StaffSession.id == id))


async def remove_expired(*, session: AsyncSession, now: datetime) -> None:
    await session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))

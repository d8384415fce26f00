"""Back-office staff sessions: opened at login from a verified token's
claims, read on every page, ended at logout.

The browser holds only a random secret; the table holds its SHA-256, the
claims and the token's expiry, so logging out (or the token expiring) ends
the session whatever copy of the cookie is left."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models import access
from models.base import utcnow


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def open_session(
    *,
    session: AsyncSession,
    replacing: str | None,
    user_id: str,
    claims: dict[str, Any],
    expires_at: datetime,
) -> str:
    """A new session until `expires_at`, ending the browser's previous one
    (`replacing`, its secret); returns the secret for the cookie. Sessions
    already expired are dropped on the way (logins are rare)."""
    await access.remove_expired(session=session, now=utcnow())
    if replacing:
        await close_session(session=session, secret=replacing)
    secret = secrets.token_urlsafe(32)
    await access.add(
        session=session,
        id=_key(secret),
        user_id=user_id,
        claims=claims,
        expires_at=expires_at,
    )
    return secret


async def session_claims(*, session: AsyncSession, secret: str) -> dict[str, Any] | None:
    """The claims of a live session, None when it ended or never was."""
    row = await access.live(session=session, id=_key(secret), now=utcnow())
    return row.claims if row is not None else None


async def close_session(*, session: AsyncSession, secret: str) -> None:
    await access.remove(session=session, id=_key(secret))

"""Dependencies of every route: settings, the request's transaction, the
caller's identity and roles, the Temporal client (which routes hand to
services/, the only callers of it)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.auth import Claims, Forbidden, Role, Unauthenticated, decode_token
from models import users
from settings import Settings

# Every dependency here is `async def`, even those that never await: FastAPI
# runs a plain `def` dependency in its thread pool, a thread hand-off on each
# request that cost the hot reads most of their throughput (bench/read_api.py).


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the route returns, before
    the response is sent, rolled back on any error."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker.begin() as session:
        yield session


# scope="function": the transaction closes right after the route, so a failed
# commit becomes the response instead of following a 2xx already sent.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """No transaction: each statement reads the latest committed data. For
    public read paths, where one round trip per query matters more than one
    snapshot across a page's queries. Never for writes."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.read_sessionmaker
    async with sessionmaker() as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


_bearer = HTTPBearer(auto_error=False, description="JWT signed with GUICHET_JWT_SECRET")


async def optional_claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Claims | None:
    if credentials is None:
        return None
    settings: Settings = request.app.state.settings
    return decode_token(token=credentials.credentials, settings=settings)


async def required_claims(claims: Annotated[Claims | None, Depends(optional_claims)]) -> Claims:
    if claims is None:
        raise Unauthenticated("Authentication is required.")
    return claims


class KnownUsers:
    """The users this process has written lately, as their token described
    them: a member's next requests skip the upsert (a round trip and a
    transaction each). Bounded; keyed by user, so a changed email or name is
    written again, and so is a change back (A, B, then A again)."""

    def __init__(self, size: int = 10_000) -> None:
        self._seen: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._size = size

    def __contains__(self, claims: Claims) -> bool:
        if self._seen.get(claims.sub) != (claims.email, claims.name):
            return False
        self._seen.move_to_end(claims.sub)
        return True

    def add(self, claims: Claims) -> None:
        self._seen[claims.sub] = (claims.email, claims.name)
        self._seen.move_to_end(claims.sub)
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)


async def ensure_user(request: Request, claims: Claims) -> None:
    """The caller exists in the users table, as their token says."""
    known: KnownUsers = request.app.state.known_users
    if claims in known:
        return
    # Its own short transaction: the user exists (committed) before anything
    # the request starts refers to them, e.g. an order written by a workflow,
    # and no request-long write lock is held on SQLite.
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker.begin() as session:
        await users.upsert_from_claims(
            session=session, id=claims.sub, email=claims.email, name=claims.name
        )
    known.add(claims)


async def current_user(
    request: Request, claims: Annotated[Claims, Depends(required_claims)]
) -> Claims:
    await ensure_user(request, claims)
    return claims


CurrentUser = Annotated[Claims, Depends(current_user)]


def require_roles(*roles: Role):
    """A dependency letting through callers holding any of `roles` (admin always)."""
    allowed = (Role.ADMIN, *roles)

    async def check(claims: CurrentUser) -> Claims:
        if not claims.has_any_role(*allowed):
            raise Forbidden("You do not have permission to do this.")
        return claims

    return check


AdminUser = Annotated[Claims, Depends(require_roles())]


async def get_temporal(request: Request) -> Client:
    return request.app.state.temporal


TemporalDep = Annotated[Client, Depends(get_temporal)]

"""CPF deep links (plain records, written in the request's transaction):
the anonymous served link and the admin's management. Every rule of spec 10
is also a constraint of the table (models/deep_links.py)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain.catalog import ProductType
from domain.deep_links import (
    DeepLinkExists,
    DeepLinkNotUnique,
    check_can_attach,
    check_can_delete,
    normalize_deep_link,
)
from models.base import new_id, utcnow
from models.catalog import Offering, delete_row, flush_checked, get
from models.deep_links import (
    DeepLinkNotFound,
    OfferingDeepLink,
    active_links_by_offering,
    active_links_of,
    get_link,
    list_for_offering,
    served_link,
)

__all__ = [
    "active_links_by_offering",
    "create_link",
    "delete_link",
    "edit_offering_link",
    "get_link",
    "list_for_offering",
    "served",
    "served_if_cached",
    "set_all_active",
    "update_link",
]


async def served(*, read_engine: AsyncEngine, cache, offering_id: uuid.UUID) -> str | None:
    """One of the offering's active links, at random (None when none is
    active; 404 for an unknown offering), from the per-process read cache."""

    async def load() -> tuple[str, ...] | None:
        # A connection only on a cache miss: checking one out is most of a hit's cost.
        async with read_engine.connect() as connection:
            return await active_links_of(connection=connection, offering_id=offering_id)

    active = await cache.get_or_load(_cache_key(offering_id), load)
    return served_link(offering_id=offering_id, active_links=active)


def served_if_cached(*, cache, offering_id: uuid.UUID) -> tuple[bool, str | None]:
    """(True, one of its active links at random, or None) when the cache
    holds a known offering's links; (False, None) when it must be read, or
    is unknown (its 404 is `served`'s)."""
    held, active = cache.peek(_cache_key(offering_id))
    if not held or active is None:
        return False, None
    return True, served_link(offering_id=offering_id, active_links=active)


def _cache_key(offering_id: uuid.UUID) -> tuple[str, uuid.UUID]:
    return ("deep-links", offering_id)


def _uniqueness_checks(
    session: AsyncSession, link: OfferingDeepLink
) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        same_pair = select(OfferingDeepLink.id).where(
            OfferingDeepLink.offering_id == link.offering_id,
            OfferingDeepLink.organization_id == link.organization_id,
            OfferingDeepLink.id != link.id,
        )
        if await session.scalar(same_pair) is not None:
            raise DeepLinkExists("This organization already has a deep link on this offering.")
        same_url = select(OfferingDeepLink.id).where(
            OfferingDeepLink.deep_link == link.deep_link, OfferingDeepLink.id != link.id
        )
        if await session.scalar(same_url) is not None:
            raise DeepLinkNotUnique("This deep link is already used.")

    return check


async def create_link(
    *,
    session: AsyncSession,
    offering_id: uuid.UUID,
    organization_id: uuid.UUID,
    deep_link: str,
    is_active: bool = False,
) -> OfferingDeepLink:
    offering = await get(session=session, model=Offering, id=offering_id)
    check_can_attach(
        product_type=ProductType(offering.product_type),
        organization_id=organization_id,
        offering_organization_ids={item.id for item in offering.organizations},
    )
    link = OfferingDeepLink(
        id=new_id(),
        offering_id=offering.id,
        organization_id=organization_id,
        product_type=offering.product_type,
        deep_link=normalize_deep_link(deep_link),
        is_active=is_active,
    )
    session.add(link)
    await flush_checked(session=session, checks=_uniqueness_checks(session, link))
    return link


async def update_link(
    *,
    session: AsyncSession,
    id: uuid.UUID,
    deep_link: str | None = None,
    is_active: bool | None = None,
) -> OfferingDeepLink:
    link = await get_link(session=session, id=id, for_update=True)
    if deep_link is not None:
        link.deep_link = normalize_deep_link(deep_link)
    if is_active is not None:
        link.is_active = is_active
    await flush_checked(session=session, checks=_uniqueness_checks(session, link))
    return link


async def delete_link(*, session: AsyncSession, id: uuid.UUID) -> None:
    link = await get_link(session=session, id=id, for_update=True)
    check_can_delete(is_active=link.is_active)
    await delete_row(session=session, row=link)


async def set_all_active(
    *, session: AsyncSession, offering_id: uuid.UUID, is_active: bool
) -> list[OfferingDeepLink]:
    await get(session=session, model=Offering, id=offering_id)
    await session.execute(
        update(OfferingDeepLink)
        .where(OfferingDeepLink.offering_id == offering_id)
        .values(is_active=is_active, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return await list_for_offering(session=session, offering_id=offering_id)


async def edit_offering_link(
    *,
    session: AsyncSession,
    offering_id: uuid.UUID,
    link_id: uuid.UUID,
    action: str,
    deep_link: str = "",
) -> None:
    """The back office's edit of one of an offering's links. `action`: save
    (a new URL), toggle (on ↔ off) or delete (inactive only)."""
    link = await get_link(session=session, id=link_id)
    if link.offering_id != offering_id:
        raise DeepLinkNotFound(f"No deep link with id {link_id} on this offering.")
    if action == "delete":
        await delete_link(session=session, id=link_id)
    elif action == "toggle":
        await update_link(session=session, id=link_id, is_active=not link.is_active)
    else:
        await update_link(session=session, id=link_id, deep_link=deep_link)

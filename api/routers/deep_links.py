"""CPF deep links: admin management and the anonymous read learners' pages use."""

from __future__ import annotations

import functools
import uuid

from fastapi import APIRouter, Depends, Request, Response

from api.cache import cleared_after_writes
from api.deps import SessionDep, require_roles
from api.errors import ERROR_RESPONSES
from api.pagination import Page, PageDep, build_page
from api.schemas.deep_links import (
    DeepLinkCreate,
    DeepLinkOut,
    DeepLinksActivation,
    DeepLinkUpdate,
    ServedDeepLink,
)
from services import deep_links

public_router = APIRouter(
    prefix="/api/v1/offerings", tags=["deep-links"], responses=ERROR_RESPONSES
)
admin_router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin: deep links"],
    dependencies=[Depends(require_roles()), Depends(cleared_after_writes)],
    responses=ERROR_RESPONSES,
)


@functools.lru_cache(maxsize=4096)
def served_body(link: str | None) -> bytes:
    """The answer's JSON, here and in api/hot_reads.py alike; made once per
    link (a few thousand active links at most, each served many times)."""
    return ServedDeepLink(deep_link=link).model_dump_json().encode()


@public_router.get(
    "/{offering_id}/deep-link",
    summary="The CPF deep link to show for an offering",
    response_model=ServedDeepLink,
)
async def served_deep_link(offering_id: uuid.UUID, request: Request) -> Response:
    """One of the offering's active links, chosen uniformly at random at each
    call so learners are spread over its organizations; null when none is
    active. Anonymous; 404 `offering_not_found` for an unknown offering.
    Served from a short per-process cache (api/cache.py); once cached,
    answered before routing (api/hot_reads.py)."""

    link = await deep_links.served(
        read_engine=request.app.state.read_engine,
        cache=request.app.state.read_cache,
        offering_id=offering_id,
    )
    return Response(served_body(link), media_type="application/json")


@admin_router.get("/offerings/{offering_id}/deep-links", summary="List an offering's deep links")
async def list_deep_links(
    offering_id: uuid.UUID, request: Request, session: SessionDep, params: PageDep
) -> Page[DeepLinkOut]:
    links = await deep_links.list_for_offering(session=session, offering_id=offering_id)
    page = links[params.offset : params.offset + params.page_size]
    results = [DeepLinkOut.model_validate(item) for item in page]
    return build_page(request=request, params=params, count=len(links), results=results)


@admin_router.post(
    "/offerings/{offering_id}/deep-links",
    status_code=201,
    summary="Add a deep link for one of the offering's organizations",
    description="400 `offering_not_credential`, 400 `organization_not_in_offering`, "
    "409 `deep_link_exists` (the organization has one), 409 `deep_link_not_unique` "
    "(the URL is used elsewhere).",
)
async def create_deep_link(
    offering_id: uuid.UUID, body: DeepLinkCreate, session: SessionDep
) -> DeepLinkOut:
    link = await deep_links.create_link(
        session=session,
        offering_id=offering_id,
        organization_id=body.organization_id,
        deep_link=body.deep_link,
        is_active=body.is_active,
    )
    return DeepLinkOut.model_validate(link)


@admin_router.patch(
    "/offerings/{offering_id}/activate-deep-links",
    summary="Turn every deep link of an offering on or off",
)
async def activate_deep_links(
    offering_id: uuid.UUID, body: DeepLinksActivation, session: SessionDep
) -> list[DeepLinkOut]:
    links = await deep_links.set_all_active(
        session=session, offering_id=offering_id, is_active=body.is_active
    )
    return [DeepLinkOut.model_validate(item) for item in links]


@admin_router.get("/deep-links/{id}", summary="Read a deep link")
async def read_deep_link(id: uuid.UUID, session: SessionDep) -> DeepLinkOut:
    return DeepLinkOut.model_validate(await deep_links.get_link(session=session, id=id))


@admin_router.patch(
    "/deep-links/{id}",
    summary="Change a deep link's URL or activate/deactivate it",
    description="409 `deep_link_not_unique` when the new URL is used elsewhere.",
)
async def update_deep_link(id: uuid.UUID, body: DeepLinkUpdate, session: SessionDep) -> DeepLinkOut:
    link = await deep_links.update_link(
        session=session, id=id, deep_link=body.deep_link, is_active=body.is_active
    )
    return DeepLinkOut.model_validate(link)


@admin_router.delete(
    "/deep-links/{id}",
    status_code=204,
    summary="Delete an inactive deep link",
    description="409 `deep_link_active`: an active link must be deactivated first.",
)
async def delete_deep_link(id: uuid.UUID, session: SessionDep) -> Response:
    await deep_links.delete_link(session=session, id=id)
    return Response(status_code=204)

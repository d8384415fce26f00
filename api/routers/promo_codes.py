"""Promo-code campaigns in the back office (role promo_manager or admin)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from api.auth import Claims, Role
from api.csv import attachment
from api.deps import ReadSessionDep, SettingsDep, TemporalDep, require_roles
from api.errors import ERROR_RESPONSES
from api.pagination import Page, PageDep, paginate
from api.schemas.promo_codes import CampaignIn, CampaignOut, PromoCodeOut
from models import promo_codes
from models.promo_codes import Campaign, PromoCode
from services import promo_codes as campaign_services

PromoManager = Annotated[Claims, Depends(require_roles(Role.PROMO_MANAGER))]

router = APIRouter(
    prefix="/api/v1/admin/promo-campaigns",
    tags=["admin: promo codes"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require_roles(Role.PROMO_MANAGER))],
)


@router.post(
    "",
    summary="Create a campaign and generate its codes",
    description="202 once the campaign's workflow has written it: `generating` (a small one "
    "may be `ready` already); it becomes `ready` when every code is written (a 500-code "
    "campaign within a second), or `failed` with `failure_reason`. 503 "
    "`temporal_unavailable` leaves nothing behind (send it again). "
    "422 `code_space_too_small` at once when `count` codes cannot fit in `code_length` "
    "random characters with room to spare; 409 `campaign_name_taken`.",
    status_code=202,
)
async def create_campaign(
    body: CampaignIn,
    manager: PromoManager,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> CampaignOut:
    campaign = await start_campaign(
        session=session, manager=manager, body=body, temporal=temporal, settings=settings
    )
    return CampaignOut.model_validate(campaign)


async def start_campaign(
    *, session, manager: Claims, body: CampaignIn, temporal, settings
) -> Campaign:
    """The JSON route's and the back-office form's call of the service."""
    return await campaign_services.start_campaign(
        session=session,
        temporal=temporal,
        settings=settings,
        manager_id=manager.sub,
        name=body.name,
        client_code=body.client_code,
        count=body.count,
        code_length=body.code_length,
        valid_until=body.valid_until,
        product_id=body.product_id,
    )


def campaign_out(campaign: Campaign, used_count: int) -> CampaignOut:
    return CampaignOut.model_validate(campaign).model_copy(update={"used_count": used_count})


@router.get("", summary="List campaigns, newest first, with their used codes")
async def list_campaigns(
    request: Request, session: ReadSessionDep, params: PageDep
) -> Page[CampaignOut]:
    async def with_counts(found: list[Campaign]) -> list[CampaignOut]:
        used = await promo_codes.used_counts(session=session, ids=[item.id for item in found])
        return [campaign_out(item, used.get(item.id, 0)) for item in found]

    return await paginate(
        request=request,
        session=session,
        params=params,
        query=select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id),
        convert=with_counts,
    )


@router.get("/{campaign_id}", summary="Read a campaign (status, progress, used codes)")
async def read_campaign(campaign_id: uuid.UUID, session: ReadSessionDep) -> CampaignOut:
    campaign = await promo_codes.get_campaign(session=session, id=campaign_id)
    used = await promo_codes.used_counts(session=session, ids=[campaign_id])
    return campaign_out(campaign, used.get(campaign_id, 0))


@router.get(
    "/{campaign_id}/codes",
    summary="A campaign's codes, used or not",
    description="`used=true` only the used ones (with who used them and when), "
    "`used=false` only the free ones; in generation order.",
)
async def list_codes(
    campaign_id: uuid.UUID,
    request: Request,
    session: ReadSessionDep,
    params: PageDep,
    used: bool | None = None,
) -> Page[PromoCodeOut]:
    await promo_codes.get_campaign(session=session, id=campaign_id)

    async def with_emails(found: list[PromoCode]) -> list[PromoCodeOut]:
        users = {item.used_by for item in found if item.used_by}
        emails = await promo_codes.emails(session=session, user_ids=users) if users else {}
        return [
            PromoCodeOut(
                code=item.code,
                used_by=emails.get(item.used_by) if item.used_by else None,
                activated_at=item.activated_at,
            )
            for item in found
        ]

    return await paginate(
        request=request,
        session=session,
        params=params,
        query=promo_codes.codes_query(campaign_id=campaign_id, used=used),
        convert=with_emails,
    )


@router.get(
    "/{campaign_id}/codes.csv",
    summary="Export a campaign's codes as CSV",
    description="Columns `campaign,code,contact_email,activated_at`, streamed: memory stays "
    "flat whatever the count. The same file as `guichet promo export <campaign>`.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_codes(
    campaign_id: uuid.UUID, request: Request, session: ReadSessionDep
) -> StreamingResponse:
    campaign = await promo_codes.get_campaign(session=session, id=campaign_id)
    return codes_csv(request, campaign)


def codes_csv(request: Request, campaign: Campaign) -> StreamingResponse:
    """The campaign's codes as a CSV download (the JSON API's and the back office's)."""
    engine = request.app.state.read_engine

    async def chunks() -> AsyncIterator[bytes]:
        # Its own connection: the request's closes when this function returns,
        # before the body is streamed.
        async with engine.connect() as connection:
            async for chunk in promo_codes.export_csv(connection=connection, campaign=campaign):
                yield chunk

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers=attachment(f"codes-promo-campagne-{campaign.name}.csv"),
    )

"""Promo-code campaigns in the back office (role promo_manager or admin)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from api.auth import Claims, Role
from api.deps import ReadSessionDep, SessionDep, SettingsDep, TemporalDep, require_roles
from api.errors import ERROR_RESPONSES
from api.pagination import Page, PageDep, build_page
from api.schemas.promo_codes import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CodesImportedOut,
    MoreCodesIn,
    PromoCodeOut,
    campaign_out,
    codes_csv,
)
from domain.promo_codes import ImportRejected
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
    campaign = await campaign_services.start_campaign(
        session=session,
        temporal=temporal,
        settings=settings,
        manager_id=manager.sub,
        **body.service_arguments(),
    )
    return CampaignOut.model_validate(campaign)


@router.patch(
    "/{campaign_id}",
    summary="Change a campaign's end date, or disable / enable it",
    description="`valid_until` moves the end (its workflow's timer follows at once; null: it "
    "never expires; 422 `invalid_valid_until` in the past); `is_active: false` makes its "
    "codes answer Invalid code until it is enabled again. 409 `campaign_over` once expired "
    "or failed, `campaign_not_ready` while it generates its first codes.",
)
async def change_campaign(
    campaign_id: uuid.UUID,
    body: CampaignPatch,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> CampaignOut:
    await campaign_services.change_campaign(
        session=session,
        temporal=temporal,
        settings=settings,
        campaign_id=campaign_id,
        change=body.change(),
    )
    return campaign_out(await campaign_services.campaign(session=session, campaign_id=campaign_id))


@router.post(
    "/{campaign_id}/codes",
    summary="Add codes to a ready campaign",
    description="Drawn by the campaign's workflow as its first codes were: the answer is the "
    "campaign `generating` with its new `codes_count`; `ready` again once written. 422 "
    "`too_many_codes` / `code_space_too_small` as at creation; 409 `campaign_not_ready` "
    "while codes are being drawn, `campaign_over` once expired or failed.",
    status_code=202,
)
async def add_codes(
    campaign_id: uuid.UUID,
    body: MoreCodesIn,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> CampaignOut:
    await campaign_services.add_codes(
        session=session,
        temporal=temporal,
        settings=settings,
        campaign_id=campaign_id,
        count=body.count,
    )
    return campaign_out(await campaign_services.campaign(session=session, campaign_id=campaign_id))


@router.post(
    "/{campaign_id}/codes/import",
    summary="Import codes printed elsewhere into a ready campaign",
    description="A CSV body (`text/csv`, UTF-8) whose header names a `code` column (comma "
    "or semicolon). Each code: letters, digits and dashes, at most 40 characters, unique "
    "across campaigns; then it activates like a generated one. One bad line refuses the "
    "whole file: 422 `import_rejected`, `details` a list of `{line, code, reason}`. At most "
    "10,000 codes per file. 409 `campaign_not_ready` while codes are drawn, `campaign_over` "
    "once expired or failed.",
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {}}}},
)
async def import_codes(
    campaign_id: uuid.UUID,
    request: Request,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> CodesImportedOut:
    imported = await campaign_services.import_codes(
        session=session,
        temporal=temporal,
        settings=settings,
        campaign_id=campaign_id,
        csv_text=await _text_body(request),
    )
    read = await campaign_services.campaign(session=session, campaign_id=campaign_id)
    return CodesImportedOut(imported=imported, campaign=campaign_out(read))


async def _text_body(request: Request) -> str:
    try:
        return (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise ImportRejected(
            "The file is not UTF-8 text.", details=[{"line": 1, "reason": "not UTF-8"}]
        ) from None


@router.get("", summary="List campaigns, newest first, with their used codes")
async def list_campaigns(
    request: Request, session: ReadSessionDep, params: PageDep
) -> Page[CampaignOut]:
    count, found = await campaign_services.campaigns(
        session=session, offset=params.offset, limit=params.page_size
    )
    results = [campaign_out(item) for item in found]
    return build_page(request=request, params=params, count=count, results=results)


@router.get("/{campaign_id}", summary="Read a campaign (status, progress, used codes)")
async def read_campaign(campaign_id: uuid.UUID, session: ReadSessionDep) -> CampaignOut:
    return campaign_out(await campaign_services.campaign(session=session, campaign_id=campaign_id))


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
    found = await campaign_services.codes(
        session=session,
        campaign_id=campaign_id,
        used=used,
        offset=params.offset,
        limit=params.page_size,
    )
    results = [
        code_out(item, found.emails.get(item.used_by) if item.used_by else None)
        for item in found.codes
    ]
    return build_page(request=request, params=params, count=found.count, results=results)


def code_out(code: Any, email: str | None = None) -> PromoCodeOut:
    """A code row as the API shows it (`email`: who used it)."""
    return PromoCodeOut(
        code=code.code, used_by=email, activated_at=code.activated_at, revoked_at=code.revoked_at
    )


@router.post(
    "/{campaign_id}/codes/{code}/revoke",
    summary="Take one code out of use",
    description="A lost or stolen card: the code answers `Invalid code` until restored. "
    "404 `code_not_found` for a code of another campaign, 409 `code_used` once used. "
    "Revoking a revoked code answers the same.",
)
async def revoke_code(campaign_id: uuid.UUID, code: str, session: SessionDep) -> PromoCodeOut:
    return code_out(
        await campaign_services.set_code_revoked(
            session=session, campaign_id=campaign_id, code=code, revoked=True
        )
    )


@router.post(
    "/{campaign_id}/codes/{code}/restore",
    summary="Put a revoked code back in use",
    description="404 `code_not_found`, 409 `code_used` as for revoke.",
)
async def restore_code(campaign_id: uuid.UUID, code: str, session: SessionDep) -> PromoCodeOut:
    return code_out(
        await campaign_services.set_code_revoked(
            session=session, campaign_id=campaign_id, code=code, revoked=False
        )
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
    found = await campaign_services.campaign(session=session, campaign_id=campaign_id)
    return codes_csv(request, found)

"""Back office: promo-code campaigns (promo_manager, admin), on the services
of the JSON routes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import ValidationError

from api.auth import Claims, Role
from api.pages.access import (
    PAGE_SIZE,
    PREFIX,
    csrf_checked,
    page_number,
    pages_of,
    render,
    see_other,
    staff_with,
    templates,
)
from api.schemas.promo_codes import (
    CampaignIn,
    CampaignPatch,
    CodeFormatIn,
    MoreCodesIn,
    campaign_out,
    codes_csv,
)
from domain import codes
from domain.errors import DomainError
from domain.promo_codes import CampaignStatus
from services import promo_codes as campaign_services

Manager = Annotated[Claims, Depends(staff_with(Role.PROMO_MANAGER))]
router = APIRouter(prefix=PREFIX, include_in_schema=False)


async def _campaigns_page(
    request: Request,
    staff: Claims,
    *,
    form: dict | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    async with request.app.state.read_sessionmaker() as session:
        _count, found = await campaign_services.campaigns(session=session)
        products = await campaign_services.membership_products(session=session)
    return render(
        request,
        "campaigns.html",
        staff=staff,
        campaigns=[campaign_out(item) for item in found],
        products=products,
        form=form or {"code_length": codes.DEFAULT_LENGTH, "check_character": "on"},
        max_codes=request.app.state.settings.promo_max_codes,
        lengths=range(codes.FORMAT_MIN_LENGTH, codes.MAX_LENGTH + 1),
        error=error,
        status_code=status_code,
    )


@router.get("/promo-campaigns")
async def campaigns(request: Request, staff: Manager) -> HTMLResponse:
    return await _campaigns_page(request, staff)


@router.post("/promo-campaigns", dependencies=[Depends(csrf_checked)])
async def create(
    request: Request,
    staff: Manager,
    name: Annotated[str, Form()] = "",
    valid_until: Annotated[str, Form()] = "",
    count: Annotated[str, Form()] = "",
    product_id: Annotated[str, Form()] = "",
    code_length: Annotated[str, Form()] = "",
    max_codes_per_member: Annotated[str, Form()] = "",
    alphabet: Annotated[str, Form()] = codes.Alphabet.CROCKFORD.value,
    check_character: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "name": name,
        "valid_until": valid_until,
        "count": count,
        "product_id": product_id,
        "code_length": code_length,
        "max_codes_per_member": max_codes_per_member,
        "alphabet": alphabet,
        "check_character": check_character,
    }
    try:
        code_format = _code_format(alphabet, code_length, check=bool(check_character))
        body = CampaignIn(
            name=name,
            valid_until=_end_of(valid_until),
            count=int(count),
            product_id=uuid.UUID(product_id),
            # Another format carries its own length.
            code_length=int(code_length or codes.DEFAULT_LENGTH)
            if code_format is None
            else codes.DEFAULT_LENGTH,
            # Empty: no limit.
            max_codes_per_member=int(max_codes_per_member) if max_codes_per_member else None,
            code_format=code_format,
        )
    except (ValueError, ValidationError) as error:
        message = _readable(error)
        return await _campaigns_page(request, staff, form=form, error=message, status_code=422)
    try:
        async with request.app.state.read_sessionmaker() as session:
            campaign = await campaign_services.start_campaign(
                session=session,
                temporal=request.app.state.temporal,
                settings=request.app.state.settings,
                manager_id=staff.sub,
                **body.service_arguments(),
            )
    except DomainError as error:
        return await _campaigns_page(
            request, staff, form=form, error=error.message, status_code=error.status
        )
    return see_other(f"{PREFIX}/promo-campaigns/{campaign.id}")


def _code_format(alphabet: str, length: str, *, check: bool) -> CodeFormatIn | None:
    """Today's format (None) unless the page asks for another."""
    if alphabet == codes.Alphabet.CROCKFORD and check:
        return None
    return CodeFormatIn(
        alphabet=alphabet, length=int(length or codes.DEFAULT_LENGTH), check_character=check
    )


def _end_of(day: str) -> datetime | None:
    """The end of the chosen day, UTC ("valid until the 31st" includes the
    31st); no day: the campaign never expires."""
    return datetime.combine(date.fromisoformat(day), time.max, UTC) if day else None


def _readable(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        )
    return "A name, a count and a product are required; a date reads YYYY-MM-DD."


@router.get("/promo-campaigns/{campaign_id}")
async def campaign(
    request: Request, staff: Manager, campaign_id: uuid.UUID, used: str = "", page: int = 1
) -> HTMLResponse:
    return await _campaign_page(
        request, staff, campaign_id, used=used, page=page, notice=request.query_params.get("done")
    )


async def _campaign_page(
    request: Request,
    staff: Claims,
    campaign_id: uuid.UUID,
    *,
    used: str = "",
    page: int = 1,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    page = page_number(page)
    filter_used = {"true": True, "false": False}.get(used)
    async with request.app.state.read_sessionmaker() as session:
        found = await campaign_services.campaign(session=session, campaign_id=campaign_id)
        listed = await campaign_services.codes(
            session=session,
            campaign_id=campaign_id,
            used=filter_used,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
    return render(
        request,
        "campaign.html",
        staff=staff,
        campaign=campaign_out(found),
        generating=found.campaign.status == CampaignStatus.GENERATING,
        codes=listed.codes,
        emails=listed.emails,
        used=used,
        page=page,
        pages=pages_of(listed.count),
        count=listed.count,
        notice=notice,
        error=error,
        status_code=status_code,
    )


@router.post(
    "/promo-campaigns/{campaign_id}/codes/{code}/{action}", dependencies=[Depends(csrf_checked)]
)
async def revoke_or_restore(
    request: Request,
    staff: Manager,
    campaign_id: uuid.UUID,
    code: str,
    action: Literal["revoke", "restore"],
) -> Response:
    """A lost code out of use, or back; a used one cannot be (said on the page)."""
    try:
        async with request.app.state.sessionmaker.begin() as session:
            await campaign_services.set_code_revoked(
                session=session, campaign_id=campaign_id, code=code, revoked=action == "revoke"
            )
    except DomainError as error:
        return await _campaign_page(
            request, staff, campaign_id, error=error.message, status_code=error.status
        )
    done = f"{code} revoked." if action == "revoke" else f"{code} restored."
    return see_other(f"{PREFIX}/promo-campaigns/{campaign_id}?done={quote(done)}")


@router.post("/promo-campaigns/{campaign_id}/change", dependencies=[Depends(csrf_checked)])
async def change(
    request: Request,
    staff: Manager,
    campaign_id: uuid.UUID,
    action: Annotated[Literal["dates", "disable", "enable"], Form()],
    valid_until: Annotated[str, Form()] = "",
) -> Response:
    """The end date moved (or removed), or the campaign disabled / enabled."""
    try:
        patch = (
            CampaignPatch(valid_until=_end_of(valid_until))
            if action == "dates"
            else CampaignPatch(is_active=action == "enable")
        )
    except ValueError:
        return await _campaign_page(
            request, staff, campaign_id, error="A date reads YYYY-MM-DD.", status_code=422
        )
    done = {"dates": "End date saved.", "disable": "Disabled.", "enable": "Enabled."}[action]
    return await _through_workflow(
        request,
        staff,
        campaign_id,
        done,
        campaign_services.change_campaign,
        change=patch.change(),
    )


@router.post("/promo-campaigns/{campaign_id}/import", dependencies=[Depends(csrf_checked)])
async def import_codes(
    request: Request,
    staff: Manager,
    campaign_id: uuid.UUID,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Codes printed elsewhere, from a CSV file; a bad line imports nothing
    and the page names each one."""
    try:
        text = (await file.read()).decode("utf-8") if file is not None else ""
    except UnicodeDecodeError:
        text = None
    if not text:
        message = "Choose a UTF-8 CSV file with a `code` column."
        return await _campaign_page(request, staff, campaign_id, error=message, status_code=422)
    try:
        async with request.app.state.read_sessionmaker() as session:
            count = await campaign_services.import_codes(
                session=session,
                temporal=request.app.state.temporal,
                settings=request.app.state.settings,
                campaign_id=campaign_id,
                csv_text=text,
            )
    except DomainError as error:
        lines = (
            "; ".join(
                f"line {item.get('line', '?')}: {item['reason']}"
                for item in (error.details or [])[:20]
            )
            if isinstance(error.details, list)
            else ""
        )
        message = f"{error.message} {lines}".strip()
        return await _campaign_page(
            request, staff, campaign_id, error=message, status_code=error.status
        )
    return see_other(
        f"{PREFIX}/promo-campaigns/{campaign_id}?done={quote(f'{count} codes imported.')}"
    )


@router.post("/promo-campaigns/{campaign_id}/more-codes", dependencies=[Depends(csrf_checked)])
async def more_codes(
    request: Request,
    staff: Manager,
    campaign_id: uuid.UUID,
    count: Annotated[str, Form()] = "",
) -> Response:
    try:
        wanted = MoreCodesIn(count=int(count)).count
    except (ValueError, ValidationError):
        return await _campaign_page(
            request,
            staff,
            campaign_id,
            error="Give a number of codes (1 or more).",
            status_code=422,
        )
    done = f"{wanted} codes being added."
    return await _through_workflow(
        request, staff, campaign_id, done, campaign_services.add_codes, count=wanted
    )


async def _through_workflow(
    request: Request, staff: Claims, campaign_id: uuid.UUID, done: str, action, **arguments
) -> Response:
    """A campaign service that goes through its workflow; a refusal shown
    on the page with its reason and status."""
    try:
        async with request.app.state.read_sessionmaker() as session:
            await action(
                session=session,
                temporal=request.app.state.temporal,
                settings=request.app.state.settings,
                campaign_id=campaign_id,
                **arguments,
            )
    except DomainError as error:
        return await _campaign_page(
            request, staff, campaign_id, error=error.message, status_code=error.status
        )
    return see_other(f"{PREFIX}/promo-campaigns/{campaign_id}?done={quote(done)}")


@router.get("/promo-campaigns/{campaign_id}/status")
async def campaign_status(request: Request, staff: Manager, campaign_id: uuid.UUID) -> Response:
    """The status card alone (htmx polls it while generating). Once generation
    is over the whole page is reloaded: its code list is filled by then."""
    async with request.app.state.read_sessionmaker() as session:
        found = await campaign_services.campaign(session=session, campaign_id=campaign_id)
    generating = found.campaign.status == CampaignStatus.GENERATING
    response = templates.TemplateResponse(
        request,
        "_campaign_status.html",
        {"campaign": campaign_out(found), "generating": generating},
    )
    if not generating:
        response.headers["HX-Refresh"] = "true"
    return response


@router.get("/promo-campaigns/{campaign_id}/codes.csv")
async def campaign_csv(
    request: Request, staff: Manager, campaign_id: uuid.UUID
) -> StreamingResponse:
    async with request.app.state.read_sessionmaker() as session:
        found = await campaign_services.campaign(session=session, campaign_id=campaign_id)
    return codes_csv(request, found)

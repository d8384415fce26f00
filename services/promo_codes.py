"""Promo-code campaigns: process-owned by PromoCampaignWorkflow
(`promo-campaign:<id>`), whose first activity writes the campaign. A start
that fails leaves nothing behind (no row holding the name, no compensating
delete): the same request may simply be sent again."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from domain import codes as code_text
from domain.catalog import ProductType
from domain.promo_codes import (
    AddCodes,
    CampaignChange,
    CampaignInput,
    CampaignNameTaken,
    CampaignOver,
    CampaignStatus,
    ImportCodes,
    InvalidCampaignProduct,
    NewCampaign,
    check_request,
    check_valid_until,
    import_lines,
    read_codes_csv,
    workflow_id,
)
from models import promo_codes
from models.base import utcnow
from models.catalog import Product, list_page
from models.promo_codes import Campaign, PromoCode
from services import workflows
from settings import Settings
from workflows.promo_campaign import PromoCampaignWorkflow


async def start_campaign(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    manager_id: str,
    name: str,
    client_code: str | None,
    count: int,
    code_length: int,
    valid_until: datetime | None,
    product_id: uuid.UUID,
    max_codes_per_member: int | None = None,
    code_format: code_text.CodeFormat | None = None,
) -> Campaign:
    """Check the request, then start the campaign's workflow; answers once
    the workflow has written the campaign (`generating`). Without a
    `code_format`, today's: Crockford with a check, `code_length` long."""
    client = (client_code or settings.promo_client_code).upper()
    chosen = code_format or code_text.CodeFormat(length=code_length)
    code_prefix = check_request(
        name=name,
        client_code=client,
        count=count,
        code_format=chosen,
        max_codes=settings.promo_max_codes,
        valid_until=valid_until,
        now=utcnow(),
    )
    product = await session.get(Product, product_id)
    if product is None or product.type != ProductType.MEMBERSHIP:
        raise InvalidCampaignProduct("product_id must name a membership product.")
    # Early and precise; the unique name decides between concurrent twins.
    if await session.scalar(select(Campaign.id).where(Campaign.name == name)) is not None:
        raise CampaignNameTaken(f"A campaign is already named {name!r}.")
    params = CampaignInput(
        campaign_id=uuid.uuid4(),
        valid_until=valid_until,
        code_hold=settings.cart_code_hold,
        new=NewCampaign(
            name=name,
            client_code=client,
            code_prefix=code_prefix,
            product_id=product.id,
            codes_count=count,
            code_length=chosen.length,
            created_by=manager_id,
            code_format=None if code_format is None else chosen.model_dump(mode="json"),
            max_codes_per_member=max_codes_per_member,
        ),
    )
    await workflows.update_with_start(
        temporal=temporal,
        run=PromoCampaignWorkflow.run,
        workflow_id=workflow_id(params.campaign_id),
        workflow_input=params,
        task_queue=settings.task_queue,
        update=PromoCampaignWorkflow.created,
        within=settings.workflow_call_timeout,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    return await promo_codes.get_campaign(session=session, id=params.campaign_id)


# --- a campaign's life after launch: through its workflow --------------------------


async def change_campaign(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    campaign_id: uuid.UUID,
    change: CampaignChange,
) -> Campaign:
    """Move or remove its end date (the workflow's timer follows) and
    disable or enable it. 409 `campaign_over` once expired or failed."""
    await _live_campaign(session, campaign_id)
    if change.valid_until is not None and not change.never_expires:
        check_valid_until(change.valid_until, now=utcnow())
    argument = change.model_copy(update={"campaign_id": campaign_id})
    await _ask_workflow(
        session, temporal, settings, campaign_id, PromoCampaignWorkflow.change, argument
    )
    return await promo_codes.get_campaign(session=session, id=campaign_id)


async def add_codes(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    campaign_id: uuid.UUID,
    count: int,
) -> Campaign:
    """`count` codes more, drawn by the campaign's workflow as the first
    ones were (the campaign is `generating` meanwhile, its codes usable).
    409 `campaign_not_ready` while it generates, `campaign_over` after it."""
    await _live_campaign(session, campaign_id)
    argument = AddCodes(count=count, max_codes=settings.promo_max_codes)
    await _ask_workflow(
        session, temporal, settings, campaign_id, PromoCampaignWorkflow.add_codes, argument
    )
    return await promo_codes.get_campaign(session=session, id=campaign_id)


async def import_codes(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    campaign_id: uuid.UUID,
    csv_text: str,
) -> int:
    """Codes printed elsewhere (a CSV with a `code` column) added to a ready
    campaign, then activated like generated ones; how many. One bad line
    (empty, malformed, longer than 40, twice in the file, some campaign's
    already) refuses the whole file: 422 `import_rejected`, each line's
    reason in the details."""
    await _live_campaign(session, campaign_id)
    lines = read_codes_csv(csv_text)
    found = [code_text.squeezed(typed) for _, typed in lines]
    taken = await promo_codes.taken_codes(session=session, candidates=found)
    imported = import_lines(lines, taken=taken)
    return await _ask_workflow(
        session,
        temporal,
        settings,
        campaign_id,
        PromoCampaignWorkflow.import_codes,
        ImportCodes(codes=imported),
    )


async def _live_campaign(session: AsyncSession, campaign_id: uuid.UUID) -> Campaign:
    found = await promo_codes.get_campaign(session=session, id=campaign_id)
    if found.status in (CampaignStatus.EXPIRED.value, CampaignStatus.FAILED.value):
        raise CampaignOver(f"The campaign is {found.status}: it no longer changes.")
    return found


async def _ask_workflow(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    campaign_id: uuid.UUID,
    update: Any,
    argument: Any,
) -> Any:
    """The campaign workflow's answer to `update`; the session's copy of the
    campaign refreshed after, as the workflow's activity wrote it."""
    answer = await workflows.update(
        temporal=temporal,
        run=PromoCampaignWorkflow.run,
        workflow_id=workflow_id(campaign_id),
        update=update,
        argument=argument,
        within=settings.workflow_call_timeout,
    )
    await session.refresh(await promo_codes.get_campaign(session=session, id=campaign_id))
    return answer


# --- reads: the JSON API, the back office and the CSV export alike ------------------


@dataclass(frozen=True)
class CampaignRead:
    campaign: Campaign
    used_count: int


@dataclass(frozen=True)
class CodesPage:
    count: int
    codes: list[PromoCode]
    # The email of each member who used one of these codes.
    emails: dict[str, str]


async def campaigns(
    *, session: AsyncSession, offset: int = 0, limit: int | None = None
) -> tuple[int, list[CampaignRead]]:
    """Campaigns, newest first, with their used codes; every one without a limit."""
    query = select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id)
    if limit is None:
        found = list((await session.scalars(query)).all())
        count = len(found)
    else:
        count, found = await list_page(session=session, query=query, offset=offset, limit=limit)
    used = await promo_codes.used_counts(session=session, ids=[item.id for item in found])
    return count, [CampaignRead(item, used.get(item.id, 0)) for item in found]


async def campaign(*, session: AsyncSession, campaign_id: uuid.UUID) -> CampaignRead:
    found = await promo_codes.get_campaign(session=session, id=campaign_id)
    used = await promo_codes.used_counts(session=session, ids=[campaign_id])
    return CampaignRead(found, used.get(campaign_id, 0))


async def codes(
    *, session: AsyncSession, campaign_id: uuid.UUID, used: bool | None, offset: int, limit: int
) -> CodesPage:
    """A page of a campaign's codes (`used`: only the used or the free ones)."""
    await promo_codes.get_campaign(session=session, id=campaign_id)
    count, rows = await list_page(
        session=session,
        query=promo_codes.codes_query(campaign_id=campaign_id, used=used),
        offset=offset,
        limit=limit,
    )
    users = {item.used_by for item in rows if item.used_by}
    emails = await promo_codes.emails(session=session, user_ids=users) if users else {}
    return CodesPage(count=count, codes=rows, emails=emails)


async def set_code_revoked(
    *, session: AsyncSession, campaign_id: uuid.UUID, code: str, revoked: bool
) -> PromoCode:
    """One code out of use (a lost batch) or back; a used code cannot be:
    409 `code_used`. Asking twice answers the same."""
    await promo_codes.get_campaign(session=session, id=campaign_id)
    return await promo_codes.set_revoked(
        session=session,
        campaign_id=campaign_id,
        code=code_text.normalise(code),
        revoked_at=utcnow() if revoked else None,
    )


async def membership_products(*, session: AsyncSession) -> list[Product]:
    """What a campaign's codes may give."""
    query = (
        select(Product).where(Product.type == ProductType.MEMBERSHIP.value).order_by(Product.title)
    )
    return list((await session.scalars(query)).all())


async def export_codes(*, engine: AsyncEngine, campaign: Campaign) -> AsyncIterator[bytes]:
    """The campaign's codes as CSV chunks, on a connection of its own: a
    streamed download outlives the request's session."""
    async with engine.connect() as connection:
        async for chunk in promo_codes.export_csv(connection=connection, campaign=campaign):
            yield chunk

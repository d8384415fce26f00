"""Promo-code campaigns: process-owned by PromoCampaignWorkflow
(`promo-campaign:<id>`), whose first activity writes the campaign. A start
that fails leaves nothing behind (no row holding the name, no compensating
delete): the same request may simply be sent again."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from domain.catalog import ProductType
from domain.promo_codes import (
    CampaignInput,
    CampaignNameTaken,
    InvalidCampaignProduct,
    NewCampaign,
    check_request,
    workflow_id,
)
from models import promo_codes
from models.base import utcnow
from models.catalog import Product
from models.promo_codes import Campaign
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
    valid_until: datetime,
    product_id: uuid.UUID,
) -> Campaign:
    """Check the request, then start the campaign's workflow; answers once
    the workflow has written the campaign (`generating`)."""
    client = (client_code or settings.promo_client_code).upper()
    code_prefix = check_request(
        name=name,
        client_code=client,
        count=count,
        code_length=code_length,
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
        new=NewCampaign(
            name=name,
            client_code=client,
            code_prefix=code_prefix,
            product_id=product.id,
            codes_count=count,
            code_length=code_length,
            created_by=manager_id,
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

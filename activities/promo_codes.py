"""Activities of promo-code campaigns: generating their codes, moving their status."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import raises_domain_errors
from domain.promo_codes import CampaignInput, CampaignStatus, GenerationProgress
from models import promo_codes


class CampaignMove(BaseModel):
    campaign_id: uuid.UUID
    target: CampaignStatus
    expected: list[CampaignStatus]
    reason: str | None = None


class PromoCodeActivities:
    def __init__(self, *, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    @activity.defn(name="promo_codes.create_campaign")
    @raises_domain_errors
    async def create_campaign(self, params: CampaignInput) -> None:
        async with self._sessionmaker.begin() as session:
            await promo_codes.create_campaign(session=session, params=params)

    @activity.defn(name="promo_codes.generate")
    @raises_domain_errors
    async def generate(self, params: CampaignInput) -> GenerationProgress:
        """Fill the campaign up to its count, one transaction per batch.

        Idempotent by construction: each batch tops the campaign up towards
        its count, so a retry after a crash carries on where the last
        committed batch stopped. Progress is the heartbeat's detail."""
        while True:
            try:
                async with self._sessionmaker.begin() as session:
                    progress = await promo_codes.fill_batch(
                        session=session,
                        campaign_id=params.campaign_id,
                        batch_size=params.batch_size,
                    )
            except promo_codes.CodeSpaceExhausted as error:
                raise ApplicationError(
                    str(error), type="code_space_exhausted", non_retryable=True
                ) from None
            activity.heartbeat(progress.model_dump())
            if progress.generated >= progress.target:
                return progress

    @activity.defn(name="promo_codes.move")
    async def move(self, move: CampaignMove) -> bool:
        async with self._sessionmaker.begin() as session:
            return await promo_codes.move_campaign(
                session=session,
                id=move.campaign_id,
                target=move.target,
                expected=move.expected,
                reason=move.reason,
            )

"""Activities of promo-code campaigns: generating their codes, moving their status."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.emails import mail_once
from activities.failures import raises_domain_errors
from domain.emails import EmailContext, EmailKind
from domain.promo_codes import (
    CampaignChange,
    CampaignInput,
    CampaignStatus,
    CodesImported,
    GenerationProgress,
    MoreCodes,
    ReleaseHolds,
)
from integrations.mail import Mailer, render
from models import carts, promo_codes
from models.base import utcnow

# Held codes released per transaction.
RELEASE_BATCH = 500


class CampaignMove(BaseModel):
    campaign_id: uuid.UUID
    target: CampaignStatus
    expected: list[CampaignStatus]
    reason: str | None = None


class PromoCodeActivities:
    def __init__(
        self, *, sessionmaker: async_sessionmaker[AsyncSession], mailer: Mailer | None = None
    ) -> None:
        self._sessionmaker = sessionmaker
        self._mailer = mailer

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

    @activity.defn(name="promo_codes.change")
    @raises_domain_errors
    async def change(self, change: CampaignChange) -> None:
        async with self._sessionmaker.begin() as session:
            await promo_codes.change_campaign(session=session, change=change)

    @activity.defn(name="promo_codes.raise_count")
    @raises_domain_errors
    async def raise_count(self, more: MoreCodes) -> None:
        async with self._sessionmaker.begin() as session:
            await promo_codes.raise_count(session=session, more=more)

    @activity.defn(name="promo_codes.import_codes")
    @raises_domain_errors
    async def import_codes(self, imported: CodesImported) -> int:
        async with self._sessionmaker.begin() as session:
            return await promo_codes.import_codes(session=session, imported=imported)

    @activity.defn(name="promo_codes.release_holds")
    async def release_holds(self, request: ReleaseHolds) -> datetime | None:
        """Codes held past the hold in carts still open released, a batch per
        transaction; when the next held one is due (None: none is held)."""
        while True:
            async with self._sessionmaker.begin() as session:
                released = await carts.release_held_codes(
                    session=session,
                    campaign_id=request.campaign_id,
                    held_since=utcnow() - request.hold,
                    limit=RELEASE_BATCH,
                )
            if released:
                activity.logger.info("released %d held promo codes", released)
            if released < RELEASE_BATCH:
                break
            activity.heartbeat(released)
        async with self._sessionmaker() as session:
            first = await carts.first_held_at(session=session, campaign_id=request.campaign_id)
        return first + request.hold if first is not None else None

    @activity.defn(name="promo_codes.notify_expiring")
    async def notify_expiring(self, campaign_id: uuid.UUID) -> bool:
        """campaign_expiring to the campaign's creator, once per end date; True
        if this call sent it. A refusal for good is logged, not retried."""
        return await mail_once(
            self._sessionmaker,
            lambda session: self._notify_expiring(session, campaign_id),
            kind=EmailKind.CAMPAIGN_EXPIRING.value,
        )

    async def _notify_expiring(self, session: AsyncSession, campaign_id: uuid.UUID) -> bool:
        notice = await promo_codes.expiry_notice(session=session, campaign_id=campaign_id)
        if notice is None or self._mailer is None:
            return False
        context = EmailContext(
            learner_name=notice.creator_name,
            product_title=notice.campaign.name,
            ends_at=notice.campaign.valid_until,
            used_count=notice.used,
            unused_count=notice.campaign.generated_count - notice.used,
        )
        mail = render(
            kind=EmailKind.CAMPAIGN_EXPIRING, language=None, context=context, to=notice.email
        )
        # Sent inside the transaction that notes it: a failure sends again on retry.
        await self._mailer.send(mail)
        return True

"""Activities of the catalogue sync and of checkout intents.

Reading a source (catalogue service, Stripe) never writes; each write is one
transaction, so a source failing mid-sync leaves the data as it was.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import raises_domain_errors
from domain.academies import (
    CatalogAcademy,
    IntentInput,
    IntentPaid,
    IntentState,
    SyncResult,
    UnreadableAcademy,
    apply_rules,
    normalise,
)
from integrations.academies import (
    CatalogSource,
    PriceSource,
    SourceUnavailable,
    sync_rules,
)
from models import academies, accounting, cache_notices
from models.base import utcnow
from settings import Settings


class CatalogPayload(BaseModel):
    academies: list[CatalogAcademy]
    skipped: int
    # Entries the catalogue sent unreadable, each skipped with its reason.
    errors: list[str] = []


class SyncRecord(BaseModel):
    workflow_id: str
    result: SyncResult


class IntentMove(BaseModel):
    intent_id: uuid.UUID
    target: IntentState
    error: str | None = None


class IntentPaidRequest(BaseModel):
    intent_id: uuid.UUID
    paid: IntentPaid


class AcademyActivities:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        catalog: CatalogSource,
        prices: PriceSource,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._catalog = catalog
        self._prices = prices

    @activity.defn(name="academies.fetch_catalog")
    async def fetch_catalog(self) -> CatalogPayload:
        """The academies to keep, normalised, with settings' rules applied."""
        try:
            raw = await self._catalog.academies()
            default_query_id = await self._catalog.default_catalog_query_id()
        except SourceUnavailable as outage:
            raise ApplicationError(str(outage), type="source_unavailable") from None
        readable, errors = [], []
        for item in raw:
            try:
                readable.append(normalise(item))
            except UnreadableAcademy as unreadable:
                errors.append(str(unreadable))
        kept, skipped = apply_rules(readable, sync_rules(self._settings, default_query_id))
        return CatalogPayload(academies=kept, skipped=skipped + len(errors), errors=errors)

    @activity.defn(name="academies.upsert")
    async def upsert(self, payload: CatalogPayload) -> SyncResult:
        result = SyncResult(skipped=payload.skipped, errors=list(payload.errors))
        async with self._sessionmaker.begin() as session:
            await academies.upsert_academies(
                session=session, academies=payload.academies, result=result
            )
        await self._announce()
        return result

    @activity.defn(name="academies.sync_prices")
    async def sync_prices(self) -> int:
        """Fetch every price, then store them in one transaction."""
        try:
            prices = await self._prices.prices()
        except SourceUnavailable as outage:
            raise ApplicationError(str(outage), type="source_unavailable") from None
        async with self._sessionmaker.begin() as session:
            stored = await academies.store_prices(session=session, prices=prices)
        await self._announce()
        return stored

    async def _announce(self) -> None:
        """The API processes' catalogue caches empty now, not at their TTL."""
        engine = self._sessionmaker.kw["bind"]
        try:
            await cache_notices.announce(engine)
        except Exception:  # the sync is done; a stale cache expires by itself
            activity.logger.warning("read-cache notice not sent", exc_info=True)

    @activity.defn(name="academies.record_sync")
    async def record_sync(self, record: SyncRecord) -> None:
        async with self._sessionmaker.begin() as session:
            await academies.record_sync(
                session=session, workflow_id=record.workflow_id, result=record.result
            )
        activity.logger.info(
            "catalogue sync finished",
            extra={"fields": {"workflow_id": record.workflow_id} | record.result.model_dump()},
        )

    # --- checkout intents -----------------------------------------------------------------

    @activity.defn(name="academies.create_intent")
    @raises_domain_errors
    async def create_intent(self, params: IntentInput) -> None:
        async with self._sessionmaker.begin() as session:
            await academies.create_intent(session=session, params=params)

    @activity.defn(name="academies.move_intent")
    @raises_domain_errors
    async def move_intent(self, move: IntentMove) -> IntentState:
        async with self._sessionmaker.begin() as session:
            intent = await academies.move_intent(
                session=session, intent_id=move.intent_id, target=move.target, last_error=move.error
            )
            return IntentState(intent.state)

    @activity.defn(name="academies.mark_paid")
    @raises_domain_errors
    async def mark_paid(self, request: IntentPaidRequest) -> IntentState:
        async with self._sessionmaker.begin() as session:
            intent = await academies.get_intent(session=session, id=request.intent_id)
            if IntentState(intent.state) is not IntentState.CREATED:
                return IntentState(intent.state)  # told twice, or too late
            moved = await academies.move_intent(
                session=session,
                intent_id=request.intent_id,
                target=IntentState.PAID,
                stripe_checkout_session_id=request.paid.checkout_session_id,
                stripe_customer_id=request.paid.customer_id,
            )
            paid = request.paid
            if paid.amount is not None and paid.currency is not None:
                await accounting.record_checkout_payment(
                    session=session,
                    intent_id=intent.id,
                    user_id=intent.user_id,
                    academy_id=intent.academy_id,
                    amount=paid.amount,
                    currency=paid.currency,
                    at=utcnow(),
                )
            return IntentState(moved.state)

    @activity.defn(name="academies.fulfil")
    @raises_domain_errors
    async def fulfil(self, intent_id: uuid.UUID) -> IntentState:
        """Grant the subscription, then fulfilled; both in one transaction."""
        async with self._sessionmaker.begin() as session:
            intent = await academies.get_intent(session=session, id=intent_id)
            if IntentState(intent.state) is IntentState.FULFILLED:
                return IntentState.FULFILLED
            await academies.grant_subscription(session=session, intent=intent)
            moved = await academies.move_intent(
                session=session, intent_id=intent_id, target=IntentState.FULFILLED, last_error=None
            )
            return IntentState(moved.state)

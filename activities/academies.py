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
    AcademyNotPurchasable,
    CatalogAcademy,
    IntentInput,
    IntentPaid,
    IntentState,
    SyncResult,
    UnreadableAcademy,
    apply_rules,
    checkout_expiry,
    normalise,
)
from domain.payments import CheckoutRequest
from integrations.academies import (
    CatalogSource,
    PriceSource,
    SourceUnavailable,
    sync_rules,
)
from integrations.payments.base import CheckoutRefused, PaymentProvider, ProviderUnavailable
from models import academies, accounting, cache_notices, orders, subscriptions
from models.academies import CheckoutIntent
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
        payments: PaymentProvider,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._catalog = catalog
        self._prices = prices
        self._payments = payments

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

    @activity.defn(name="academies.open_checkout")
    async def open_checkout(self, intent_id: uuid.UUID) -> str:
        """The page where the learner pays, made once per intent (the
        provider's idempotency key) and kept on it; its URL. A provider that
        refuses (no price, a price gone) is told to the intent, not retried."""
        async with self._sessionmaker() as session:
            intent = await academies.get_intent(session=session, id=intent_id)
            if intent.checkout_url:
                return intent.checkout_url
            checkout = await self._checkout_request(session, intent)
        try:
            opened = await self._payments.open_checkout(checkout=checkout)
        except (CheckoutRefused, AcademyNotPurchasable) as refusal:
            await self._checkout_failed(intent_id, str(refusal))
            raise ApplicationError(
                str(refusal), type="checkout_refused", non_retryable=True
            ) from None
        except ProviderUnavailable as outage:
            raise ApplicationError(str(outage), type="provider_unavailable") from None
        async with self._sessionmaker.begin() as session:
            await academies.checkout_opened(
                session=session,
                intent_id=intent_id,
                reference=opened.reference,
                url=opened.url,
                customer=opened.customer_reference,
            )
        return opened.url

    async def _checkout_request(
        self, session: AsyncSession, intent: CheckoutIntent
    ) -> CheckoutRequest:
        academy, price = await academies.academy_with_price(session=session, id=intent.academy_id)
        if price is None:
            raise AcademyNotPurchasable(f"{academy.name} has no price to subscribe at.")
        customer = await orders.customer(
            session=session, owner_id=intent.user_id, provider=self._payments.name
        )
        recurring = price.recurring or {}
        settings = self._settings
        return CheckoutRequest(
            intent_id=str(intent.id),
            customer=customer.model_copy(
                update={"reference": customer.reference or intent.stripe_customer_id}
            ),
            price_id=price.id,
            label=academy.long_name or academy.name,
            amount=price.unit_amount,
            currency=price.currency,
            interval=str(recurring.get("interval") or "month"),
            success_url=settings.frontend_page(
                "frontend_checkout_success_page", intent_id=intent.id
            ),
            cancel_url=settings.frontend_page("frontend_checkout_cancel_page", intent_id=intent.id),
            expires_at=checkout_expiry(intent.expires_at, now=utcnow()),
        )

    async def _checkout_failed(self, intent_id: uuid.UUID, reason: str) -> None:
        async with self._sessionmaker.begin() as session:
            await academies.note_intent_error(session=session, intent_id=intent_id, error=reason)

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
                stripe_checkout_session_id=request.paid.checkout_session_id
                or intent.stripe_checkout_session_id,
                stripe_customer_id=request.paid.customer_id or intent.stripe_customer_id,
            )
            paid = request.paid
            if paid.amount is not None and paid.currency is not None:
                await accounting.record_academy_payment(
                    session=session,
                    source=f"checkout:{intent.id}",
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
            await subscriptions.grant(session=session, intent=intent)
            moved = await academies.move_intent(
                session=session, intent_id=intent_id, target=IntentState.FULFILLED, last_error=None
            )
            return IntentState(moved.state)

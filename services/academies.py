"""Academy checkout intents: process-owned by CheckoutIntentWorkflow
(`checkout-intent:<id>`), whose first activity writes the intent's row. A
start that fails (Temporal down) leaves nothing behind: the retry starts
afresh instead of finding an orphan row no workflow expires or fulfils."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from domain.academies import (
    SYNC_WORKFLOW_PREFIX,
    AcademyNotPurchasable,
    AlreadySubscribed,
    CheckoutIntentExists,
    IntentInput,
    IntentState,
    SyncNotFound,
    SyncResult,
    intent_workflow_id,
)
from domain.errors import DomainError
from models import academies, subscriptions
from models.academies import Academy, AcademyPrice, AcademySync, CheckoutIntent
from models.base import utcnow
from models.catalog import list_page
from services import workflows
from settings import Settings
from workflows.academy import CatalogSyncWorkflow, CheckoutIntentWorkflow


@dataclass(frozen=True)
class Intent:
    intent: CheckoutIntent
    # False: the intent already in flight for this user and product.
    created: bool
    # Where the learner pays (None once paid, or when it had expired).
    checkout_url: str | None = None


async def start_intent(
    *, session: AsyncSession, temporal: Client, settings: Settings, user_id: str, academy: str
) -> Intent:
    """The user's intent in flight for this academy product, or a new one,
    with the page where they pay. 409 `already_subscribed` while they have
    it, `academy_not_purchasable` when it has no price."""
    found = await academies.find_academy(session=session, key=academy)
    product = found.stripe_product_id or str(found.id)
    existing = await academies.in_flight_intent(
        session=session, user_id=user_id, stripe_product_id=product
    )
    if existing is not None:
        return await _with_checkout(session, temporal, settings, existing, created=False)
    await _check_purchasable(session, user_id=user_id, academy=found)
    intent = await _started(
        session=session, temporal=temporal, settings=settings, user_id=user_id, found=found
    )
    return await _with_checkout(session, temporal, settings, intent.intent, created=intent.created)


async def _check_purchasable(session: AsyncSession, *, user_id: str, academy: Academy) -> None:
    if await subscriptions.live_one(session=session, user_id=user_id, academy_id=academy.id):
        raise AlreadySubscribed(f"You already subscribe to {academy.name}.")
    _, price = await academies.academy_with_price(session=session, id=academy.id)
    if price is None:
        raise AcademyNotPurchasable(f"{academy.name} has no price to subscribe at yet.")


async def _with_checkout(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    intent: CheckoutIntent,
    *,
    created: bool,
) -> Intent:
    """The intent and its payment page, waiting for the page while its
    workflow makes it (502 `checkout_unavailable` if the provider refused)."""
    url = intent.checkout_url
    if url is None and intent.state == IntentState.CREATED:
        url = await workflows.update(
            temporal=temporal,
            run=CheckoutIntentWorkflow.run,
            workflow_id=intent_workflow_id(intent.id),
            update=CheckoutIntentWorkflow.checkout,
            within=settings.workflow_call_timeout,
        )
        await session.refresh(intent)  # its workflow wrote the page's session and customer
    if intent.state != IntentState.CREATED:
        url = None  # paid or over: nothing to pay there any more
    return Intent(intent=intent, created=created, checkout_url=url)


async def _started(
    *, session: AsyncSession, temporal: Client, settings: Settings, user_id: str, found: Academy
) -> Intent:
    product = found.stripe_product_id or str(found.id)
    params = IntentInput(
        intent_id=uuid.uuid4(),
        expires_at=utcnow() + settings.checkout_intent_lifetime,
        stall_after=settings.checkout_fulfilment_stall,
        user_id=user_id,
        academy_id=found.id,
        stripe_product_id=product,
    )
    try:
        await workflows.update_with_start(
            temporal=temporal,
            run=CheckoutIntentWorkflow.run,
            workflow_id=intent_workflow_id(params.intent_id),
            workflow_input=params,
            task_queue=settings.task_queue,
            update=CheckoutIntentWorkflow.created,
            within=settings.workflow_call_timeout,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except DomainError as error:
        if error.code != CheckoutIntentExists.code:
            raise
        # A concurrent request's intent won the unique index: that one.
        twin = await academies.in_flight_intent(
            session=session, user_id=user_id, stripe_product_id=product
        )
        if twin is None:
            raise
        return Intent(intent=twin, created=False)
    return Intent(
        intent=await academies.get_intent(session=session, id=params.intent_id), created=True
    )


# --- the catalogue sync -------------------------------------------------------------


@dataclass(frozen=True)
class Sync:
    workflow_id: str
    status: str  # running, completed, failed
    result: SyncResult | None = None


async def trigger_sync(*, temporal: Client, settings: Settings) -> str:
    """A catalogue sync run now (beside the schedule's); its workflow id."""
    workflow_id = f"{SYNC_WORKFLOW_PREFIX}manual-{uuid.uuid4()}"
    await workflows.start(
        temporal=temporal,
        run=CatalogSyncWorkflow.run,
        workflow_id=workflow_id,
        task_queue=settings.task_queue,
        within=settings.workflow_call_timeout,
    )
    return workflow_id


async def sync_status(
    *, session: AsyncSession, temporal: Client, settings: Settings, workflow_id: str
) -> Sync:
    """A finished sync's stored result; while it runs, its workflow's status."""
    stored = await session.get(AcademySync, workflow_id)
    if stored is not None:
        result = SyncResult.model_validate(stored.result)
        return Sync(workflow_id=workflow_id, status="completed", result=result)
    if not workflow_id.startswith(SYNC_WORKFLOW_PREFIX):
        raise SyncNotFound(f"No catalogue sync {workflow_id!r}.")
    running = await workflows.is_running(
        temporal=temporal, workflow_id=workflow_id, within=settings.workflow_call_timeout
    )
    if running is None:
        raise SyncNotFound(f"No catalogue sync {workflow_id!r}.")
    return Sync(workflow_id=workflow_id, status="running" if running else "failed")


# --- reads: the public catalogue, the back office, a learner's intents ------------------


@dataclass(frozen=True)
class PricedAcademy:
    academy: Academy
    # Its Stripe price, when its lookup key names one Guichet has synced.
    price: AcademyPrice | None


async def _priced(session: AsyncSession, found: list[Academy]) -> list[PricedAcademy]:
    keys = [item.stripe_price_lookup_key for item in found if item.stripe_price_lookup_key]
    prices = await academies.prices_by_lookup_key(session=session, keys=keys)
    return [PricedAcademy(item, prices.get(item.stripe_price_lookup_key or "")) for item in found]


async def products(
    *,
    session: AsyncSession,
    tags: list[str],
    product_key: str | None = None,
    academy_id: uuid.UUID | None = None,
    include_inactive: bool = False,
) -> list[PricedAcademy]:
    """Guichet's copy of the catalogue: the catalogue service and Stripe are
    never called here."""
    found = await academies.list_academies(
        session=session,
        tags=tags,
        product_key=product_key,
        academy_id=academy_id,
        include_inactive=include_inactive,
    )
    return await _priced(session, found)


async def product(*, session: AsyncSession, key: str) -> PricedAcademy:
    """By slug, product key, Stripe product id or uuid; inactive ones too."""
    (found,) = await _priced(session, [await academies.find_academy(session=session, key=key)])
    return found


async def last_sync(*, session: AsyncSession) -> AcademySync | None:
    query = select(AcademySync).order_by(AcademySync.finished_at.desc()).limit(1)
    return await session.scalar(query)


async def intents_of(
    *, session: AsyncSession, user_id: str, offset: int, limit: int
) -> tuple[int, list[CheckoutIntent]]:
    """A learner's checkout intents, newest first."""
    query = (
        select(CheckoutIntent)
        .where(CheckoutIntent.user_id == user_id)
        .order_by(CheckoutIntent.created_at.desc(), CheckoutIntent.id)
    )
    return await list_page(session=session, query=query, offset=offset, limit=limit)


async def intent(
    *, session: AsyncSession, intent_id: uuid.UUID, user_id: str | None
) -> CheckoutIntent:
    """One intent; with `user_id`, only that learner's (another's is a 404)."""
    return await academies.get_intent(session=session, id=intent_id, user_id=user_id)

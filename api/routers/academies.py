"""Academy products (public, throttled, served from the database only), the
catalogue sync's admin trigger, and checkout intents."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from api.auth import Role
from api.deps import (
    AdminUser,
    CurrentUser,
    ReadSessionDep,
    SettingsDep,
    TemporalDep,
)
from api.errors import ERROR_RESPONSES, RATE_LIMITED_RESPONSE
from api.pagination import Page, PageDep, build_page
from api.schemas.academies import (
    AcademyPriceOut,
    AcademyProductList,
    AcademyProductOut,
    CheckoutIntentIn,
    CheckoutIntentOut,
    SyncStarted,
    SyncStatus,
)
from domain.academies import IntentState, InvalidAcademyUuid
from domain.errors import DomainError
from services import academies as academy_services

logger = logging.getLogger(__name__)

UNAVAILABLE = {"error_code": "academy_service_unavailable", "detail": "Retry later."}
SYNC_REFUSED = {"sync": ["sync=true is not supported on this public endpoint."]}
T = TypeVar("T")


async def throttle_client(state: Any, client: tuple[str, int] | None) -> None:
    """Per client IP, GUICHET_ACADEMY_RATE_LIMIT (429 with Retry-After over
    it): for the routes here and their answers in api/hot_reads.py."""
    await state.rate_limiter.check(
        limit=state.settings.academy_rate_limit,
        scope="academy-products",
        key=client[0] if client else "unknown",
    )


async def throttle(request: Request) -> None:
    await throttle_client(request.app.state, request.scope.get("client"))


def products_query_key(query_string: bytes) -> tuple[str, bytes]:
    """Where the cache notes which list a query, as sent, was answered with:
    api/hot_reads.py finds the list without parsing the query, and only a
    query this route validated is ever noted. The lists themselves stay
    keyed by what they hold, so a flood of spellings stores no more lists."""
    return ("academy-products-query", query_string)


public_router = APIRouter(
    prefix="/api/v1/academy-products",
    tags=["academy products"],
    responses=ERROR_RESPONSES | RATE_LIMITED_RESPONSE,
    dependencies=[Depends(throttle)],
)
admin_router = APIRouter(
    prefix="/api/v1/admin/academy-sync", tags=["admin: academies"], responses=ERROR_RESPONSES
)
intents_router = APIRouter(
    prefix="/api/v1/checkout-intents", tags=["checkout intents"], responses=ERROR_RESPONSES
)


def _thumbnail(path: str, base: str) -> str:
    if not path or "://" in path or not base:
        return path
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


def public_id(academy) -> str:
    """How the public catalogue names an academy: the first non-empty of its
    Stripe product, product key, slug and uuid."""
    return academy.stripe_product_id or academy.product_key or academy.slug or str(academy.id)


def product_out(priced: academy_services.PricedAcademy, thumbnail_base: str) -> AcademyProductOut:
    academy, price = priced.academy, priced.price
    return AcademyProductOut(
        id=public_id(academy),
        name=academy.name,
        long_name=academy.long_name or academy.name,
        description=academy.description,
        marketing_url=academy.marketing_url,
        thumbnail_url=_thumbnail(academy.thumbnail_url, thumbnail_base),
        tags=academy.tags,
        stripe_product_id=academy.stripe_product_id,
        catalog_query_id=academy.catalog_query_id,
        edx_catalog_id=academy.catalog_query_id,
        prices=[AcademyPriceOut.model_validate(price)] if price else [],
    )


async def _served(read: Callable[[], Awaitable[T]]) -> T | JSONResponse:
    """Our documented errors as they are; anything else is a 502 in the
    shape the academy front end knows, never a stack trace."""
    try:
        return await read()
    except DomainError:
        raise
    except Exception:
        logger.exception("academy products read failed")
        return JSONResponse(UNAVAILABLE, status_code=502)


@public_router.get(
    "",
    summary="List academy products",
    description="Repeated `tag` are AND-ed; only active ones unless `include_inactive=true`. "
    "Served from Guichet's copy: the catalogue service and Stripe are never called here.",
    response_model=AcademyProductList,
    responses={502: {"description": "academy_service_unavailable"}},
)
async def list_products(
    request: Request,
    settings: SettingsDep,
    tag: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    product_key: str | None = None,
    academy_uuid: str | None = None,
    include_inactive: bool = False,
    sync: str | None = None,
) -> Any:
    if sync is not None and sync.lower() in {"true", "1", "yes"}:
        return JSONResponse(SYNC_REFUSED, status_code=400)
    academy_id = _academy_uuid(academy_uuid)

    async def load() -> bytes:
        # A session only on a cache miss.
        async with request.app.state.read_sessionmaker() as session:
            found = await academy_services.products(
                session=session,
                tags=tag,
                product_key=product_key,
                academy_id=academy_id,
                include_inactive=include_inactive,
            )
        results = [product_out(item, settings.academy_thumbnail_base_url) for item in found]
        return (
            AcademyProductList(count=len(results), results=results)
            .model_dump_json(by_alias=True)
            .encode()
        )

    async def read() -> Response:
        # The serialized page is what is cached: building 50 products is the cost.
        key = ("academy-products", tuple(sorted(tag)), product_key, academy_id, include_inactive)
        cache = request.app.state.read_cache
        body = await cache.get_or_load(key, load)
        cache.put(products_query_key(request.scope["query_string"]), key)
        return Response(body, media_type="application/json")

    return await _served(read)


def _academy_uuid(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidAcademyUuid(f"{value!r} is not a valid uuid.") from None


@public_router.get(
    "/{key}",
    summary="Read an academy product",
    description="By slug, product key, Stripe product id or uuid; inactive ones too.",
    response_model=AcademyProductOut,
    responses={502: {"description": "academy_service_unavailable"}},
)
async def read_product(
    key: str, session: ReadSessionDep, settings: SettingsDep, sync: str | None = None
) -> Any:
    if sync is not None and sync.lower() in {"true", "1", "yes"}:
        return JSONResponse(SYNC_REFUSED, status_code=400)

    async def read() -> AcademyProductOut:
        found = await academy_services.product(session=session, key=key)
        return product_out(found, settings.academy_thumbnail_base_url)

    return await _served(read)


# --- the sync ---------------------------------------------------------------------------


@admin_router.post("", summary="Run the catalogue sync now", status_code=202)
async def trigger_sync(
    _admin: AdminUser, temporal: TemporalDep, settings: SettingsDep
) -> SyncStarted:
    workflow_id = await academy_services.trigger_sync(temporal=temporal, settings=settings)
    return SyncStarted(workflow_id=workflow_id)


@admin_router.get(
    "/{workflow_id}",
    summary="A catalogue sync's result",
    description="`running` until it is done, then `completed` with "
    "`{created, updated, unchanged, deactivated, skipped, prices, errors}`.",
)
async def sync_status(
    workflow_id: str,
    _admin: AdminUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> SyncStatus:
    sync = await academy_services.sync_status(
        session=session, temporal=temporal, settings=settings, workflow_id=workflow_id
    )
    return SyncStatus(workflow_id=sync.workflow_id, status=sync.status, result=sync.result)


# --- checkout intents -------------------------------------------------------------------


@intents_router.post(
    "",
    summary="Start (or resume) buying an academy",
    description="One intent in flight (created or paid) per user and academy product: asking "
    "again returns it (200); a new one is 201, answered once its workflow has written it "
    "and made the page where the learner pays, `checkout_url` (Stripe Checkout, or the dummy "
    "backend's own page). 503 `temporal_unavailable` leaves nothing behind: retry. Several "
    "academies at once are fine. 409 `already_subscribed` while the learner has the academy, "
    "`academy_not_purchasable` when it has no price; 502 `checkout_unavailable` when the "
    "provider refuses the page.",
    status_code=201,
    responses={200: {"description": "the intent already in flight"}},
)
async def create_intent(
    body: CheckoutIntentIn,
    user: CurrentUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> Any:
    started = await academy_services.start_intent(
        session=session,
        temporal=temporal,
        settings=settings,
        user_id=user.sub,
        academy=body.academy,
    )
    out = intent_out(started.intent).model_copy(update={"checkout_url": started.checkout_url})
    if started.created:
        return out
    return JSONResponse(out.model_dump(mode="json"), status_code=200)


@intents_router.get("", summary="List my checkout intents")
async def list_intents(
    request: Request, user: CurrentUser, session: ReadSessionDep, params: PageDep
) -> Page[CheckoutIntentOut]:
    count, found = await academy_services.intents_of(
        session=session, user_id=user.sub, offset=params.offset, limit=params.page_size
    )
    results = [intent_out(item) for item in found]
    return build_page(request=request, params=params, count=count, results=results)


@intents_router.get("/{intent_id}", summary="Read one of my checkout intents")
async def read_intent(
    intent_id: uuid.UUID, user: CurrentUser, session: ReadSessionDep
) -> CheckoutIntentOut:
    owner = None if user.has_any_role(Role.ADMIN) else user.sub
    intent = await academy_services.intent(session=session, intent_id=intent_id, user_id=owner)
    return intent_out(intent)


def intent_out(intent) -> CheckoutIntentOut:
    """Its payment page only while there is something to pay there."""
    out = CheckoutIntentOut.model_validate(intent)
    if out.state is not IntentState.CREATED:
        out = out.model_copy(update={"checkout_url": None})
    return out

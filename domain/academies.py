"""Academies (subscription products from the catalogue service, priced in
Stripe), the catalogue sync's rules and checkout intents' transitions.
Pure: no I/O, importable from workflows."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from domain.errors import BadGateway, BadRequest, Conflict, NotFound, error_class

AcademyNotFound = error_class(NotFound, "academy_not_found")
InvalidAcademyUuid = error_class(BadRequest, "invalid_academy_uuid")
CheckoutIntentNotFound = error_class(NotFound, "checkout_intent_not_found")
InvalidIntentTransition = error_class(Conflict, "invalid_checkout_intent_transition")
SyncNotFound = error_class(NotFound, "academy_sync_not_found")
# Another request started this user's intent for this product first.
CheckoutIntentExists = error_class(Conflict, "checkout_intent_exists")
# No price to subscribe at (the sync found none for its lookup key).
AcademyNotPurchasable = error_class(Conflict, "academy_not_purchasable")
AlreadySubscribed = error_class(Conflict, "already_subscribed")
# The provider would not make the payment page (its price is gone…).
CheckoutUnavailable = error_class(BadGateway, "checkout_unavailable")

SCHEDULE_ID = "catalog-sync"
SYNC_WORKFLOW_PREFIX = "catalog-sync-"
INTENT_WORKFLOW_PREFIX = "checkout-intent:"

FULFILMENT_STALL = timedelta(seconds=180)
# Stripe keeps a checkout session open at least 30 minutes, at most 24 hours.
CHECKOUT_OPEN_MIN = timedelta(minutes=31)
CHECKOUT_OPEN_MAX = timedelta(hours=23, minutes=59)


# --- the catalogue sync -------------------------------------------------------------


class CatalogAcademy(BaseModel):
    """One academy as the catalogue service describes it, normalised."""

    external_uuid: uuid.UUID | None = None
    name: str
    long_name: str = ""
    description: str = ""
    marketing_url: str = ""
    thumbnail_url: str = ""
    tags: list[str] = Field(default_factory=list)
    stripe_product_id: str = ""
    stripe_price_lookup_key: str | None = None
    catalog_query_id: int | None = None
    product_key: str | None = None
    display_order: int = 0
    # The catalogue's own slug (or an override's); made from the product key
    # or the name when there is none.
    slug: str | None = None


class CatalogPrice(BaseModel):
    """A Stripe price, as cached in AcademyPrice."""

    id: str
    product: str
    lookup_key: str
    currency: str
    unit_amount: int | None
    unit_amount_decimal: str | None
    recurring: dict[str, Any] | None


class SyncRules(BaseModel):
    """What settings add to the catalogue's word."""

    allowlist: frozenset[str] = frozenset()
    # Keyed by external uuid or name (case-insensitive): field → value.
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Keyed by external uuid or name: the academy's catalog_query_id.
    catalog_query_ids: dict[str, int] = Field(default_factory=dict)
    default_catalog_query_id: int | None = None


class SyncInput(BaseModel):
    """How long a sync waits for a source that is down before giving up on
    it (the next scheduled run tries again)."""

    source_attempts: int = 6
    source_max_interval: timedelta = timedelta(seconds=10)


class SyncResult(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    skipped: int = 0
    prices: int = 0
    errors: list[str] = Field(default_factory=list)


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "academy"


class UnreadableAcademy(ValueError):
    """A catalogue entry with a value Guichet cannot read: the entry is
    skipped (named in the run's result), the rest of the run goes on."""


def first_catalog_query_id(values: list[Any]) -> int | None:
    """The first numeric catalog query id of the enterprise catalogs; entries
    that are not numbers are skipped, as the peer does (one `"invalid"` used
    to fail every sync)."""
    for value in values:
        try:
            return int(str(value).strip())
        except ValueError:
            continue
    return None


def check_override(name: str, override: Any) -> None:
    """An override from the settings, checked at start: every field an
    academy has, with a value of its type."""
    if not isinstance(override, dict):
        raise ValueError(f"the override of {name!r} must be an object")
    unknown = set(override) - set(CatalogAcademy.model_fields)
    if unknown:
        raise ValueError(f"the override of {name!r} sets unknown fields {sorted(unknown)}")
    try:
        CatalogAcademy.model_validate({"name": "check"} | override)
    except ValidationError as error:
        field = ".".join(str(part) for part in error.errors()[0]["loc"])
        raise ValueError(f"the override of {name!r} has a bad {field}") from None


def normalise(raw: dict[str, Any]) -> CatalogAcademy:
    """A catalogue-service academy (uuid, title, short/long description,
    image, tags[{title}]) in our terms; UnreadableAcademy if a value is not
    what it should be."""
    try:
        return _normalised(raw)
    except (ValueError, TypeError, AttributeError) as error:
        title = str(raw.get("title") or raw.get("uuid") or "?") if isinstance(raw, dict) else "?"
        raise UnreadableAcademy(f"academy {title!r} skipped: {type(error).__name__}") from None


def _normalised(raw: dict[str, Any]) -> CatalogAcademy:
    image = raw.get("image")
    if isinstance(image, dict):
        image = image.get("url") or image.get("src") or ""
    return CatalogAcademy(
        external_uuid=raw.get("uuid"),
        name=str(raw.get("title") or "").strip(),
        long_name=str(raw.get("long_title") or ""),
        description=str(raw.get("short_description") or raw.get("long_description") or ""),
        marketing_url=str(raw.get("marketing_url") or ""),
        thumbnail_url=str(image or ""),
        tags=[str(tag["title"]) for tag in raw.get("tags") or [] if tag.get("title")],
        stripe_product_id=str(raw.get("stripe_product_id") or ""),
        stripe_price_lookup_key=raw.get("stripe_price_lookup_key") or None,
        product_key=raw.get("product_key") or None,
        display_order=int(raw.get("display_order") or 0),
        slug=str(raw.get("slug") or "").strip() or None,
    )


def _keys(academy: CatalogAcademy) -> list[str]:
    keys = [academy.name.lower()]
    if academy.external_uuid:
        keys.insert(0, str(academy.external_uuid).lower())
    return keys


def _lookup(table: dict[str, Any], academy: CatalogAcademy) -> Any:
    lowered = {key.lower(): value for key, value in table.items()}
    return next((lowered[key] for key in _keys(academy) if key in lowered), None)


def apply_rules(
    academies: list[CatalogAcademy], rules: SyncRules
) -> tuple[list[CatalogAcademy], int]:
    """The academies to keep (allowlist), with overrides and catalog query
    ids applied; and how many the allowlist skipped."""
    allowed = {item.lower() for item in rules.allowlist}
    kept: list[CatalogAcademy] = []
    for academy in academies:
        if not academy.name or (allowed and not allowed.intersection(_keys(academy))):
            continue
        query_id = _lookup(rules.catalog_query_ids, academy)
        if query_id is None:
            query_id = academy.catalog_query_id or rules.default_catalog_query_id
        changed = academy.model_copy(update={"catalog_query_id": query_id})
        overrides = _lookup(rules.overrides, academy) or {}
        # Overrides were checked at start (settings): they validate.
        kept.append(changed.model_validate(changed.model_dump() | overrides))
    return kept, len(academies) - len(kept)


def keep_price(raw: dict[str, Any]) -> bool:
    """Only recurring prices with a lookup key price an academy."""
    return bool(raw.get("lookup_key")) and bool(raw.get("recurring"))


# --- checkout intents ---------------------------------------------------------------


class IntentState(StrEnum):
    CREATED = "created"
    PAID = "paid"
    FULFILLED = "fulfilled"
    ERRORED_BACKOFFICE = "errored_backoffice"
    ERRORED_FULFILLMENT_STALLED = "errored_fulfillment_stalled"
    ERRORED_PROVISIONING = "errored_provisioning"
    EXPIRED = "expired"


IN_FLIGHT = frozenset({IntentState.CREATED, IntentState.PAID})
ERRORED = frozenset(
    {
        IntentState.ERRORED_BACKOFFICE,
        IntentState.ERRORED_FULFILLMENT_STALLED,
        IntentState.ERRORED_PROVISIONING,
    }
)
TRANSITIONS: dict[IntentState, frozenset[IntentState]] = {
    IntentState.CREATED: frozenset({IntentState.PAID, IntentState.EXPIRED}),
    IntentState.PAID: frozenset({IntentState.FULFILLED, *ERRORED}),
    **{state: frozenset({IntentState.FULFILLED}) for state in ERRORED},
    IntentState.EXPIRED: frozenset({IntentState.CREATED}),
    IntentState.FULFILLED: frozenset(),
}


def check_intent_transition(current: IntentState, target: IntentState) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidIntentTransition(f"A checkout intent cannot go from {current} to {target}.")


class IntentInput(BaseModel):
    """The intent the workflow owns. Its first activity writes the row from
    these fields (None in runs started when the API wrote it first)."""

    intent_id: uuid.UUID
    expires_at: datetime
    stall_after: timedelta = FULFILMENT_STALL
    user_id: str | None = None
    academy_id: uuid.UUID | None = None
    stripe_product_id: str | None = None


class IntentPaid(BaseModel):
    """A Stripe checkout.session.completed / invoice.paid about this intent."""

    event: str
    checkout_session_id: str | None = None
    customer_id: str | None = None
    # What it cashed, for the cash book (None when the provider did not say).
    amount: Decimal | None = None
    currency: str | None = None


def checkout_expiry(intent_expires_at: datetime, *, now: datetime) -> datetime:
    """When the payment page closes: with the intent, within what Stripe allows."""
    return min(max(intent_expires_at, now + CHECKOUT_OPEN_MIN), now + CHECKOUT_OPEN_MAX)


def intent_workflow_id(intent_id: object) -> str:
    return f"{INTENT_WORKFLOW_PREFIX}{intent_id}"

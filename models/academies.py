"""Academies, their cached Stripe prices, checkout intents and subscriptions.

The public read API serves only these tables: the catalogue service and
Stripe are read by the sync workflow, never at request time.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.academies import (
    IN_FLIGHT,
    AcademyNotFound,
    CatalogAcademy,
    CatalogPrice,
    CheckoutIntentExists,
    CheckoutIntentNotFound,
    IntentInput,
    IntentState,
    SyncResult,
    check_intent_transition,
    slugify,
)
from models.base import Base, TimestampMixin, UTCDateTime, new_id, upsert_insert, utcnow

IN_FLIGHT_SQL = ", ".join(f"'{state.value}'" for state in sorted(IN_FLIGHT))
# Fields the catalogue owns: a sync compares and rewrites them.
SYNCED_FIELDS = (
    "name",
    "long_name",
    "description",
    "marketing_url",
    "thumbnail_url",
    "tags",
    "stripe_product_id",
    "stripe_price_lookup_key",
    "catalog_query_id",
    "display_order",
)


class Academy(TimestampMixin, Base):
    __tablename__ = "academies"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    external_uuid: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    long_name: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    marketing_url: Mapped[str] = mapped_column(String(500), default="")
    thumbnail_url: Mapped[str] = mapped_column(String(500), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    stripe_product_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    stripe_price_lookup_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    catalog_query_id: Mapped[int | None] = mapped_column(Integer)
    product_key: Mapped[str] = mapped_column(String(255), unique=True)
    slug: Mapped[str] = mapped_column(String(255), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    display_order: Mapped[int] = mapped_column(Integer, default=0)


class AcademyPrice(Base):
    """The last price Stripe gave for a lookup key: served when Stripe is down."""

    __tablename__ = "academy_prices"

    lookup_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    id: Mapped[str] = mapped_column(String(255))
    product: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3))
    unit_amount: Mapped[int | None] = mapped_column(Integer)
    unit_amount_decimal: Mapped[str | None] = mapped_column(String(40))
    recurring: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AcademySync(Base):
    """One run of the catalogue sync and its result."""

    __tablename__ = "academy_syncs"

    workflow_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class CheckoutIntent(TimestampMixin, Base):
    __tablename__ = "checkout_intents"
    __table_args__ = (
        # One intent in flight per (user, academy product); several academies at once.
        Index(
            "uq_checkout_intents_in_flight",
            "user_id",
            "stripe_product_id",
            unique=True,
            sqlite_where=text(f"state IN ({IN_FLIGHT_SQL})"),
            postgresql_where=text(f"state IN ({IN_FLIGHT_SQL})"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    academy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("academies.id", ondelete="CASCADE"))
    stripe_product_id: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(40), default=IntentState.CREATED.value)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(255))
    # Where the learner pays (the provider's hosted page, or the dummy's).
    checkout_url: Mapped[str | None] = mapped_column(String(2000))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)


# --- reads ------------------------------------------------------------------------------


async def list_academies(
    *,
    session: AsyncSession,
    tags: list[str],
    product_key: str | None,
    academy_id: uuid.UUID | None,
    include_inactive: bool,
) -> list[Academy]:
    query = select(Academy).order_by(Academy.display_order, Academy.name)
    if not include_inactive:
        query = query.where(Academy.is_active.is_(True))
    if product_key:
        query = query.where(Academy.product_key == product_key)
    if academy_id:
        query = query.where(or_(Academy.id == academy_id, Academy.external_uuid == academy_id))
    found = list(await session.scalars(query))
    # Tags are AND-ed; a JSON list filter in Python keeps one query for both databases.
    return [item for item in found if all(tag in item.tags for tag in tags)]


async def find_academy(*, session: AsyncSession, key: str) -> Academy:
    """By slug, product_key, stripe_product_id or uuid; inactive ones too."""
    conditions = [Academy.slug == key, Academy.product_key == key, Academy.stripe_product_id == key]
    try:
        as_uuid = uuid.UUID(key)
        conditions += [Academy.id == as_uuid, Academy.external_uuid == as_uuid]
    except ValueError:
        pass
    found = (await session.scalars(select(Academy).where(or_(*conditions)).limit(1))).first()
    if found is None:
        raise AcademyNotFound(f"No academy product {key!r}.")
    return found


async def prices_by_lookup_key(
    *, session: AsyncSession, keys: list[str]
) -> dict[str, AcademyPrice]:
    if not keys:
        return {}
    rows = await session.scalars(select(AcademyPrice).where(AcademyPrice.lookup_key.in_(keys)))
    return {row.lookup_key: row for row in rows}


# --- the sync's writes ------------------------------------------------------------------


async def _existing(session: AsyncSession, academy: CatalogAcademy) -> Academy | None:
    if academy.external_uuid:
        by_uuid = await session.scalar(
            select(Academy).where(Academy.external_uuid == academy.external_uuid)
        )
        if by_uuid is not None:
            return by_uuid
    return await session.scalar(
        select(Academy).where(func.lower(Academy.name) == academy.name.lower())
    )


def _values(academy: CatalogAcademy) -> dict[str, Any]:
    return {field: getattr(academy, field) for field in SYNCED_FIELDS}


async def upsert_academies(
    *, session: AsyncSession, academies: list[CatalogAcademy], result: SyncResult
) -> None:
    """Create, update or leave each academy; deactivate the active ones the
    (non-empty) payload no longer has."""
    seen: set[uuid.UUID] = set()
    for academy in academies:
        row = await _existing(session, academy)
        if row is None:
            slug = academy.slug or slugify(academy.product_key or academy.name)
            row = Academy(
                id=new_id(),
                external_uuid=academy.external_uuid,
                product_key=academy.product_key or slug,
                slug=slug,
                is_active=True,
                **_values(academy),
            )
            session.add(row)
            result.created += 1
        elif (
            all(getattr(row, f) == v for f, v in _values(academy).items())
            and row.is_active
            and (academy.slug is None or academy.slug == row.slug)
        ):
            result.unchanged += 1
        else:
            for field, value in _values(academy).items():
                setattr(row, field, value)
            row.slug = academy.slug or row.slug
            row.external_uuid = row.external_uuid or academy.external_uuid
            row.is_active = True
            row.updated_at = utcnow()
            result.updated += 1
        seen.add(row.id)
        await session.flush()
    if academies:
        gone = await session.scalars(
            update(Academy)
            .where(Academy.is_active.is_(True), Academy.id.not_in(seen))
            .values(is_active=False, updated_at=utcnow())
            .returning(Academy.id)
        )
        result.deactivated = len(list(gone))


async def store_prices(*, session: AsyncSession, prices: list[CatalogPrice]) -> int:
    insert = upsert_insert(session)
    for price in prices:
        values = price.model_dump() | {"fetched_at": utcnow()}
        statement = insert(AcademyPrice).values(values)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["lookup_key"],
                set_={key: statement.excluded[key] for key in values if key != "lookup_key"},
            )
        )
    return len(prices)


async def record_sync(*, session: AsyncSession, workflow_id: str, result: SyncResult) -> None:
    insert = upsert_insert(session)
    statement = insert(AcademySync).values(
        workflow_id=workflow_id, result=result.model_dump(), finished_at=utcnow()
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["workflow_id"],
            set_={
                "result": statement.excluded.result,
                "finished_at": statement.excluded.finished_at,
            },
        )
    )


# --- checkout intents -------------------------------------------------------------------


async def in_flight_intent(
    *, session: AsyncSession, user_id: str, stripe_product_id: str
) -> CheckoutIntent | None:
    return await session.scalar(
        select(CheckoutIntent).where(
            CheckoutIntent.user_id == user_id,
            CheckoutIntent.stripe_product_id == stripe_product_id,
            CheckoutIntent.state.in_([state.value for state in IN_FLIGHT]),
        )
    )


async def create_intent(*, session: AsyncSession, params: IntentInput) -> CheckoutIntent:
    """The intent's row, written by its workflow; idempotent on its id.
    checkout_intent_exists when another intent of this user for this product
    is in flight (the unique index decides between concurrent twins)."""
    existing = await session.get(CheckoutIntent, params.intent_id)
    if existing is not None:
        return existing
    intent = CheckoutIntent(
        id=params.intent_id,
        user_id=params.user_id,
        academy_id=params.academy_id,
        stripe_product_id=params.stripe_product_id,
        expires_at=params.expires_at,
    )
    session.add(intent)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise CheckoutIntentExists("An intent for this academy is already in flight.") from None
    return intent


async def get_intent(
    *, session: AsyncSession, id: uuid.UUID, user_id: str | None = None
) -> CheckoutIntent:
    query = select(CheckoutIntent).where(CheckoutIntent.id == id)
    if user_id is not None:
        query = query.where(CheckoutIntent.user_id == user_id)
    found = await session.scalar(query)
    if found is None:
        raise CheckoutIntentNotFound(f"No checkout intent {id}.")
    return found


async def move_intent(
    *,
    session: AsyncSession,
    intent_id: uuid.UUID,
    target: IntentState,
    **values: Any,
) -> CheckoutIntent:
    """A checked transition, written once: a run that finds the intent
    already there changes nothing."""
    intent = await get_intent(session=session, id=intent_id)
    current = IntentState(intent.state)
    if current is target:
        return intent
    check_intent_transition(current, target)
    await session.execute(
        update(CheckoutIntent)
        .where(CheckoutIntent.id == intent_id, CheckoutIntent.state == current.value)
        .values(state=target.value, updated_at=utcnow(), **values)
    )
    await session.refresh(intent)
    return intent


async def academy_with_price(
    *, session: AsyncSession, id: uuid.UUID
) -> tuple[Academy, AcademyPrice | None]:
    """An academy and the price its lookup key names, if the sync has it."""
    academy = await session.get(Academy, id)
    if academy is None:
        raise AcademyNotFound(f"No academy {id}.")
    key = academy.stripe_price_lookup_key
    return academy, await session.get(AcademyPrice, key) if key else None


async def checkout_opened(
    *, session: AsyncSession, intent_id: uuid.UUID, reference: str, url: str, customer: str | None
) -> None:
    """The payment page made for an intent; its customer unless it had one."""
    intent = await get_intent(session=session, id=intent_id)
    intent.stripe_checkout_session_id = reference
    intent.checkout_url = url
    intent.stripe_customer_id = intent.stripe_customer_id or customer
    intent.last_error = None
    intent.updated_at = utcnow()


async def note_intent_error(*, session: AsyncSession, intent_id: uuid.UUID, error: str) -> None:
    intent = await get_intent(session=session, id=intent_id)
    intent.last_error = error[:2000]
    intent.updated_at = utcnow()

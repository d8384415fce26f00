"""CPF deep links of offerings, and the queries on them (the writes are in
services/deep_links.py).

Every rule of spec 10 is a constraint here, so no writer can break it:
- the organization is one of the offering's: composite FK to offering_organizations
  (NO ACTION: removing such an organization from the offering is refused, while
  deleting the offering or the organization outright cascades);
- only credential offerings: `product_type` is copied under a composite FK to
  offerings (id, product_type) and checked to be 'credential';
- URL shape and length, global URL uniqueness, one link per (offering, organization).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    exists,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.catalog import ProductType
from domain.deep_links import (
    MAX_DEEP_LINK_LENGTH,
    choose_link,
)
from domain.errors import NotFound, error_class
from models.base import Base, TimestampMixin, new_id
from models.catalog import Offering, OfferingNotFound, get

DeepLinkNotFound = error_class(NotFound, "deep_link_not_found")


class OfferingDeepLink(TimestampMixin, Base):
    __tablename__ = "offering_deep_links"
    __table_args__ = (
        UniqueConstraint("offering_id", "organization_id"),
        ForeignKeyConstraint(
            ["offering_id", "organization_id"],
            ["offering_organizations.offering_id", "offering_organizations.organization_id"],
            name="fk_offering_deep_links_offering_organization",
        ),
        ForeignKeyConstraint(
            ["offering_id", "product_type"],
            ["offerings.id", "offerings.product_type"],
            name="fk_offering_deep_links_offering_product_type",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        CheckConstraint(f"product_type = '{ProductType.CREDENTIAL.value}'", name="credential"),
        CheckConstraint(
            "lower(substr(deep_link, 1, 7)) = 'http://' "
            "OR lower(substr(deep_link, 1, 8)) = 'https://'",
            name="http_url",
        ),
        CheckConstraint(
            f"length(deep_link) BETWEEN 1 AND {MAX_DEEP_LINK_LENGTH}", name="deep_link_length"
        ),
        # The hot read: the active links of one offering. Each predicate is
        # written as that dialect renders `WHERE is_active`, so its planner
        # matches the query to this partial index.
        Index(
            "ix_offering_deep_links_active",
            "offering_id",
            postgresql_where=text("is_active"),
            sqlite_where=text("is_active = 1"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    offering_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offerings.id", ondelete="CASCADE"))
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    product_type: Mapped[str] = mapped_column(String(20), default=ProductType.CREDENTIAL.value)
    deep_link: Mapped[str] = mapped_column(String(MAX_DEEP_LINK_LENGTH), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)


# --- reads -----------------------------------------------------------------


async def active_links_of(
    *, connection: AsyncConnection, offering_id: uuid.UUID
) -> tuple[str, ...] | None:
    """The offering's active links; None for an unknown offering.

    The hot read path: a single query, the offering's primary key outer-joined
    to its active links (partial index), so an unknown offering returns no row
    and a known one without active link returns one row with a NULL link."""
    query = (
        select(OfferingDeepLink.deep_link)
        .select_from(Offering)
        .outerjoin(
            OfferingDeepLink,
            (OfferingDeepLink.offering_id == Offering.id) & OfferingDeepLink.is_active,
        )
        .where(Offering.id == offering_id)
    )
    rows = (await connection.scalars(query)).all()
    if not rows:
        return None
    return tuple(link for link in rows if link is not None)


def having_links(*, has: bool) -> ColumnElement[bool]:
    """Offerings with at least one deep link (active or not), or with none."""
    linked = exists().where(OfferingDeepLink.offering_id == Offering.id)
    return linked if has else ~linked


def served_link(*, offering_id: uuid.UUID, active_links: tuple[str, ...] | None) -> str | None:
    """One of the offering's active links, at random; 404 for an unknown offering."""
    if active_links is None:
        raise OfferingNotFound(f"No offering with id {offering_id}.")
    return choose_link(active_links)


async def active_links_by_offering(
    *, session: AsyncSession, offering_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str | None]:
    """The served link of each offering of a page, in one query."""
    query = select(OfferingDeepLink.offering_id, OfferingDeepLink.deep_link).where(
        OfferingDeepLink.offering_id.in_(offering_ids), OfferingDeepLink.is_active
    )
    links: dict[uuid.UUID, list[str]] = {item: [] for item in offering_ids}
    for offering_id, deep_link in (await session.execute(query)).all():
        links[offering_id].append(deep_link)
    return {offering_id: choose_link(found) for offering_id, found in links.items()}


async def list_for_offering(
    *, session: AsyncSession, offering_id: uuid.UUID
) -> list[OfferingDeepLink]:
    await get(session=session, model=Offering, id=offering_id)
    query = (
        select(OfferingDeepLink)
        .where(OfferingDeepLink.offering_id == offering_id)
        .order_by(OfferingDeepLink.created_at, OfferingDeepLink.id)
    )
    return list((await session.scalars(query)).all())


async def get_link(
    *, session: AsyncSession, id: uuid.UUID, for_update: bool = False
) -> OfferingDeepLink:
    query = select(OfferingDeepLink).where(OfferingDeepLink.id == id)
    if for_update:
        query = query.with_for_update()
    found = (await session.scalars(query)).one_or_none()
    if found is None:
        raise DeepLinkNotFound(f"No deep link with id {id}.")
    return found

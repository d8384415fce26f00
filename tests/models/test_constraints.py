"""The deep-link rules hold in the database itself: writes that bypass the
repositories (raw SQL, another service) are refused by constraints."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, insert, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.catalog import ProductType
from models.catalog import Product, offering_organizations
from models.deep_links import OfferingDeepLink
from tests.factories import Factory


async def _refused(sessionmaker: async_sessionmaker[AsyncSession], statement: object) -> None:
    # PostgreSQL reports an over-long VARCHAR as a DataError, SQLite's CHECK as
    # an IntegrityError: either way the database refuses the row.
    with pytest.raises((IntegrityError, DataError)):
        async with sessionmaker.begin() as session:
            await session.execute(statement)  # type: ignore[arg-type]


def _link_row(offering_id: uuid.UUID, organization_id: uuid.UUID, **overrides: object) -> object:
    values = {
        "id": uuid.uuid4(),
        "offering_id": offering_id,
        "organization_id": organization_id,
        "product_type": ProductType.CREDENTIAL.value,
        "deep_link": f"https://example.org/{uuid.uuid4()}",
        "is_active": True,
    } | overrides
    return insert(OfferingDeepLink).values(**values)


async def test_raw_insert_of_a_valid_link_passes(sessionmaker, factory: Factory) -> None:
    org = await factory.organization()
    offering = await factory.offering(organizations=[org])
    async with sessionmaker.begin() as session:
        await session.execute(_link_row(offering.id, org.id))


async def test_organization_outside_the_offering_is_refused(sessionmaker, factory: Factory) -> None:
    org, stranger = await factory.organization(), await factory.organization()
    offering = await factory.offering(organizations=[org])
    await _refused(sessionmaker, _link_row(offering.id, stranger.id))


@pytest.mark.parametrize("product_type", [ProductType.CERTIFICATE, ProductType.ENROLLMENT])
async def test_non_credential_offering_is_refused(
    sessionmaker, factory: Factory, product_type: ProductType
) -> None:
    org = await factory.organization()
    offering = await factory.offering(product_type=product_type, organizations=[org])
    # Claiming the credential type is refused by the composite foreign key ...
    await _refused(sessionmaker, _link_row(offering.id, org.id))
    # ... and the offering's real type by the check constraint.
    await _refused(sessionmaker, _link_row(offering.id, org.id, product_type=product_type.value))


async def test_changing_a_linked_product_type_is_refused(sessionmaker, factory: Factory) -> None:
    org = await factory.organization()
    offering = await factory.offering(organizations=[org])
    await factory.deep_link(offering=offering, organization=org)
    await _refused(
        sessionmaker,
        update(Product).where(Product.id == offering.product_id).values(type="certificate"),
    )


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/x", "example.org/x", "", "https://example.org/" + "x" * 381],
)
async def test_url_shape_is_checked(sessionmaker, factory: Factory, url: str) -> None:
    org = await factory.organization()
    offering = await factory.offering(organizations=[org])
    await _refused(sessionmaker, _link_row(offering.id, org.id, deep_link=url))


async def test_uniqueness(sessionmaker, factory: Factory) -> None:
    first, second = await factory.organization(), await factory.organization()
    offering = await factory.offering(organizations=[first, second])
    link = await factory.deep_link(offering=offering, organization=first)
    await _refused(sessionmaker, _link_row(offering.id, first.id))
    await _refused(sessionmaker, _link_row(offering.id, second.id, deep_link=link.deep_link))


async def test_removing_the_linked_organization_from_the_offering_is_refused(
    sessionmaker, factory: Factory
) -> None:
    org = await factory.organization()
    offering = await factory.offering(organizations=[org])
    await factory.deep_link(offering=offering, organization=org, is_active=False)
    await _refused(
        sessionmaker,
        delete(offering_organizations).where(
            offering_organizations.c.offering_id == offering.id,
            offering_organizations.c.organization_id == org.id,
        ),
    )


def test_the_sqlite_file_is_private(tmp_path) -> None:
    """Learners' names and addresses live in it: 0600, also when it existed."""
    import os
    import stat

    from models.session import create_engine

    fresh = tmp_path / "fresh" / "guichet.db"
    create_engine(f"sqlite+aiosqlite:///{fresh}")
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o600
    older = tmp_path / "older.db"
    older.touch(mode=0o644)
    os.chmod(older, 0o644)
    create_engine(f"sqlite+aiosqlite:///{older}")
    assert stat.S_IMODE(os.stat(older).st_mode) == 0o600

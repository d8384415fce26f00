"""A campaign's limit per member holds when one member's activations race:
the second waits for the first on the member's cart, then counts it
(PostgreSQL row locks; SQLite has one writer at a time anyway)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select, text

from domain.promo_codes import ActivationRefusal, CampaignStatus
from models import carts, promo_codes, users
from models.base import utcnow
from models.promo_codes import PromoCode
from services import carts as cart_services
from tests.factories import Factory

MEMBER = "racing-member"


async def _waiting_on_a_lock(engine) -> bool:
    async with engine.connect() as connection:
        waiting = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


async def test_a_members_second_activation_waits_for_the_first_then_counts_it(
    engine, sessionmaker, factory: Factory, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite runs one writer at a time")
    campaign = await factory.campaign(
        name="Un code chacun",
        count=2,
        client_code="RACE",
        status=CampaignStatus.READY.value,
        max_codes_per_member=1,
    )
    async with sessionmaker.begin() as session:
        await promo_codes.fill_batch(session=session, campaign_id=campaign.id, batch_size=2)
        await users.upsert_from_claims(session=session, id=MEMBER, email="", name="")
        cart = await carts.open_cart(session=session, owner_id=MEMBER)
    async with sessionmaker() as session:
        found = await session.scalars(
            select(PromoCode.code)
            .where(PromoCode.campaign_id == campaign.id)
            .order_by(PromoCode.id)
        )
        first_code, second_code = found.all()

    async with engine.connect() as first:
        transaction = await first.begin()
        taken = await carts.add_promo_code(
            connection=first, cart_id=cart.id, member_id=MEMBER, code=first_code, now=utcnow()
        )
        assert taken
        second = asyncio.create_task(
            cart_services.activate_code(
                engine=engine, cart_id=str(cart.id), member_id=MEMBER, meant=[second_code]
            )
        )
        # Until the second is blocked behind the first (or, were the cart
        # not locked, already done): then the first commits.
        deadline = time.monotonic() + 30
        while not second.done() and not await _waiting_on_a_lock(engine):
            assert time.monotonic() < deadline, "the second activation neither waited nor ended"
            await asyncio.sleep(0.05)
        await transaction.commit()
    assert await second == ActivationRefusal.LIMIT
    async with sessionmaker() as session:
        held = await session.scalar(
            select(func.count()).select_from(PromoCode).where(PromoCode.used_by == MEMBER)
        )
    assert held == 1

"""Promo-code storage: generation that tops a campaign up exactly once
whatever runs it concurrently, and the CSV both databases write alike."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from models import promo_codes
from models.promo_codes import Campaign, PromoCode
from models.users import User
from tests.factories import Factory


async def _fill(sessionmaker, campaign: Campaign, batch: int) -> None:
    while True:
        async with sessionmaker.begin() as session:
            progress = await promo_codes.fill_batch(
                session=session, campaign_id=campaign.id, batch_size=batch
            )
        if progress.generated >= progress.target:
            return


async def test_concurrent_generations_fill_a_campaign_exactly_once(
    sessionmaker, factory: Factory
) -> None:
    """A retried activity racing the first attempt (a worker thought dead)."""
    campaign = await factory.campaign(name="Test", count=1000)
    await asyncio.gather(*(_fill(sessionmaker, campaign, 70) for _ in range(3)))
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(PromoCode).where(PromoCode.campaign_id == campaign.id)
        )
        stored = await session.get(Campaign, campaign.id)
    assert count == stored.generated_count == 1000


async def test_the_csv_quotes_as_the_csv_module_reads(
    sessionmaker, factory: Factory, engine
) -> None:
    campaign = await factory.campaign(name='Salon, "Paris"', count=3)
    await _fill(sessionmaker, campaign, 10)
    odd = 'o"hara, jr@example.org'
    async with sessionmaker.begin() as session:
        session.add(User(id="odd", email=odd))
        await session.flush()
        first = await session.scalar(select(PromoCode.code).order_by(PromoCode.id).limit(1))
        when = datetime(2026, 11, 21, 9, 30, 5, tzinfo=UTC)
        await session.execute(
            update(PromoCode)
            .where(PromoCode.code == first)
            .values(used_by="odd", activated_at=when)
        )
    async with engine.connect() as connection:
        content = b"".join(
            [
                chunk
                async for chunk in promo_codes.export_csv(connection=connection, campaign=campaign)
            ]
        )
    header, used, *free = list(csv.reader(io.StringIO(content.decode())))
    assert header == ["campaign", "code", "contact_email", "activated_at"]
    assert used == ['Salon, "Paris"', first, odd, "2026-11-21T09:30:05Z"]
    assert [row[2:] for row in free] == [["", ""], ["", ""]]
    assert content.count(b"\n") == 4


async def test_the_csv_writes_formulas_as_text(sessionmaker, factory: Factory, engine) -> None:
    """A campaign name or a member's email a spreadsheet would run (CSV
    injection) is written with a leading quote, on both databases' paths."""
    campaign = await factory.campaign(name="=HYPERLINK(1)", count=2)
    await _fill(sessionmaker, campaign, 10)
    async with sessionmaker.begin() as session:
        session.add(User(id="formula", email="@SUM(1)@example.org"))
        await session.flush()
        first = await session.scalar(select(PromoCode.code).order_by(PromoCode.id).limit(1))
        await session.execute(
            update(PromoCode)
            .where(PromoCode.code == first)
            .values(used_by="formula", activated_at=datetime(2026, 12, 2, tzinfo=UTC))
        )
    async with engine.connect() as connection:
        content = b"".join(
            [
                chunk
                async for chunk in promo_codes.export_csv(connection=connection, campaign=campaign)
            ]
        )
    _header, used, free = list(csv.reader(io.StringIO(content.decode())))
    assert used[:3] == ["'=HYPERLINK(1)", first, "'@SUM(1)@example.org"]
    assert free[0] == "'=HYPERLINK(1)" and free[2] == ""

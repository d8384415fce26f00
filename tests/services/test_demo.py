"""The demo catalogue obeys every rule and is only written into an empty database."""

from __future__ import annotations

from sqlalchemy import func, select

from models.catalog import Offering
from models.deep_links import OfferingDeepLink
from services.demo import seed_demo


async def test_demo_seed_once(sessionmaker) -> None:
    async with sessionmaker.begin() as session:
        assert await seed_demo(session) is True
    async with sessionmaker.begin() as session:
        assert await seed_demo(session) is False
        offerings = await session.scalar(select(func.count()).select_from(Offering))
        active = await session.scalar(
            select(func.count()).where(OfferingDeepLink.is_active.is_(True))
        )
    assert offerings == 4
    assert active == 2

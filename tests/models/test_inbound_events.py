"""Webhook events are stored once per (source, event id)."""

from __future__ import annotations

from models.inbound_events import store_once


async def test_an_event_is_new_once(sessionmaker) -> None:
    for expected in (True, False, False):
        async with sessionmaker.begin() as session:
            stored = await store_once(
                session=session, source="signature:dummy", event_id="evt-1", payload={"a": 1}
            )
        assert stored is expected
    async with sessionmaker.begin() as session:
        assert await store_once(session=session, source="stripe", event_id="evt-1", payload={})

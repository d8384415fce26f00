"""The public reads' cache: fresh for its TTL, one load for concurrent misses,
never a value read before a write once that write has cleared it."""

from __future__ import annotations

import asyncio

import pytest

from api.cache import ReadCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Source:
    """What the database would answer, counting the reads."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.reads = 0
        self.gate: asyncio.Event | None = None

    async def load(self) -> str:
        self.reads += 1
        seen = self.value
        if self.gate is not None:
            await self.gate.wait()
        return seen


async def test_a_value_is_served_for_its_ttl_then_read_again() -> None:
    clock, source = Clock(), Source("a")
    cache = ReadCache(2.0, clock=clock)
    assert await cache.get_or_load("k", source.load) == "a"
    source.value = "b"
    clock.now += 1.9
    assert await cache.get_or_load("k", source.load) == "a"
    clock.now += 0.2
    assert await cache.get_or_load("k", source.load) == "b"
    assert source.reads == 2


async def test_a_zero_ttl_reads_every_time() -> None:
    source = Source("a")
    cache = ReadCache(0)
    for _ in range(3):
        await cache.get_or_load("k", source.load)
    assert source.reads == 3


async def test_concurrent_misses_share_one_load() -> None:
    source = Source("a")
    source.gate = asyncio.Event()
    cache = ReadCache(2.0)
    waiting = [asyncio.create_task(cache.get_or_load("k", source.load)) for _ in range(64)]
    await asyncio.sleep(0)
    source.gate.set()
    assert await asyncio.gather(*waiting) == ["a"] * 64
    assert source.reads == 1


async def test_a_load_begun_before_a_clear_is_not_kept_nor_joined() -> None:
    source = Source("before")
    source.gate = asyncio.Event()
    cache = ReadCache(60.0)
    early = asyncio.create_task(cache.get_or_load("k", source.load))
    await asyncio.sleep(0)
    source.value = "after"  # a write commits, then empties the cache
    cache.clear()
    source.gate.set()
    assert await early == "before"  # that request began before the write
    assert await cache.get_or_load("k", source.load) == "after"
    assert source.reads == 2


async def test_a_failed_load_is_not_cached() -> None:
    cache = ReadCache(60.0)
    calls = 0

    async def failing() -> str:
        nonlocal calls
        calls += 1
        raise ConnectionError("database away")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            await cache.get_or_load("k", failing)
    assert calls == 2
    assert await cache.get_or_load("k", Source("back").load) == "back"


async def test_peek_sees_only_what_is_fresh_and_never_loads() -> None:
    clock = Clock()
    cache = ReadCache(2.0, clock=clock)
    assert cache.peek("k") == (False, None)
    cache.put("k", None)  # None is a value: an offering without links
    assert cache.peek("k") == (True, None)
    clock.now += 2.1
    assert cache.peek("k") == (False, None)
    cache.put("k", "a")
    cache.clear()
    assert cache.peek("k") == (False, None)
    off = ReadCache(0)
    off.put("k", "a")
    assert off.peek("k") == (False, None)

"""A short-lived, per-process cache of the public reads learners' pages hit
hardest (a deep link, the academy catalogue).

Those answers change only when an admin edits a link or the catalogue sync
runs, yet each page view asked the database: one query per request made the
read path several times slower than the framework alone (bench/read_api.py).
Entries live `GUICHET_READ_CACHE_SECONDS` (0 turns the cache off). A change
made through an admin route empties the cache of this process once
committed, and on PostgreSQL of every other API process too, within moments
(models/cache_notices.py: LISTEN/NOTIFY, also sent by the worker's catalogue
sync); a change made otherwise (a script) shows within the TTL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any

from fastapi import Request

# Enough for every offering of a large catalogue; a flood of unknown ids
# (each a cached 404) empties the cache instead of growing it.
MAX_ENTRIES = 50_000


class ReadCache:
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._loading: dict[Hashable, asyncio.Future[Any]] = {}
        # Bumped by clear(): a load begun before a write must not store what
        # it read once the write has emptied the cache.
        self._generation = 0

    async def get_or_load(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        """The cached value, or `load()`'s, kept for the TTL. Requests that
        miss together share one load (64 clients expiring at once were 64
        queries and a p99 spike). An exception from `load` is not cached."""
        if self.ttl <= 0:
            return await load()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        generation = self._generation
        try:
            value = await load()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        else:
            future.set_result(value)
            if generation == self._generation:
                self._store(key, value)
            return value
        finally:
            if self._loading.get(key) is future:
                del self._loading[key]

    def peek(self, key: Hashable) -> tuple[bool, Any]:
        """(True, the cached value) while fresh, else (False, None); never
        loads (api/hot_reads.py answers from it before any routing)."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return False, None
        return True, entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        """Keep `value` for the TTL (nothing when the cache is off)."""
        if self.ttl > 0:
            self._store(key, value)

    def _store(self, key: Hashable, value: Any) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (self._clock() + self.ttl, value)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._loading.clear()  # later requests load afresh, not join a read begun before


async def cleared_after_writes(request: Request) -> AsyncIterator[None]:
    """Router dependency of admin routes: once a write's response is out
    (its transaction committed), this process serves no stale read."""
    yield
    if request.method not in {"GET", "HEAD", "OPTIONS"}:
        request.app.state.read_cache.clear()
        # And every other API process (PostgreSQL LISTEN/NOTIFY).
        await request.app.state.announce_cache_clear()

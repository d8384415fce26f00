"""Request rate limits (library `limits`), counted in memory (one process)
or in Redis (`GUICHET_RATELIMIT_STORAGE_URL=redis://…`, shared by replicas)."""

from __future__ import annotations

import functools
import math
import time

from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from domain.errors import RateLimited


@functools.lru_cache(maxsize=64)
def _parsed(limit: str) -> RateLimitItem:
    """A limit string, parsed once (a handful of them, checked on hot routes)."""
    return parse(limit)


def _async_storage_url(url: str) -> str:
    """`memory://` and `redis://…` as settings say them, in limits' async terms."""
    return url if url.startswith("async+") else f"async+{url}"


class RateLimiter:
    """A sliding window approximated from two fixed counters: constant time and
    memory per key whatever the limit (a moving window keeps one timestamp per
    hit, which at 300/minute per address costs more than the request)."""

    def __init__(self, storage_url: str) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(
            storage_from_string(_async_storage_url(storage_url))
        )

    async def check(self, *, limit: str, scope: str, key: str) -> None:
        """Count one hit of `key` in `scope`; RateLimited (429) over `limit`."""
        item = _parsed(limit)
        if await self._limiter.hit(item, scope, key):
            return
        stats = await self._limiter.get_window_stats(item, scope, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(f"Too many requests; retry in {retry_after} s.", retry_after=retry_after)

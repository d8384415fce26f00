"""Request rate limits, counted in memory (one process) or in Redis
(`GUICHET_RATELIMIT_STORAGE_URL=redis://…`, shared by replicas).

Both count a sliding window approximated from two fixed counters: constant
time and memory per key whatever the limit (a moving window keeps one
timestamp per hit, which at 300/minute per address costs more than the
request). Redis goes through the `limits` library; in memory, the same
arithmetic is done here on a plain dict, without the library's async
storage layer and its string keys: the throttle was an eighth of a cached
catalogue read (BENCHMARKS.md, read_api)."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from domain.errors import RateLimited

# Stale windows are swept every so many hits: memory stays bounded by the
# addresses seen in the last two windows.
SWEEP_EVERY = 10_000


@functools.lru_cache(maxsize=64)
def _parsed(limit: str) -> RateLimitItem:
    """A limit string, parsed once (a handful of them, checked on hot routes)."""
    return parse(limit)


def _async_storage_url(url: str) -> str:
    """`redis://…` as settings say it, in limits' async terms."""
    return url if url.startswith("async+") else f"async+{url}"


def _refused(seconds: int) -> RateLimited:
    seconds = max(1, seconds)
    return RateLimited(f"Too many requests; retry in {seconds} s.", retry_after=seconds)


class RateLimiter:
    def __init__(self, storage_url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._local = _LocalWindows(clock) if storage_url.startswith("memory://") else None
        self._shared = (
            None
            if self._local
            else SlidingWindowCounterRateLimiter(
                storage_from_string(_async_storage_url(storage_url))
            )
        )

    async def check(self, *, limit: str, scope: str, key: str) -> None:
        """Count one hit of `key` in `scope`; RateLimited (429) over `limit`."""
        item = _parsed(limit)
        if self._local is not None:
            self._local.hit(item, scope, key)
            return
        assert self._shared is not None
        if await self._shared.hit(item, scope, key):
            return
        stats = await self._shared.get_window_stats(item, scope, key)
        raise _refused(math.ceil(stats.reset_time - time.time()))


@dataclass
class _Window:
    index: int  # which fixed window `current` counts
    previous: int
    current: int


class _LocalWindows:
    """The sliding-window counter of one process: the hits of the current
    fixed window, plus those of the previous one weighted by how much of it
    the sliding window still covers."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        # (window length in seconds, limit, scope, key): its counters.
        self._windows: dict[tuple[int, int, str, str], _Window] = {}
        self._hits = 0

    def hit(self, item: RateLimitItem, scope: str, key: str) -> None:
        length = item.get_expiry()
        now = self._clock()
        index, elapsed = divmod(now, length)
        window = self._current((length, item.amount, scope, key), int(index))
        covered = 1 - elapsed / length
        weighted = window.previous * covered + window.current
        if math.floor(weighted) + 1 > item.amount:
            # The next whole second strictly after: at the very moment the
            # weighted count is still at the limit (a microsecond absorbs
            # the float rounding of that moment).
            raise _refused(math.floor(self._wait(item, window, elapsed, length) + 1e-6) + 1)
        window.current += 1
        self._hits += 1
        if self._hits % SWEEP_EVERY == 0:
            self._sweep(now)

    def _current(self, name: tuple[int, int, str, str], index: int) -> _Window:
        window = self._windows.get(name)
        if window is None:
            window = self._windows[name] = _Window(index, 0, 0)
        elif window.index != index:
            # Slid on: what was current is the previous window, or nothing
            # if more than one window went by without a hit.
            window.previous = window.current if window.index == index - 1 else 0
            window.current, window.index = 0, index
        return window

    @staticmethod
    def _wait(item: RateLimitItem, window: _Window, elapsed: float, length: int) -> float:
        """Seconds until one more hit fits: until the previous window's
        weight falls under what the current one leaves, or, the current one
        being full, until it ends."""
        room = item.amount - window.current
        if room <= 0 or window.previous == 0:
            return length - elapsed
        return (1 - room / window.previous) * length - elapsed

    def _sweep(self, now: float) -> None:
        """Forget keys without a hit in their last two windows."""
        stale = [
            name for name, window in self._windows.items() if window.index < now // name[0] - 1
        ]
        for name in stale:
            del self._windows[name]

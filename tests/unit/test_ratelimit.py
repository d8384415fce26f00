"""The in-process rate limit (GUICHET_RATELIMIT_STORAGE_URL=memory://): a
sliding window approximated from two fixed windows, as `limits` counts it in
Redis; a refusal says when to come back, and that is true; keys no longer
seen are forgotten."""

from __future__ import annotations

import pytest

from api import ratelimit
from api.ratelimit import RateLimiter
from domain.errors import RateLimited


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _allowed(limiter: RateLimiter, limit: str, key: str = "203.0.113.9") -> bool:
    try:
        await limiter.check(limit=limit, scope="test", key=key)
    except RateLimited:
        return False
    return True


async def test_the_limit_holds_within_a_window_and_per_key() -> None:
    clock = Clock(600.0)  # the start of a minute
    limiter = RateLimiter("memory://", clock=clock)
    assert [await _allowed(limiter, "3/minute") for _ in range(4)] == [True] * 3 + [False]
    assert await _allowed(limiter, "3/minute", key="198.51.100.7")
    clock.now += 20
    with pytest.raises(RateLimited) as refused:
        await limiter.check(limit="3/minute", scope="test", key="203.0.113.9")
    # The current window is full: it ends 40 s later, when its 3 hits still
    # weigh 3; a second after, they weigh less.
    assert refused.value.retry_after == 41
    assert refused.value.status == 429 and refused.value.code == "rate_limited"


async def test_the_previous_window_weighs_as_much_as_the_sliding_window_still_covers() -> None:
    clock = Clock(600.0)
    limiter = RateLimiter("memory://", clock=clock)
    for _ in range(3):
        assert await _allowed(limiter, "3/minute")
    clock.now = 660.0  # the next minute starts: the three still count whole
    assert not await _allowed(limiter, "3/minute")
    clock.now = 690.0  # half of it: they count 1.5
    assert [await _allowed(limiter, "3/minute") for _ in range(3)] == [True, True, False]


async def test_a_refusal_says_when_the_next_hit_fits() -> None:
    clock = Clock(600.0)
    limiter = RateLimiter("memory://", clock=clock)
    for _ in range(10):
        assert await _allowed(limiter, "10/minute")
    clock.now = 660.0 + 1  # next minute: 10 * 59/60 weighted, and one more fits
    assert await _allowed(limiter, "10/minute")
    with pytest.raises(RateLimited) as refused:
        await limiter.check(limit="10/minute", scope="test", key="203.0.113.9")
    wait = refused.value.retry_after
    assert wait == 6  # 10 * 0.9 + 1 is still 10 at 666 s: one second later it is not
    clock.now += wait - 1
    assert not await _allowed(limiter, "10/minute")
    clock.now += 1
    assert await _allowed(limiter, "10/minute")


async def test_keys_without_a_hit_in_two_windows_are_forgotten(monkeypatch) -> None:
    monkeypatch.setattr(ratelimit, "SWEEP_EVERY", 5)
    clock = Clock(600.0)
    limiter = RateLimiter("memory://", clock=clock)
    for number in range(4):
        assert await _allowed(limiter, "3/minute", key=f"192.0.2.{number}")
    clock.now = 600.0 + 120  # two minutes later
    assert await _allowed(limiter, "3/minute", key="192.0.2.200")  # the fifth hit sweeps
    assert limiter._local is not None and len(limiter._local._windows) == 1

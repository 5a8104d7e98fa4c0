"""How fast a background stream may send requests to a platform that rate-limits (429 + Retry-After).

The rate adapts like TCP congestion control: it doubles every second of successes until the first 429
(slow start), then grows by `step` requests/s for every second of successes (additive increase) and is
cut on a 429 (multiplicative decrease). A 429 also pauses every request until its `Retry-After` has
passed. Requests already in flight when the rate was cut count as one signal, not one cut each, so a
burst of 429s from one overshoot does not collapse the rate.

The cut is taken from the rate actually sent in the second before the 429 (the allowed rate may have
grown past what a busy event loop sent), to `DECREASE` of it and never below half the allowed rate; near
the rate that last overshot, growth slows to `probe_step` (a platform's limit is a plateau, probed
gently, rather than a sawtooth of halvings: each 429 costs a whole Retry-After of silence). The clock
and sleep are injectable: tests run on virtual time.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

CATCH_UP = 0.1
"""Seconds of slots a late waiter may still use at once: a busy event loop wakes sleepers late, and
without catching up the rate would be capped by how often the loop turns."""
DECREASE = 0.8
"""On a new overshoot the rate drops to this share of what was sent in the last second."""
PROBE_FROM = 0.95
"""Share of the last overshoot's rate from which the rate grows by `probe_step` instead of `step`."""


class RequestBudget:
    def __init__(
        self,
        *,
        rate: float = 50.0,
        min_rate: float = 0.5,
        max_rate: float = 1000.0,
        step: float = 10.0,
        probe_step: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.rate = rate
        """Requests per second allowed now."""
        self.min_rate = min_rate
        self.max_rate = max_rate
        self.step = step
        self.probe_step = probe_step
        self.slow_start = True
        self.ceiling: float | None = None
        """Requests/s sent in the second before the last cut: where the platform's limit was met."""
        self._clock = clock
        self._sleep = sleep
        self._next_slot = clock()
        self._paused_until = 0.0
        self._sent = 0
        self._cut_at = -1
        """Sequence number of the first request sent after the last cut."""
        self._recent: deque[float] = deque()
        """When each request of the last second was sent."""
        self._lock = asyncio.Lock()
        self._throttled = False
        """Some request had to wait for its slot since the last growth."""
        self.rate_limited_count = 0

    async def acquire(self) -> int:
        """Wait for this request's slot; returns its sequence number (pass it to `rate_limited`).

        Waiters queue on a lock, so only the first one sleeps towards the next slot, computed from
        the rate and pause as they are when it gets there (no herd of waiters racing for one slot).
        Slots follow each other at 1/rate from the previous one, so waiters woken late by a busy loop
        catch up on up to `CATCH_UP` seconds of them at once."""
        async with self._lock:
            while True:
                now = self._clock()
                slot = max(self._next_slot, now - CATCH_UP, self._paused_until)
                if slot <= now:
                    self._next_slot = slot + 1 / self.rate
                    self._sent += 1
                    self._recent.append(now)
                    self._sent_last_second(now)  # keeps the deque at one second of requests
                    return self._sent
                self._throttled = True
                await self._sleep(slot - now)

    def succeeded(self) -> None:
        """One request answered: grow the rate, but only while the rate is what holds requests back
        (a rate nobody uses would grow without bound and then overshoot all at once)."""
        if not self._throttled:
            return
        self._throttled = False
        if self.slow_start:
            self.rate = min(self.max_rate, self.rate + 1)
            return
        probing = self.ceiling is not None and self.rate >= PROBE_FROM * self.ceiling
        self.rate = min(self.max_rate, self.rate + (self.probe_step if probing else self.step) / self.rate)

    def rate_limited(self, sequence: int, retry_after: float | None) -> None:
        """A 429 for request `sequence`: pause until Retry-After, and cut the rate once per overshoot."""
        self.rate_limited_count += 1
        now = self._clock()
        self._paused_until = max(self._paused_until, now + (retry_after if retry_after else 1 / self.rate))
        if sequence <= self._cut_at:
            return  # sent before the last cut took effect: the same overshoot
        self.slow_start = False
        self.ceiling = min(self.rate, self._sent_last_second(now))
        self.rate = max(self.min_rate, self.rate / 2, DECREASE * self.ceiling)
        self._cut_at = self._sent

    def _sent_last_second(self, now: float) -> int:
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        return len(self._recent)

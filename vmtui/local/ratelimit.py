"""Token-bucket rate limiting per client, for the local API server."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Each client gets a bucket of `burst` tokens refilled at `rate` per second; a request
    takes one token. Without a token the caller learns how long to wait (for `Retry-After`).

    Buckets are kept for at most `max_clients` clients (least recently seen dropped first), so
    a flood of distinct client addresses cannot grow memory without bound.
    """

    def __init__(
        self,
        rate: float = 50.0,
        burst: int = 100,
        *,
        max_clients: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ):
        if rate <= 0 or burst < 1:
            raise ValueError("rate limit needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, client: str) -> float | None:
        """Take a token for `client`. Returns None when allowed, else seconds until one is free."""
        now = self._clock()
        bucket = self._buckets.pop(client, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets[client] = bucket
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate

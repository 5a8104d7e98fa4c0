"""Live state for one profile: fetch the fleet on an adaptive interval and hand it on.

One `Poller` per profile, so a slow or broken platform never delays another. The interval is
fast while a VM is booting or an action is in flight, slow when all is quiet, and backs off
exponentially (with jitter) while the API fails. Fetches never overlap: `run()` sleeps only
after a fetch finished, and `tick()` serialises on a lock. Tests drive `tick()` directly and
inject the clocks, so they never sleep.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vmtui.core.errors import ProviderError, Unavailable, Unsupported
from vmtui.core.models import Fleet
from vmtui.providers.base import Provider


@dataclass(frozen=True)
class PollResult:
    """What one poll produced: the newest good fleet (possibly old) and the current error, if any."""

    provider: str
    fleet: Fleet | None
    error: ProviderError | None = None
    failures: int = 0

    @property
    def stale(self) -> bool:
        return self.error is not None

    def age(self, now: float) -> float | None:
        """Seconds since the shown data was fetched (wall clock), or None before the first success."""
        return None if self.fleet is None else max(0.0, now - self.fleet.fetched_at)


class Poller:
    def __init__(
        self,
        provider: Provider,
        on_result: Callable[[PollResult], object],
        *,
        fast: float = 0.5,
        slow: float = 4.0,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
        busy: Callable[[], bool] = lambda: False,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rng: Callable[[], float] = random.random,
    ):
        self.provider = provider
        self.on_result = on_result
        self.fast = fast
        self.slow = slow
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.busy = busy
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self.last: PollResult = PollResult(provider.name, None)
        self.ticks = 0

    @property
    def name(self) -> str:
        return self.provider.name

    def next_interval(self) -> float:
        """Seconds to wait before the next fetch, from the state the last fetch left."""
        if self.last.failures:
            base = min(self.max_backoff, max(self.fast, 1.0) * 2.0 ** (self.last.failures - 1))
            return base * (0.75 + 0.5 * self._rng())
        fleet = self.last.fleet
        transitional = fleet is not None and any(vm.state.is_transitional for vm in fleet.vms)
        return self.fast if transitional or self.busy() else self.slow

    async def tick(self) -> PollResult:
        """Fetch once (waiting for a fetch already running) and deliver the result to the callback."""
        async with self._lock:
            self.ticks += 1
            try:
                fleet = await asyncio.wait_for(self._fetch(), self.timeout)
            except TimeoutError:
                result = self._failed(Unavailable(f"{self.name}: no answer within {self.timeout:g}s"))
            except ProviderError as exc:
                result = self._failed(exc)
            except Exception as exc:  # noqa: BLE001 - a provider bug must not kill live updates; show it instead
                result = self._failed(ProviderError(f"{type(exc).__name__}: {exc}"))
            else:
                result = PollResult(self.name, fleet)
            self.last = result
        self.on_result(result)
        return result

    def wake(self) -> None:
        """Cut the current wait short (refresh now, or an action just started)."""
        self._wake.set()

    async def run(self) -> None:
        """Poll until cancelled. Never raises on provider errors: they become stale results."""
        while True:
            self._wake.clear()  # a wake() during the fetch below still shortens the following wait
            await self.tick()
            await self._wait(self.next_interval())

    async def _wait(self, seconds: float) -> None:
        if self._sleep is not None:
            await self._sleep(seconds)
            return
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    def _failed(self, error: ProviderError) -> PollResult:
        return PollResult(self.name, self.last.fleet, error, self.last.failures + 1)

    async def _fetch(self) -> Fleet:
        # Vers lists VMs without their parent links; its lineage-aware listing fills them in (cached).
        list_vms = getattr(self.provider, "list_vms_with_lineage", self.provider.list_vms)
        vms = await list_vms()
        try:
            commits = await self.provider.list_commits()
        except Unsupported:
            commits = []
        return Fleet(
            provider=self.name, vms=tuple(vms), commits=tuple(commits), fetched_at=self._wall_clock()
        )

"""Lineage enrichment: a budgeted background stream of per-VM metadata requests that never holds the list.

The poller hands every listed fleet to `apply`, which returns it at once with the lineage known so far
merged in, and queues the VMs still missing it. `run` fetches them, one `GET /vm/{id}/metadata` each:
the ids named by `prioritize` first (the UI passes the selection, then the visible rows; it may change
them at any time), then the rest in list order; at most `concurrency` at a time, paced by a
`RequestBudget` that backs off on 429 and honours Retry-After. New lineage is announced through
`on_change` at most every `publish_interval` seconds (longer for big fleets), and saved to the profile's `LineageCache`, so the
next start begins with everything already known.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from vmtui.core.errors import NotFound, RateLimited
from vmtui.core.models import Vm, replaced_in_place
from vmtui.providers.base import Provider
from vmtui.providers.vers import VersProvider
from vmtui.services.lineage_cache import Lineage, LineageCache
from vmtui.services.request_budget import RequestBudget

MetadataFetch = Callable[[str], Awaitable[Vm]]
"""One metadata request for one VM id, without retries (a 429 raises `RateLimited`)."""

PUBLISH_ROWS_PER_SECOND = 1_000
"""New lineage is announced at most every listed/this seconds (10 s at 10,000 VMs): each announcement
re-diffs the whole table and rebuilds the tree, a cost that grows with the fleet, so the share of a
core it takes stays the same at any size."""
MAX_ATTEMPTS = 3
"""A VM whose metadata failed this often (other than 429) is not asked again this session."""


class LineageEnrichment:
    def __init__(
        self,
        fetch: MetadataFetch,
        *,
        cache: LineageCache | None = None,
        budget: RequestBudget | None = None,
        concurrency: int = 32,
        publish_interval: float = 0.5,
        save_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        listed: Callable[[str], bool] = lambda vm_id: False,
    ):
        self.fetch = fetch
        self.listed = listed
        """Whether the list itself gave a VM's lineage: such a VM is never fetched."""
        self.cache = cache
        self.budget = budget or RequestBudget(clock=clock)
        self.concurrency = concurrency
        self.publish_interval = publish_interval
        self.save_interval = save_interval
        self.on_change: Callable[[], None] = lambda: None
        self._clock = clock
        self.known: dict[str, Lineage] = cache.load() if cache is not None else {}
        self.requests = 0
        self._listed: set[str] = set()
        self._done_ids: set[str] = set()
        """Listed VMs whose lineage is known (or came with the list)."""
        self._queue: deque[str] = deque()
        self._urgent: list[str] = []
        self._pending: set[str] = set()
        self._in_flight: set[str] = set()
        self._waiting = 0
        """Requests started but still waiting for their slot (they pick their VM when it comes)."""
        self._failures: dict[str, int] = {}
        self._work = asyncio.Event()
        self._version = 0
        self._merged: dict[str, tuple[Vm, Lineage, Vm]] = {}
        self._last: tuple[list[Vm], int, list[Vm]] | None = None
        self._publish_handle: asyncio.TimerHandle | None = None
        self._last_publish = float("-inf")
        self._last_save = clock()
        self._saved_version = 0

    @classmethod
    def for_provider(cls, provider: Provider) -> LineageEnrichment | None:
        """The stream for a Vers-API profile (its list lacks lineage), cached per profile and API URL;
        None for platforms whose list is complete."""
        if not isinstance(provider, VersProvider):
            return None
        cache = LineageCache.for_profile(provider.name, provider.http.base_url)
        return cls(
            lambda vm_id: provider.metadata(vm_id, retries=0), cache=cache, listed=provider.listed_lineage
        )

    @property
    def progress(self) -> tuple[int, int]:
        """(listed VMs whose lineage is known, listed VMs)."""
        return len(self._done_ids), len(self._listed)

    @property
    def complete(self) -> bool:
        return not self._pending and not self._in_flight

    def apply(self, vms: list[Vm]) -> list[Vm]:
        """`vms` with known lineage merged in; queues the rest. The same list and no new lineage since
        the last call give the previous result object back (so callers can skip unchanged work); a list
        of the same VMs in the same order with some replaced (a poll where a few changed) costs those few
        and one identity comparison of the rest, and reuses every unchanged VM's merged record."""
        last = self._last
        if last is not None and last[1] == self._version:
            out = last[2] if last[0] is vms else self._apply_replaced(last[0], last[2], vms)
            if out is not None:
                self._last = (vms, self._version, out)
                return out
        listed = {vm.id for vm in vms}
        self._listed, self._done_ids = listed, set()
        for vm_id in self._merged.keys() - listed:
            del self._merged[vm_id]
        out = [self._merge(vm) for vm in vms]
        self._pending &= listed
        self._last = (vms, self._version, out)
        if self._pending:
            self._work.set()
        return out

    def _apply_replaced(self, before: list[Vm], merged_before: list[Vm], vms: list[Vm]) -> list[Vm] | None:
        """`apply` for `vms` that differ from `before` only by VMs replaced in place (`replaced_in_place`);
        None otherwise."""
        replaced = replaced_in_place(before, vms)
        if replaced is None:
            return None
        out = list(merged_before)
        for index in replaced:
            out[index] = self._merge(vms[index])
        if self._pending:
            self._work.set()
        return out

    def _merge(self, vm: Vm) -> Vm:
        """`vm` with its known lineage (its merged record reused while neither changed), or `vm` itself,
        queued for a request, when its lineage is not known yet."""
        vm_id = vm.id
        lineage = self.known.get(vm_id)
        if lineage is None:
            if self.listed(vm_id):
                self._pending.discard(vm_id)
                self._done_ids.add(vm_id)
                return vm
            self._done_ids.discard(vm_id)
            if (
                vm_id not in self._pending
                and vm_id not in self._in_flight
                and self._failures.get(vm_id, 0) < MAX_ATTEMPTS
            ):
                self._pending.add(vm_id)
                self._queue.append(vm_id)
            return vm
        self._done_ids.add(vm_id)
        memo = self._merged.get(vm_id)
        if memo is None or memo[0] is not vm or memo[1] is not lineage:
            memo = self._merged[vm_id] = (vm, lineage, lineage.apply(vm))
        return memo[2]

    def prioritize(self, vm_ids: Iterable[str]) -> None:
        """Fetch these next, in this order (the selection, then the visible rows)."""
        self._urgent = [vm_id for vm_id in vm_ids if vm_id in self._pending]
        self._urgent.reverse()  # popped from the end

    async def run(self) -> None:
        """Fetch missing lineage until cancelled; waits while nothing is missing."""
        gate = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                if self._waiting >= len(self._pending):  # every missing id has a request waiting for it
                    self._work.clear()
                    await self._work.wait()
                    continue
                await gate.acquire()
                self._waiting += 1
                task = asyncio.create_task(self._fetch_next(gate))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()
            if self._publish_handle is not None:
                self._publish_handle.cancel()

    async def _fetch_next(self, gate: asyncio.Semaphore) -> None:
        """One request: its slot from the budget, then (with no await in between, so a 429 that paused
        the budget meanwhile is honoured) the most urgent id still missing."""
        try:
            try:
                sequence = await self.budget.acquire()
            finally:
                self._waiting -= 1
            vm_id = self._next()
            if vm_id is None:
                return
            await self._fetch_one(vm_id, sequence)
        finally:
            gate.release()

    def _next(self) -> str | None:
        while self._urgent:
            vm_id = self._urgent.pop()
            if vm_id in self._pending:
                return self._take(vm_id)
        while self._queue:
            vm_id = self._queue.popleft()
            if vm_id in self._pending:
                return self._take(vm_id)
        return None

    def _take(self, vm_id: str) -> str:
        self._pending.discard(vm_id)
        self._in_flight.add(vm_id)
        return vm_id

    async def _fetch_one(self, vm_id: str, sequence: int) -> None:
        try:
            self.requests += 1
            vm = await self.fetch(vm_id)
        except RateLimited as exc:
            self.budget.rate_limited(sequence, exc.retry_after)
            self._requeue(vm_id)
        except NotFound:
            self._failures[vm_id] = MAX_ATTEMPTS  # deleted since it was listed
        except Exception:  # noqa: BLE001 - a failure or provider bug costs this VM's lineage, not the stream
            self._failures[vm_id] = self._failures.get(vm_id, 0) + 1
            if self._failures[vm_id] < MAX_ATTEMPTS:
                self._requeue(vm_id)
        else:
            self.budget.succeeded()
            self._learn(vm_id, Lineage.of(vm))
        finally:
            self._in_flight.discard(vm_id)
            if self.complete:
                self._publish()

    def _requeue(self, vm_id: str) -> None:
        """Ask again, next in line: it was chosen before the others still waiting. It goes back into the
        queue too, since a later `prioritize` replaces the urgent ids and must not lose it."""
        if vm_id in self._listed:
            self._pending.add(vm_id)
            self._urgent.append(vm_id)
            self._queue.appendleft(vm_id)
            self._work.set()

    def _learn(self, vm_id: str, lineage: Lineage) -> None:
        self.known[vm_id] = lineage
        self._version += 1
        if vm_id in self._listed:
            self._done_ids.add(vm_id)
        self._schedule_publish()

    def _schedule_publish(self) -> None:
        if self._publish_handle is not None:
            return
        interval = max(self.publish_interval, len(self._listed) / PUBLISH_ROWS_PER_SECOND)
        wait = self._last_publish + interval - self._clock()
        if wait <= 0:
            self._publish()
        else:
            self._publish_handle = asyncio.get_running_loop().call_later(wait, self._publish)

    def _publish(self) -> None:
        if self._publish_handle is not None:
            self._publish_handle.cancel()
            self._publish_handle = None
        self._last_publish = self._clock()
        self.on_change()
        due = self.complete or self._clock() - self._last_save >= self.save_interval
        if self.cache is not None and self._saved_version != self._version and due:
            self._save()

    def _save(self) -> None:
        assert self.cache is not None
        self._saved_version, self._last_save = self._version, self._clock()
        entries = {vm_id: self.known[vm_id] for vm_id in self._listed if vm_id in self.known}
        asyncio.get_running_loop().run_in_executor(None, self.cache.save, entries)  # off the UI's loop

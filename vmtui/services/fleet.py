"""FleetSupervisor: which profiles are shown, opening each one and polling it, and the latest state.

One supervising task per shown profile opens it (the local engine may need starting; failures are
retried with backoff and reported, never raised) and then runs its `Poller` until the profile is
hidden. Results and status reports reach the owner through callbacks, which the UI turns into
messages; the owner hands them back through `record` and `record_status` on its own loop, so the state
here only changes there. Textual-free: tests drive it with plain asyncio.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Protocol

from vmtui.config import PollSettings
from vmtui.core.errors import ProviderError
from vmtui.core.models import Fleet
from vmtui.providers.base import Provider
from vmtui.services.actions import Actions
from vmtui.services.lineage_fetch import LineageEnrichment
from vmtui.services.poller import Poller, PollResult
from vmtui.services.registry import Opener, ProfileOpener

StatusReport = Callable[[str, str | None, str | None], object]
"""Called with (profile, status, error) while a profile is being opened."""


class Cancellable(Protocol):
    def cancel(self) -> object: ...


Spawn = Callable[[Coroutine[Any, Any, None]], Cancellable]
"""Runs a coroutine in the background (an asyncio task, or a Textual worker owned by a screen)."""

CONNECTING = "connecting…"


class FleetSupervisor:
    def __init__(
        self,
        openers: dict[str, Opener],
        actions: Actions,
        poll: PollSettings,
        *,
        shown: Iterable[str] | None = None,
        on_result: Callable[[PollResult], object] = lambda result: None,
        on_status: StatusReport = lambda profile, status, error: None,
        on_notice: Callable[[str, str], object] = lambda profile, text: None,
        order: Callable[[], tuple[str, bool]] | None = None,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.openers = openers
        """Every profile that can be shown; `shown` are the ones polled and listed now."""
        self.actions = actions
        self.poll = poll
        self.shown: list[str] = [name for name in (shown or openers) if name in openers]
        self.on_result = on_result
        self.on_status = on_status
        self.on_notice = on_notice
        """Told (profile, sentence) what the supervisor did on its own, e.g. restart the local engine."""
        self.order = order
        """The VM table's order (column key, reversed), in which a big first list's first rows come
        ahead of the rest (`Poller.order`)."""
        self.wall_clock = wall_clock
        self._sleep = sleep
        self.pollers: dict[str, Poller] = {}
        self.results: dict[str, PollResult] = {}
        self.connecting: dict[str, str] = {name: CONNECTING for name in self.shown}
        self.open_errors: dict[str, str] = {}
        """The last failure to open each profile still connecting."""
        self._tasks: dict[str, Cancellable] = {}
        self._spawn: Spawn = asyncio.ensure_future

    def start(self, spawn: Spawn | None = None) -> None:
        """Start supervising every shown profile (with `spawn` as the way to run background work)."""
        if spawn is not None:
            self._spawn = spawn
        for name in self.shown:
            self._tasks[name] = self._spawn(self.supervise(name))

    def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()

    def show(self, name: str) -> bool:
        """Start listing a profile's VMs; False if it is shown already or unknown."""
        if name in self.shown or name not in self.openers:
            return False
        self.shown.append(name)
        self.connecting[name] = CONNECTING
        self._tasks[name] = self._spawn(self.supervise(name))
        return True

    def hide(self, name: str) -> bool:
        """Stop polling a profile and forget its rows; the last shown profile stays."""
        if name not in self.shown or len(self.shown) == 1:
            return False
        self.shown.remove(name)
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
        for table in (self.pollers, self.results, self.connecting, self.open_errors):
            table.pop(name, None)
        return True

    async def supervise(self, name: str) -> None:
        """Open the profile (starting the local engine if needed), then poll it until cancelled. A
        local engine this UI started is started again when it dies, and the user is told. One the
        endpoint file announced that did not answer the first list is found or started as at any start."""
        restarted = False
        opener = self.openers[name]
        while True:
            provider = await self._open(name)
            if restarted:
                self.on_notice(name, "The local engine had stopped; vmtui started it again")
            stopped = await self._poll(name, provider)
            restarted = stopped and not (isinstance(opener, ProfileOpener) and opener.unproven)
            await provider.aclose()
            self.on_status(name, "the local engine stopped; starting it again…", None)

    async def _poll(self, name: str, provider: Provider) -> bool:
        """Poll until cancelled; True (poller stopped) when the local engine must be found or started
        again (`ProfileOpener.engine_stopped`)."""
        failed = asyncio.Event()
        opener = self.openers[name]
        proving = opener if isinstance(opener, ProfileOpener) and opener.unproven else None

        def on_result(result: PollResult) -> None:
            if result.stale:
                failed.set()
                if proving is not None and proving.unproven:
                    return  # the announced engine never answered: looked for again, not shown offline
            elif proving is not None:
                proving.answered()
            self.on_result(result)

        self.actions.providers[name] = provider
        poller = Poller(
            provider,
            on_result,
            fast=self.poll.fast,
            slow=self.poll.slow,
            max_backoff=self.poll.max_backoff,
            enrichment=LineageEnrichment.for_provider(provider),
            order=self.order,
            busy=lambda: self.actions.busy(name),
            wall_clock=self.wall_clock,
        )
        self.pollers[name] = poller
        self.connecting.pop(name, None)
        self.open_errors.pop(name, None)
        self.actions.errors.pop((name, ""), None)
        if not isinstance(opener, ProfileOpener):
            await poller.run()
            return False
        running = asyncio.ensure_future(poller.run())
        try:
            while True:
                await failed.wait()
                failed.clear()
                if await opener.engine_stopped():
                    return True
        finally:
            running.cancel()

    async def _open(self, name: str) -> Provider:
        """Open a profile, retrying with backoff; each failure is reported, none is raised."""

        def report(status: str) -> None:
            self.on_status(name, status, None)

        wait = 1.0
        while True:
            try:
                return await self.openers[name](report)
            except ProviderError as exc:
                self.on_status(name, None, f"cannot open: {exc}")
            except Exception as exc:  # noqa: BLE001 - e.g. an OSError starting the engine: show it, keep trying
                self.on_status(name, None, f"cannot open: {type(exc).__name__}: {exc}")
            await self._sleep(wait)
            wait = min(self.poll.max_backoff, wait * 2)

    def prioritize_lineage(self, keys: Iterable[tuple[str, str]]) -> None:
        """The lineage streams fetch these VMs next: the selection, then the rows on screen."""
        wanted = list(keys)
        for name, poller in self.pollers.items():
            if poller.enrichment is not None and not poller.enrichment.complete:
                poller.enrichment.prioritize([vm_id for profile, vm_id in wanted if profile == name])

    @property
    def enriching(self) -> bool:
        """Some profile's lineage is still streaming in (its last result carries progress)."""
        return any(result.lineage is not None for result in self.results.values())

    @staticmethod
    def unchanged(before: Fleet | None, after: Fleet | None) -> bool:
        """The poller handed on the same VMs, commits and tags (it reuses the tuples when nothing changed)."""
        return (
            before is not None
            and after is not None
            and before.vms is after.vms
            and before.commits is after.commits
            and before.tags is after.tags
            and before.commits_total == after.commits_total
        )

    def record(self, result: PollResult) -> bool:
        """Keep a poll result; False for a late result of a profile no longer shown."""
        if result.provider not in self.shown:
            return False
        self.results[result.provider] = result
        self.connecting.pop(result.provider, None)
        return True

    def record_status(self, name: str, status: str | None, error: str | None) -> bool:
        """Keep an opening report; False for a profile no longer shown."""
        if name not in self.shown:
            return False
        self.connecting[name] = error or status or CONNECTING
        if error:
            self.open_errors[name] = error
        return True

    def offline(self) -> frozenset[str]:
        """The shown profiles whose last poll failed: their platform does not answer now."""
        return frozenset(name for name, result in self.results.items() if result.stale)

    def still_listing(self) -> int:
        """VMs listed but not handed on yet (big first lists come first rows first)."""
        return sum(result.still_listing for result in self.results.values())

    def fleets(self) -> list[Fleet]:
        return [r.fleet for r in self.results.values() if r.fleet is not None]

    def fleet(self, profile: str) -> Fleet | None:
        result = self.results.get(profile)
        return result.fleet if result else None

    def more_commits(self, profile: str) -> None:
        """Fetch the next page of a profile's commits too, from now on."""
        poller = self.pollers.get(profile)
        if poller is not None:
            poller.want_more_commits()

    async def look_up_commit(self, profile: str, commit_id: str) -> None:
        """Fetch one commit not on a fetched page (the selected VM's parent) into the profile's fleet."""
        poller = self.pollers.get(profile)
        if poller is not None:
            await poller.look_up_commit(commit_id)

    def wake(self, profile: str | None = None) -> None:
        """Poll now: one profile, or every one."""
        for name, poller in self.pollers.items():
            if profile is None or name == profile:
                poller.wake()

    def default_profile(self, active: str) -> str:
        """The profile new VMs and images use: `active` when shown, else the first shown one."""
        return active if active in self.shown else next(iter(self.shown), active)

    def summary(self, name: str, active: str) -> str:
        """One line about a profile for the palette."""
        if name not in self.shown:
            return "not shown; choose to add its VMs to the list"
        result = self.results.get(name)
        fleet = result.fleet if result else None
        state = self.connecting.get(name) or ("offline" if result and result.stale else "live")
        count = f"{len(fleet.vms)} VM(s)" if fleet else "no data"
        marker = (
            "new VMs go here" if name == self.default_profile(active) else "choose for new VMs and images"
        )
        return f"{state}, {count}; {marker}"

"""Live state for one profile: fetch the fleet on an adaptive interval and hand it on.

One `Poller` per profile, so a slow or broken platform never delays another. The interval is
fast while a VM is booting or an action is in flight, slow when all is quiet, and backs off
exponentially (with jitter) while the API fails. Fetches never overlap: `run()` sleeps only
after a fetch finished, and `tick()` serialises on a lock. Tests drive `tick()` directly and
inject the clocks, so they never sleep.

A poll is one list request (plus the commits): nothing else may hold it back, so timeouts are the
provider's per-request ones, never one for the whole fleet. Lineage that needs a request per VM comes
from a `LineageEnrichment` running beside `run()`; each time it learns more, the last fleet is handed
on again with it merged in. An unchanged poll hands on the previous `vms`/`commits` tuples themselves,
so the UI can skip its diff by identity.

A provider that pushes (`capabilities.event_stream`, the local engine) is followed instead of polled,
subscribed a debounce window after the first list is in (so neither the subscription nor the re-list
its connection asks for holds the first rows back): while its stream is up each event wakes a poll (debounced, so a burst costs at most two), and the periodic poll slows to `pushed_interval`, a safety net for state the engine derives without storing it (a VM
whose init died shows `dead` only when listed). When the stream drops the poller polls at once and
on its usual interval again, and re-subscribes with exponential backoff.

The first list of a provider that can (`FirstRowsList`) is asked for in the VM table's order (`order`): a
big one hands on its first rows before the rest is converted, then the whole list follows. A first list
that comes while its commits are still on their way is handed on without them, and again with them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from operator import attrgetter

from vmtui.core.errors import ProviderError, Unsupported
from vmtui.core.models import Commit, CommitTag, Fleet, Vm
from vmtui.providers.base import CommitTagsApi, EventStream, FirstRows, FirstRowsList, Provider
from vmtui.services.lineage_fetch import LineageEnrichment

log = logging.getLogger("vmtui.services.poller")
COMMIT_PAGE = 100
"""Commits per page; a poll fetches the first page (newest first) plus the pages the user asked for."""
FIRST_ROWS = 200
"""VMs of a big first list handed on ahead of the rest: more than a screenful."""


@dataclass(frozen=True)
class PollResult:
    """What one poll produced: the newest good fleet (possibly old) and the current error, if any."""

    provider: str
    fleet: Fleet | None
    error: ProviderError | None = None
    failures: int = 0
    lineage: tuple[int, int] | None = None
    """(VMs whose lineage is known, VMs listed) while enrichment is still fetching, else None."""
    pushed: bool = False
    """The provider's event stream was up: this data is live by push, not by polling."""
    still_listing: int = 0
    """VMs of the list not in `fleet` yet: a big first list hands on its first rows before the rest is
    converted (`FirstRows`), and the whole list follows."""
    shown: Callable[[], None] | None = field(default=None, compare=False, repr=False)
    """Called by whoever shows a big first list's first rows once they are on screen: the rest of
    the list is converted only then (`FirstRows.deliver`)."""

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
        enrichment: LineageEnrichment | None = None,
        order: Callable[[], tuple[str, bool]] | None = None,
        pushed_interval: float = 60.0,
        push_debounce: float = 0.05,
        resubscribe_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
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
        self.enrichment = enrichment
        if enrichment is not None:
            enrichment.on_change = self._republish
        self.order = order
        """The VM table's order (column key, reversed): a big first list's first rows in it are handed on
        ahead of the rest; None hands on whole lists only."""
        self.pushed_interval = pushed_interval
        self.push_debounce = push_debounce
        self._resubscribe_sleep = resubscribe_sleep
        self.events = (
            provider if provider.capabilities.event_stream and isinstance(provider, EventStream) else None
        )
        self.pushed = False
        """The event stream is up (set while following it)."""
        self.busy = busy
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._debounce: asyncio.TimerHandle | None = None
        self._last_pushed_wake = float("-inf")
        self.last: PollResult = PollResult(provider.name, None)
        self.ticks = 0
        self._listed: list[Vm] | None = None
        """The provider's last list, before enrichment (an unchanged list is the same object)."""
        self._shown: list[Vm] | None = None
        """The last list after enrichment, whose tuple the last fleet holds."""
        self._transitional_of: tuple[tuple[Vm, ...] | None, bool] = (None, False)
        self._handed_on_early = False
        """This poll handed its list on before it was whole (`_first_rows`)."""
        self._commits_asked = False
        """This poll's commits request has started."""
        self.commit_pages = 1
        """Pages of commits each poll fetches (`want_more_commits` adds one)."""
        self._looked_up: dict[str, Commit] = {}
        """Commits fetched by id (`look_up_commit`) until a fetched page holds them."""
        self.tags = (
            provider if provider.capabilities.has_tags and isinstance(provider, CommitTagsApi) else None
        )
        """Where commit tags are listed (one request per poll while there are commits); None without tags."""

    @property
    def name(self) -> str:
        return self.provider.name

    def next_interval(self) -> float:
        """Seconds to wait before the next fetch, from the state the last fetch left."""
        if self.last.failures:
            base = min(self.max_backoff, max(self.fast, 1.0) * 2.0 ** (self.last.failures - 1))
            return base * (0.75 + 0.5 * self._rng())
        if self.pushed:
            return self.pushed_interval
        return self.fast if self._transitional() or self.busy() else self.slow

    def _transitional(self) -> bool:
        """A VM of the last fleet is booting, pausing, ...: looked at once per new `vms` tuple (an
        unchanged poll hands on the same one), not once per poll."""
        fleet = self.last.fleet
        if fleet is None:
            return False
        if self._transitional_of[0] is not fleet.vms:
            states = map(attrgetter("state"), fleet.vms)  # C calls, not a Python step per VM (100,000)
            self._transitional_of = (fleet.vms, any(map(attrgetter("is_transitional"), set(states))))
        return self._transitional_of[1]

    async def tick(self) -> PollResult:
        """Fetch once (waiting for a fetch already running) and deliver the result to the callback."""
        async with self._lock:
            self.ticks += 1
            try:
                fleet = await self._fetch()
            except ProviderError as exc:
                result = self._failed(exc)
            except Exception as exc:  # noqa: BLE001 - a provider bug must not kill live updates; show it instead
                result = self._failed(ProviderError(f"{type(exc).__name__}: {exc}"))
            else:
                result = PollResult(self.name, fleet, lineage=self._lineage_progress(), pushed=self.pushed)
            self.last = result
        self.on_result(result)
        return result

    def wake(self) -> None:
        """Cut the current wait short (refresh now, or an action just started)."""
        self._wake.set()

    async def run(self) -> None:
        """Poll until cancelled (enriching in the background). Never raises on provider errors: they
        become stale results."""
        enriching = asyncio.ensure_future(self.enrichment.run()) if self.enrichment is not None else None
        following: asyncio.Future[None] | None = None
        try:
            while True:
                self._wake.clear()  # a wake() during the fetch below still shortens the following wait
                await self.tick()
                if following is None and self.events is not None:
                    # After the first list, which nothing holds back, and its debounce window: neither
                    # the subscription nor the re-list its connection asks for competes with drawing
                    # the first rows.
                    following = asyncio.ensure_future(self.follow(self.events, after=self.push_debounce))
                await self._wait(self.next_interval())
        finally:
            for task in (enriching, following):
                if task is not None:
                    task.cancel()
            if self._debounce is not None:
                self._debounce.cancel()

    async def follow(self, source: EventStream, after: float = 0.0) -> None:
        """Follow the provider's event stream (from `after` seconds on) until cancelled, re-subscribing
        with backoff when it drops."""
        if after:
            await asyncio.sleep(after)
        drops = 0
        while True:
            try:
                async for event in source.events():
                    if event.get("kind") == "connected":
                        self.pushed, drops = True, 0
                        self._wake_soon()  # re-list what changed while the stream was not up
                    else:
                        self._wake_soon()
            except Exception as exc:  # noqa: BLE001 - a drop or a provider bug: poll meanwhile, re-subscribe below
                log.info("event stream of %s dropped: %s", self.name, exc)
            if self.pushed:
                self.pushed = False
                self.wake()  # poll at once, and on the usual interval from now on
            drops += 1
            delay = min(self.max_backoff, 2.0 ** (drops - 1)) * (0.75 + 0.5 * self._rng())
            await self._resubscribe_sleep(delay)

    def _wake_soon(self) -> None:
        """A change was pushed: poll now, or, within `push_debounce` of the last pushed poll, once at the
        end of that window (a burst of changes costs at most two polls)."""
        if self._debounce is not None:
            return  # a poll is due at the end of the window already
        loop = asyncio.get_running_loop()
        wait = self._last_pushed_wake + self.push_debounce - loop.time()
        if wait <= 0:
            self._debounced_wake()
        else:
            self._debounce = loop.call_later(wait, self._debounced_wake)

    def _debounced_wake(self) -> None:
        self._debounce = None
        self._last_pushed_wake = asyncio.get_running_loop().time()
        self.wake()

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
        """The list, with the commits and tags fetched meanwhile: they never add their round trips to
        the time the rows take (a 10,000-VM list takes longer to arrive and parse than both)."""
        self._handed_on_early = self._commits_asked = False
        rest = asyncio.ensure_future(self._fetch_commits_and_tags())
        try:
            listed = await self._list()
        except BaseException:
            rest.cancel()
            await asyncio.gather(rest, return_exceptions=True)  # its own error, if any, is this poll's too
            raise
        self._listed = listed
        if self.last.fleet is None and not self._handed_on_early and self._commits_asked and not rest.done():
            self._first_rows(listed, len(listed))  # the first rows do not wait for the commits on their way
        commits, total, tags = await rest
        return self._fleet(listed, commits, self._wall_clock(), tags, total)

    async def _list(self) -> list[Vm]:
        """The provider's list; the first one in the table's order, its first rows handed on early."""
        if self._listed is None and self.order is not None and isinstance(self.provider, FirstRowsList):
            first = FirstRows(self.order, self._first_rows_then_rest, FIRST_ROWS)
            return await self.provider.list_vms_first(first)
        return await self.provider.list_vms()

    def _first_rows_then_rest(self, vms: list[Vm], total: int) -> Awaitable[object]:
        """Hand on a big list's first rows; the returned future is done once they are shown (a future,
        not a coroutine: a provider that does not wait for it leaves nothing unawaited behind)."""
        drawn: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def shown() -> None:
            if not drawn.done():  # (cancelled when the provider stopped waiting)
                drawn.set_result(None)

        self._first_rows(vms, total, shown)
        return drawn

    def _first_rows(self, vms: list[Vm], total: int, shown: Callable[[], None] | None = None) -> None:
        """Hand on the first list's rows while the rest is converted (a big list's first rows) or while
        the commits are still on their way: without commits yet, and not as `last` (a list that then
        fails leaves no partial fleet behind as the last good one)."""
        self._handed_on_early = True
        fleet = self._fleet(vms, (), self._wall_clock())
        left = total - len(vms)
        self.on_result(PollResult(self.name, fleet, still_listing=left, pushed=self.pushed, shown=shown))

    async def _fetch_commits_and_tags(self) -> tuple[tuple[Commit, ...], int, tuple[CommitTag, ...]]:
        self._commits_asked = True  # (a list that never waited gave this no turn: nothing is on its way)
        try:
            commits, total = await self._fetch_commits()
        except Unsupported:
            commits, total = (), 0
        return commits, total, await self._fetch_tags(commits)

    async def _fetch_commits(self) -> tuple[tuple[Commit, ...], int]:
        """The first `commit_pages` pages of commits (newest first) and how many there are in all: a
        platform with 10,000 commits costs one request per poll until the user asks for more."""
        commits: dict[str, Commit] = {}
        total = 0
        for page in range(self.commit_pages):
            batch, total = await self.provider.commits_page(page * COMMIT_PAGE, COMMIT_PAGE)
            commits.update((commit.id, commit) for commit in batch)
            if len(batch) < COMMIT_PAGE or (page + 1) * COMMIT_PAGE >= total:
                break
        for commit_id in [c for c in self._looked_up if c in commits]:  # paged now: fresher there
            del self._looked_up[commit_id]
        return (*commits.values(), *self._looked_up.values()), max(total, len(commits))

    async def look_up_commit(self, commit_id: str) -> None:
        """Fetch a commit (and its ancestors, one request) that a shown VM was started from but whose
        page is not fetched, so the selected VM's path in the tree is whole without every page."""
        fleet = self.last.fleet
        if commit_id in self._looked_up or fleet is None or any(c.id == commit_id for c in fleet.commits):
            return
        try:
            chain = await self.provider.commit_parents(commit_id)
        except ProviderError as exc:
            log.info("%s: commit %s not looked up: %s", self.name, commit_id, exc)
            return
        known = {c.id for c in fleet.commits}
        self._looked_up.update((c.id, c) for c in chain if c.id not in known)
        fleet = self.last.fleet  # a poll may have finished meanwhile
        if fleet is not None and self._listed is not None:
            merged = (*fleet.commits, *(c for c in chain if c.id not in known))
            self.last = replace(
                self.last,
                fleet=self._fleet(self._listed, merged, fleet.fetched_at, fleet.tags, fleet.commits_total),
            )
            self.on_result(self.last)

    def want_more_commits(self) -> None:
        """Fetch one more page of commits from the next poll on (which starts now)."""
        self.commit_pages += 1
        self.wake()

    async def _fetch_tags(self, commits: tuple[Commit, ...]) -> tuple[CommitTag, ...]:
        """The tags shown on commits; a server without tags is not asked again, and a failed tag list
        keeps the last one rather than failing the poll (tags only decorate the tree)."""
        if self.tags is None or not commits:
            return ()
        try:
            return tuple(await self.tags.list_tags())
        except Unsupported:
            self.tags = None
            return ()
        except ProviderError as exc:
            log.info("%s: commit tags not listed: %s", self.name, exc)
            return self.last.fleet.tags if self.last.fleet is not None else ()

    def _fleet(
        self,
        listed: list[Vm],
        commits: tuple[Commit, ...],
        fetched_at: float,
        tags: tuple[CommitTag, ...] = (),
        commits_total: int = 0,
    ) -> Fleet:
        """A fleet reusing the previous tuples where nothing changed (identity, not equality, for VMs).
        Built without re-validation: its parts are validated models already, and validation would copy
        the tuples."""
        vms = self.enrichment.apply(listed) if self.enrichment is not None else listed
        previous = self.last.fleet
        unchanged = previous is not None and vms is self._shown
        self._shown = vms
        if previous is not None and commits == previous.commits:
            commits = previous.commits
        if previous is not None and tags == previous.tags:
            tags = previous.tags
        return Fleet.model_construct(
            provider=self.name,
            vms=previous.vms if unchanged and previous is not None else tuple(vms),
            commits=commits,
            tags=tags,
            commits_total=max(commits_total, len(commits)),
            fetched_at=fetched_at,
        )

    def _lineage_progress(self) -> tuple[int, int] | None:
        if self.enrichment is None or self.enrichment.complete:
            return None
        return self.enrichment.progress

    def _republish(self) -> None:
        """The enrichment learned more lineage: hand on the last fleet again with it merged in."""
        fleet = self.last.fleet
        if fleet is None or self._listed is None:
            return
        self.last = replace(
            self.last,
            fleet=self._fleet(self._listed, fleet.commits, fleet.fetched_at, fleet.tags, fleet.commits_total),
            lineage=self._lineage_progress(),
        )
        self.on_result(self.last)

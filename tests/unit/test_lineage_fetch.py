"""The lineage stream: priorities, the 429 budget on virtual time, the on-disk cache, never holding the list."""

import asyncio
import json
import stat

import httpx
import pytest

from vmtui.core.errors import NotFound, RateLimited
from vmtui.core.models import Vm, VmState
from vmtui.providers.vers import VersProvider
from vmtui.services.lineage_cache import Lineage, LineageCache
from vmtui.services.lineage_fetch import MAX_ATTEMPTS, LineageEnrichment
from vmtui.services.poller import Poller
from vmtui.services.request_budget import RequestBudget


class VirtualTime:
    """A clock that only moves when every sleeper waits: the earliest wake-up time becomes "now".
    Tests see ordering and virtual seconds, never wall-clock durations."""

    def __init__(self):
        self.now = 0.0
        self.wakeups: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        target = self.now + max(0.0, seconds)
        self.wakeups.append(target)
        try:
            while self.now < target:
                await asyncio.sleep(0)  # other tasks run first; then the earliest sleeper moves time on
                if self.now < target <= min(self.wakeups):
                    self.now = target
        finally:
            self.wakeups.remove(target)


def vms(count: int) -> list[Vm]:
    return [Vm(provider="p", id=f"v{index}", state=VmState.RUNNING) for index in range(count)]


def parent_of(vm_id: str) -> str:
    return f"c-{vm_id}"


async def until(condition, what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.001)


async def drain(enrichment: LineageEnrichment, what: str = "lineage complete") -> None:
    task = asyncio.ensure_future(enrichment.run())
    try:
        await until(lambda: enrichment.complete, what)
    finally:
        task.cancel()


def make(fetch, time: VirtualTime | None = None, **kwargs) -> LineageEnrichment:
    time = time or VirtualTime()
    budget = RequestBudget(clock=time.clock, sleep=time.sleep, rate=kwargs.pop("rate", 10.0))
    return LineageEnrichment(fetch, budget=budget, clock=time.clock, publish_interval=0, **kwargs)


async def test_list_comes_back_at_once_and_lineage_fills_in():
    asked: list[str] = []

    async def fetch(vm_id: str) -> Vm:
        asked.append(vm_id)
        return Vm(
            provider="p", id=vm_id, state=VmState.RUNNING, parent_commit_id=parent_of(vm_id), ip="10.0.0.9"
        )

    enrichment = make(fetch)
    fleet = vms(5)
    first = enrichment.apply(fleet)
    assert [vm.parent_commit_id for vm in first] == [None] * 5 and asked == []
    assert enrichment.progress == (0, 5) and not enrichment.complete
    await drain(enrichment)
    merged = enrichment.apply(fleet)
    assert [vm.parent_commit_id for vm in merged] == [parent_of(vm.id) for vm in fleet]
    assert all(vm.ip == "10.0.0.9" for vm in merged)
    assert sorted(asked) == sorted(vm.id for vm in fleet) and enrichment.progress == (5, 5)
    assert enrichment.apply(fleet) is merged  # nothing new: the same object, so callers skip their work


async def test_selection_then_visible_rows_then_the_rest_and_priorities_change_midway():
    order: list[str] = []
    enrichment: LineageEnrichment

    async def fetch(vm_id: str) -> Vm:
        order.append(vm_id)
        if len(order) == 3:
            enrichment.prioritize(["v8", "v3"])  # the user scrolled: new visible rows
        return Vm(provider="p", id=vm_id, state=VmState.RUNNING, parent_commit_id=parent_of(vm_id))

    enrichment = make(fetch, concurrency=1)
    enrichment.apply(vms(10))
    enrichment.prioritize(["v6", "v2", "v9"])  # selection v6, then the visible v2, v9
    await drain(enrichment)
    assert order[:3] == ["v6", "v2", "v9"]
    assert order[3:5] == ["v8", "v3"]
    assert order[5:] == ["v0", "v1", "v4", "v5", "v7"]


async def test_429_storm_honours_retry_after_and_keeps_429s_rare():
    """A platform allowing 100 requests/s (burst 100) answers 429 + Retry-After: 1 beyond that."""
    time = VirtualTime()
    count, rate = 2_000, 100.0
    tokens, stamp = [rate], [0.0]
    log: list[tuple[float, str]] = []
    paused_until = [0.0]

    async def fetch(vm_id: str) -> Vm:
        now = time.now
        assert now >= paused_until[0], "a request was sent before Retry-After had passed"
        tokens[0] = min(rate, tokens[0] + (now - stamp[0]) * rate)
        stamp[0] = now
        if tokens[0] < 1:
            log.append((now, "429"))
            paused_until[0] = now + 1.0
            raise RateLimited("slow down", status=429, retry_after=1.0)
        tokens[0] -= 1
        log.append((now, "ok"))
        return Vm(provider="p", id=vm_id, state=VmState.RUNNING, parent_commit_id=parent_of(vm_id))

    enrichment = make(fetch, time)
    enrichment.apply(vms(count))
    await drain(enrichment)
    limited = sum(1 for _, outcome in log if outcome == "429")
    assert enrichment.progress == (count, count)
    assert limited >= 1, "the budget never found the limit: this test would not notice a missing back-off"
    assert limited / len(log) < 0.05
    assert time.now <= 1.1 * count / rate  # virtual seconds: the budget uses most of what is allowed


async def test_a_rate_limited_vm_is_asked_again_after_the_priorities_change():
    """The UI re-prioritizes on every scroll and poll: a VM answered 429 must not drop out of the stream."""
    time = VirtualTime()
    answered_429: set[str] = set()
    enrichment: LineageEnrichment

    async def fetch(vm_id: str) -> Vm:
        if vm_id == "v0" and vm_id not in answered_429:
            answered_429.add(vm_id)
            # the user scrolls while the stream waits out Retry-After (after this 429 is handled)
            asyncio.get_running_loop().call_soon(enrichment.prioritize, ["v3"])
            raise RateLimited("slow down", status=429, retry_after=1.0)
        return Vm(provider="p", id=vm_id, state=VmState.RUNNING, parent_commit_id=parent_of(vm_id))

    enrichment = make(fetch, time, concurrency=1)
    enrichment.apply(vms(5))  # v0 is first in list order: taken from the queue, not as a priority
    await drain(enrichment)
    assert answered_429 == {"v0"}
    assert enrichment.progress == (5, 5) and enrichment.known["v0"].parent_commit_id == parent_of("v0")


async def test_rate_is_cut_once_per_overshoot_and_grows_back_additively():
    time = VirtualTime()
    budget = RequestBudget(rate=64.0, step=10.0, probe_step=10.0, clock=time.clock, sleep=time.sleep)
    sequences = [await budget.acquire() for _ in range(4)]
    for sequence in sequences:  # four requests in flight when the limit was hit: one signal
        budget.rate_limited(sequence, retry_after=2.0)
    assert budget.rate == 32.0 and not budget.slow_start  # 4 sent in the last second: never below half
    paused_at = time.now
    after = await budget.acquire()
    assert time.now >= paused_at + 2.0  # Retry-After honoured
    budget.succeeded()
    rate = budget.rate
    budget.succeeded()
    assert budget.rate == rate  # no request waited for a slot since: the rate is not what limits
    for _ in range(32):  # back to back: each waits for its slot
        after = await budget.acquire()
        budget.succeeded()
    assert budget.rate == pytest.approx(rate + 10.0, rel=0.05)  # +step per second's worth of successes
    budget.rate_limited(after, retry_after=None)  # sent after the cut: a new overshoot
    assert budget.rate < rate + 10.0


async def test_the_cut_follows_the_rate_sent_and_growth_slows_near_it():
    """The allowed rate can run ahead of what a busy loop sends: the cut is taken from what was sent in
    the last second, and near that rate (the platform's limit) the rate grows by `probe_step` only."""
    time = VirtualTime()
    budget = RequestBudget(rate=200.0, step=10.0, probe_step=2.0, clock=time.clock, sleep=time.sleep)
    for _ in range(6):  # 6 stalls of 0.2 s: about 60 requests a second go out while 200/s are allowed
        for _ in range(10):
            last = await budget.acquire()
        await time.sleep(0.2)
    budget.rate_limited(last, retry_after=1.0)
    assert budget.ceiling is not None and 50 <= budget.ceiling <= 70
    assert budget.rate == 100.0  # never below half the allowed rate: 0.8 x ~60 sent would be lower
    budget = RequestBudget(rate=100.0, step=10.0, probe_step=2.0, clock=time.clock, sleep=time.sleep)
    for _ in range(100):  # one second at the allowed rate, then the limit
        last = await budget.acquire()
    budget.rate_limited(last, retry_after=1.0)
    assert budget.ceiling == pytest.approx(100, abs=2) and budget.rate == pytest.approx(80, abs=2)

    async def one_second_of_successes() -> float:
        before, waited = budget.rate, 0.0
        while waited < 1.0:
            await budget.acquire()
            budget.succeeded()
            waited += 1 / budget.rate
        return budget.rate - before

    assert await one_second_of_successes() == pytest.approx(10, rel=0.1)
    while budget.rate < 0.95 * budget.ceiling:
        await one_second_of_successes()
    assert await one_second_of_successes() == pytest.approx(2, rel=0.1)  # probing the limit gently


async def test_deleted_vm_is_not_asked_again_and_progress_counts_it_missing():
    asked: list[str] = []

    async def fetch(vm_id: str) -> Vm:
        asked.append(vm_id)
        if vm_id == "v1":
            raise NotFound("gone", status=404)
        return Vm(provider="p", id=vm_id, state=VmState.RUNNING)

    enrichment = make(fetch)
    fleet = vms(3)
    enrichment.apply(fleet)
    await drain(enrichment)
    enrichment.apply(list(fleet))
    await drain(enrichment)
    assert asked.count("v1") == 1 and enrichment.progress == (2, 3)


async def test_second_start_reads_the_cache_and_sends_no_metadata_request(tmp_path):
    cache = LineageCache.for_profile("prod", "https://api.vers.sh", directory=tmp_path)
    requests: list[str] = []

    async def fetch(vm_id: str) -> Vm:
        requests.append(vm_id)
        return Vm(
            provider="p", id=vm_id, state=VmState.RUNNING, parent_commit_id=parent_of(vm_id), ip="10.1.1.1"
        )

    first = make(fetch, cache=cache)
    fleet = vms(20)
    first.apply(fleet)
    await drain(first)
    await until(lambda: len(cache.load()) == 20, "the cache written")
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    assert len(requests) == 20

    second = make(fetch, cache=LineageCache.for_profile("prod", "https://api.vers.sh", directory=tmp_path))
    merged = second.apply(fleet)
    assert second.complete and second.progress == (20, 20)
    assert [vm.parent_commit_id for vm in merged] == [parent_of(vm.id) for vm in fleet]
    await asyncio.sleep(0)
    assert len(requests) == 20  # no metadata request on the second start
    other = LineageCache.for_profile("prod", "https://other.example", directory=tmp_path)
    assert other.load() == {}  # another API behind the same profile name starts afresh


def test_a_damaged_cache_is_an_empty_one(tmp_path):
    cache = LineageCache(tmp_path / "lineage.json")
    for content in (
        b"{not json",
        b"[]",
        json.dumps({"version": 1, "vms": {"a": [1, 2, 3], "b": [None, None, "x"]}}).encode(),
    ):
        cache.path.write_bytes(content)
        loaded = cache.load()
        assert "a" not in loaded
    assert loaded == {"b": Lineage(None, None, "x")}


# ------------------------------------------------------------------ through the poller and the Vers client


class VersFleet:
    """A Vers API over MockTransport: the list answers, metadata waits for `release` (or answers)."""

    def __init__(self, count: int):
        self.count = count
        self.release = asyncio.Event()
        self.metadata_requests = 0
        self.list_requests = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in ("/api/v1/vms", "/api/v1/vm"):
            self.list_requests += 1
            body = [{"vm_id": f"v{index}", "state": "running"} for index in range(self.count)]
            return httpx.Response(200, json=body)
        if path.endswith("/metadata"):
            self.metadata_requests += 1
            await self.release.wait()
            vm_id = path.split("/")[4]
            return httpx.Response(
                200, json={"vm_id": vm_id, "state": "running", "parent_commit_id": parent_of(vm_id)}
            )
        if path == "/api/v1/commits":
            return httpx.Response(200, json={"commits": [], "total": 0})
        return httpx.Response(404, json={"error": "not found"})


def poller_for(
    api: VersFleet, results: list, cache: LineageCache | None = None
) -> tuple[Poller, VersProvider]:
    provider = VersProvider("big", "https://api.vers.sh", "key", transport=httpx.MockTransport(api.handle))
    enrichment = LineageEnrichment(
        lambda vm_id: provider.metadata(vm_id, retries=0), cache=cache, publish_interval=0
    )
    return Poller(provider, results.append, enrichment=enrichment), provider


async def test_big_but_healthy_is_never_offline_while_metadata_hangs():
    api = VersFleet(500)
    results: list = []
    poller, provider = poller_for(api, results)
    running = asyncio.ensure_future(poller.run())
    try:
        await until(lambda: results, "the first poll")
        first = results[0]
        assert first.error is None and not first.stale
        assert len(first.fleet.vms) == 500 and first.lineage == (0, 500)
        await until(lambda: api.metadata_requests > 0, "enrichment started")
        assert await poller.tick() is poller.last and poller.last.error is None  # polls go on meanwhile
        api.release.set()
        await until(lambda: poller.last.lineage is None, "lineage complete")
        assert all(vm.parent_commit_id == parent_of(vm.id) for vm in poller.last.fleet.vms)
    finally:
        running.cancel()
        await provider.aclose()


async def test_second_start_through_the_poller_makes_no_metadata_request(tmp_path):
    api = VersFleet(50)
    api.release.set()
    cache = LineageCache.for_profile("big", "https://api.vers.sh", directory=tmp_path)
    for start in range(2):
        results: list = []
        poller, provider = poller_for(api, results, LineageCache(cache.path))
        running = asyncio.ensure_future(poller.run())
        try:
            await until(lambda seen=results: seen and seen[-1].lineage is None, "lineage complete")
            await until(lambda: len(cache.load()) == 50, "the cache written")
        finally:
            running.cancel()
            await provider.aclose()
        assert all(vm.parent_commit_id == parent_of(vm.id) for vm in results[-1].fleet.vms)
        assert api.metadata_requests == 50  # the second start asked for none


async def test_unchanged_poll_hands_on_the_same_tuples():
    api = VersFleet(30)
    api.release.set()
    results: list = []
    poller, provider = poller_for(api, results)
    try:
        first = await poller.tick()
        again = await poller.tick()
        assert again.fleet.vms is first.fleet.vms and again.fleet.commits is first.fleet.commits
    finally:
        await provider.aclose()


async def test_a_failing_fetch_is_retried_a_few_times_and_never_stops_the_stream():
    asked: list[str] = []

    async def fetch(vm_id: str) -> Vm:
        asked.append(vm_id)
        if vm_id == "v0":
            raise RuntimeError("client closed")  # not even a ProviderError
        return Vm(provider="p", id=vm_id, state=VmState.RUNNING, parent_commit_id=parent_of(vm_id))

    enrichment = make(fetch)
    enrichment.apply(vms(4))
    await drain(enrichment)
    assert asked.count("v0") == MAX_ATTEMPTS and enrichment.progress == (3, 4)

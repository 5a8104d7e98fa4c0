import asyncio

import pytest

from vmtui.core.errors import AuthError, Unavailable
from vmtui.core.models import Commit, Vm, VmState
from vmtui.providers.base import Provider
from vmtui.services.poller import Poller, PollResult


class ScriptedProvider(Provider):
    """Answers list_vms from a script of VM lists or exceptions, one per call."""

    kind = "test"

    def __init__(self, script, delay=0.0):
        super().__init__("lab")
        self.script = list(script)
        self.delay = delay
        self.calls = 0
        self.active = 0
        self.max_active = 0

    async def list_vms(self):
        self.calls += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
            if isinstance(step, Exception):
                raise step
            return step
        finally:
            self.active -= 1

    async def list_commits(self):
        return [Commit(provider="lab", id="c1", parent_vm_id="a")]


RUNNING = [Vm(provider="lab", id="a", state=VmState.RUNNING)]
BOOTING = [Vm(provider="lab", id="a", state=VmState.BOOTING)]


def make(script, **kwargs):
    seen: list[PollResult] = []
    clock = iter(range(100, 10_000, 10))
    kwargs.setdefault("rng", lambda: 0.5)
    poller = Poller(
        ScriptedProvider(script),
        seen.append,
        fast=0.5,
        slow=4.0,
        max_backoff=30.0,
        wall_clock=lambda: float(next(clock)),
        **kwargs,
    )
    return poller, seen


async def test_tick_delivers_a_frozen_fleet_with_commits_and_fetch_time():
    poller, seen = make([RUNNING])
    result = await poller.tick()
    assert seen == [result]
    assert result.fleet.vms == tuple(RUNNING)
    assert [c.id for c in result.fleet.commits] == ["c1"]
    assert result.fleet.fetched_at == 100.0
    assert not result.stale and result.age(130.0) == 30.0


async def test_interval_is_slow_when_quiet_and_fast_while_booting_or_busy():
    busy = False
    poller, _ = make([RUNNING, BOOTING, RUNNING], busy=lambda: busy)
    await poller.tick()
    assert poller.next_interval() == 4.0
    await poller.tick()
    assert poller.next_interval() == 0.5  # a VM is booting
    await poller.tick()
    assert poller.next_interval() == 4.0
    busy = True  # an action is in flight
    assert poller.next_interval() == 0.5


async def test_errors_keep_last_good_fleet_and_back_off_with_jitter_up_to_the_cap():
    down = Unavailable("connection refused")
    poller, seen = make([RUNNING, down, down, down, down, down, down, down, RUNNING])
    await poller.tick()
    good = seen[-1].fleet
    intervals = []
    for _ in range(7):
        result = await poller.tick()
        assert result.stale and result.fleet is good and result.error is down
        intervals.append(poller.next_interval())
    assert intervals == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]  # rng 0.5 = no jitter
    assert seen[-1].failures == 7
    recovered = await poller.tick()
    assert not recovered.stale and recovered.failures == 0
    assert poller.next_interval() == 4.0


async def test_jitter_spreads_the_backoff():
    poller, _ = make([Unavailable("down")], rng=lambda: 0.0)
    await poller.tick()
    low = poller.next_interval()
    poller._rng = lambda: 1.0
    assert (low, poller.next_interval()) == (0.75, 1.25)


async def test_non_network_errors_and_bugs_also_become_stale_results():
    poller, _ = make([AuthError("bad key", status=401)])
    result = await poller.tick()
    assert str(result.error) == "401: bad key" and result.fleet is None and result.age(5) is None
    poller.provider.script = [KeyError("vms")]
    result = await poller.tick()
    assert "KeyError" in str(result.error)


async def test_requests_never_overlap():
    poller, seen = make([RUNNING])
    poller.provider.delay = 0.02
    await asyncio.gather(*(poller.tick() for _ in range(5)))
    assert poller.provider.max_active == 1 and len(seen) == 5


async def test_run_loops_with_the_adaptive_interval_and_survives_errors():
    waits: list[float] = []

    async def fake_sleep(seconds):
        waits.append(seconds)
        if len(waits) == 4:
            raise asyncio.CancelledError

    poller, seen = make([BOOTING, Unavailable("down"), RUNNING, RUNNING], sleep=fake_sleep)
    with pytest.raises(asyncio.CancelledError):
        await poller.run()
    assert waits == [0.5, 1.0, 4.0, 4.0]
    assert [r.stale for r in seen] == [False, True, False, False]


async def test_wake_cuts_the_wait_short():
    poller, seen = make([RUNNING])
    poller.slow = 60.0
    task = asyncio.create_task(poller.run())
    while not seen:
        await asyncio.sleep(0)
    poller.wake()
    for _ in range(100):
        if len(seen) >= 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    assert len(seen) >= 2


class CommitsFirstProvider(ScriptedProvider):
    """The list answers only once the commits were asked for: a poll that fetched them after the list
    would wait forever."""

    def __init__(self, script):
        super().__init__(script)
        self.commits_asked = asyncio.Event()

    async def list_vms(self):
        await self.commits_asked.wait()
        return await super().list_vms()

    async def list_commits(self):
        self.commits_asked.set()
        return await super().list_commits()


async def test_the_commits_are_fetched_while_the_list_is():
    poller = Poller(CommitsFirstProvider([RUNNING]), lambda result: None)
    result = await asyncio.wait_for(poller.tick(), timeout=30)
    assert result.fleet.vms == tuple(RUNNING) and [c.id for c in result.fleet.commits] == ["c1"]


class FailingCommitsProvider(ScriptedProvider):
    async def list_commits(self):
        raise Unavailable("commits down")


async def test_a_failed_list_or_failed_commits_fail_the_poll_and_keep_the_last_fleet():
    poller = Poller(ScriptedProvider([RUNNING, Unavailable("list down")]), lambda result: None)
    good = await poller.tick()
    failed = await poller.tick()
    assert failed.stale and "list down" in str(failed.error) and failed.fleet is good.fleet
    poller = Poller(FailingCommitsProvider([RUNNING]), lambda result: None)
    failed = await poller.tick()
    assert failed.stale and "commits down" in str(failed.error)

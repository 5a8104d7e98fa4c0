"""The poller hands a big first list's first rows on ahead of the whole list, in the table's order, and
asks for them only on the first list."""

from __future__ import annotations

import asyncio

from vmtui.core.errors import BadResponse
from vmtui.core.models import Commit, Vm, VmState
from vmtui.providers.base import FirstRows, Provider
from vmtui.services.poller import FIRST_ROWS, Poller, PollResult

VMS = [Vm(provider="lab", id=f"vm-{index:03d}", state=VmState.RUNNING) for index in range(500)]


class FirstRowsProvider(Provider):
    """Hands its first rows (the last `count` VMs, whatever the order) on, then returns the whole list or
    fails; records the orders it was asked for and which calls asked for first rows."""

    kind = "test"

    def __init__(self, fail_after_first: bool = False) -> None:
        super().__init__("lab")
        self.fail_after_first = fail_after_first
        self.orders: list[tuple[str, bool]] = []
        self.calls: list[str] = []

    async def list_vms(self) -> list[Vm]:
        self.calls.append("whole")
        return VMS

    async def list_vms_first(self, first: FirstRows) -> list[Vm]:
        self.calls.append("first")
        self.orders.append(first.order())
        first.deliver(VMS[-first.count :], len(VMS))
        if self.fail_after_first:
            raise BadResponse("VM list item 7: bad")
        return VMS

    async def list_commits(self) -> list[Commit]:
        return [Commit(provider="lab", id="c1", parent_vm_id="vm-000")]


def make(provider: Provider) -> tuple[Poller, list[PollResult]]:
    seen: list[PollResult] = []
    return Poller(provider, seen.append, wall_clock=lambda: 100.0, order=lambda: ("name", True)), seen


async def test_the_first_rows_come_first_then_the_whole_list():
    provider = FirstRowsProvider()
    poller, seen = make(provider)

    result = await poller.tick()

    assert provider.orders == [("name", True)]
    early, whole = seen
    assert early.fleet is not None and early.fleet.vms == tuple(VMS[-FIRST_ROWS:])
    assert early.still_listing == len(VMS) - FIRST_ROWS and not early.stale
    assert whole is result and result.still_listing == 0
    assert result.fleet is not None and result.fleet.vms == tuple(VMS)
    assert [c.id for c in result.fleet.commits] == ["c1"]
    assert poller.last is result


class ShownWaitingProvider(FirstRowsProvider):
    """Converts the rest of its list only once its first rows are on screen, as `VersProvider` does."""

    async def list_vms_first(self, first: FirstRows) -> list[Vm]:
        shown = first.deliver(VMS[-first.count :], len(VMS))
        assert shown is not None
        await shown
        return VMS


async def test_the_whole_list_waits_until_the_first_rows_are_shown():
    poller, seen = make(ShownWaitingProvider())
    ticking = asyncio.create_task(poller.tick())
    for _ in range(50):
        await asyncio.sleep(0)
    [early] = seen
    assert early.shown is not None and not ticking.done()
    early.shown()
    result = await ticking
    assert seen == [early, result] and result.shown is None and result.fleet.vms == tuple(VMS)


async def test_only_the_first_list_asks_for_first_rows():
    provider = FirstRowsProvider()
    poller, seen = make(provider)
    await poller.tick()
    await poller.tick()
    assert provider.calls == ["first", "whole"]
    assert len(seen) == 3


async def test_a_list_failing_after_its_first_rows_leaves_no_partial_fleet_as_the_last_good_one():
    poller, seen = make(FirstRowsProvider(fail_after_first=True))
    result = await poller.tick()
    assert seen[0].still_listing and seen[1] is result
    assert result.stale and result.fleet is None and "VM list item 7" in str(result.error)


async def test_without_an_order_the_whole_list_comes_at_once():
    provider = FirstRowsProvider()
    seen: list[PollResult] = []
    await Poller(provider, seen.append, wall_clock=lambda: 100.0).tick()
    assert provider.calls == ["whole"] and len(seen) == 1


class SlowCommitsProvider(Provider):
    """Lists after one turn of the loop; its commits page waits until `answer` is set."""

    kind = "test"

    def __init__(self) -> None:
        super().__init__("lab")
        self.answer = asyncio.Event()

    async def list_vms(self) -> list[Vm]:
        await asyncio.sleep(0)  # a request: the commits request starts meanwhile
        return VMS[:3]

    async def commits_page(self, offset: int, limit: int) -> tuple[list[Commit], int]:
        await self.answer.wait()
        return [Commit(provider="lab", id="c1", parent_vm_id="vm-000")], 1


async def test_the_first_list_does_not_wait_for_its_commits():
    provider = SlowCommitsProvider()
    poller, seen = make(provider)
    ticking = asyncio.create_task(poller.tick())
    for _ in range(100):  # the commits are never answered meanwhile
        await asyncio.sleep(0)
    [early] = seen
    assert early.fleet is not None and early.fleet.vms == tuple(VMS[:3]) and early.fleet.commits == ()
    assert not early.stale and poller.last.fleet is None  # not kept as the last good fleet
    provider.answer.set()
    result = await ticking
    assert seen == [early, result] and [c.id for c in result.fleet.commits] == ["c1"]
    assert result.fleet.vms == tuple(VMS[:3]) and poller.last is result

    provider.answer.clear()  # later polls hand on whole results only
    polling = asyncio.create_task(poller.tick())
    for _ in range(10):
        await asyncio.sleep(0)
    assert seen == [early, result]
    provider.answer.set()
    await polling
    assert len(seen) == 3

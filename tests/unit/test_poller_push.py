"""The poller follows a provider's event stream: events wake polls, a drop falls back to polling and
re-subscribes. Conditions are awaited, never durations."""

from __future__ import annotations

import asyncio

from vmtui.core.errors import Unavailable
from vmtui.core.models import Capabilities, Vm, VmState
from vmtui.providers.base import Provider
from vmtui.services.poller import Poller, PollResult

HOUR = 3600.0


class PushingProvider(Provider):
    """Lists one VM; `events()` yields what the test puts in the current subscription's queue
    (an exception there ends that subscription with it)."""

    kind = "test"
    capabilities = Capabilities(event_stream=True)

    def __init__(self) -> None:
        super().__init__("local")
        self.lists = 0
        self.subscriptions: list[asyncio.Queue] = []
        self.lists_when_subscribed: list[int] = []
        self.times: list[tuple[str, float]] = []

    async def list_vms(self):
        self.lists += 1
        self.times.append(("list", asyncio.get_running_loop().time()))
        return [Vm(provider="local", id="a", state=VmState.RUNNING)]

    async def list_commits(self):
        return []

    async def events(self):
        queue: asyncio.Queue = asyncio.Queue()
        self.subscriptions.append(queue)
        self.lists_when_subscribed.append(self.lists)
        self.times.append(("subscribe", asyncio.get_running_loop().time()))
        yield {"kind": "connected"}
        while True:
            item = await queue.get()
            if isinstance(item, Exception):
                raise item
            yield item


async def until(condition, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


def make(provider: Provider) -> tuple[Poller, list[PollResult]]:
    seen: list[PollResult] = []
    poller = Poller(
        provider,
        seen.append,
        fast=HOUR,
        slow=HOUR,
        pushed_interval=HOUR,
        max_backoff=0.01,
        push_debounce=0.01,
    )
    return poller, seen


async def test_a_pushed_change_wakes_a_poll_and_the_result_says_pushed():
    provider = PushingProvider()
    poller, seen = make(provider)
    running = asyncio.create_task(poller.run())
    try:
        await until(lambda: seen and seen[-1].pushed)
        lists = provider.lists
        provider.subscriptions[-1].put_nowait({"kind": "vm", "id": "a", "change": "updated"})
        await until(lambda: provider.lists > lists)
        assert seen[-1].pushed and seen[-1].fleet is not None
    finally:
        running.cancel()


async def test_a_burst_of_changes_costs_at_most_two_polls():
    provider = PushingProvider()
    poller, seen = make(provider)
    running = asyncio.create_task(poller.run())
    try:
        await until(lambda: seen and seen[-1].pushed)
        poller._last_pushed_wake = float("-inf")  # the window of the connection's re-list is over
        poller.push_debounce = HOUR  # the burst below all lands inside one debounce window
        lists = provider.lists
        for _ in range(50):
            provider.subscriptions[-1].put_nowait({"kind": "vm", "id": "a", "change": "updated"})
        await until(
            lambda: provider.subscriptions[-1].empty() and provider.lists == lists + 1
        )  # the first: at once
        assert poller._debounce is not None  # the rest: one poll when the window ends
        poller._debounce._run()  # the debounce window ends now
        await until(lambda: provider.lists > lists + 1)
        await asyncio.sleep(0.05)
        assert provider.lists == lists + 2
    finally:
        running.cancel()


async def test_a_dropped_stream_falls_back_to_polling_and_resubscribes():
    provider = PushingProvider()
    seen: list[PollResult] = []
    resubscribe = asyncio.Event()

    async def backoff(seconds: float) -> None:
        await resubscribe.wait()

    poller = Poller(
        provider, seen.append, fast=HOUR, slow=HOUR, pushed_interval=1e6, resubscribe_sleep=backoff
    )
    running = asyncio.create_task(poller.run())
    try:
        await until(lambda: seen and seen[-1].pushed)
        assert poller.next_interval() == 1e6
        lists = provider.lists
        provider.subscriptions[-1].put_nowait(Unavailable("engine went away"))
        await until(lambda: provider.lists > lists)  # polled at once on the drop
        assert not poller.pushed and not seen[-1].pushed
        assert poller.next_interval() == HOUR  # the usual interval again, not the pushed one
        assert len(provider.subscriptions) == 1
        resubscribe.set()  # the backoff is over
        await until(lambda: len(provider.subscriptions) == 2 and seen[-1].pushed)
    finally:
        running.cancel()


async def test_a_provider_without_the_capability_is_polled_only():
    provider = PushingProvider()
    provider.capabilities = Capabilities(event_stream=False)
    poller, _ = make(provider)
    assert poller.events is None


async def test_the_stream_is_subscribed_a_window_after_the_first_list_then_re_lists():
    provider = PushingProvider()
    poller, seen = make(provider)
    running = asyncio.create_task(poller.run())
    try:
        await until(lambda: provider.subscriptions)
        (first, listed_at), (then, subscribed_at) = provider.times[:2]
        assert (first, then) == ("list", "subscribe") and provider.lists_when_subscribed == [1]
        assert subscribed_at - listed_at >= 0.9 * poller.push_debounce  # not before the window ended
        assert not seen[0].pushed
        await until(lambda: provider.lists == 2 and seen[-1].pushed)  # the connection's re-list
    finally:
        running.cancel()

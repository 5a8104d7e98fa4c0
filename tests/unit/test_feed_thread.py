"""FeedThread: output from the event loop is fed in order in a thread, with flow control, and the thread ends."""

from __future__ import annotations

import asyncio
import threading

import pytest

from vmtui.terminal.feed_thread import FEED_LIMIT, HIGH_WATER, LOW_WATER, FeedThread

pytestmark = pytest.mark.timeout(60)


class SlowSink:
    """Feeds block until `release` is set: a parser that has fallen behind."""

    def __init__(self) -> None:
        self.fed: list[bytes] = []
        self.threads: set[str] = set()
        self.release = threading.Event()
        self.feeding = threading.Event()

    def feed(self, data: bytes) -> None:
        self.feeding.set()
        self.release.wait()
        self.threads.add(threading.current_thread().name)
        self.fed.append(data)

    def closed(self, reason: str) -> None: ...


class FlowControl:
    def __init__(self) -> None:
        self.events: list[str] = []

    def pause(self) -> None:
        self.events.append("pause")

    def resume(self) -> None:
        self.events.append("resume")


async def until(condition, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_a_sink_that_falls_behind_pauses_the_channel_and_gets_every_byte_in_order() -> None:
    sink, flow = SlowSink(), FlowControl()
    feeder = FeedThread(sink, flow.pause, flow.resume, "feed-test")
    chunks = [bytes([48 + n % 10]) * 32768 for n in range(2 * HIGH_WATER // 32768)]
    for chunk in chunks:
        feeder.put(chunk)
    assert flow.events == ["pause"], "paused once, when the queue passed the high water mark"
    sink.release.set()
    await feeder.finish()
    assert b"".join(sink.fed) == b"".join(chunks)
    assert max(map(len, sink.fed)) <= FEED_LIMIT
    assert sink.threads == {"feed-test"}, "fed in the feed thread, not on the event loop"
    await until(lambda: flow.events == ["pause", "resume"])  # below LOW_WATER
    await until(lambda: not feeder.thread.is_alive())
    assert LOW_WATER < HIGH_WATER


async def test_stop_drops_what_is_queued_and_ends_the_thread() -> None:
    sink, flow = SlowSink(), FlowControl()
    feeder = FeedThread(sink, flow.pause, flow.resume, "feed-test")
    feeder.put(b"first")
    await until(sink.feeding.is_set)  # the thread holds "first"
    feeder.put(b"second")
    feeder.stop()
    sink.release.set()
    await feeder.finish()
    await until(lambda: not feeder.thread.is_alive())
    assert b"second" not in b"".join(sink.fed)
    assert all(thread.name != "feed-test" for thread in threading.enumerate())

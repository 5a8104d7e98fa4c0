"""The engine's change feed: every stored change of a VM or commit, fanned out to live subscribers.

The store calls `publish` after each write of a VM or commit row, from whichever thread wrote it
(routes that write SQLite run in the threadpool); each subscription hands its events to the event
loop it was opened on. A subscriber that falls `MAX_QUEUED` events behind gets one `resync` event
instead of the ones it missed (it should re-list), so a stalled client never holds engine memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

MAX_QUEUED = 1000
TABLE_KINDS = {"vms": "vm", "commits": "commit"}


@dataclass(frozen=True)
class Change:
    kind: Literal["vm", "commit", "resync"]
    id: str
    change: Literal["created", "updated", "deleted", "resync"]


class Subscription:
    """Changes published after it was opened, in order, until the feed closes."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._queue: deque[Change] = deque()
        self._ready = asyncio.Event()
        self._closed = False

    def deliver(self, change: Change | None) -> None:
        """On the subscription's loop: queue a change (None: the feed closed)."""
        if change is None:
            self._closed = True
        elif len(self._queue) >= MAX_QUEUED:
            self._queue.clear()
            self._queue.append(Change("resync", "", "resync"))
        elif not (self._queue and self._queue[-1].kind == "resync"):
            self._queue.append(change)
        self._ready.set()

    async def next(self, timeout: float) -> Change | None:
        """The next change, or None when none came within `timeout` seconds (raises when closed)."""
        if not self._queue and not self._closed:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        if self._queue:
            return self._queue.popleft()
        raise StopAsyncIteration


class ChangeFeed:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: set[Subscription] = set()
        self._closed = False

    def publish(self, table: str, row_id: str, change: Literal["created", "updated", "deleted"]) -> None:
        """A stored change of one row (thread-safe; rows of tables without a kind are ignored)."""
        kind = TABLE_KINDS.get(table)
        if kind is None:
            return
        self._send(Change(kind, row_id, change))  # type: ignore[arg-type]

    def close(self) -> None:
        """End every subscription (the engine is stopping: streams must not hold the server open)."""
        self._closed = True
        self._send(None)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        """A subscription on the running loop, open for the `with` block (closed at once when the feed is)."""
        subscription = Subscription(asyncio.get_running_loop())
        with self._lock:
            if self._closed:
                subscription.deliver(None)
            else:
                self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                self._subscriptions.discard(subscription)

    def _send(self, change: Change | None) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            try:
                subscription.loop.call_soon_threadsafe(subscription.deliver, change)
            except RuntimeError:  # its loop is closed: the subscriber is gone
                pass

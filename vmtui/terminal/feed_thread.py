"""`FeedThread`: parse output that arrives on the event loop (an SSH channel) in a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable

from vmtui.terminal.transport import TerminalSink

HIGH_WATER = 256 * 1024  # queued, not fed yet: above this the channel is paused...
LOW_WATER = 64 * 1024  # ...until the thread has caught up below this
FEED_LIMIT = 64 * 1024  # joined into one feed at most (each feed holds the emulator's lock)


class FeedThread:
    """Hands chunks received on the event loop, in order, to a thread that feeds them to `sink`.

    The thread sleeps on a condition while nothing is queued (no CPU while idle). When more than
    `HIGH_WATER` bytes wait, `pause` is called on the loop, and `resume` once the thread is below
    `LOW_WATER`: the SSH window then holds the remote side back instead of memory filling up."""

    def __init__(self, sink: TerminalSink, pause: Callable[[], None], resume: Callable[[], None], name: str):
        self._sink = sink
        self._pause = pause
        self._resume = resume
        self._loop = asyncio.get_running_loop()
        self._ready = threading.Condition()
        self._chunks: deque[bytes | None] = deque()  # None: feed what came before, then end
        self._queued = 0
        self._paused = False
        self._stopped = False
        self._done: asyncio.Future[None] = self._loop.create_future()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def put(self, data: bytes) -> None:
        """Queue output (event loop)."""
        with self._ready:
            self._chunks.append(data)
            self._queued += len(data)
            pause = self._queued > HIGH_WATER and not self._paused
            self._paused = self._paused or pause
            self._ready.notify()
        if pause:
            self._pause()

    async def finish(self) -> None:
        """Wait until everything queued is fed; the thread then ends."""
        with self._ready:
            self._chunks.append(None)
            self._ready.notify()
        await asyncio.shield(self._done)

    def stop(self) -> None:
        """End the thread now; what is still queued is dropped (the session is being closed)."""
        with self._ready:
            self._stopped = True
            self._ready.notify()

    def _run(self) -> None:
        try:
            while (data := self._next()) is not None:
                self._sink.feed(data)
        finally:
            self._loop.call_soon_threadsafe(self._mark_done)

    def _mark_done(self) -> None:
        if not self._done.done():
            self._done.set_result(None)

    def _next(self) -> bytes | None:
        """The queued chunks joined up to `FEED_LIMIT`; None at the end. Resumes the channel when drained."""
        with self._ready:
            while not self._chunks and not self._stopped:
                self._ready.wait()
            if self._stopped or self._chunks[0] is None:
                return None
            parts: list[bytes] = []
            size = 0
            while self._chunks and self._chunks[0] is not None and size < FEED_LIMIT:
                chunk = self._chunks.popleft()
                assert chunk is not None
                parts.append(chunk)
                size += len(chunk)
            self._queued -= size
            resume = self._paused and self._queued < LOW_WATER
            self._paused = self._paused and not resume
        if resume:
            self._loop.call_soon_threadsafe(self._resume)
        return parts[0] if len(parts) == 1 else b"".join(parts)

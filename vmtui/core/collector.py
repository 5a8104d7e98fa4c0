"""Pausing Python's cyclic garbage collector around bulk steps.

Decoding a 100,000-VM list or building its index creates ~n containers without reference cycles; a
collection in the middle walks every object the process holds (about a third of the time at 100,000
VMs), and collects nothing. Reference counting still frees everything meanwhile.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (it is re-enabled after, if it was enabled)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


UNFROZEN_LIMIT = 40_000
"""Long-lived objects left unfrozen: a full collection walks this many in ~30 ms."""
SETTLE_DELAY = 1.0
"""Seconds from a change to the settle after it: what applying the change held in flight is gone by then."""
COMPACT_GROWTH = 4.0
"""The frozen set may grow to this multiple of its size after the last full collection before the next."""


class FrozenHeap:
    """Keeps what the app holds for long (a big fleet's VMs, rows, tree nodes) out of the collector's passes.

    Python's full collections walk every object the process holds: 0.2-1 s on the UI thread with
    10,000-100,000 VMs loaded, every few seconds while snapshots arrive. `settle()`, called once a
    snapshot or a tree rebuild is in place (`settle_soon`: a second later), collects the young
    generations and looks at how many long-lived objects are not frozen yet: up to `limit`, nothing
    to do (a full pass over them is short); a big step (a load, a tree rebuild: more than 1.5 times
    that) is frozen as it is, and later collections walk only what is newer; in between (many small
    changes, much of it garbage by now) one full pass over the unfrozen objects comes first and
    only survivors beyond `limit` are frozen. Frozen objects are still freed by reference counting
    (a replaced VM goes at once), but one that dies in a reference cycle (Textual's line caches do)
    stays until unfrozen; so when small changes have grown the frozen set to `growth` times its size
    after the last full collection (a big step moves that mark), `settle()` unfreezes, collects
    everything once and freezes again."""

    def __init__(
        self, limit: int = UNFROZEN_LIMIT, growth: float = COMPACT_GROWTH, big_step: float | None = None
    ):
        self.limit = limit
        self.big_step = 1.5 * limit if big_step is None else big_step
        """More unfrozen objects than this at a settle are a load or a rebuild: frozen as they are."""
        self.growth = growth
        self.compacted_at: int | None = None
        """The frozen set's size after the last full collection (None: nothing frozen by this yet)."""
        self.compactions = 0
        self._pending: asyncio.TimerHandle | None = None

    def settle_soon(self, delay: float = SETTLE_DELAY) -> None:
        """`settle()` `delay` seconds after the first call since the last settle (later calls join it)."""
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(delay, self.settle)

    def settle(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        gc.collect(1)
        unfrozen = len(gc.get_objects(generation=2))
        if unfrozen <= self.limit:
            return
        big_step = unfrozen > self.big_step
        if not big_step:
            gc.collect()
            if len(gc.get_objects(generation=2)) <= self.limit:
                return
        gc.freeze()
        frozen = gc.get_freeze_count()
        if self.compacted_at is None:
            self.compacted_at = frozen
        elif big_step:
            # A load or a rebuild is what the app holds now, not garbage: it moves the mark instead of
            # setting off a compaction (at 100,000 VMs the first full list, frozen after its first
            # rows, made one full collection of 1.6 s).
            self.compacted_at += unfrozen
        elif frozen > self.growth * self.compacted_at:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.compacted_at = gc.get_freeze_count()
            self.compactions += 1

    def release(self) -> None:
        """Unfreeze everything (the app is closing: what it held may be collected again)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        gc.unfreeze()
        self.compacted_at = None


frozen_heap = FrozenHeap()
"""The process's one policy (the collector is process-wide)."""

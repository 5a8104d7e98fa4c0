"""The process's one garbage-collector policy (`collector`): when Python's cyclic collector runs, and what
it walks.

A big fleet is hundreds of thousands of long-lived objects (VMs, rows, tree nodes); a full collection
walks every one (0.2-1 s on the UI thread at 10,000-100,000 VMs) and finds next to nothing to free.
1. **Start** (`hold_until_started`, in the app's `on_load`): what exists then (the imported modules, the
   settings) lives as long as the app: it is frozen, never walked. The collector stays off until the
   first screen is whole (`started`): run every 700 allocations, it walked the first screen's objects
   while the first rows were on their way, and found nothing to collect.
2. **Bulk steps** (`paused`: decoding a big list, indexing it, a tree layout) create many containers
   without reference cycles: a collection in their middle walks every object held and frees nothing,
   while reference counting frees what dies. Pauses nest and may span awaits: the collector runs again
   when the last one ends (if it ran when the first began).
3. **After a change is in place** (`settle_soon`: a snapshot applied, a tree rebuilt): what survives is
   frozen, so later collections walk only what is newer (`settle`).
4. **End** (`release`, the app's `on_unmount`, also before the first screen was whole): everything is
   unfrozen and the collector runs again, so what the app held can be collected (tests run many apps in
   one process).
The collector is process-wide: one instance (`collector`) owns it; other instances are for tests.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager

UNFROZEN_LIMIT = 40_000
"""Long-lived objects left unfrozen: a full collection walks this many in ~30 ms."""
SETTLE_DELAY = 1.0
"""Seconds from a change to the settle after it: what applying the change held in flight is gone by then."""
COMPACT_GROWTH = 4.0
"""The frozen set may grow to this multiple of its size after the last full collection before the next."""


class Collector:
    """Switches the collector off and on (`hold_until_started`/`started`, `paused`) and keeps what the
    app holds for long out of its passes (`settle`).

    `settle()` collects the young generations and looks at how many long-lived objects are not frozen
    yet: up to `limit`, nothing to do (a full pass over them is short); a big step (a load, a tree
    rebuild: more than `big_step`) is frozen as it is, and later collections walk only what is newer; in
    between (many small changes, much of it garbage by now) one full pass over the unfrozen objects
    comes first and only survivors beyond `limit` are frozen. Frozen objects are still freed by
    reference counting (a replaced VM goes at once), but one that dies in a reference cycle (Textual's
    line caches do) stays until unfrozen; so when small changes have grown the frozen set to `growth`
    times its size after the last full collection (a big step moves that mark), `settle()` unfreezes,
    collects everything once and freezes again."""

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
        self._frozen = 0
        """The frozen set's size, counted as it is frozen: `gc.get_freeze_count()` walks the whole set
        (2,000,000 objects at 100,000 VMs: 0.1-0.2 s), so it is asked only when a compaction may be due."""
        self._pending: asyncio.TimerHandle | None = None
        self._holds = 0
        """Reasons the collector is off now (the start, each pause): it runs again when the last ends."""
        self._enabled_before = True
        self._starting = False

    def hold_until_started(self) -> None:
        """Freeze what exists now; no collection until `started()` (or `release()`)."""
        gc.freeze()
        if not self._starting:
            self._starting = True
            self._hold()

    def started(self) -> None:
        """The first screen is whole: the start's hold ends."""
        if self._starting:
            self._starting = False
            self._unhold()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No cyclic garbage collection inside the block."""
        self._hold()
        try:
            yield
        finally:
            self._unhold()

    def _hold(self) -> None:
        if self._holds == 0:
            self._enabled_before = gc.isenabled()
            gc.disable()
        self._holds += 1

    def _unhold(self) -> None:
        if self._holds == 0:
            return  # `release()` ended every hold meanwhile (the app closed during a pause)
        self._holds -= 1
        if self._holds == 0 and self._enabled_before:
            gc.enable()

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
            unfrozen = len(gc.get_objects(generation=2))
            if unfrozen <= self.limit:
                return
        if self.compacted_at is None:
            self._frozen = gc.get_freeze_count()  # before this freeze: what the start froze, a short walk
        gc.freeze()
        self._frozen += unfrozen
        if self.compacted_at is None:
            self.compacted_at = self._frozen
        elif big_step:
            # A load or a rebuild is what the app holds now, not garbage: it moves the mark instead of
            # setting off a compaction (at 100,000 VMs the first full list, frozen after its first
            # rows, made one full collection of 1.6 s).
            self.compacted_at += unfrozen
        elif self._frozen > self.growth * self.compacted_at:
            # `_frozen` does not shrink as reference counting frees frozen objects: count them now
            # (one walk of the frozen set), and compact only if they really grew that much.
            self._frozen = gc.get_freeze_count()
            if self._frozen > self.growth * self.compacted_at:
                gc.unfreeze()
                gc.collect()
                gc.freeze()
                self.compacted_at = self._frozen = gc.get_freeze_count()
                self.compactions += 1

    def release(self) -> None:
        """The app is closing: unfreeze everything and end every hold, the start's and any pause the
        close cut short (what the app held may be collected again)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._starting = False
        if self._holds:
            self._holds = 0
            if self._enabled_before:
                gc.enable()
        gc.unfreeze()
        self.compacted_at = None
        self._frozen = 0


collector = Collector()
"""The process's one policy (the collector is process-wide)."""

"""Pausing Python's cyclic garbage collector around bulk steps.

Decoding a 100,000-VM list or building its index creates ~n containers without reference cycles; a
collection in the middle walks every object the process holds (about a third of the time at 100,000
VMs), and collects nothing. Reference counting still frees everything meanwhile.
"""

from __future__ import annotations

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


COMPACT_GROWTH = 2.0
"""The frozen set may grow to this multiple of its size after the last full collection before the next."""


class FrozenHeap:
    """Keeps what the app holds for long (a big fleet's VMs, rows, tree nodes) out of the collector's passes.

    Python's full collections walk every object the process holds: 0.2-1 s on the UI thread with
    10,000-100,000 VMs loaded, every few seconds while snapshots arrive. `settle()`, called once a
    snapshot or a tree rebuild is in place, collects the young generations (garbage is not frozen)
    and freezes what survived: later collections walk only what is newer. Frozen objects are still
    freed by reference counting as usual (a replaced VM goes at once), but one that dies in a
    reference cycle stays until unfrozen; so when the frozen set has grown to `growth` times its size
    after the last full collection, `settle()` unfreezes, collects everything once and freezes again,
    bounding such garbage to the live heap's size, as rarely as the heap doubles."""

    def __init__(self, growth: float = COMPACT_GROWTH):
        self.growth = growth
        self.compacted_at: int | None = None
        """The frozen set's size after the last full collection (None: nothing frozen by this yet)."""
        self.compactions = 0

    def settle(self) -> None:
        gc.collect(1)
        gc.freeze()
        frozen = gc.get_freeze_count()
        if self.compacted_at is None:
            self.compacted_at = frozen
        elif frozen > self.growth * self.compacted_at:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.compacted_at = gc.get_freeze_count()
            self.compactions += 1

    def release(self) -> None:
        """Unfreeze everything (the app is closing: what it held may be collected again)."""
        gc.unfreeze()
        self.compacted_at = None


frozen_heap = FrozenHeap()
"""The process's one policy (the collector is process-wide)."""

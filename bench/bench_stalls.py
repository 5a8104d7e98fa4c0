"""UI stalls at a big fleet: event-loop lag and garbage-collector pauses during ~20 s of normal use.

`python -m bench stalls` (or `python -m bench.bench_stalls [N ...]`). vmtui is fed by `bench.fake_vers`
(a subprocess on loopback) with N VMs and N/10 commits, every lineage either cached (a second start) or
streaming in (a first start, 100 requests/s). Once it has settled (and `WARM_UP` rounds more), for
`ROUNDS` one-second rounds: the server flips 1 % of the VMs and the poller fetches and applies that
snapshot, the list scrolls, and every fifth round a filter is typed and cleared. Meanwhile:
- a loop-lag probe (a task sleeping 10 ms, recording how late it wakes: a frozen UI wakes it late);
- every garbage collection (`gc.callbacks`: its generation, wall time and its thread's CPU time);
- process CPU, and RSS after the 2nd and after the last snapshot (objects of replaced snapshots must go).
Baseline, same run: the same probe in a bare Textual app holding N rows in one DataTable, with the same
scrolling and 1 % `update_cell` per round. One more row: the CPU of one lineage layout (the pure
shapes the tree widget computes in a thread) at N VMs.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Self

import httpx
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable

from bench.bench_fleet import PROFILE, REPO_ROOT, SIZE, fake_server
from bench.bench_tui import HOLD, BareTableApp, _app, cold_lineage_cache, provider_opener
from bench.fake_vers import parent_commit, vm_id
from vmtui.providers.vers import VersProvider
from vmtui.services.lineage_cache import Lineage, LineageCache
from vmtui.ui.app import VmTuiApp
from vmtui.ui.widgets.lineage_tree import _shapes

VM_COUNTS = (10_000, 100_000)
ROUNDS = 20
WARM_UP = 3
"""Rounds before the measured ones: the first snapshots after the load still grow the heap."""
PROBE_SLEEP = 0.010
CHANGED_SHARE = 0.01
STREAM_RATE = 100.0
SETTLE_TIMEOUT = 600.0


class StallProbe:
    """Loop lag, GC pauses and CPU while a block runs (the block's own event loop is probed)."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.busy: list[float] = []
        """The UI thread's CPU time between two wake-ups of the probe: the work that held the loop,
        without the time it waited for a core (on a loaded machine that wait is most of the lag)."""
        self.pauses: list[tuple[int, float, float]] = []
        """(generation, seconds, CPU seconds of its thread) of each collection: on a loaded machine the
        wall time also counts time the process waited for a core."""
        self._gc_started = self._gc_cpu = 0.0
        self._task: asyncio.Task[None] | None = None
        self._cpu = self._wall = 0.0
        self.cpu_percent = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started, self._gc_cpu = time.perf_counter(), time.thread_time()
        else:
            wall, cpu = time.perf_counter() - self._gc_started, time.thread_time() - self._gc_cpu
            self.pauses.append((info["generation"], wall, cpu))

    async def _probe(self) -> None:
        while True:
            asleep, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(PROBE_SLEEP)
            self.lags.append(time.perf_counter() - asleep - PROBE_SLEEP)
            self.busy.append(time.thread_time() - cpu)

    async def __aenter__(self) -> Self:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.create_task(self._probe())
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.cpu_percent = 100 * (time.process_time() - self._cpu) / (time.perf_counter() - self._wall)
        gc.callbacks.remove(self._on_gc)
        assert self._task is not None
        self._task.cancel()

    def figures(self) -> dict[str, float]:
        lags, busy = sorted(self.lags), sorted(self.busy)
        return {
            "lag_p99": 1000 * lags[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else 0.0,
            "lag_max": 1000 * lags[-1] if lags else 0.0,
            "busy_p99": 1000 * busy[min(len(busy) - 1, int(0.99 * len(busy)))] if busy else 0.0,
            "busy_max": 1000 * busy[-1] if busy else 0.0,
            "gc_max": 1000 * max((wall for _, wall, _ in self.pauses), default=0.0),
            "gc_cpu_max": 1000 * max((cpu for _, _, cpu in self.pauses), default=0.0),
            "gc_full": sum(generation == 2 for generation, _, _ in self.pauses),
            "cpu": self.cpu_percent,
        }


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) / 1024
    return 0.0


async def _rounds(
    pilot: Pilot, one_round: Callable[[int], Awaitable[None]]
) -> tuple[dict[str, float], float, float]:
    """`WARM_UP` rounds, then `ROUNDS` one-second rounds under the probe: the probe's figures, RSS after
    round 2 and after the last."""
    for round_no in range(-WARM_UP, 0):
        await one_round(round_no)
        await pilot.press("down", "pagedown", "up")
    rss_second = 0.0
    async with StallProbe() as probe:
        for round_no in range(ROUNDS):
            started = time.perf_counter()
            await one_round(round_no)
            await pilot.press("down", "down", "down", "pagedown", "up")
            if round_no == 1:
                rss_second = rss_mb()
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))
    return probe.figures(), rss_second, rss_mb()


async def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"benchmark condition not reached: {what}")
        await asyncio.sleep(0.05)


def _settled(app: VmTuiApp, streaming: bool) -> bool:
    """Listed, the panes up, the tree built; with a streaming lineage, its first publish shown."""
    screen = app.main_screen
    result = screen.fleet.results.get(PROFILE)
    if result is None or result.fleet is None or not screen.panes_ready or screen.lineage.rebuilding:
        return False
    if streaming:
        return result.lineage is not None and result.lineage[0] > 0
    return result.lineage is None


async def _measure_app(url: str, count: int, streaming: bool) -> dict[str, float]:
    app = _app({PROFILE: provider_opener(lambda: VersProvider(PROFILE, url, "bench-key"))}, HOLD)
    async with app.run_test(headless=True, size=SIZE) as pilot, httpx.AsyncClient(base_url=url) as client:
        screen = app.main_screen
        async with StallProbe() as loading:
            await _until(lambda: screen.table.row_count == count, SETTLE_TIMEOUT, f"{count} VMs listed")
            await _until(lambda: _settled(app, streaming), SETTLE_TIMEOUT, "the lineage tree built")
        await pilot.pause()
        poller = screen.fleet.pollers[PROFILE]
        fleets = screen.fleet.fleets()
        cpu = time.process_time()
        _shapes({fleet.provider: fleet for fleet in fleets}, frozenset())
        layout_ms = 1000 * (time.process_time() - cpu)

        async def one_round(round_no: int) -> None:
            await client.post("/_bench/change", params={"share": CHANGED_SHARE})
            ticks = poller.ticks
            shown = screen.fleet.results.get(PROFILE)
            poller.wake()
            await _until(lambda: poller.ticks > ticks, 60, "the poll after a change")
            await _until(lambda: screen.fleet.results.get(PROFILE) is not shown, 60, "the snapshot applied")
            if round_no % 5 == 4:
                await pilot.press("slash", "0", "0", "0", "a")
                screen.clear_filter()

        figures, rss_second, rss_last = await _rounds(pilot, one_round)
        await poller.provider.aclose()
    load = loading.figures()
    return figures | {
        "layout_ms": layout_ms,
        "rss_second": rss_second,
        "rss_last": rss_last,
        "load_gc_max": load["gc_max"],
        "load_gc_full": load["gc_full"],
    }


async def _measure_bare(count: int) -> dict[str, float]:
    app: App[None] = BareTableApp(count)
    async with app.run_test(headless=True, size=SIZE) as pilot:
        table = app.query_one(DataTable)
        await pilot.pause()
        step = round(1 / CHANGED_SHARE)

        async def one_round(round_no: int) -> None:
            for index in range(round_no % step, count, step):
                table.update_cell(str(index), "state", f"● paused {round_no}")

        figures, _, _ = await _rounds(pilot, one_round)
    return figures


def _seeded_cache(url: str, count: int) -> None:
    """Every VM's lineage as the fake server's metadata gives it (what a first start leaves behind)."""
    LineageCache.for_profile(PROFILE, url).save(
        {vm_id(index): Lineage(parent_commit(index, count), None, None) for index in range(count)}
    )


def _row(name: str, value: float, unit: str, baseline: float | None = None) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "baseline": baseline}


def measure(kind: str, count: int, streaming: bool) -> dict[str, float]:
    """One case in this interpreter: vmtui (`kind` "app") or the bare table ("bare")."""
    if kind == "bare":
        return asyncio.run(_measure_bare(count))
    with cold_lineage_cache(), fake_server(count, STREAM_RATE if streaming else 0.0) as server:
        if not streaming:
            _seeded_cache(server.url, count)
        return asyncio.run(_measure_app(server.url, count, streaming))


def _measured(kind: str, count: int, streaming: bool) -> dict[str, float]:
    """`measure` in a fresh interpreter: what one case leaves in the heap must not weigh on the next."""
    how = "streaming" if streaming else "cached"
    result = subprocess.run(
        [sys.executable, "-m", "bench.bench_stalls", "one", kind, str(count), how],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{kind} {count} {how} failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def stall_rows(count: int, streaming: bool) -> list[dict[str, Any]]:
    bare = _measured("bare", count, streaming=False)
    app = _measured("app", count, streaming)
    label = f"{count:,} VMs, {'lineage streaming' if streaming else 'lineage cached'}"
    return [
        _row(f"{label}: loop lag p99 (vs bare DataTable)", app["lag_p99"], "ms", bare["lag_p99"]),
        _row(f"{label}: loop lag max (vs bare)", app["lag_max"], "ms", bare["lag_max"]),
        _row(f"{label}: longest loop block, CPU (vs bare)", app["busy_max"], "ms CPU", bare["busy_max"]),
        _row(f"{label}: loop block p99, CPU (vs bare)", app["busy_p99"], "ms CPU", bare["busy_p99"]),
        _row(f"{label}: longest GC pause (vs bare)", app["gc_max"], "ms", bare["gc_max"]),
        _row(
            f"{label}: longest GC pause, its CPU (vs bare)", app["gc_cpu_max"], "ms CPU", bare["gc_cpu_max"]
        ),
        _row(f"{label}: full collections in {ROUNDS} s (vs bare)", app["gc_full"], "", bare["gc_full"]),
        _row(f"{label}: CPU (vs bare)", app["cpu"], "% of a core", bare["cpu"]),
        _row(f"{label}: RSS after {ROUNDS} snapshots (vs after 2)", app["rss_last"], "MB", app["rss_second"]),
        _row(f"{label}: one lineage layout", app["layout_ms"], "ms CPU"),
        _row(f"{label}: longest GC pause while loading", app["load_gc_max"], "ms"),
        _row(f"{label}: full collections while loading", app["load_gc_full"], ""),
    ]


def run(vm_counts: tuple[int, ...] = VM_COUNTS) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for count in vm_counts:
        rows += stall_rows(count, streaming=False)
    rows += stall_rows(min(vm_counts), streaming=True)
    return rows


def _main(argv: list[str]) -> int:
    if argv[:1] == ["one"]:
        kind, count, how = argv[1], int(argv[2]), argv[3]
        print(json.dumps(measure(kind, count, how == "streaming")))
        return 0
    counts = tuple(int(arg) for arg in argv) or VM_COUNTS
    for row in run(counts):
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

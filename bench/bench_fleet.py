"""Benchmarks of a big fleet over real HTTP: vmtui against a bare Textual app, both fed by `bench.fake_vers`.

A fresh fake Vers API (a subprocess on loopback, 100 requests/s with 429 + Retry-After) serves N VMs and
N/10 commits to each app in turn. Rows, at each N:
- first rows on screen, vs the bare app's first rows (it fetches the list, shows one screenful, then the rest);
- the last VM of the list findable (a row of the VM table, which the filter searches), vs the bare app's all
  rows; both vmtui figures are watched from the app's construction on, not from when `run_test` hands over;
  these two are `ROUNDS` alternated rounds (bare, app, bare, app...; a fresh server each, the app with a
  cold lineage cache), see `paired_rounds_row`;
- from one more start: lineage complete (every VM carries its parent commit), vs N / rate limit, the least
  time it can take, and the share of API requests answered 429;
- a second start against the same server (lineage cached): metadata requests made.
Lineage and the second start are measured only where N / rate fits in `GIVE_UP` (not at 100,000 VMs).

Idle CPU, unchanged-poll CPU, the 1%-changed snapshot and peak RSS are `bench_tui`'s rows.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from textual import work
from textual.widgets import DataTable

from bench.bare import PROFILE, SIZE, BareApp, get_vms, vm_cells
from bench.fake_vers import vm_id
from vmtui.providers.base import Provider
from vmtui.providers.vers import VersProvider
from vmtui.ui.app import AppOptions, VmTuiApp
from vmtui.ui.widgets.vm_table import VmTable

RATE = 100.0
VM_COUNTS = (1_000, 10_000)
ROUNDS = 5
"""Alternated bare/app rounds behind the first-rows and findable rows: one run each swung the 10,000-VM
first-rows ratio between 1.5x and 2.5x on a quiet machine."""
GIVE_UP = 240.0
"""Seconds after which a figure is reported as not reached (the row then says so)."""
FIRST_SCREEN = 50
BARE_BATCH = 10_000
"""Rows the bare app adds per turn of its event loop after the first screenful: up to 10,000 VMs all
at once, as before; 100,000 in ten steps, so it does not freeze for minutes."""
REPO_ROOT = Path(__file__).resolve().parent.parent


class FakeServer:
    """`python -m bench.fake_vers` in a subprocess, with its benchmark-only routes."""

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"

    def stats(self) -> dict[str, int]:
        return dict(httpx.get(f"{self.url}/_bench/stats").json())


@contextmanager
def fake_server(count: int, rate: float = RATE) -> Iterator[FakeServer]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_vers", "--vms", str(count), "--rate", str(rate)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError("bench.fake_vers did not start")
        server = FakeServer(int(line))
        deadline = time.monotonic() + 60
        while True:
            try:
                server.stats()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def cold_lineage_cache() -> Iterator[None]:
    """A fresh, empty lineage cache (XDG_CACHE_HOME, inherited by subprocesses) for one measurement."""
    before = os.environ.get("XDG_CACHE_HOME")
    with tempfile.TemporaryDirectory(prefix="vmtui-bench-cache-") as cache:
        os.environ["XDG_CACHE_HOME"] = cache
        try:
            yield
        finally:
            if before is None:
                del os.environ["XDG_CACHE_HOME"]
            else:
                os.environ["XDG_CACHE_HOME"] = before


# ------------------------------------------------------------------ the bare Textual baseline


class BareFleetApp(BareApp):
    """The rows of one `GET /api/v1/vm`: the first screenful, then the rest in batches (one per turn of
    the event loop, so 100,000 rows do not freeze it for minutes)."""

    def __init__(self, url: str):
        super().__init__()
        self.url = url
        self.first_rows_at: float | None = None
        self.all_rows_at: float | None = None

    def fill(self, table: DataTable[str]) -> None:
        self.load(table)

    @work(exit_on_error=True)
    async def load(self, table: DataTable[str]) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            vms = json.loads((await get_vms(client)).content)
        table.add_rows(vm_cells(vm) for vm in vms[:FIRST_SCREEN])
        self.first_rows_at = time.perf_counter()
        for start in range(FIRST_SCREEN, len(vms), BARE_BATCH):
            await asyncio.sleep(0)
            table.add_rows(vm_cells(vm) for vm in vms[start : start + BARE_BATCH])
        self.all_rows_at = time.perf_counter()


# ------------------------------------------------------------------ measuring


async def _until(condition: Callable[[], bool], timeout: float, poll: float = 0.005) -> bool:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(poll)
    return True


async def _measure_bare(url: str) -> tuple[float | None, float | None]:
    """Seconds to the bare app's first rows and to all rows (None: not within `GIVE_UP`)."""
    started = time.perf_counter()
    app = BareFleetApp(url)
    async with app.run_test(headless=True, size=SIZE):
        await _until(lambda: app.all_rows_at is not None, GIVE_UP)
        first, every = app.first_rows_at, app.all_rows_at
        app.exit()
    return (
        None if first is None else first - started,
        None if every is None else every - started,
    )


def _opener(url: str) -> Callable[[Callable[[str], None]], Any]:
    async def open_provider(_status: Callable[[str], None]) -> Provider:
        return VersProvider(PROFILE, url, "bench-key")

    return open_provider


async def _measure_app(url: str, count: int, expect_lineage: int | None) -> dict[str, float | None]:
    """Seconds from constructing the app to its first rows, the last VM listed, lineage complete (not
    waited for when `expect_lineage` is None)."""
    last = (PROFILE, vm_id(count - 1))
    started = time.perf_counter()
    app = VmTuiApp({PROFILE: _opener(url)}, AppOptions(active_profile=PROFILE))
    figures: dict[str, float | None] = {"first": None, "findable": None, "lineage": None}

    def lineage_done() -> bool:
        result = app.main_screen.fleet.results.get(PROFILE) if app.main_screen.is_attached else None
        fleet = result.fleet if result is not None else None
        return (
            fleet is not None and sum(vm.parent_commit_id is not None for vm in fleet.vms) >= expect_lineage
        )

    def table() -> VmTable | None:
        return next(iter(app.main_screen.query(VmTable)), None)  # from its compose on

    def note_first_rows(shown: VmTable) -> None:
        """The moment the first rows are in the table, as the bare app notes its own (polled, the note
        would wait for whatever else the loop runs then, such as the panes' mount)."""
        set_fleet = shown.set_fleet

        def noting_set_fleet(vms: Any) -> None:
            set_fleet(vms)
            if shown.row_count and figures["first"] is None:
                figures["first"] = time.perf_counter() - started

        shown.set_fleet = noting_set_fleet  # type: ignore[method-assign]

    async def watch() -> None:
        """From the start (not from when `run_test` hands over, which waits for the screen to be idle)."""
        if await _until(lambda: table() is not None, GIVE_UP):  # composed before any list is applied
            shown = table()
            assert shown is not None
            if shown.row_count:
                figures["first"] = time.perf_counter() - started
            note_first_rows(shown)
        await _until(lambda: figures["first"] is not None, GIVE_UP - (time.perf_counter() - started))
        findable = lambda: (shown := table()) is not None and shown.index.position(last) is not None
        if await _until(findable, GIVE_UP - (time.perf_counter() - started)):
            figures["findable"] = time.perf_counter() - started

    watching = asyncio.ensure_future(watch())
    async with app.run_test(headless=True, size=SIZE):
        await watching
        left = GIVE_UP - (time.perf_counter() - started)
        if expect_lineage is not None and await _until(lineage_done, left, poll=0.25):  # counting costs
            figures["lineage"] = time.perf_counter() - started
        for poller in app.main_screen.fleet.pollers.values():
            await poller.provider.aclose()
    return figures


def _row(name: str, value: float | None, unit: str, baseline: float | None) -> dict[str, Any]:
    ratio = value / baseline if value is not None and baseline else None
    return {"name": name, "value": value, "unit": unit, "baseline": baseline, "ratio": ratio}


def _seconds_row(name: str, value: float | None, baseline: float | None) -> dict[str, Any]:
    if value is None:
        return _row(f"{name}: not reached within {GIVE_UP:g} s", None, "s", baseline)
    return _row(name, value, "s", baseline)


def paired_rounds_row(name: str, app: list[float | None], bare: list[float | None]) -> dict[str, Any]:
    """Alternated rounds of the app and the bare app in one row: the medians of each side's seconds, and
    as the ratio the median of the rounds' own ratios (each round's pair saw about the same machine
    load), their range in the name. A round where either side got nowhere within `GIVE_UP` says so."""
    if not app or None in app or None in bare:
        return _row(f"{name}: not reached within {GIVE_UP:g} s in every round", None, "s", None)
    ratios = [mine / theirs for mine, theirs in zip(app, bare, strict=True) if mine and theirs]
    spread = f"{min(ratios):.2f}-{max(ratios):.2f}x" if ratios else "-"
    return {
        **_row(
            f"{name}; medians of {len(app)} alternated rounds, ratio the rounds' median ({spread})",
            statistics.median(app),
            "s",
            statistics.median(bare),
        ),
        "ratio": statistics.median(ratios) if ratios else None,
    }


def first_rows_rounds(count: int, rate: float, rounds: int) -> dict[str, list[float | None]]:
    """`rounds` alternated runs of the bare app and the app (no lineage wait), each with a fresh fake
    server and the app with a cold lineage cache: seconds to first rows and to all rows / findable."""
    figures: dict[str, list[float | None]] = {"bare_first": [], "bare_all": [], "first": [], "findable": []}
    for _ in range(rounds):
        with fake_server(count, rate) as server:
            bare_first, bare_all = asyncio.run(_measure_bare(server.url))
        with cold_lineage_cache(), fake_server(count, rate) as server:
            app = asyncio.run(_measure_app(server.url, count, None))
        figures["bare_first"].append(bare_first)
        figures["bare_all"].append(bare_all)
        figures["first"].append(app["first"])
        figures["findable"].append(app["findable"])
    return figures


def fleet_rows(count: int, rate: float = RATE, rounds: int = ROUNDS) -> list[dict[str, Any]]:
    """The rows at `count` VMs: first rows and findable over `rounds` alternated rounds; lineage, its
    429s and the second start from one more start (with a cold cache), where N / rate fits in `GIVE_UP`."""
    floor = count / rate
    figures = first_rows_rounds(count, rate, rounds)
    rows = [
        paired_rounds_row(
            f"{count:,} VMs: first rows on screen (vs bare first rows)",
            figures["first"],
            figures["bare_first"],
        ),
        paired_rounds_row(
            f"{count:,} VMs: last VM findable (vs bare all rows)", figures["findable"], figures["bare_all"]
        ),
    ]
    if floor > GIVE_UP:
        return [
            *rows,
            _row(f"{count:,} VMs: lineage not waited for (N / rate = {floor:g} s)", None, "s", floor),
        ]
    expect_lineage = count - max(1, count // 10)
    with cold_lineage_cache(), fake_server(count, rate) as server:
        app = asyncio.run(_measure_app(server.url, count, expect_lineage))
        first_stats = server.stats()
        asyncio.run(_measure_app(server.url, count, expect_lineage))
        second_stats = server.stats()
    share_429 = 100 * first_stats.get("429", 0) / max(1, first_stats.get("requests", 0))
    return [
        *rows,
        _row(f"{count:,} VMs: requests answered 429 (first start)", share_429, "%", None),
        _seconds_row(f"{count:,} VMs: lineage complete (vs N / rate limit)", app["lineage"], floor),
        _row(
            f"{count:,} VMs: metadata requests on a second start",
            second_stats.get("metadata", 0) - first_stats.get("metadata", 0),
            "requests",
            None,
        ),
    ]


def run(vm_counts: tuple[int, ...] = VM_COUNTS) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for count in vm_counts:
        rows += fleet_rows(count)
    return rows


if __name__ == "__main__":
    counts = tuple(int(arg) for arg in sys.argv[1:]) or VM_COUNTS
    for row in run(counts):
        print(row)

"""Benchmarks of a big fleet over real HTTP: vmtui against a bare Textual app, both fed by `bench.fake_vers`.

A fresh fake Vers API (a subprocess on loopback, 100 requests/s with 429 + Retry-After) serves N VMs and
N/10 commits to each app in turn. Rows, at each N:
- first rows on screen, vs the bare app's first rows (it fetches the list, shows one screenful, then the rest);
- the last VM of the list findable (a row of the VM table, which the filter searches), vs the bare app's all
  rows; both vmtui figures are watched from the app's construction on, not from when `run_test` hands over;
- lineage complete (every VM carries its parent commit), vs N / rate limit, the least time it can take;
- the share of API requests answered 429;
- a second start against the same server (lineage cached): metadata requests made.
Lineage and the second start are measured only where N / rate fits in `GIVE_UP` (not at 100,000 VMs).

Idle CPU, unchanged-poll CPU, the 1%-changed snapshot and peak RSS are `bench_tui`'s rows.
"""

from __future__ import annotations

import asyncio
import json
import os
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
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from bench.fake_vers import vm_id
from vmtui.providers.base import Provider
from vmtui.providers.vers import VersProvider
from vmtui.ui.app import AppOptions, VmTuiApp
from vmtui.ui.widgets.vm_table import VmTable

PROFILE = "bench"
SIZE = (120, 40)
COLUMNS = ("provider", "vm", "state", "age", "parent", "labels")
RATE = 100.0
VM_COUNTS = (1_000, 10_000)
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


# ------------------------------------------------------------------ the bare Textual baseline


class BareFleetApp(App[None]):
    """One DataTable fed by one `GET /api/v1/vm`: the first screenful, then the rest in batches (one
    per turn of the event loop, so 100,000 rows do not freeze it for minutes)."""

    def __init__(self, url: str):
        super().__init__()
        self.url = url
        self.first_rows_at: float | None = None
        self.all_rows_at: float | None = None

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.load()

    @work(exit_on_error=True)
    async def load(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            while True:
                response = await client.get("/api/v1/vm")
                if response.status_code != 429:
                    break
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            vms = json.loads(response.content)
        table = self.query_one(DataTable)
        self._add(table, vms[:FIRST_SCREEN])
        self.first_rows_at = time.perf_counter()
        for start in range(FIRST_SCREEN, len(vms), BARE_BATCH):
            await asyncio.sleep(0)
            self._add(table, vms[start : start + BARE_BATCH])
        self.all_rows_at = time.perf_counter()

    @staticmethod
    def _add(table: DataTable[str], vms: list[dict[str, Any]]) -> None:
        table.add_rows(
            (
                PROFILE,
                vm["vm_id"],
                vm["state"],
                "3mo",
                "-",
                " ".join(f"{k}={v}" for k, v in vm["labels"].items()),
            )
            for vm in vms
        )


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
        return app.main_screen.table if app.main_screen.is_mounted else None

    async def watch() -> None:
        """From the start (not from when `run_test` hands over, which waits for the screen to be idle)."""
        if await _until(lambda: (shown := table()) is not None and shown.row_count > 0, GIVE_UP):
            figures["first"] = time.perf_counter() - started
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


def fleet_rows(count: int, rate: float = RATE) -> list[dict[str, Any]]:
    """The rows at `count` VMs; lineage and the second start only when N / rate fits in `GIVE_UP`."""
    floor = count / rate
    with_lineage = floor <= GIVE_UP
    expect_lineage = count - max(1, count // 10) if with_lineage else None
    with fake_server(count, rate) as server:
        bare_first, bare_all = asyncio.run(_measure_bare(server.url))
    before = os.environ.get("XDG_CACHE_HOME")
    with tempfile.TemporaryDirectory(prefix="vmtui-bench-fleet-") as cache:
        os.environ["XDG_CACHE_HOME"] = cache  # a cold lineage cache for the first start
        try:
            with fake_server(count, rate) as server:
                app = asyncio.run(_measure_app(server.url, count, expect_lineage))
                first_stats = server.stats()
                if with_lineage:
                    asyncio.run(_measure_app(server.url, count, expect_lineage))
                second_stats = server.stats()
        finally:
            if before is None:
                del os.environ["XDG_CACHE_HOME"]
            else:
                os.environ["XDG_CACHE_HOME"] = before
    share_429 = 100 * first_stats.get("429", 0) / max(1, first_stats.get("requests", 0))
    rows = [
        _seconds_row(f"{count:,} VMs: first rows on screen (vs bare first rows)", app["first"], bare_first),
        _seconds_row(f"{count:,} VMs: last VM findable (vs bare all rows)", app["findable"], bare_all),
        _row(f"{count:,} VMs: requests answered 429 (first start)", share_429, "%", None),
    ]
    if not with_lineage:
        return [
            *rows,
            _row(f"{count:,} VMs: lineage not waited for (N / rate = {floor:g} s)", None, "s", floor),
        ]
    return [
        *rows,
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

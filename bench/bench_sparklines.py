"""Idle CPU of the TUI with the details pane's CPU/memory sparklines sampling, at 100 VMs.

The fleet is served as Vers API JSON through the real VersProvider over an `httpx.MockTransport`
(`bench_tui.MockVersApi`) plus the local engine's `/vm/{id}/metrics` route, so the whole client
side runs: default polling, the selected VM sampled every 2 s (`resources.INTERVAL`), the sparklines
redrawn (the details pane is scrolled to them: out of view they are not drawn). (The real engine is not used: on a shared host its pid budget caps it below 100 VMs.)
Rows, each over `IDLE_SECONDS` in the same run:
- the app with sparklines against a bare Textual app with a 100-row DataTable (goal: < 1 % of a core);
- the same app against itself on a provider without metrics (what the sparklines add).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from textual.widgets import Sparkline

from bench.bench_tui import (
    PROFILE,
    SIZE,
    BareTableApp,
    MockVersApi,
    _lineage_complete,
    _row,
    _until,
    provider_opener,
    seeded_lineage_cache,
)
from vmtui.providers.vers import VersProvider
from vmtui.ui.app import VmTuiApp
from vmtui.ui.options import AppOptions

VMS = 100
IDLE_SECONDS = 20.0
"""Ten samples of the selected VM."""


class MetricsVersApi(MockVersApi):
    """`MockVersApi` that also answers `GET /vm/{id}/metrics` like the local engine, with CPU time
    growing 10 ms per reading."""

    def __init__(self, count: int):
        super().__init__(count)
        self.readings = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")
        if request.url.path.startswith("/api/v1/vm/") and parts[-1] == "metrics":
            self.readings += 1
            return httpx.Response(
                200,
                json={
                    "vm_id": parts[4],
                    "cpu_usage_usec": 10_000 * self.readings,
                    "memory_current_bytes": 64 * 1024 * 1024,
                    "memory_limit_bytes": 512 * 1024 * 1024,
                    "vcpu_count": 1,
                    "sampled_at": time.monotonic(),
                },
            )
        return super().handle(request)

    def provider(self) -> VersProvider:
        transport = httpx.MockTransport(self.handle)
        return VersProvider(PROFILE, "https://api.vers.sh", "bench-key", transport=transport, metrics=True)


async def _idle_app(api: MockVersApi, sampling: bool) -> float:
    app = VmTuiApp({PROFILE: provider_opener(api.provider)}, AppOptions(active_profile=PROFILE))
    async with app.run_test(headless=True, size=SIZE):
        await _until(lambda: app.main_screen.table.row_count >= VMS, 60, f"{VMS} rows")
        await _until(lambda: _lineage_complete(app), 60, "lineage from the seeded cache")
        poller = app.main_screen.fleet.pollers[PROFILE]
        await _until(lambda: poller.ticks >= 2, 60, "a second poll: start-up is over", poll=0.1)
        app.main_screen.query_one("#details").scroll_end(animate=False)  # the graphs in view, as watched
        memory = app.main_screen.query_one("#memory-graph", Sparkline)
        if sampling:
            await _until(lambda: len(memory.data or []) >= 2, 60, "two samples in the sparkline", poll=0.1)
        before = len(memory.data or [])
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.sleep(IDLE_SECONDS)
        percent = 100 * (time.process_time() - cpu) / (time.perf_counter() - wall)
        sampled = len(memory.data or []) - before
    if sampling and sampled < IDLE_SECONDS / 2 - 2:
        raise RuntimeError(f"the sparkline was sampled {sampled} times in {IDLE_SECONDS:g} s")
    return percent


async def _idle_bare() -> float:
    app = BareTableApp(VMS)
    async with app.run_test(headless=True, size=SIZE):
        await _until(lambda: app.query_one("DataTable").row_count >= VMS, 60, "bare rows")
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.sleep(IDLE_SECONDS)
        return 100 * (time.process_time() - cpu) / (time.perf_counter() - wall)


def _steady_idle(api: MockVersApi, sampling: bool) -> float:
    """Idle CPU with every lineage cached (as on a second start): no metadata request in the window."""
    with seeded_lineage_cache(api):
        return asyncio.run(_idle_app(api, sampling))


def run() -> list[dict[str, Any]]:
    with_graphs = _steady_idle(MetricsVersApi(VMS), sampling=True)
    without = _steady_idle(MockVersApi(VMS), sampling=False)
    bare = asyncio.run(_idle_bare())
    name = f"idle CPU, {VMS} VMs, sparklines sampling every 2 s"
    return [
        _row(f"{name} (vs bare idle)", round(with_graphs, 3), "% of a core", round(bare, 4)),
        _row(f"{name} (vs same app, no metrics)", round(with_graphs, 3), "% of a core", round(without, 4)),
    ]

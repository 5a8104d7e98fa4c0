"""Benchmark: a VM state change made through the local engine's API, until it is on the TUI's screen.

The real engine (`vmtui serve` for a temp state dir, needs root) holds `VMS` running VMs; a separate
client pauses and resumes one of them `ROUNDS` times, and each time, from the API's answer, the headless
`VmTuiApp` is watched until that row's state cell holds the new state (painted in the next frame). Measured with the engine's event stream followed
(what the local profile does) and, as the in-run baseline, with polling only (the same app and the
default poll settings, the stream capability switched off). Rows: p50 and p99 of that latency.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.bench_tui import PROFILE, SIZE, _create_vms, _delete_vms, _row, _stop_daemon, _until
from vmtui.config import PollSettings
from vmtui.providers.base import Provider
from vmtui.providers.vers import VersProvider
from vmtui.services.local_daemon import LocalEndpoint, ensure_daemon
from vmtui.ui.app import VmTuiApp
from vmtui.ui.options import AppOptions

VMS = 10
ROUNDS = 40
POLLED_ROUNDS = 20
"""The baseline's rounds take seconds each (the default 4 s poll)."""
SETTLE_SECONDS = 0.3
"""Pause between rounds, so each change meets a quiet app (not the tail of the previous one)."""


def _provider(endpoint: LocalEndpoint, *, push: bool) -> VersProvider:
    return VersProvider(
        PROFILE, endpoint.api_url, endpoint.token, memory_snapshots=False, event_stream=push, timeout=60
    )


def _shown_state(app: VmTuiApp, vm_id: str) -> str:
    table = app.main_screen.table
    try:
        return str(table.cells((PROFILE, vm_id))[2].plain)
    except Exception:  # noqa: BLE001 - the row is not there yet
        return ""


async def _latencies(endpoint: LocalEndpoint, *, push: bool, rounds: int) -> list[float]:
    async def open_local(_status: Callable[[str], None]) -> Provider:
        return _provider(endpoint, push=push)

    app = VmTuiApp({PROFILE: open_local}, AppOptions(active_profile=PROFILE, poll=PollSettings()))
    actor = _provider(endpoint, push=False)
    samples: list[float] = []
    try:
        async with app.run_test(headless=True, size=SIZE):
            await _until(lambda: app.main_screen.table.row_count >= VMS, 60, f"{VMS} rows")
            vm_id = (await actor.list_vms())[0].id
            if push:
                poller = app.main_screen.fleet.pollers[PROFILE]
                await _until(lambda: poller.pushed, 60, "the event stream is up")
            for round_no in range(rounds):
                target = "paused" if round_no % 2 == 0 else "running"
                await asyncio.sleep(SETTLE_SECONDS)
                await (actor.pause_vm(vm_id) if target == "paused" else actor.resume_vm(vm_id))
                made = time.perf_counter()  # the API answered: the change is made

                def shown(target: str = target) -> bool:
                    return target in _shown_state(app, vm_id)

                await _until(shown, 60, f"{target} on screen", poll=0)
                samples.append(time.perf_counter() - made)
            await app.main_screen.fleet.pollers[PROFILE].provider.aclose()
    finally:
        await actor.aclose()
    return samples


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def run(vms: int = VMS, rounds: int = ROUNDS, polled_rounds: int = POLLED_ROUNDS) -> list[dict[str, Any]]:
    name = "API state change on screen (real local engine)"
    if os.geteuid() != 0:
        return [_row(f"{name}: skipped, the local engine needs root", None, "ms", None)]
    with tempfile.TemporaryDirectory(prefix="vmtui-bench-") as workdir:
        state_dir = Path(workdir) / "engine"
        try:
            endpoint = ensure_daemon(state_dir)
            try:
                asyncio.run(_create_vms(endpoint, vms))
                pushed = asyncio.run(_latencies(endpoint, push=True, rounds=rounds))
                polled = asyncio.run(_latencies(endpoint, push=False, rounds=polled_rounds))
            finally:
                asyncio.run(_delete_vms(endpoint))
        finally:
            _stop_daemon(state_dir)
    return [
        _row(
            f"{name}, p50: push vs polling",
            statistics.median(pushed) * 1000,
            "ms",
            statistics.median(polled) * 1000,
        ),
        _row(f"{name}, p99: push vs polling", _p99(pushed) * 1000, "ms", _p99(polled) * 1000),
    ]

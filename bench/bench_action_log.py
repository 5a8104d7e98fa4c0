"""The action log screen with 10,000 entries against a bare Textual DataTable of 10,000 rows.

Rows (median of `REPEATS`, same run, headless at `SIZE`):
- open: from pushing the screen to its table holding every row and the first frame painted;
- scroll: `end`, `home`, then 50 `pagedown`s, each key processed and painted.
The log's entries carry one traced request each, as a real session's do.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable

from vmtui.core.request_trace import TracedRequest
from vmtui.services.action_log import ActionLog, LogEntry
from vmtui.ui.screens.action_log import ActionLogScreen

ENTRIES = 10_000
REPEATS = 3
SIZE = (120, 36)
PAGES = 50


def _log(count: int) -> ActionLog:
    log = ActionLog(limit=count)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(count):
        vm_id = f"{n:08x}-0000-4000-8000-000000000000"
        request = TracedRequest("POST", f"http://127.0.0.1:9/api/v1/vm/{vm_id}/commit", "{}", 201, "Bearer")
        log.entries.append(
            LogEntry(
                start + timedelta(seconds=n),
                "local",
                "commit",
                vm_id,
                "ok",
                ("vers", "commit", "create", vm_id),
                (f"c{n}",),
                (request,),
            )
        )
    return log


class BareScreen(Screen[None]):
    """The baseline: one DataTable with the same five columns and cells."""

    def __init__(self, log: ActionLog) -> None:
        super().__init__()
        self.entries = list(log.entries)

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in ("time", "profile", "action", "target", "result"):
            table.add_column(column, key=column)
        table.add_rows(
            (Text(f"{e.time:%H:%M:%S}"), Text(e.profile), Text(e.action), Text(e.target), Text("ok"))
            for e in self.entries
        )
        table.focus()


class Host(App[None]):
    pass


async def _measure(make: type[Screen] | Any, log: ActionLog) -> tuple[float, float]:
    app = Host()
    async with app.run_test(headless=True, size=SIZE) as pilot:
        started = time.perf_counter()
        await app.push_screen(make(log))
        await _until_rows(pilot, app, len(log))
        opened = time.perf_counter() - started
        started = time.perf_counter()
        await pilot.press("end", "home", *["pagedown"] * PAGES)
        await pilot.pause()
        scrolled = time.perf_counter() - started
    return opened, scrolled


async def _until_rows(pilot: Pilot, app: App, rows: int) -> None:
    while app.screen.query_one(DataTable).row_count < rows:
        await asyncio.sleep(0)
    await pilot.pause()


def _screen(log: ActionLog) -> ActionLogScreen:
    return ActionLogScreen(log, Path("/nonexistent-export-dir"))


def run() -> list[dict[str, Any]]:
    log = _log(ENTRIES)
    app_runs = [asyncio.run(_measure(_screen, log)) for _ in range(REPEATS)]
    bare_runs = [asyncio.run(_measure(BareScreen, log)) for _ in range(REPEATS)]
    rows = []
    for index, what in enumerate(("open", f"scroll (end, home, {PAGES} pgdn)")):
        value = statistics.median(run[index] for run in app_runs) * 1000
        baseline = statistics.median(run[index] for run in bare_runs) * 1000
        rows.append(
            {
                "name": f"action log {what}, {ENTRIES:,} entries",
                "value": round(value, 1),
                "unit": "ms",
                "baseline": round(baseline, 1),
            }
        )
    return rows

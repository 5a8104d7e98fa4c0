"""The bare Textual baseline of the TUI benchmarks: one DataTable with the VM table's six columns.

Each bench's bare app (`bench_tui.BareTableApp`, `BareEngineApp`, `BarePollApp`,
`bench_fleet.BareFleetApp`) is a `BareApp` that says where its rows come from; the rows are a list
item's plain cells (`vm_cells`), without any of vmtui's formatting.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from textual.app import App, ComposeResult
from textual.widgets import DataTable

PROFILE = "bench"
SIZE = (120, 40)
COLUMNS = ("provider", "vm", "state", "age", "parent", "labels")


def vm_cells(vm: dict[str, Any]) -> tuple[str, ...]:
    """The cells of one item of a Vers-shaped VM list."""
    labels = " ".join(f"{key}={value}" for key, value in (vm.get("labels") or {}).items())
    return (PROFILE, vm["vm_id"], vm["state"], "3mo", "-", labels)


async def get_vms(client: httpx.AsyncClient, url: str = "/api/v1/vm") -> httpx.Response:
    """`GET` the VM list, waiting out each 429 as its `Retry-After` says; any other error raises."""
    while True:
        response = await client.get(url)
        if response.status_code != 429:
            return response.raise_for_status()
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))


class BareApp(App[None]):
    """One focused DataTable (row cursor, `COLUMNS`); `fill` puts the rows in once it is mounted."""

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        table.focus()
        self.fill(table)

    def fill(self, table: DataTable[str]) -> None:
        """Add the rows, or start the worker that fetches and adds them."""
        raise NotImplementedError

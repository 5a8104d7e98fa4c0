"""Issue 14: after the first rows are drawn, the VM table builds its search text and the shown columns'
sort values in the background, so the first filter at a big fleet costs what a later one does; a
filter set while that is under way still shows the right rows."""

from __future__ import annotations

import time

from textual.app import App, ComposeResult

from tests.ui.helpers import wait_until
from vmtui.core.models import Vm, VmState
from vmtui.services import vm_index
from vmtui.services.filter import parse_filter
from vmtui.ui.widgets.vm_table import WARM_UP_SLICE, VmTable

COUNT = 3 * WARM_UP_SLICE + 7


def fleet() -> list[Vm]:
    return [
        Vm(provider="p", id=f"vm-{n:05d}", state=VmState.RUNNING, labels={"team": f"t{n % 7}"})
        for n in range(COUNT)
    ]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield VmTable(now=time.time)


async def test_the_search_text_is_built_after_the_first_rows_and_the_first_filter_measures_no_vm(monkeypatch):
    app = TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(VmTable)
        table.set_fleet(fleet())
        await wait_until(pilot, lambda: not table._warming, "the warm-up")
        measured: list[str] = []
        real = vm_index.search_text
        monkeypatch.setattr(vm_index, "search_text", lambda vm: measured.append(vm.id) or real(vm))
        table.set_filter(parse_filter("team=t3"))
        assert measured == []
        assert table.row_count == len([n for n in range(COUNT) if n % 7 == 3])


async def test_a_filter_set_while_the_warm_up_runs_shows_the_right_rows():
    app = TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(VmTable)
        table.set_fleet(fleet())
        table._warm_up_slice()  # one slice of several, as if the event loop had turned once
        assert table._warming
        table.set_filter(parse_filter("vm-0000"))
        assert [vm_id for _, vm_id in table.row_keys()] == [f"vm-{n:05d}" for n in range(10)]
        await wait_until(pilot, lambda: not table._warming, "the warm-up")
        table.set_filter(parse_filter("t6"))
        assert table.row_count == len([n for n in range(COUNT) if n % 7 == 6])

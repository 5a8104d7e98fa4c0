"""Which table for 100,000 VMs: `python -m bench.compare_tables KIND [ROWS]`, KIND one of
`datatable` (Textual's), `fastdatatable` (textual-fastdatatable, needs it installed: it is not a
dependency), `index` (the prototype: a Line-API ScrollView drawing only the visible lines over a
sorted index of row numbers) or `vmtable` (vmtui's VM table built on that decision, fed `Vm` objects).
Prints wall ms for load to the first frame, sort by a column, filter to a substring (each including
the next frame), for `vmtable` also when its background warm-up (search text, sort values) is done
and a snapshot with 1% of the VMs changed, and the peak RSS. One
process per kind so the peaks don't mix. The figures and the decision are in bench/RESULTS.md."""

import asyncio
import resource
import sys
import time
import uuid
from datetime import UTC, datetime

from rich.segment import Segment
from textual.app import App
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import DataTable

from vmtui.core.models import Vm, VmState
from vmtui.services.filter import parse_filter
from vmtui.ui.widgets.vm_table import VmTable

COLS = ("provider", "vm", "state", "age", "parent", "labels")
NOW = 1_790_000_000.0
NEEDLE = "t3"


def make_rows(count: int) -> list[tuple[str, ...]]:
    return [
        (
            "bench",
            str(uuid.UUID(int=i * 7919 % count + 1)),
            "running" if i % 4 else "paused",
            f"{i % 90}d",
            "-",
            f"team=t{i % 7}",
        )
        for i in range(count)
    ]


class IndexTable(ScrollView):
    def __init__(self, rows):
        super().__init__()
        self.rows = rows
        self.search = [" ".join(r) for r in rows]
        self.order = list(range(len(rows)))
        self.widths = (8, 38, 9, 5, 10, 12)
        self.virtual_size = Size(sum(self.widths) + 6, len(self.order) + 1)

    def _line(self, cells):
        return " ".join(c[:w].ljust(w) for c, w in zip(cells, self.widths))

    def render_line(self, y):
        if y == 0:
            return Strip([Segment(self._line(COLS))])
        index = int(self.scroll_y) + y - 1
        if index >= len(self.order):
            return Strip.blank(self.size.width)
        return Strip([Segment(self._line(self.rows[self.order[index]]))])

    def sort_by(self, column):
        rows = self.rows
        self.order.sort(key=lambda i: rows[i][column])
        self.refresh()

    def filter(self, needle):
        search = self.search
        self.order = [i for i in range(len(self.rows)) if needle in search[i]]
        self.virtual_size = Size(self.virtual_size.width, len(self.order) + 1)
        self.refresh()


def make_vms(rows: list[tuple[str, ...]]) -> list[Vm]:
    """The same rows as VMs (the age column becomes a creation time)."""
    return [
        Vm(
            provider=row[0],
            id=row[1],
            state=VmState(row[2]),
            created_at=datetime.fromtimestamp(NOW - 86_400 * int(row[3][:-1]), UTC),
            labels=dict([row[5].split("=")]),
        )
        for row in rows
    ]


def changed_share(vms: list[Vm], share: float = 0.01) -> list[Vm]:
    """`vms` with every 1/share-th VM's state flipped (new objects, as a poll brings)."""
    step = round(1 / share)
    flipped = {VmState.RUNNING: VmState.PAUSED, VmState.PAUSED: VmState.RUNNING}
    return [
        vm.model_copy(update={"state": flipped[vm.state]}) if index % step == 0 else vm
        for index, vm in enumerate(vms)
    ]


class Bench(App):
    def __init__(self, kind, rows):
        super().__init__()
        self.kind = kind
        self.rows = rows

    def compose(self):
        if self.kind == "datatable":
            yield DataTable()
        elif self.kind == "vmtable":
            yield VmTable(now=lambda: NOW)
        elif self.kind == "fastdatatable":
            from textual_fastdatatable import DataTable as FDT

            yield FDT(data=[COLS, *self.rows])
        else:
            yield IndexTable(self.rows)


async def measure(kind, rows):
    started = time.perf_counter()
    app = Bench(kind, rows)
    out = {}
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.children[0]
        if kind == "datatable":
            table.add_columns(*COLS)
            table.add_rows(rows)
        elif kind == "vmtable":
            vms = make_vms(rows)
            drawn: list[float] = []
            table.call_after_refresh(lambda: drawn.append(time.perf_counter()))
            started = time.perf_counter()  # from the VMs handed over, as the screen does
            table.set_fleet(vms)
        await pilot.pause()
        if kind == "vmtable":  # the search text and sort values are built after the first frame
            while table._warming:  # a worker: the rest of a big list, then the search text
                await asyncio.sleep(0.005)
            out["load+first frame"] = drawn[0] - started
            out["background warm-up done"] = time.perf_counter() - started
        else:
            out["load+first frame"] = time.perf_counter() - started
        if kind == "vmtable":
            changed = changed_share(vms)
            t = time.perf_counter()
            table.set_fleet(changed)
            out["apply 1%-changed snapshot"] = time.perf_counter() - t
            await pilot.pause()
            out["apply 1%-changed snapshot+frame"] = time.perf_counter() - t
        t = time.perf_counter()
        if kind == "datatable":
            table.sort(table.ordered_columns[2].key)
        elif kind == "vmtable":
            table.sort_by("state")
        elif kind == "fastdatatable":
            table.sort(by=[("state", "ascending")])
        else:
            table.sort_by(2)
        await pilot.pause()
        out["sort"] = time.perf_counter() - t
        t = time.perf_counter()
        if kind == "vmtable":
            table.set_filter(parse_filter(NEEDLE))
        elif kind == "datatable":
            kept = [r for r in rows if NEEDLE in " ".join(r)]
            table.clear()
            table.add_rows(kept)
        elif kind == "fastdatatable":
            import pyarrow.compute as pc
            from textual_fastdatatable import ArrowBackend

            data = table.backend.data
            mask = pc.match_substring(data.column("labels"), NEEDLE)
            table.backend = ArrowBackend(data.filter(mask))
            table._update_count += 1
            table.refresh()
        else:
            table.filter(NEEDLE)
        await pilot.pause()
        out["filter"] = time.perf_counter() - t
        if kind == "vmtable":  # a second filter, for comparison
            t = time.perf_counter()
            table.set_filter(parse_filter("t5"))
            await pilot.pause()
            out["filter again"] = time.perf_counter() - t
    out["maxrss MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv: list[str]) -> None:
    kind, count = argv[0], int(argv[1]) if len(argv) > 1 else 100_000
    figures = asyncio.run(measure(kind, make_rows(count)))
    print(kind, {k: round(v if "MB" in k else v * 1000, 1) for k, v in figures.items()})


if __name__ == "__main__":
    main(sys.argv[1:])

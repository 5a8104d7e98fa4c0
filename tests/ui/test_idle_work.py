"""An idle app does no work that changes nothing on screen: an unchanged poll leaves the table, tree and
details alone; the once-a-second tick repaints the status line without a relayout and redraws only the
rows whose age text moved on; sparklines scrolled out of view are not redrawn. Clocks are injected;
nothing sleeps (the sparkline test waits for its samples)."""

from __future__ import annotations

from textual.widget import Widget
from textual.widgets import Sparkline

from bench.bench_sparklines import MetricsVersApi
from bench.bench_tui import MockVersApi, seeded_lineage_cache
from tests.ui.demo_provider import DEMO_NOW, demo_provider
from tests.ui.helpers import make_app, settle, text_of, wait_until
from vmtui.core.models import VmState
from vmtui.ui.widgets.status_bar import StatusBar
from vmtui.ui.widgets.vm_details import VmDetails

SIZE = (120, 36)


class Clock:
    def __init__(self) -> None:
        self.now = DEMO_NOW.timestamp()

    def __call__(self) -> float:
        return self.now


def shown_row(app, key) -> str:
    """The row as the table draws it now (through its cache of drawn lines)."""
    table = app.main_screen.table
    return table.render_line(table.index.position(key) - round(table.scroll_y) + 1).text


def count_calls(monkeypatch, owner, name: str) -> list:
    calls: list = []
    original = getattr(owner, name)

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


async def test_an_unchanged_poll_leaves_table_tree_and_details_alone(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    api = MockVersApi(50)
    with seeded_lineage_cache(api):
        app = make_app(api.provider())
        async with app.run_test(size=SIZE) as pilot:
            screen = app.main_screen
            await wait_until(
                pilot, lambda: screen.table.row_count == 50 and screen.panes_ready, "50 VMs listed"
            )
            poller = screen.fleet.pollers["bench"]
            table_updates = count_calls(monkeypatch, screen.table, "set_fleet")
            tree_updates = count_calls(monkeypatch, screen.lineage, "set_fleets")
            details = count_calls(monkeypatch, screen.query_one(VmDetails), "show_for")
            parses = count_calls(monkeypatch, poller.provider, "_parse_vm_list")
            await settle(pilot, app)
            table_repaints = count_calls(monkeypatch, screen.table, "refresh")
            for _ in range(3):
                result = await poller.tick()
                await wait_until(pilot, lambda r=result: screen.fleet.results["bench"] is r, "poll applied")
            await settle(pilot, app)
            assert (table_updates, tree_updates, details, parses, table_repaints) == ([], [], [], [], [])
            assert api.metadata_requests == 0  # every lineage came from the seeded cache
            api.change_states(0)
            result = await poller.tick()
            await wait_until(pilot, lambda: screen.fleet.results["bench"] is result, "changed poll applied")
            assert (len(table_updates), len(tree_updates)) == (1, 1)
            flipped = api.vms[0]
            assert screen.table.vms[("bench", flipped["vm_id"])].state.value == flipped["state"]


async def test_the_status_tick_repaints_the_line_without_a_relayout(monkeypatch):
    clock = Clock()
    app = make_app(demo_provider(), now=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        screen = app.main_screen
        status = screen.query_one(StatusBar)
        before = text_of(status)
        refreshes = count_calls(monkeypatch, Widget, "refresh")
        clock.now += 5
        screen._tick()
        assert text_of(status) != before and "5s ago" in text_of(status)
        assert refreshes and not any(call.get("layout") for call in refreshes)


async def test_the_age_column_moves_on_at_a_minute_boundary_and_not_before(monkeypatch):
    clock = Clock()
    app = make_app(demo_provider(), now=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        screen, key = app.main_screen, ("local", "vm-d4e6f801")  # created a minute before DEMO_NOW
        assert " 1m " in shown_row(app, key)
        redrawn = count_calls(monkeypatch, screen.table, "refresh_line")
        clock.now += 59
        screen._tick()
        await pilot.pause()
        assert redrawn == [] and " 1m " in shown_row(app, key)  # 1m59s still reads 1m: nothing drawn
        clock.now += 1
        screen._tick()
        await pilot.pause()
        assert len(redrawn) >= 1 and " 2m " in shown_row(app, key)


async def test_sparklines_out_of_view_wait_for_a_scroll(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    api = MetricsVersApi(5)
    with seeded_lineage_cache(api):
        app = make_app(api.provider())
        async with app.run_test(size=SIZE) as pilot:
            screen = app.main_screen
            await wait_until(
                pilot, lambda: screen.table.row_count == 5 and screen.panes_ready, "5 VMs listed"
            )
            await pilot.pause()  # the panes that followed the list are laid out
            details, memory = screen.query_one("#details"), screen.query_one("#memory-graph", Sparkline)
            assert details.scroll_y == 0 and details.max_scroll_y > 0  # the graphs are below the pane's view
            drawn = count_calls(monkeypatch, memory, "refresh")
            await wait_until(pilot, lambda: api.readings >= 3, "three samples of the selected VM")
            assert drawn == [] and not memory.data  # sampled, not drawn off screen
            details.scroll_end(animate=False)
            await wait_until(pilot, lambda: len(memory.data or []) >= 3, "the samples drawn once in view")


async def test_a_state_change_relabels_the_tree_without_rebuilding_its_shape(monkeypatch):
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        tree, fleet = app.main_screen.lineage, app.main_screen.fleet.fleet("local")
        node_id = ("local", "vm", fleet.vms[0].id)
        before = tree._tree_index[node_id].label.plain
        reconciled = count_calls(monkeypatch, tree, "_reconcile")
        dead = fleet.vms[0].model_copy(update={"state": VmState.DEAD})
        tree.set_fleets([fleet.model_copy(update={"vms": (dead, *fleet.vms[1:])})])
        assert reconciled == [] and tree.items[node_id] is dead
        assert tree._tree_index[node_id].label.plain != before  # the state glyph changed
        moved = fleet.vms[1].model_copy(update={"parent_commit_id": None, "grandparent_vm_id": None})
        tree.set_fleets([fleet.model_copy(update={"vms": (dead, moved, *fleet.vms[2:])})])
        assert len(reconciled) == 1  # lineage changed: the shape is worked out again
        assert tree._tree_index[("local", "vm", moved.id)].parent is tree.root


async def test_a_poll_result_stops_at_the_main_screen(monkeypatch):
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        seen_by_app = []
        on_message = type(app)._on_message

        async def recording(self, message):
            seen_by_app.append(type(message).__name__)
            await on_message(self, message)

        monkeypatch.setattr(type(app), "_on_message", recording)
        poller = app.main_screen.fleet.pollers["local"]
        result = await poller.tick()
        await wait_until(pilot, lambda: app.main_screen.fleet.results["local"] is result, "poll applied")
        await settle(pilot, app)
        assert "FleetUpdated" not in seen_by_app

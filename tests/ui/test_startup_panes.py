"""The first frame carries the VM list; the filter box, lineage tree, details and footer mount after it
(issue 14, the fixed cost of reaching the first rows). Each test pins the fallback delay, so none
depends on how fast the machine is."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from textual import events
from textual.css.stylesheet import Stylesheet
from textual.widgets import Footer, Input

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, opener, settle, text_of, wait_until
from vmtui.config import PollSettings
from vmtui.core.models import Fleet
from vmtui.services.poller import PollResult
from vmtui.ui.app import VmTuiApp
from vmtui.ui.options import AppOptions
from vmtui.ui.screens import main
from vmtui.ui.screens.help import HelpScreen
from vmtui.ui.widgets.filter_bar import FilterBar
from vmtui.ui.widgets.footer_hint import FooterHint
from vmtui.ui.widgets.lineage_tree import LineageTree
from vmtui.ui.widgets.vm_details import VmDetails
from vmtui.ui.widgets.vm_table import VmTable

SIZE = (120, 36)
SLOW_POLL = PollSettings(fast=60, slow=60, max_backoff=60, timeout=5)


def held_app(release: asyncio.Event) -> VmTuiApp:
    """An app whose profile opens only once `release` is set (a platform that has not answered yet)."""
    provider = demo_provider()
    ready = opener(provider)

    async def open_when_released(status):
        await release.wait()
        return await ready(status)

    return VmTuiApp({"local": open_when_released}, AppOptions(active_profile="local", poll=SLOW_POLL))


async def test_the_panes_mount_after_the_first_rows_and_show_them(monkeypatch):
    monkeypatch.setattr(main, "PANES_AFTER_S", 3600)  # only the first rows may bring the panes
    rows_when_mounted: list[int] = []

    def hook(message) -> None:
        if isinstance(message, events.Mount) and isinstance(message._sender, LineageTree):
            rows_when_mounted.append(app.main_screen.table.row_count)

    app = make_app(demo_provider())
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await settle(pilot, app)
        screen = app.main_screen
        assert rows_when_mounted and rows_when_mounted[0] == screen.table.row_count > 0
        selected = screen.table.selected_vm
        assert selected is not None
        assert screen.lineage.here == selected.key  # the tree marks the list's VM
        assert selected.id in text_of(screen.query_one("#details-body"))
        assert screen.query_one(Footer).query(FooterHint)  # the footer got its hints
        assert [type(w) for w in screen.query_one("#list-pane").children][:2] == [
            FilterBar,
            type(screen.table),
        ]
        await pilot.press("down")  # the panes follow the list from now on
        await pilot.pause()
        assert screen.lineage.here == screen.table.selected_vm.key != selected.key


async def test_a_key_before_the_panes_mount_them_first_then_acts(monkeypatch):
    monkeypatch.setattr(main, "PANES_AFTER_S", 3600)
    release = asyncio.Event()
    app = held_app(release)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.main_screen
        assert not screen.panes_ready and not screen.query(LineageTree)
        await pilot.press("2")  # focus the lineage tree: not there yet
        await wait_until(pilot, lambda: screen.panes_ready, "the panes")
        assert isinstance(app.focused, LineageTree)
        await pilot.press("1", "slash", "x")
        await pilot.pause()
        assert isinstance(app.focused, Input) and app.focused.value == "x"
        release.set()
        await wait_until(pilot, lambda: screen.table.vms, "the list after the platform answered")
        await wait_until(pilot, lambda: screen.lineage.items, "the tree filled")


async def test_without_a_list_the_panes_mount_after_a_while(monkeypatch):
    monkeypatch.setattr(main, "PANES_AFTER_S", 0.05)
    release = asyncio.Event()
    app = held_app(release)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: screen.panes_ready, "the panes without a list")
        assert screen.query(LineageTree) and screen.query(VmDetails)
        assert screen.table.row_count == 0
        release.set()
        await wait_until(pilot, lambda: screen.lineage.items, "the tree filled once the list came")
        assert screen.table.row_count > 0


async def test_the_profile_is_opened_before_the_main_screen_composes():
    """The list request is on its way while the first screen is built (its answer waits in the queue)."""
    provider = demo_provider()
    ready = opener(provider)
    composed_when_opened: list[bool] = []

    async def open_and_note(status):
        composed_when_opened.append(bool(app.main_screen.children))
        return await ready(status)

    app = VmTuiApp({"local": open_and_note}, AppOptions(active_profile="local", poll=SLOW_POLL))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert composed_when_opened == [False]
        assert app.main_screen.table.row_count > 0


async def test_the_collector_waits_for_the_first_screen_and_what_exists_at_start_stays_frozen():
    """A full collection in the first frame would walk every imported object (35-60 ms); the collector
    is off until the panes are mounted, and what existed at start stays frozen while the app runs."""
    gc.unfreeze()
    provider = demo_provider()
    ready = opener(provider)
    collecting_when_opened: list[bool] = []

    async def open_and_note(status):
        collecting_when_opened.append(gc.isenabled())
        return await ready(status)

    app = VmTuiApp({"local": open_and_note}, AppOptions(active_profile="local", poll=SLOW_POLL))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert collecting_when_opened == [False]
        assert app.main_screen.panes_ready and gc.isenabled()
        assert gc.get_freeze_count() > 0  # the first list did not release it (no lineage stream ran)
    assert gc.get_freeze_count() == 0


async def test_the_collector_runs_again_when_the_app_closes_before_its_first_screen_is_whole(monkeypatch):
    monkeypatch.setattr(main, "PANES_AFTER_S", 3600)
    app = held_app(asyncio.Event())  # no list ever comes: the panes would mount only on a key
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app.main_screen.panes_ready and not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == 0


async def test_the_first_screen_is_styled_as_a_restyle_would_style_it():
    """The main screen's first resume skips Textual's restyle of every widget (they were styled as they
    mounted): with another theme and the ASCII class set at start, a restyle afterwards changes nothing."""
    app = make_app(demo_provider(), theme="textual-light", ascii=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)

        def looks() -> dict[str, tuple[str, ...]]:
            widgets = [app.main_screen, *app.main_screen.walk_children()]
            shown = ("background", "color", "border", "width", "height", "display", "padding")
            return {
                f"{type(w).__name__}#{w.id}": tuple(str(getattr(w.styles, r)) for r in shown) for w in widgets
            }

        first = looks()
        app.main_screen.update_node_styles(animate=False)
        await pilot.pause()
        assert app.theme == "textual-light" and app.has_class("-ascii")
        assert looks() == first


async def test_the_dialog_rules_are_read_with_the_first_dialog():
    """The first frame parses only the main screen's stylesheet; the first dialog brings the dialogs'."""
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)

        def sources() -> set[str]:
            return {
                Path(str(location[0] if isinstance(location, tuple) else location)).name
                for location in app.stylesheet.source
            }

        assert "vmtui.tcss" in sources() and "dialogs.tcss" not in sources()
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help dialog")
        await pilot.pause()
        assert "dialogs.tcss" in sources()
        dialog = app.screen.query_one("#help-dialog")
        assert (
            dialog.styles.width is not None and dialog.styles.width.value == 100
        )  # `#help-dialog` in dialogs.tcss
        assert dialog.has_class("dialog") and "thick" in str(dialog.styles.border_top)


async def test_a_list_that_comes_while_the_screen_is_built_is_in_its_first_frame(monkeypatch):
    """The demo list is answered before the main screen mounts: the screen applies it as it mounts, so
    the table's first frame draws the rows (queued behind that frame, they took a second one)."""
    rows_at_first_draw: list[int] = []
    render_line = VmTable.render_line

    def noting_render_line(table, y):
        if not rows_at_first_draw:
            rows_at_first_draw.append(table.row_count)
        return render_line(table, y)

    monkeypatch.setattr(VmTable, "render_line", noting_render_line)
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert rows_at_first_draw == [app.main_screen.table.row_count] and rows_at_first_draw[0] > 0


async def test_after_the_first_frame_results_go_through_the_screens_queue():
    """Only the first frame takes results at once: later ones keep their order with the screen's other
    messages (applied when the screen's queue reaches them)."""
    release = asyncio.Event()
    app = held_app(release)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        screen = app.main_screen
        vms = tuple(await demo_provider().list_vms())
        fleet = Fleet.model_construct(
            provider="local", vms=vms, commits=(), tags=(), commits_total=0, fetched_at=0
        )
        screen.fleet.on_result(PollResult("local", fleet))
        assert screen.table.row_count == 0  # queued, not applied in the caller's step
        await wait_until(pilot, lambda: screen.table.row_count == len(vms) > 0, "the queued result")


async def test_the_profile_is_opened_before_the_stylesheet_is_parsed(monkeypatch):
    """Parsing the stylesheet takes ~5 ms that nothing interrupts: the profile is opened (its list
    request on its way) before it."""
    order: list[str] = []
    parse = Stylesheet.parse

    def noting_parse(stylesheet):
        order.append("parse")
        return parse(stylesheet)

    monkeypatch.setattr(Stylesheet, "parse", noting_parse)
    ready = opener(demo_provider())

    async def open_and_note(status):
        order.append("open")
        return await ready(status)

    app = VmTuiApp({"local": open_and_note}, AppOptions(active_profile="local", poll=SLOW_POLL))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert "parse" in order and order.index("open") < order.index("parse")


async def test_a_quit_as_the_first_rows_are_drawn_leaves_no_error(monkeypatch):
    """The panes' mount, due after that frame, finds their parents being removed: nothing is raised."""
    render_line = VmTable.render_line

    def quitting(table, y):
        if table.row_count:
            table.app.exit()
        return render_line(table, y)

    monkeypatch.setattr(VmTable, "render_line", quitting)
    app = make_app(demo_provider())
    await app.run_async(headless=True, size=SIZE)
    assert app.return_code == 0

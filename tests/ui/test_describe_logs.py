"""Enter describes the selected VM (or the commit selected in the tree) as YAML/JSON, copyable;
`ctrl+l` shows the local engine's log and says a VM console is not available."""

from __future__ import annotations

import json

import yaml

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, settle, text_of, wait_until
from vmtui.ui.screens.describe import DescribeScreen
from vmtui.ui.screens.logs import LogsScreen

SIZE = (120, 36)


async def test_enter_on_a_row_describes_the_vm_with_the_info_summary_and_switches_to_json():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.main_screen.table.select(("local", "vm-8c1d77e4"))
        await pilot.press("enter")
        await pilot.pause()
        view = app.screen
        assert isinstance(view, DescribeScreen)
        data = yaml.safe_load(view.text)
        assert data["info"] == {
            "id": "vm-8c1d77e4",
            "name": "ci-runner-a",
            "state": "running",
            "ip": "10.42.0.3",
            "vcpu": 2,
            "memory_mib": 2048,
            "disk_mib": 8192,
            "parent_commit": "c-5b0e3d12",
            "grandparent_vm": "vm-3f2a91c0",
        }
        assert data["vm"]["labels"] == {"env": "ci"}
        assert "ci-runner-a" in text_of(view.query_one("#text-view-body"))
        await pilot.press("f")
        assert json.loads(view.text)["info"]["ip"] == "10.42.0.3"
        copied = []
        app.copy_to_clipboard = copied.append
        await pilot.press("c")
        assert copied == [view.text]
        await pilot.press("escape")
        assert app.screen is app.main_screen


async def test_enter_on_a_commit_in_the_tree_describes_the_commit():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("2")
        lineage = app.main_screen.lineage
        while lineage.selected_item() is None or type(lineage.selected_item()).__name__ != "Commit":
            await pilot.press("up")
        commit = lineage.selected_item()
        await pilot.press("enter")
        await pilot.pause()
        view = app.screen
        assert isinstance(view, DescribeScreen) and view.item == commit
        assert yaml.safe_load(view.text)["id"] == commit.id


async def test_describe_escapes_control_characters_from_the_platform():
    provider = demo_provider()
    vm = provider.vms["vm-3f2a91c0"]
    provider.vms[vm.id] = vm.model_copy(update={"labels": {"note": "\x1b]52;c;evil\x07"}})
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.main_screen.table.select(("local", vm.id))
        await pilot.press("enter")
        await pilot.pause()
        assert "\x1b" not in app.screen.text and "\x07" not in app.screen.text


async def test_logs_show_the_end_of_the_engine_log_and_no_console(tmp_path):
    log = tmp_path / "serve.log"
    log.write_text("".join(f"line {n}\n" for n in range(50_000)) + "engine ready \x1b[31mred\n")
    app = make_app(demo_provider(), engine_logs={"local": log})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+l")
        view = app.screen
        assert isinstance(view, LogsScreen)
        await wait_until(pilot, lambda: "engine ready" in view.text, "the log to be read")
        assert "line 49999" in view.text and "line 0\n" not in view.text  # the tail only
        assert "\x1b" not in view.text and "\\x1b[31mred" in view.text
        assert "not available" in text_of(view.query_one("#text-view-hint"))


async def test_logs_of_a_profile_without_a_local_engine_say_not_available():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+l")
        view = app.screen
        await wait_until(pilot, lambda: view.text.startswith("Not available"), "the explanation")


async def test_a_click_in_the_tree_selects_without_opening_the_describe_view():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("2")
        lineage = app.main_screen.lineage
        await pilot.click(lineage, offset=(lineage.region.width // 2, lineage.cursor_line))
        await pilot.pause()
        assert app.screen is app.main_screen  # only Enter describes


async def test_a_click_on_the_selected_row_describes_it_and_a_click_elsewhere_only_moves():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        table = app.main_screen.table
        selected = table.selected_vm
        row_y = table.region.y + 1  # under the header: the first row, where the cursor is
        await pilot.click(offset=(table.region.x + 20, row_y + 1))  # the second row: moves only
        await pilot.pause()
        assert app.screen is app.main_screen and table.selected_vm != selected
        await pilot.click(offset=(table.region.x + 20, row_y + 1))  # the cursor row now: describes
        await pilot.pause()
        assert isinstance(app.screen, DescribeScreen) and app.screen.item == table.selected_vm

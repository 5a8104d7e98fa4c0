"""Behaviour of the main screen, driven with Pilot over the in-memory demo provider."""

from __future__ import annotations

import asyncio
from functools import partial

from textual.widgets import Button, Input

from tests.ui.demo_provider import DEMO_NOW, DemoProvider, demo_provider
from tests.ui.helpers import make_app, poll_now, settle, text_of, wait_actions, wait_until
from vmtui.core.errors import Conflict, Unavailable
from vmtui.core.models import Capabilities, Vm, VmState
from vmtui.services.filter import parse_filter
from vmtui.ui.screens.confirm_delete import ConfirmDeleteScreen
from vmtui.ui.screens.create_vm import CreateVmScreen
from vmtui.ui.widgets.status_bar import StatusBar

SIZE = (120, 36)


def row_ids(app) -> list[str]:
    table = app.main_screen.table
    return [table.vms[key].id for key in table.row_keys()]


async def test_rows_are_keyed_and_sorted_newest_first():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert row_ids(app) == ["vm-d4e6f801", "vm-a90b2f6d", "vm-8c1d77e4", "vm-3f2a91c0", "vm-17c0ffee"]
        assert app.main_screen.table.selected_vm.id == "vm-d4e6f801"
        assert app.main_screen.lineage.here == ("local", "vm-d4e6f801")


async def test_tab_and_number_keys_move_between_panes():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.focused.id == "vm-table"
        await pilot.press("tab")
        assert app.focused.id == "lineage-tree"
        await pilot.press("tab")
        assert app.focused.id == "details"
        await pilot.press("tab")
        assert app.focused.id == "terminal-area"
        await pilot.press("tab")
        assert app.focused.id == "vm-table"
        await pilot.press("3")
        assert app.focused.id == "details"
        await pilot.press("shift+tab")
        assert app.focused.id == "lineage-tree"
        await pilot.press("1")
        assert app.focused.id == "vm-table"
        await pilot.press("z")
        assert app.main_screen.maximized is app.main_screen.query_one("#vm-table")
        await pilot.press("z")
        assert app.main_screen.maximized is None


async def test_filter_narrows_rows_and_flags_bad_syntax():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("slash")
        assert app.focused.id == "filter-input"
        await pilot.press(*"state:running")
        await pilot.pause()
        assert row_ids(app) == ["vm-8c1d77e4", "vm-3f2a91c0"]
        assert "filter: state:running" in app.main_screen.query_one(StatusBar).render_status().plain
        await pilot.press(*" !label:env=dev")
        await pilot.pause()
        assert row_ids(app) == ["vm-8c1d77e4"]
        box = app.main_screen.query_one("#filter-input", Input)
        box.value += " colour:red"
        await pilot.pause()
        assert box.has_class("-invalid")
        assert "unknown filter field 'colour:'" in text_of(app.main_screen.query_one("#filter-error"))
        assert row_ids(app) == ["vm-8c1d77e4"]  # the last good filter stays applied
        await pilot.press("enter")
        assert app.focused.id == "vm-table"
        await pilot.press("escape")
        await pilot.pause()
        assert len(row_ids(app)) == 5


async def test_new_snapshot_keeps_cursor_on_the_same_vm_and_patches_in_place():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        table = app.main_screen.table
        await pilot.press("down", "down")
        assert table.selected_vm.id == "vm-8c1d77e4"
        drawn = {key: table.cells(key) for key in table.row_keys()}
        # a new, newest VM sorts above the cursor; another VM disappears; one changes state
        provider.vms["vm-new"] = Vm(provider="local", id="vm-new", state=VmState.BOOTING, created_at=DEMO_NOW)
        del provider.vms["vm-17c0ffee"]
        provider.vms["vm-a90b2f6d"] = provider.vms["vm-a90b2f6d"].model_copy(
            update={"state": VmState.RUNNING}
        )
        await poll_now(pilot, app)
        assert table.selected_vm.id == "vm-8c1d77e4"
        assert table.row_count == 5 and "vm-new" in row_ids(app) and "vm-17c0ffee" not in row_ids(app)
        kept = [key for key in table.row_keys() if drawn.get(key) is table.cells(key)]
        assert len(kept) == 3  # unchanged rows keep their drawn cells: patched, not redrawn
        assert "running" in table.cells(("local", "vm-a90b2f6d"))[2].plain


async def test_unreachable_api_keeps_last_data_marked_stale_then_recovers():
    provider = demo_provider()
    app = make_app(provider, now=lambda: DEMO_NOW.timestamp())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        provider.fail["list_vms"] = Unavailable("connection refused")
        await poll_now(pilot, app)
        banner = app.main_screen.query_one("#banner")
        assert banner.has_class("-visible")
        assert "connection refused" in text_of(banner) and "retrying" in text_of(banner)
        assert "offline" in app.main_screen.query_one(StatusBar).render_status().plain
        assert app.main_screen.table.row_count == 5  # last data stays
        assert app.is_running
        await poll_now(pilot, app)  # fail was one-shot: the API is back
        assert not banner.has_class("-visible")
        assert "live" in app.main_screen.query_one(StatusBar).render_status().plain


async def test_action_shows_badge_at_once_then_notifies_result():
    provider = demo_provider()
    gate = asyncio.Event()
    original = provider.pause_vm

    async def slow_pause(vm_id):
        await gate.wait()
        await original(vm_id)

    provider.pause_vm = slow_pause
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("down", "down")  # ci-runner-a, running
        await pilot.press("p")
        table = app.main_screen.table
        assert "pausing" in table.cells(("local", "vm-8c1d77e4"))[2].plain  # same frame as the key
        assert "1 in flight: pausing" in app.main_screen.query_one(StatusBar).render_status().plain
        gate.set()
        await wait_actions(pilot, app)
        await poll_now(pilot, app)
        assert "paused" in table.cells(("local", "vm-8c1d77e4"))[2].plain
        assert ("Pause", "Paused vm-8c1d77e4", "information") in app.notes


async def test_server_error_message_reaches_the_notification_and_details():
    provider = demo_provider()
    provider.fail["commit"] = Conflict("VM is sleeping; wake it first", status=409)
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("down", "down", "c")
        await pilot.press(*"snap", "enter")
        await wait_actions(pilot, app)
        await pilot.pause()
        assert ("Commit failed", "409: VM is sleeping; wake it first", "error") in app.notes
        assert "wake it first" in text_of(app.main_screen.query_one("#details-body"))
        assert "committing" not in app.main_screen.table.cells(("local", "vm-8c1d77e4"))[2].plain


async def test_delete_confirm_focuses_cancel_and_names_dependants():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("down", "down", "down")  # build-base: the root of everything
        assert app.main_screen.table.selected_vm.id == "vm-3f2a91c0"
        await pilot.press("D")
        screen = app.screen
        assert isinstance(screen, ConfirmDeleteScreen)
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        text = text_of(screen.query_one("#confirm-body"))
        for dependant in ("c-5b0e3d12", "vm-8c1d77e4", "vm-a90b2f6d", "c-91aa04be", "vm-d4e6f801"):
            assert dependant in text
        assert "2 commit(s), 3 VM(s)" in text
        await pilot.press("enter")  # Enter on the focused Cancel keeps the VM
        await pilot.pause()
        assert "vm-3f2a91c0" in provider.vms and not isinstance(app.screen, ConfirmDeleteScreen)
        await pilot.press("D", "tab", "enter")  # Tab to Delete, confirm
        await wait_actions(pilot, app)
        await poll_now(pilot, app)
        assert "vm-3f2a91c0" not in provider.vms
        assert "vm-3f2a91c0" not in row_ids(app)


async def test_create_form_flags_invalid_values_inline_without_sending():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, CreateVmScreen)
        form.query_one("#vcpu", Input).value = "0"
        form.query_one("#memory", Input).value = "lots"
        form.query_one("#labels", Input).value = "env=dev,broken"
        await pilot.pause()
        await pilot.click("#ok")
        await pilot.pause()
        assert isinstance(app.screen, CreateVmScreen)
        assert "must be between 1 and 64 vCPUs" in text_of(form.query_one("#vcpu-error"))
        assert "a whole number" in text_of(form.query_one("#memory-error"))
        assert "label 'broken' is not key=value" in text_of(form.query_one("#labels-error"))
        assert form.query_one("#vcpu", Input).has_class("-invalid")
        assert not [c for c in provider.calls if c[0] == "create_vm"]
        form.query_one("#vcpu", Input).value = "2"
        form.query_one("#memory", Input).value = "1024"
        form.query_one("#labels", Input).value = "env=dev, team=ui"
        form.query_one("#labels", Input).focus()
        await pilot.pause()
        await pilot.press("enter")  # Enter in any field submits, once every field is valid
        await wait_actions(pilot, app)
        await poll_now(pilot, app)
        ((config, wait_boot),) = [c[1] for c in provider.calls if c[0] == "create_vm"]
        assert (config.vcpu_count, config.mem_size_mib, config.labels) == (
            2,
            1024,
            {"env": "dev", "team": "ui"},
        )
        assert wait_boot is True
        assert app.main_screen.table.row_count == 6
        (created,) = [vm for vm in provider.vms.values() if vm.labels == {"env": "dev", "team": "ui"}]
        assert app.main_screen.table.selected_vm.id == created.id  # the cursor follows the new VM


async def test_branch_many_shows_per_vm_progress_then_one_notification():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("down", "down", "b")
        app.screen.query_one("#count", Input).value = "3"
        await pilot.press("enter")
        await wait_actions(pilot, app)
        await pilot.pause()
        assert app.screen is app.main_screen  # all ready: the progress dialog closed itself
        ((_, message, _),) = [n for n in app.notes if n[0] == "Branch"]
        assert message.startswith("Branched vm-8c1d77e4 into 3 VMs: ") and message.count("vm-") == 4
        await poll_now(pilot, app)
        assert app.main_screen.table.row_count == 8


async def test_restore_from_commit_selected_in_tree_and_yank():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("2")
        tree = app.main_screen.lineage
        for _ in range(10):
            if tree.selected_item() is not None and tree.selected_item().id == "c-5b0e3d12":
                break
            await pilot.press("up")
        assert tree.selected_item().id == "c-5b0e3d12"
        assert "toolchain installed" in text_of(app.main_screen.query_one("#details-body"))
        await pilot.press("y")
        assert app.clipboard == "c-5b0e3d12"
        before = set(provider.vms)
        await pilot.press("r")
        await wait_actions(pilot, app)
        await poll_now(pilot, app)
        assert [c for c in provider.calls if c[0] == "restore"] == [("restore", ("c-5b0e3d12",))]
        assert app.main_screen.table.row_count == 6
        selected = app.main_screen.table.selected_vm
        assert selected.parent_commit_id == "c-5b0e3d12" and selected.id not in before  # cursor on the new VM


async def test_missing_capabilities_disable_actions_with_the_reason():
    class NoBranch(DemoProvider):
        kind = "swiftor"
        capabilities = Capabilities(can_pause=True, has_ssh=True)

    provider = NoBranch("cloud", vms=[Vm(provider="cloud", id="s1", state=VmState.RUNNING)])
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.main_screen.unavailable("vm.branch") == "swiftor VMs cannot branch"
        assert app.main_screen.check_action("run", ("vm.branch",)) is None
        assert app.main_screen.check_action("run", ("vm.pause",)) is True
        await pilot.press("b")
        assert not [c for c in provider.calls if c[0] == "branch"]
        await pilot.press("question_mark")
        help_text = text_of(app.screen.query_one("#help-table"))
        assert "unavailable: swiftor VMs cannot branch" in help_text
        assert "vm.branch" in help_text


async def test_read_only_mode_disables_mutations():
    app = make_app(demo_provider(), read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.main_screen.unavailable("vm.delete") == "read-only mode"
        await pilot.press("D")
        assert app.screen is app.main_screen


async def test_keymap_remaps_a_binding_by_id():
    provider = demo_provider()
    app = make_app(provider, keymap={"vm.pause": "P"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("down", "down", "p")
        await wait_actions(pilot, app)
        assert not [c for c in provider.calls if c[0] == "pause_vm"]
        await pilot.press("P")
        await wait_actions(pilot, app)
        assert [c for c in provider.calls if c[0] == "pause_vm"] == [("pause_vm", ("vm-8c1d77e4",))]


async def test_hostile_values_are_sanitised():
    evil = "\x1b[2J\x1b]0;pwned\x07" + "A" * 5000
    provider = DemoProvider(
        "local",
        vms=[
            Vm(provider="local", id="vm-evil", label=evil, state=VmState.RUNNING, labels={"k\x1b": "v\r\n"})
        ],
    )
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        cells = app.main_screen.table.cells(("local", "vm-evil"))
        rendered = "".join(c.plain for c in cells)
        assert "\x1b" not in rendered and "\x07" not in rendered and "\r" not in rendered
        assert len(cells[1].plain) <= 60
        screen_text = app.export_screenshot()
        assert "pwned" in screen_text and "\x1b]0" not in screen_text


async def test_a_profile_that_cannot_open_shows_why_and_retries():
    from vmtui.config import PollSettings
    from vmtui.ui.app import VmTuiApp
    from vmtui.ui.options import AppOptions

    provider = demo_provider()
    attempts = []
    engine_up = asyncio.Event()

    async def flaky_open(status):
        attempts.append(1)
        status("starting the local engine…")
        if not engine_up.is_set():
            raise Unavailable("the local engine did not start within 20 s; see serve.log")
        return provider

    app = VmTuiApp({"local": flaky_open}, AppOptions(poll=PollSettings(fast=60, slow=60, max_backoff=60)))
    async with app.run_test(size=SIZE) as pilot:
        banner = app.main_screen.query_one("#banner")
        await wait_until(pilot, lambda: banner.has_class("-visible"))
        assert "cannot open: the local engine did not start within 20 s" in text_of(banner)
        engine_up.set()
        await wait_until(
            pilot, lambda: app.main_screen.table.row_count == 5
        )  # a retry (1 s, 2 s, …) opens it
        assert len(attempts) >= 2
        await wait_until(pilot, lambda: not banner.has_class("-visible"))


async def test_sort_by_key_and_header_click_keeps_the_cursor_vm():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        table = app.main_screen.table
        await pilot.press("down")  # ci-runner-b
        await pilot.press("o")  # age -> parent... cycles to the next column after "age"
        assert table.sort_column == "parent"
        assert table.selected_vm.id == "vm-a90b2f6d"
        table.sort_by("name")
        await pilot.pause()
        assert row_ids(app) == ["vm-3f2a91c0", "vm-8c1d77e4", "vm-a90b2f6d", "vm-d4e6f801", "vm-17c0ffee"]
        assert table.selected_vm.id == "vm-a90b2f6d"
        await pilot.press("O")
        assert row_ids(app)[0] == "vm-17c0ffee" and table.selected_vm.id == "vm-a90b2f6d"
        await pilot.click("#vm-table", offset=(30, 0))  # the "Name / id" header: same column, flips order
        await pilot.pause()
        assert row_ids(app)[0] == "vm-3f2a91c0"


async def test_quit_with_actions_in_flight_asks_for_a_second_press():
    provider = demo_provider()
    gate = asyncio.Event()

    async def stuck_pause(vm_id):
        await gate.wait()

    provider.pause_vm = stuck_pause
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("down", "down", "p", "q")
        await pilot.pause()
        assert app.is_running
        assert any("still running" in message for _, message, _ in app.notes)
        gate.set()
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_profiles_are_shown_and_hidden_from_the_palette():
    from tests.ui.helpers import opener, record_notes
    from vmtui.config import PollSettings
    from vmtui.ui.app import VmTuiApp
    from vmtui.ui.options import AppOptions

    local, other = demo_provider("local"), DemoProvider("other", vms=[Vm(provider="other", id="o1")])
    app = record_notes(
        VmTuiApp(
            {"local": opener(local), "other": opener(other)},
            AppOptions(
                now=lambda: DEMO_NOW.timestamp(),
                poll=PollSettings(fast=60, slow=60, max_backoff=60, timeout=5),
            ),
            shown=["local"],
        )
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.main_screen.table.row_count == 5 and not other.calls
        await pilot.press("ctrl+p")
        await pilot.press(*"show other", "enter")
        await settle(pilot, app)
        assert app.main_screen.table.row_count == 6
        assert [c.data for c in app.main_screen.lineage.root.children] == [("local",), ("other",)]
        await pilot.press("ctrl+p")
        await pilot.press(*"hide local", "enter")
        await pilot.pause()
        assert app.main_screen.fleet.shown == ["other"]
        assert [vm.id for vm in app.main_screen.table.vms.values()] == ["o1"]
        assert app.main_screen.default_profile() == "other"


async def test_swiftor_profile_opens_its_own_screens_and_greys_out_branching():
    from tests.ui.swiftor_fake import FakeSwiftor
    from vmtui.ui.screens.networking import NetworkingScreen
    from vmtui.ui.screens.secrets import SecretsScreen
    from vmtui.ui.screens.swiftor_create import SwiftorCreateScreen

    fake = FakeSwiftor()
    fake.add_vm("desk", enabled=True)
    provider = fake.provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.main_screen.table.row_count == 1
        assert app.main_screen.unavailable("vm.branch") == f"{provider.kind} VMs cannot branch"
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, SecretsScreen)
        await pilot.press("escape")
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, NetworkingScreen)
        await pilot.press("escape")
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, SwiftorCreateScreen)


async def test_empty_list_says_why():
    provider = DemoProvider("local")
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        hint = app.main_screen.query_one("#empty-hint")
        assert "No VMs yet. Press n" in text_of(hint) and hint.has_class("-visible")
        provider.vms["a"] = Vm(provider="local", id="a", state=VmState.RUNNING)
        await poll_now(pilot, app)
        assert not hint.has_class("-visible")
        await pilot.press("slash", *"zzz")
        await pilot.pause()
        assert "No VM matches the filter" in text_of(hint)


async def test_narrowing_filter_over_many_rows_rebuilds_fast_and_keeps_the_cursor_vm():
    many = [
        Vm(
            provider="local",
            id=f"vm-{i:04d}",
            state=VmState.PAUSED if i % 10 == 0 else VmState.RUNNING,
            created_at=DEMO_NOW,
        )
        for i in range(2000)
    ]
    app = make_app(DemoProvider("local", vms=many))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        table = app.main_screen.table
        assert table.select(("local", "vm-0500"))
        table.set_filter(parse_filter("state:paused"))  # 1,800 rows go at once
        await pilot.pause()
        assert table.row_count == 200
        assert sorted(row_ids(app)) == [f"vm-{i:04d}" for i in range(0, 2000, 10)]
        assert table.selected_vm.id == "vm-0500"
        table.set_filter(parse_filter(""))
        await pilot.pause()
        assert table.row_count == 2000 and table.selected_vm.id == "vm-0500"


async def test_s_and_4_put_focus_inside_the_terminal():
    from vmtui.ui.widgets.terminal_pane import TerminalPane

    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("4")
        assert app.focused.id == "terminal-area"  # no session yet: the area itself
        await pilot.press("1")
        app.main_screen.table.select(("local", "vm-8c1d77e4"))
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.focused, TerminalPane)
        await pilot.press("ctrl+right_square_bracket", "escape")
        await pilot.press("1")
        assert app.focused.id == "vm-table"
        await pilot.press("4")
        assert isinstance(app.focused, TerminalPane)


async def test_shift_s_maximises_the_terminal_and_focuses_it():
    from vmtui.ui.widgets.terminal_pane import TerminalPane

    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        area = app.main_screen.query_one("#terminal-area")
        await pilot.press("S")
        assert app.main_screen.maximized is area and app.focused is area
        await pilot.press("S")
        assert app.main_screen.maximized is None
        app.main_screen.table.select(("local", "vm-8c1d77e4"))
        await pilot.press("1", "s")
        await pilot.pause()
        await pilot.press("ctrl+right_square_bracket", "escape", "1", "S")
        assert app.main_screen.maximized is area
        assert isinstance(app.focused, TerminalPane)
        await pilot.pause()
        assert area.outer_size.height >= SIZE[1] - 2  # the whole screen but the footer, not its usual 40-60 %


async def test_s_on_a_paused_vm_asks_to_resume_first():
    from vmtui.ui.screens.confirm import ConfirmScreen
    from vmtui.ui.widgets.terminal_tabs import TerminalTabs

    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.main_screen.table.select(("local", "vm-a90b2f6d"))  # paused
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.focused.id == "confirm"
        assert app.screen.query_one("#confirm", Button).variant == "primary"  # resuming destroys nothing
        await pilot.press("n")  # Cancel: nothing opens, nothing resumes
        await pilot.pause()
        assert not app.main_screen.query(TerminalTabs)
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("enter")  # Resume: the focused, harmless answer
        await wait_until(pilot, lambda: ("resume_vm", ("vm-a90b2f6d",)) in provider.calls)
        assert app.main_screen.query(TerminalTabs)
        assert ("resume_vm", ("vm-a90b2f6d",)) in provider.calls


async def test_power_key_stops_and_starts_where_the_provider_can():
    from tests.unit.test_actions import PowerProvider

    provider = PowerProvider("desk", vms=[Vm(provider="desk", id="d1", label="box", state=VmState.RUNNING)])
    gate = asyncio.Event()
    original = provider.stop_vm

    async def slow_stop(vm_id):
        await gate.wait()
        await original(vm_id)

    provider.stop_vm = slow_stop
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("P")
        assert "stopping" in app.main_screen.table.cells(("desk", "d1"))[2].plain
        gate.set()
        await wait_actions(pilot, app)
        assert provider.vms["d1"].state is VmState.STOPPED
        assert ("Stop", "Stopped d1", "information") in app.notes
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.main_screen.unavailable("vm.power") == "demo VMs cannot start/stop"


async def test_deleting_a_swiftor_vm_asks_to_type_its_label():
    from tests.ui.swiftor_fake import FakeSwiftor
    from vmtui.ui.screens.confirm_typed_delete import ConfirmTypedDeleteScreen

    fake = FakeSwiftor()
    fake.add_vm("desk", enabled=True)
    app = make_app(fake.provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmTypedDeleteScreen) and app.screen.expected == "desk"
        await pilot.press("escape")
        await pilot.pause()
        assert not any(path.startswith("/vms/delete") for _, path in fake.writes)


async def test_details_of_a_swiftor_vm_show_its_url_the_ports_its_image_serves_and_storage():
    from tests.ui.swiftor_fake import VM_ID, FakeSwiftor

    fake = FakeSwiftor()
    fake.add_vm("desk", enabled=True)["os"] = {"distribution": "minecraft", "desktop": None}
    app = make_app(fake.provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        body = text_of(app.main_screen.query_one("#details-body"))
        lines = [" ".join(line.split()) for line in body.splitlines()]
        assert f"url https://{VM_ID}.swiftor.io" in lines
        assert "serves / port 8443 (Web UI) inside the VM" in lines  # seed 003: MineOS web UI
        assert "serves /minecraft port 25565 (Minecraft) inside the VM" in lines
        assert "storage ephemeral" in lines


async def test_superscript_digits_are_an_inline_error_not_a_crash():
    from tests.ui.swiftor_fake import ScreenHost
    from vmtui.ui.screens.branch import BranchScreen

    vm = Vm(provider="local", id="vm-1", state=VmState.RUNNING)
    for screen, field in ((lambda: BranchScreen(vm), "count"), (lambda: CreateVmScreen("local"), "vcpu")):
        app = ScreenHost(screen)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.shown.query_one(f"#{field}", Input).value = "²"
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is app.shown and app.result == "not dismissed"
            assert "a whole number" in text_of(app.shown.query_one(f"#{field}-error"))


async def test_markup_like_names_are_shown_literally_in_dialogs():
    from tests.ui.swiftor_fake import ScreenHost
    from vmtui.ui.screens.branch import BranchScreen

    for label in ("[/]", "[bold"):
        vm = Vm(provider="local", id="vm-1", label=label, state=VmState.RUNNING)
        for screen in (partial(BranchScreen, vm), partial(ConfirmDeleteScreen, vm, [])):
            app = ScreenHost(screen)
            async with app.run_test(size=SIZE) as pilot:
                await pilot.pause()
                assert label in str(app.shown.query_one(".dialog-title").render())
    app = ScreenHost(lambda: CreateVmScreen("local"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.shown.query_one("#labels", Input).value = "[bold"
        await pilot.pause()
        assert "label '[bold' is not key=value" in text_of(app.shown.query_one("#labels-error"))


async def test_a_fresh_form_flags_nothing_until_a_field_is_edited_or_ok_is_pressed():
    from tests.ui.swiftor_fake import ScreenHost
    from vmtui.ui.screens.images import UploadScreen

    class PrefilledUpload(UploadScreen):
        """A prefilled field fires Input.Changed while mounting; the empty one must not be flagged then."""

        def fields(self):
            for widget in super().fields():
                if isinstance(widget, Input) and widget.id == "name":
                    widget.value = "my-image"
                yield widget

    app = ScreenHost(PrefilledUpload)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        form = app.shown
        assert not form.query(".field-error.-visible") and not form.query(".-invalid")
        form.query_one("#name", Input).value = ""
        form.query_one("#path", Input).value = "/nonexistent/rootfs.tar"
        await pilot.pause()
        assert "is not a file" in text_of(form.query_one("#path-error"))
        assert not form.query_one("#name-error").has_class("-visible")  # named after the tarball
        form.query_one("#path", Input).value = ""
        await pilot.press("enter")
        await pilot.pause()
        assert app.result == "not dismissed"
        assert "a path is needed" in text_of(form.query_one("#path-error"))
        assert "a name is needed" in text_of(form.query_one("#name-error"))
        assert form.query_one("#name-error").has_class("-visible")


async def test_create_form_runs_the_base_mount_handler_once(monkeypatch):
    from tests.ui.swiftor_fake import ScreenHost
    from vmtui.ui.screens.form import FormScreen

    calls = []
    base_on_mount = FormScreen.on_mount

    def counting_on_mount(self):
        calls.append(type(self).__name__)
        base_on_mount(self)

    monkeypatch.setattr(FormScreen, "on_mount", counting_on_mount)
    app = ScreenHost(lambda: CreateVmScreen("local"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert calls == ["CreateVmScreen"]
        assert app.focused.id == "name"  # the first field


async def test_a_disabled_action_key_says_why_without_a_server_call():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        calls = len(provider.calls)
        await pilot.press("e")  # the demo provider has no secrets
        await pilot.press("P")  # nor start/stop
        await pilot.pause()
        assert ("Not available", "demo has no secrets", "warning") in app.notes
        assert ("Not available", "demo VMs cannot start/stop", "warning") in app.notes
        assert len(provider.calls) == calls and app.screen is app.main_screen
        await pilot.press("slash", "e")  # typed into the filter box: not an action key
        await pilot.pause()
        assert len([note for note in app.notes if note[0] == "Not available"]) == 2


async def test_an_open_terminal_gets_room_even_in_80x24():
    from vmtui.ui.widgets.terminal_pane import TerminalPane

    app = make_app(demo_provider())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.main_screen.table.select(("local", "vm-8c1d77e4"))
        await pilot.press("s")
        await pilot.pause()
        area = app.main_screen.query_one("#terminal-area")
        assert isinstance(app.focused, TerminalPane)
        assert area.outer_size.height >= 15  # was 4 rows: tabs and border left no line for the shell
        await pilot.press("ctrl+right_square_bracket", "escape", "1")
        await pilot.pause()
        assert area.outer_size.height == 8  # still visible while the list has the keyboard
        assert app.main_screen.query_one("#vm-table").size.height >= 3


async def test_the_once_a_second_status_refresh_repaints_only_on_a_change(monkeypatch):
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        screen = app.main_screen
        status, banner = screen.query_one(StatusBar), screen.query_one("#banner")
        updates: list[str] = []
        monkeypatch.setattr(status, "update", lambda *a, **k: updates.append("status"))
        monkeypatch.setattr(banner, "update", lambda *a, **k: updates.append("banner"))
        for _ in range(3):
            screen.refresh_status()
        assert updates == []  # same data, same (pinned) clock: nothing to repaint
        screen.table.set_filter(parse_filter("state:running"))  # the filter in force
        screen.refresh_status()
        assert updates == ["status"]

"""SVG snapshots of the Swiftor screens at 120x36, over the MockTransport fake with fixed data."""

from __future__ import annotations

from textual.widgets import Input

from tests.ui.swiftor_fake import VM_ID, FakeSwiftor, ScreenHost, actions_for, desk
from vmtui.core.models import Vm, VmState
from vmtui.ui.screens.confirm_typed_delete import ConfirmTypedDeleteScreen
from vmtui.ui.screens.networking import NetworkingScreen
from vmtui.ui.screens.secrets import SecretsScreen
from vmtui.ui.screens.swiftor_create import SwiftorCreateScreen

SIZE = (120, 36)


def vm_of(fake: FakeSwiftor) -> Vm:
    fake.add_vm("design-desk")
    return Vm(
        provider="swiftor",
        provider_kind="swiftor",
        id=VM_ID,
        label="design-desk",
        state=VmState.RUNNING,
        image="emulatorjs",  # seed 003: port 80, and /manage on 3000
    )


async def settle(pilot) -> None:
    """Let the screen's workers finish; no blinking cursor in the picture."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await pilot.pause()


def test_create_form_with_inline_errors(snap_compare) -> None:
    fake = FakeSwiftor(plan="core")
    app = ScreenHost(lambda: SwiftorCreateScreen(*desk(fake.provider())))

    async def type_values(pilot) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        screen.query_one("#label", Input).value = "design-desk"
        screen.query_one("#cpu", Input).value = "4"
        screen.query_one("#password", Input).value = "hunter22"
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=type_values)


def test_typed_delete_refusing_a_wrong_label(snap_compare) -> None:
    vm = Vm(provider="swiftor", provider_kind="swiftor", id=VM_ID, label="design-desk", state=VmState.STOPPED)
    app = ScreenHost(lambda: ConfirmTypedDeleteScreen.for_vm(vm))

    async def type_wrong(pilot) -> None:
        await settle(pilot)
        await pilot.press("shift+tab", *"design", "enter")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=type_wrong)


def test_secrets_with_one_value_revealed(snap_compare) -> None:
    fake = FakeSwiftor()
    vm = vm_of(fake)
    fake.secrets[VM_ID] = {
        "API_TOKEN": "tok-123",
        "DATABASE_URL": "postgres://db/app",
        "VM_PASSWORD": "hunter22",
    }
    app = ScreenHost(lambda: SecretsScreen(actions_for(fake.provider()), vm))

    async def reveal_second(pilot) -> None:
        await settle(pilot)
        await pilot.press("down", "v")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=reveal_second)


def test_networking_with_mappings(snap_compare) -> None:
    fake = FakeSwiftor()
    vm = vm_of(fake)
    fake.networking[VM_ID] = {
        "api": {"subdomain": "api", "internal_port": 8000},
        "docs": {"subdomain": "docs", "internal_port": 5001},
    }
    app = ScreenHost(lambda: NetworkingScreen(actions_for(fake.provider()), vm))
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_create_form_one_field_per_row_in_80x24(snap_compare) -> None:
    fake = FakeSwiftor(plan="hacker")
    app = ScreenHost(lambda: SwiftorCreateScreen(*desk(fake.provider())))
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)

"""One registry drives every key: an action added to it shows up in the bindings, the footer, the help
screen, the palette and the keymap, with the same reason everywhere when it cannot run."""

from __future__ import annotations

import time

from textual.command import CommandList, CommandPalette

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import FIXED_NOW, opener, record_notes, settle, text_of
from tools.keytable import markdown_table
from vmtui.config import PollSettings
from vmtui.services.availability import Needs, Requirement
from vmtui.ui.actions import REGISTRY, Scope, UiAction, bindings
from vmtui.ui.app import VmTuiApp
from vmtui.ui.options import AppOptions
from vmtui.ui.screens.help import HelpScreen

HELP = "Do the fake thing to the selected VM"


def app_with_fake_action(ran: list[str], **options) -> VmTuiApp:
    fake = UiAction(
        "vm.fake",
        "j",
        "Fake it",
        HELP,
        lambda host: ran.append(host.selected_vm().id),
        palette="vm: fake it",
        requires=Requirement(Needs.VM, "can_pause", live=True),
    )
    poll = PollSettings(fast=60, slow=60, max_backoff=60, timeout=5)
    app_options = AppOptions(active_profile="local", now=lambda: FIXED_NOW, poll=poll, **options)
    return record_notes(VmTuiApp({"local": opener(demo_provider())}, app_options, registry=(*REGISTRY, fake)))


def footer_keys(app) -> list[tuple[str, str]]:
    return [(key.key_display or key.key, key.description) for key in app.main_screen.query("FooterHint")]


async def palette_options(pilot, query: str) -> list[str]:
    await pilot.press("ctrl+p", *query)
    deadline = time.monotonic() + 30
    prompts: list[str] = []
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        palette = pilot.app.screen
        if isinstance(palette, CommandPalette) and not palette._show_busy:
            command_list = palette.query_one(CommandList)
            prompts = [
                str(command_list.get_option_at_index(i).prompt) for i in range(command_list.option_count)
            ]
            if prompts:
                break
    return prompts


async def test_a_new_registry_entry_is_bound_shown_helped_and_in_the_palette():
    ran: list[str] = []
    app = app_with_fake_action(ran)
    async with app.run_test(size=(200, 36)) as pilot:
        await settle(pilot, app)
        screen = app.main_screen
        assert screen.active_bindings["j"].binding.id == "vm.fake"
        assert ("j", "Fake it") in footer_keys(app)

        selected = screen.selected_vm().id
        await pilot.press("j")
        await pilot.pause()
        assert ran == [selected]

        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = text_of(app.screen.query_one("#help-table"))
        assert f"Fake it — {HELP}" in help_text and "vm.fake" in help_text
        await pilot.press("escape")

        prompts = await palette_options(pilot, "fake it")
        assert any(prompt.startswith("vm: fake it ") for prompt in prompts), prompts
        await pilot.press("enter")
        await pilot.pause()
        assert ran == [selected, selected]


async def test_a_new_registry_entry_says_why_it_is_unavailable_everywhere():
    ran: list[str] = []
    app = app_with_fake_action(ran)
    async with app.run_test(size=(200, 36)) as pilot:
        await settle(pilot, app)
        assert app.main_screen.table.select(("local", "vm-17c0ffee"))  # dead: "needs a live VM" refuses it
        await pilot.pause()
        assert app.main_screen.unavailable("vm.fake") == "VM is dead"
        await pilot.press("j")
        await pilot.pause()
        assert ran == [] and ("Not available", "VM is dead", "warning") in app.notes

        await pilot.press("question_mark")
        assert "Fake it — Do the fake thing to the selected VM  (unavailable: VM is dead)" in text_of(
            app.screen.query_one("#help-table")
        )
        await pilot.press("escape")
        prompts = await palette_options(pilot, "fake it")
        assert "vm: fake it vm-17c0ffee  (unavailable)\nUnavailable: VM is dead" in prompts


async def test_the_keymap_remaps_a_registry_entry_by_its_id():
    ran: list[str] = []
    app = app_with_fake_action(ran, keymap={"vm.fake": "X"})
    async with app.run_test(size=(200, 36)) as pilot:
        await settle(pilot, app)
        assert ("X", "Fake it") in footer_keys(app)
        await pilot.press("j")
        await pilot.press("X")
        await pilot.pause()
        assert ran == [app.main_screen.selected_vm().id]


def test_the_readme_key_table_lists_every_bound_registry_entry():
    table = markdown_table()
    for action in REGISTRY:
        if action.key:
            assert f"`{action.id}`" in table and action.help.replace("|", "/") in table, action.id
    assert [b.id for b in bindings(Scope.APP)] == [a.id for a in REGISTRY if a.scope is Scope.APP and a.key]

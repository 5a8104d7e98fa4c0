"""The New-VM form: a validated Name (the `name` label) and a profile choice when several are shown."""

from __future__ import annotations

from textual.widgets import Input, Select

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, settle, text_of, wait_actions
from vmtui.ui.screens.create_vm import CreateVmScreen

SIZE = (120, 36)


def created(provider) -> list:
    return [args[0] for method, args in provider.calls if method == "create_vm"]


async def open_form(pilot, app) -> CreateVmScreen:
    await pilot.press("n")
    await pilot.pause()
    assert isinstance(app.screen, CreateVmScreen)
    return app.screen


async def test_the_name_field_becomes_the_name_label_and_the_row_shows_it():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        form = await open_form(pilot, app)
        assert app.focused is form.query_one("#name", Input)  # the first field
        await pilot.press(*"web-1")
        form.query_one("#labels", Input).value = "env=dev"
        await pilot.click("#ok")
        await wait_actions(pilot, app)
        (config,) = created(provider)
        assert config.labels == {"env": "dev", "name": "web-1"}
        new_vm = provider.vms[app.main_screen.table.selected_vm.id]
        assert new_vm.display_name == "web-1"


async def test_a_bad_name_is_flagged_inline_and_nothing_is_sent():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        form = await open_form(pilot, app)
        await pilot.press(*"my vm;rm")
        await pilot.pause()
        assert "letters, digits" in text_of(form.query_one("#name-error"))
        form.query_one("#name", Input).value = "ok-name"
        form.query_one("#labels", Input).value = "name=other"
        await pilot.click("#ok")
        await pilot.pause()
        assert isinstance(app.screen, CreateVmScreen)
        assert text_of(form.query_one("#name-error")).strip() == ""
        assert "drop name= here" in text_of(form.query_one("#labels-error"))
        assert created(provider) == []


async def test_with_two_profiles_the_form_defaults_to_the_selected_rows_profile():
    local, other = demo_provider("local"), demo_provider("other")
    app = make_app(local, other)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.main_screen.table.select(("other", "vm-3f2a91c0"))
        await pilot.pause()
        form = await open_form(pilot, app)
        profile = form.query_one("#profile", Select)
        assert profile.value == "other"
        await pilot.click("#ok")
        await wait_actions(pilot, app)
        assert len(created(other)) == 1 and created(local) == []


async def test_choosing_the_other_profile_creates_there():
    local, other = demo_provider("local"), demo_provider("other")
    app = make_app(local, other)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.main_screen.table.select(("other", "vm-3f2a91c0"))
        form = await open_form(pilot, app)
        form.query_one("#profile", Select).value = "local"
        await pilot.pause()
        await pilot.click("#ok")
        await wait_actions(pilot, app)
        assert len(created(local)) == 1 and created(other) == []


async def test_with_one_profile_there_is_no_choice_and_the_title_names_it():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        form = await open_form(pilot, app)
        assert not form.query("#profile")
        assert "on local" in str(form.query_one("#dialog-title").content)

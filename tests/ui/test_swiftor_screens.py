"""The Swiftor screens (create, typed delete, secrets, networking) driven with Pilot, against a real
SwiftorProvider over a stateful MockTransport fake of Swiftor's wire API, and against the local
engine's own /swiftor API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import webbrowser
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from textual.widgets import Button, DataTable, Input, Select

from tests.ui.helpers import make_app, wait_actions
from tests.ui.helpers import settle as settle_main
from tests.ui.swiftor_fake import VM_ID, FakeSwiftor, ScreenHost, actions_for, desk
from vmtui.core.models import Vm, VmState
from vmtui.local.api.host_proxy import HostProxy
from vmtui.local.api.swiftor import SwiftorContext, swiftor_app
from vmtui.local.engine import Engine
from vmtui.local.jwt_tokens import issue_token
from vmtui.providers.swiftor import SwiftorProvider
from vmtui.ui.screens import networking
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.confirm_typed_delete import ConfirmTypedDeleteScreen
from vmtui.ui.screens.networking import MappingFormScreen, NetworkingScreen
from vmtui.ui.screens.secrets import MASK, SecretFormScreen, SecretsScreen
from vmtui.ui.screens.swiftor_create import DesktopRequest, SwiftorCreateScreen

SIZE = (120, 36)
PLANTED = "PLANTED-s3cr3t-9f1c"
OTHER = "other-value-77ab"


def screen_text(app) -> str:
    """Everything the active screen shows, as plain text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def swiftor_vm(fake: FakeSwiftor, label: str = "NewVM") -> Vm:
    fake.add_vm(label)
    return Vm(
        provider="swiftor",
        provider_kind="swiftor",
        id=VM_ID,
        label=label,
        state=VmState.STOPPED,
        image="ubuntu-xfce",
    )


async def fill(pilot, **values: str) -> None:
    for name, value in values.items():
        pilot.app.screen.query_one(f"#{name}", Input).value = value
    await pilot.pause()


def choose(app, **values: str | None) -> None:
    for name, value in values.items():
        select = app.screen.query_one(f"#{name}", Select)
        if value is None:
            select.clear()
        else:
            select.value = value


def error_of(app, name: str) -> str:
    return str(app.screen.query_one(f"#{name}-error").render())


# -- create form -----------------------------------------------------------------------------


async def test_create_form_blocks_bad_values_inline_without_any_request():
    fake = FakeSwiftor(plan="core")
    app = ScreenHost(lambda: SwiftorCreateScreen(*desk(fake.provider())))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Your plan: core: up to 1 vCPU, 2 GB RAM, 2 GB storage, 1 running VM(s)" in screen_text(app)
        choose(app, distribution="fedora", desktop=None, storage="persistent")
        await fill(pilot, label="", cpu="3", ram="x", password="")
        app.screen.query_one("#password", Input).focus()
        await pilot.press("enter")  # Enter in a field submits the form
        await settle(pilot)
        assert app.result == "not dismissed"
        assert app.focused.id == "label", "the first invalid field gets the focus"
        assert fake.writes == [], "nothing may be sent while a field is invalid"
        assert error_of(app, "label") == "a label is needed"
        assert "needs a desktop" in error_of(app, "desktop")
        assert error_of(app, "cpu") == "VM exceeds the core plan limit: 3 vCPU requested, at most 1 allowed"
        assert error_of(app, "ram") == "a whole number, at least 1"
        assert error_of(app, "storage") == "", "every plan has storage (seed 003): persistent is allowed"
        assert error_of(app, "password") == "a password is needed"
        await fill(pilot, ram="5")
        assert (
            error_of(app, "ram") == "VM exceeds the core plan limit: 5 GB RAM requested, at most 2 GB allowed"
        )
        app.screen.query_one("#ok", Button).press()
        await settle(pilot)
        assert fake.writes == [] and app.result == "not dismissed"


async def test_create_form_flags_nothing_at_open_and_a_keyboard_choice_at_once():
    fake = FakeSwiftor(plan="core")
    app = ScreenHost(lambda: SwiftorCreateScreen(*desk(fake.provider())))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.focused.id == "label"
        assert all(not error_of(app, name) for name in ("label", "password", "cpu", "ram", "desktop"))
        choose(app, desktop=None)  # set by code: not flagged until the user chooses something
        await settle(pilot)
        assert not error_of(app, "desktop")
        app.screen.query_one("#distribution", Select).focus()
        await pilot.press("enter", "down", "enter")  # open the list, pick the next one: debian
        await settle(pilot)
        assert app.screen.query_one("#distribution", Select).value == "debian"
        assert error_of(app, "desktop") == "distribution 'debian' needs a desktop (e.g. xfce or kde)"
        assert fake.writes == []


async def test_create_form_scrolls_to_its_buttons_in_a_small_terminal():
    fake = FakeSwiftor()
    app = ScreenHost(lambda: SwiftorCreateScreen(*desk(fake.provider())))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.has_class("-narrow")
        dialog = app.screen.query_one("#dialog")
        ok = app.screen.query_one("#ok", Button)
        assert not dialog.region.contains_region(ok.region)
        ok.focus()
        await settle(pilot)
        assert dialog.region.contains_region(ok.region), "focusing the button scrolls it into view"


async def test_create_form_sends_the_typed_request_and_returns_it():
    fake = FakeSwiftor(plan="pro_monthly")  # engineer: 8 vCPU, 16 GB, persistent storage
    app = ScreenHost(lambda: SwiftorCreateScreen(*desk(fake.provider())))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        choose(app, region="US", distribution="debian", desktop="kde", storage="persistent")
        await fill(pilot, label="MyWebServer", cpu="8", ram="16", password=PLANTED)
        assert PLANTED not in screen_text(app), "the password field is masked"
        await pilot.click("#ok")
        await settle(pilot)
        request = app.result
        assert isinstance(request, DesktopRequest)
        assert (
            request.label,
            request.region,
            request.distribution,
            request.desktop,
            request.cpu,
            request.ram_gb,
            request.storage_type,
        ) == ("MyWebServer", "US", "debian", "kde", 8, 16, "persistent")
        assert PLANTED not in repr(request)
        assert fake.writes == [("POST", "/vms/create")]
        assert fake.bodies[fake.requests.index(("POST", "/vms/create"))] == {
            "config": {
                "vmlabel": "MyWebServer",
                "region": {"code": "US"},
                "password": PLANTED,
                "storageType": "persistent",
            },
            "os": {"distribution": {"code": "debian"}, "desktop": "kde", "cpu": 8, "ram": 16},
        }
        created = app.shown.created_vm
        assert created.label == "MyWebServer" and created.state is VmState.STOPPED
        assert created.specs.persistent_storage is True and created.image == "debian-kde"


async def test_create_form_shows_a_server_refusal_and_keeps_every_value():
    fake = FakeSwiftor()
    fake.add_vm("taken", "11111111-2222-4333-8444-555555555555")
    app = ScreenHost(lambda: SwiftorCreateScreen(*desk(fake.provider())))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        choose(app, distribution="kali", desktop=None)
        await fill(pilot, label="taken", cpu="1", ram="2", password="pw-1")
        await pilot.click("#ok")
        await settle(pilot)
        assert app.result == "not dismissed"
        assert "Refused: 400: A VM named taken already exists" in str(
            app.screen.query_one("#send-status").render()
        )
        values = {
            name: app.screen.query_one(f"#{name}", Input).value
            for name in ("label", "cpu", "ram", "password")
        }
        assert values == {"label": "taken", "cpu": "1", "ram": "2", "password": "pw-1"}
        assert app.screen.query_one("#distribution", Select).value == "kali"
        assert not app.screen.query_one("#ok", Button).disabled
        await fill(pilot, label="fresh")
        await pilot.click("#ok")
        await settle(pilot)
        assert isinstance(app.result, DesktopRequest) and app.result.desktop is None
        assert sorted(vm["vmlabel"] for vm in fake.vms.values()) == ["fresh", "taken"]


async def test_create_form_waits_for_the_answer_once_sent():
    fake = FakeSwiftor()
    gate = asyncio.Event()

    async def slow_create(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/vms/create":
            await gate.wait()
        return fake.handle(request)

    provider = SwiftorProvider(
        "swiftor", "https://api.swiftor.io", "t", transport=httpx.MockTransport(slow_create)
    )
    app = ScreenHost(lambda: SwiftorCreateScreen(*desk(provider)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await fill(pilot, label="slow", password="pw")
        await pilot.press("enter")
        await pilot.pause()
        assert (
            app.screen.query_one("#ok", Button).disabled and app.screen.query_one("#cancel", Button).disabled
        )
        assert "Creating the VM…" in screen_text(app)
        await pilot.press("enter")  # a second submit while sending is ignored
        await pilot.press("escape")  # and leaving would abandon a create that may already have happened
        await pilot.pause()
        assert app.result == "not dismissed" and "waiting for the answer" in screen_text(app)
        gate.set()
        await settle(pilot)
        assert isinstance(app.result, DesktopRequest) and app.shown.created_vm.label == "slow"
        assert fake.writes == [("POST", "/vms/create")]


async def test_create_form_without_a_plan_leaves_limits_to_the_server():
    fake = FakeSwiftor()
    fake.refuse[("GET", "/init")] = (404, "User not found")
    app = ScreenHost(lambda: SwiftorCreateScreen(*desk(fake.provider())))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Plan unknown (404: User not found)" in screen_text(app)
        await fill(pilot, label="big", cpu="8", ram="16", password="pw")
        assert error_of(app, "cpu") == "" and error_of(app, "ram") == ""


# -- typed delete ----------------------------------------------------------------------------


async def test_typed_delete_refuses_a_wrong_label_and_confirms_the_exact_one():
    vm = Vm(provider="swiftor", provider_kind="swiftor", id=VM_ID, label="Prod Box", state=VmState.RUNNING)
    app = ScreenHost(lambda: ConfirmTypedDeleteScreen.for_vm(vm))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.focused.id == "cancel"
        delete = app.screen.query_one("#delete", Button)
        assert delete.disabled
        await pilot.press("shift+tab")
        assert app.focused.id == "typed-name"
        await pilot.press(*"prod box", "enter")
        await pilot.pause()
        assert app.result == "not dismissed" and delete.disabled
        assert "That is not the exact name" in screen_text(app)
        app.screen.query_one("#typed-name", Input).value = "Prod Box"
        await pilot.pause()
        assert not delete.disabled
        await pilot.click("#delete")
        await pilot.pause()
        assert app.result is True


async def test_typed_delete_cancel_and_escape_return_false():
    vm = Vm(provider="swiftor", id=VM_ID, label="box")
    for keys in (["enter"], ["escape"]):  # Enter presses the focused Cancel
        app = ScreenHost(lambda: ConfirmTypedDeleteScreen.for_vm(vm))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press(*keys)
            await pilot.pause()
            assert app.result is False


# -- secrets ---------------------------------------------------------------------------------


async def test_secret_values_are_masked_and_reveal_shows_exactly_one():
    fake = FakeSwiftor()
    vm = swiftor_vm(fake)
    fake.secrets[VM_ID] = {"API_TOKEN": PLANTED, "DB_PASSWORD": OTHER, "VM_PASSWORD": "pw-zz-1234"}
    app = ScreenHost(lambda: SecretsScreen(actions_for(fake.provider()), vm))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "API_TOKEN" in text and "DB_PASSWORD" in text and "VM_PASSWORD" in text
        assert PLANTED not in text and OTHER not in text and "pw-zz-1234" not in text
        assert text.count(MASK) == 3
        assert "apply at the VM's next start" in text
        await pilot.press("v")  # first row: API_TOKEN
        await pilot.pause()
        text = screen_text(app)
        assert PLANTED in text and OTHER not in text and "pw-zz-1234" not in text
        assert text.count(MASK) == 2
        await pilot.press("down")  # moving away masks it again
        await pilot.pause()
        assert PLANTED not in screen_text(app) and screen_text(app).count(MASK) == 3
        await pilot.press("v")
        await pilot.pause()
        text = screen_text(app)
        assert OTHER in text and PLANTED not in text
        await pilot.press("v")  # again: hidden
        await pilot.pause()
        assert OTHER not in screen_text(app)
        assert app.notes == [], "revealing is silent: no value ever goes to a notification"


async def test_secrets_add_edit_delete_with_inline_key_validation():
    fake = FakeSwiftor()
    vm = swiftor_vm(fake)
    fake.secrets[VM_ID] = {"VM_PASSWORD": "pw"}
    app = ScreenHost(lambda: SecretsScreen(actions_for(fake.provider()), vm))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, SecretFormScreen)
        await fill(pilot, key="9LIVES", value=PLANTED)
        await pilot.click("#ok")
        await settle(pilot)
        assert "not starting with a digit" in error_of(app, "key")
        await fill(pilot, key="bad-key")
        assert error_of(app, "key") == "letters, digits and _ only, not starting with a digit"
        assert fake.writes == []
        assert PLANTED not in screen_text(app), "the value input is masked"
        await fill(pilot, key="API_TOKEN")
        await pilot.click("#ok")
        await settle(pilot)
        assert isinstance(app.screen, SecretsScreen)
        assert fake.secrets[VM_ID] == {"VM_PASSWORD": "pw", "API_TOKEN": PLANTED}
        table = app.screen.query_one(DataTable)
        assert table.row_count == 2 and app.screen.selected_key() == "API_TOKEN"  # the new one is highlighted
        assert PLANTED not in screen_text(app)
        assert ("Secrets", "Saved API_TOKEN; it applies at the VM's next start") in app.notes
        assert all(PLANTED not in title + message for title, message in app.notes)

        await pilot.press("v")
        await pilot.pause()
        assert PLANTED in screen_text(app)
        secrets_screen = app.screen
        await pilot.press("e")
        await pilot.pause()
        assert secrets_screen.query_one(DataTable).get_cell("API_TOKEN", "value") == MASK, (
            "masked behind the form"
        )
        form = app.screen
        assert isinstance(form, SecretFormScreen) and form.query_one("#key", Input).disabled
        assert app.focused.id == "value"
        await pilot.press(*OTHER, "enter")
        await settle(pilot)
        assert fake.secrets[VM_ID]["API_TOKEN"] == OTHER

        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.focused.id == "cancel"
        await pilot.press("enter")  # Cancel: nothing deleted
        await settle(pilot)
        assert "API_TOKEN" in fake.secrets[VM_ID]
        await pilot.press("d")
        await pilot.pause()
        await pilot.click("#confirm")
        await settle(pilot)
        assert fake.secrets[VM_ID] == {"VM_PASSWORD": "pw"}
        assert app.screen.query_one(DataTable).row_count == 1
        assert ("DELETE", f"/vms/secrets/{VM_ID}/API_TOKEN") in fake.requests


async def test_a_refused_secret_keeps_the_form_and_its_value():
    fake = FakeSwiftor()
    vm = swiftor_vm(fake)
    fake.refuse[("POST", "/vms/secrets")] = (404, "VM not found")
    app = ScreenHost(lambda: SecretFormScreen(actions_for(fake.provider()), vm))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(*"TOKEN", "tab", *PLANTED, "enter")
        await settle(pilot)
        assert isinstance(app.screen, SecretFormScreen) and app.result == "not dismissed"
        assert "Refused: 404: VM not found" in screen_text(app)
        assert app.screen.query_one("#value", Input).value == PLANTED
        assert PLANTED not in screen_text(app)
        del fake.refuse[("POST", "/vms/secrets")]
        await pilot.press("enter")
        await settle(pilot)
        assert app.result.key == "TOKEN" and PLANTED not in repr(app.result)
        assert fake.secrets[VM_ID] == {"TOKEN": PLANTED}


async def test_server_given_names_are_shown_literally_never_as_markup():
    fake = FakeSwiftor()
    label = "[/]desk [b]x"
    vm = swiftor_vm(fake, label)
    fake.secrets[VM_ID] = {"K": "v"}
    for screen in (
        lambda: SecretFormScreen(actions_for(fake.provider()), vm),
        lambda: MappingFormScreen(actions_for(fake.provider()), vm),
    ):
        app = ScreenHost(screen)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert label in screen_text(app)
    app = ScreenHost(lambda: SecretsScreen(actions_for(fake.provider()), vm))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and label in screen_text(app)


async def test_secrets_show_the_servers_error():
    fake = FakeSwiftor()
    vm = swiftor_vm(fake)
    fake.refuse[("GET", "/vms/secrets")] = (401, "Invalid token")
    app = ScreenHost(lambda: SecretsScreen(actions_for(fake.provider()), vm))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Cannot list secrets: 401: Invalid token" in screen_text(app)


# -- networking ------------------------------------------------------------------------------


async def test_networking_add_lists_url_then_remove(monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(networking, "open_in_browser", lambda url: opened.append(url) or True)
    fake = FakeSwiftor()
    vm = swiftor_vm(fake)
    app = ScreenHost(lambda: NetworkingScreen(actions_for(fake.provider()), vm))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        desktop = f"https://{VM_ID}.swiftor.io"
        assert f"ubuntu-xfce serves / (port 3000, KasmVNC) at {desktop}" in screen_text(app)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, MappingFormScreen)
        await fill(pilot, name="-MyApp", port="70000")
        await pilot.click("#ok")
        await settle(pilot)
        assert (
            "lowercase letters" in error_of(app, "name") and error_of(app, "port") == "a port from 1 to 65535"
        )
        await fill(pilot, name="a" * 64, port="0")
        assert error_of(app, "name") == "at most 63 characters"
        assert fake.writes == []
        await fill(pilot, name="myapp", port="5001")
        await pilot.click("#ok")
        await settle(pilot)
        url = f"https://myapp-{VM_ID}.swiftor.io"
        assert isinstance(app.screen, NetworkingScreen)
        assert fake.networking[VM_ID] == {"myapp": {"subdomain": "myapp", "internal_port": 5001}}
        text = screen_text(app)
        assert "myapp" in text and "5001" in text and url in text
        assert app.screen._selected() == ("myapp", url)

        await pilot.press("y")
        await pilot.pause()
        assert app.clipboard == url
        await pilot.press("o")
        await settle(pilot)
        assert opened == [url]
        assert ("Networking", f"Opening {url}") in app.notes

        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.click("#confirm")
        await settle(pilot)
        assert fake.networking[VM_ID] == {}
        assert url not in screen_text(app)
        assert app.screen.query_one(DataTable).row_count == 1  # the desktop stays


def test_open_in_browser_uses_only_graphical_browsers(monkeypatch):
    url = "https://web-x.swiftor.io"
    graphical = webbrowser.BackgroundBrowser(["sh", "-c", "sleep 1", "%s"])  # detached, like xdg-open
    monkeypatch.setattr(webbrowser, "get", lambda: graphical)
    assert networking.open_in_browser(url) is True
    for console in (webbrowser.GenericBrowser(["lynx"]), webbrowser.Elinks("elinks")):
        monkeypatch.setattr(console, "open", lambda *args, **kwargs: pytest.fail("console browser started"))
        monkeypatch.setattr(webbrowser, "get", lambda console=console: console)
        assert networking.open_in_browser(url) is False

    def no_browser():
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr(webbrowser, "get", no_browser)
    assert networking.open_in_browser(url) is False


async def test_networking_duplicate_is_refused_in_the_form_and_desktop_cannot_be_removed():
    fake = FakeSwiftor()
    vm = swiftor_vm(fake)
    fake.networking[VM_ID] = {"web": {"subdomain": "web", "internal_port": 80}}
    app = ScreenHost(lambda: NetworkingScreen(actions_for(fake.provider()), vm))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert f"https://web-{VM_ID}.swiftor.io" in screen_text(app)
        await pilot.press("d")  # the image's route (KasmVNC on 3000) is first
        await pilot.pause()
        assert isinstance(app.screen, NetworkingScreen) and fake.writes == []
        await pilot.press("a")
        await pilot.pause()
        await fill(pilot, name="web", port="8080")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MappingFormScreen)
        assert "already exists" in str(app.screen.query_one("#send-status").render())
        assert app.screen.query_one("#port", Input).value == "8080"


# -- the local engine's Swiftor API ----------------------------------------------------------

SECRET = "k" * 48


@contextlib.asynccontextmanager
async def engine_provider(tmp_path) -> AsyncIterator[SwiftorProvider]:
    engine = Engine(tmp_path / "engine")
    await engine.start()
    app = FastAPI()
    context = SwiftorContext(engine)
    app.mount("/swiftor", swiftor_app(context, SECRET))
    app.add_middleware(HostProxy, engine=engine, swiftor=context)
    provider = SwiftorProvider(
        "local",
        "http://127.0.0.1:8123/swiftor",
        issue_token(SECRET, "ui@example.com", plan="hacker"),
        transport=httpx.ASGITransport(app=app),
        max_retries=0,
    )
    try:
        yield provider
    finally:
        await provider.aclose()
        for vm in engine.db.list_vms(all_owners=True):
            with contextlib.suppress(Exception):
                await engine.delete_vm(vm.id, owner=vm.owner)
        await engine.close()


@pytest.mark.root
async def test_screens_against_the_local_engine(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    async with engine_provider(tmp_path) as provider:
        app = ScreenHost(lambda: SwiftorCreateScreen(*desk(provider)))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert "Your plan: hacker: up to 4 vCPU, 8 GB RAM, 30 GB storage, 3 running VM(s)" in screen_text(
                app
            )
            await fill(pilot, label="ui-e2e", cpu="5", ram="2", password=PLANTED)
            assert "at most 4 allowed" in error_of(app, "cpu")
            await fill(pilot, cpu="2")
            choose(app, storage="persistent")
            await pilot.click("#ok")
            await settle(pilot)
            vm = app.shown.created_vm
        assert isinstance(app.result, DesktopRequest) and vm.label == "ui-e2e" and vm.specs.persistent_storage

        app = ScreenHost(lambda: SecretsScreen(actions_for(provider), vm))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert "VM_PASSWORD" in screen_text(app) and PLANTED not in screen_text(app)
            await pilot.press("v")
            await pilot.pause()
            assert PLANTED in screen_text(app)

        app = ScreenHost(lambda: NetworkingScreen(actions_for(provider), vm))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert f"http://{vm.id}.localhost:8123" in screen_text(app)
            await pilot.press("a")
            await pilot.pause()
            await fill(pilot, name="web", port="8000")
            await pilot.click("#ok")
            await settle(pilot)
            url = f"http://web-{vm.id}.localhost:8123"
            assert url in screen_text(app)
            assert [m.url for m in await provider.list_mappings(vm.id)] == [url]
            await pilot.press("d")
            await pilot.pause()
            await pilot.click("#confirm")
            await settle(pilot)
            assert await provider.list_mappings(vm.id) == []
            assert url not in screen_text(app)

        app = ScreenHost(lambda: ConfirmTypedDeleteScreen.for_vm(vm))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.screen.query_one("#typed-name", Input).value = "ui-e2e"
            await pilot.pause()
            await pilot.click("#delete")
            await pilot.pause()
        assert app.result is True
        await provider.delete_vm(vm.id)
        assert await provider.list_vms() == []
    assert caplog.records, "DEBUG logging was captured"
    assert PLANTED not in caplog.text, "the password must never reach a log"


async def test_screens_open_over_the_main_screen_for_a_polled_swiftor_vm():
    """The Vm the main screen's poller produced is what the screens get; they pop back to it."""
    fake = FakeSwiftor()
    fake.add_vm("polled-desk")
    fake.secrets[VM_ID] = {"API_TOKEN": PLANTED}
    provider = fake.provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle_main(pilot, app)
        vm = app.main_screen.table.selected_vm
        assert vm is not None and vm.label == "polled-desk" and vm.provider_kind == "swiftor"
        app.push_screen(SecretsScreen(app.actions, vm))
        await wait_actions(pilot, app)
        assert "API_TOKEN" in screen_text(app) and PLANTED not in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main_screen
        app.push_screen(NetworkingScreen(app.actions, vm))
        await wait_actions(pilot, app)
        assert f"https://{VM_ID}.swiftor.io" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main_screen


async def test_dialog_sizes_come_from_the_stylesheet_not_inline_styles():
    fake = FakeSwiftor()
    vm = swiftor_vm(fake)
    screens = (
        (lambda: SwiftorCreateScreen(*desk(fake.provider())), "#dialog", 104),
        (lambda: SecretsScreen(actions_for(fake.provider()), vm), "#secrets-dialog", 100),
        (lambda: NetworkingScreen(actions_for(fake.provider()), vm), "#networking-dialog", 110),
    )
    for factory, selector, width in screens:
        app = ScreenHost(factory)
        async with app.run_test(size=(140, 40)) as pilot:
            await settle(pilot)
            dialog = app.screen.query_one(selector)
            assert not dialog.styles.inline.has_rule("width"), selector
            assert dialog.outer_size.width == width, selector

"""Labels and rename, disk resize, environment variables, the files browser and vers-cli aliases, by
keys, against the REAL local engine (`vmtui serve` on a temp state dir). Each asserts on what the user
sees and on the engine's own state, read through a second provider on the same endpoint."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from textual.widgets import DataTable, Input

from tests.ui import test_local_engine
from tests.ui.helpers import settle, text_of, wait_until
from tests.ui.test_local_engine import states, wait_for
from tests.ui.test_local_engine_actions import SIZE, make_app, open_engine
from vmtui.cli.common import find_vm
from vmtui.core.models import VmConfig, VmState
from vmtui.services.sftp_tree import TreeCopyStats
from vmtui.ui.screens.disk import ResizeDiskScreen
from vmtui.ui.screens.env_vars import EnvVarFormScreen, EnvVarsScreen
from vmtui.ui.screens.files import FilesScreen, LocalPathScreen
from vmtui.ui.screens.labels import LabelFormScreen, LabelsScreen, RenameScreen, ReplaceLabelsScreen
from vmtui.ui.screens.masked_values import MASK

pytestmark = pytest.mark.root

engine_settings = test_local_engine.engine_settings


def can_resize_online() -> bool:
    """The engine grows a running VM's file system only with CAP_SYS_RESOURCE (bit 24)."""
    with open("/proc/self/status") as status:
        effective = next(line for line in status if line.startswith("CapEff:")).split()[1]
    return bool(int(effective, 16) >> 24 & 1)


def table_text(screen) -> str:
    table = screen.query_one(DataTable)
    return " ".join(str(cell) for row in range(table.row_count) for cell in table.get_row_at(row))


def status_text(screen, selector: str) -> str:
    return text_of(screen.query_one(selector))


async def until_screen(pilot, app, kind) -> None:
    await wait_until(pilot, lambda: isinstance(app.screen, kind), f"the {kind.__name__}")


async def test_f2_renames_and_l_sets_replaces_and_removes_labels(engine_settings):
    engine = await open_engine(engine_settings)
    try:
        vm_id = await engine.create_vm(VmConfig(labels={"team": "red"}), wait_boot=True)
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: states(app) == {vm_id: VmState.RUNNING})

            await pilot.press("f2")
            await until_screen(pilot, app, RenameScreen)
            await pilot.press("enter")  # nothing to rename to, no name label to remove: refused inline
            assert "a name is needed" in status_text(app.screen, "#name-error")
            await pilot.press(*"web-1", "enter")
            await until_screen(pilot, app, type(app.main_screen))
            assert (await engine.get_vm(vm_id)).labels == {"team": "red", "name": "web-1"}
            await wait_for(
                pilot, app, lambda: app.main_screen.table.vms[("local", vm_id)].display_name == "web-1"
            )

            await pilot.press("l")
            await until_screen(pilot, app, LabelsScreen)
            labels = app.screen
            await wait_until(pilot, lambda: labels.query_one(DataTable).row_count == 2, "two labels")
            await pilot.press("a")
            await until_screen(pilot, app, LabelFormScreen)
            await pilot.press(*"bad=key", "enter")  # refused inline, nothing sent
            assert "no ',', '=' or '/'" in status_text(app.screen, "#key-error")
            app.screen.query_one("#key", Input).value = "tier"
            app.screen.query_one("#value", Input).value = "db"
            await pilot.press("enter")
            await until_screen(pilot, app, LabelsScreen)
            await wait_until(pilot, lambda: "tier" in table_text(labels), "the new label")
            assert (await engine.get_vm(vm_id)).labels == {"team": "red", "name": "web-1", "tier": "db"}

            await pilot.press("R")
            await until_screen(pilot, app, ReplaceLabelsScreen)
            app.screen.query_one("#labels", Input).value = "name=web-2,only=this"
            await pilot.press("enter")
            await until_screen(pilot, app, LabelsScreen)
            await wait_until(pilot, lambda: "only" in table_text(labels), "the replaced labels")
            assert (await engine.get_vm(vm_id)).labels == {"name": "web-2", "only": "this"}

            table = labels.query_one(DataTable)
            table.move_cursor(row=table.get_row_index("only"))
            await pilot.press("d")
            await pilot.press("tab", "enter")  # a removal focuses Cancel: tab to Remove
            await wait_until(pilot, lambda: "only" not in table_text(labels), "the removed label")
            assert (await engine.get_vm(vm_id)).labels == {"name": "web-2"}
            await pilot.press("escape")
            await wait_for(
                pilot, app, lambda: app.main_screen.table.vms[("local", vm_id)].display_name == "web-2"
            )
    finally:
        await engine.aclose()


async def test_G_grows_the_disk_refuses_shrinking_inline_and_shows_the_servers_error(engine_settings):
    engine = await open_engine(engine_settings)
    try:
        vm_id = await engine.create_vm(VmConfig(fs_size_mib=512), wait_boot=True)
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: states(app) == {vm_id: VmState.RUNNING})
            await wait_for(
                pilot, app, lambda: app.main_screen.table.vms[("local", vm_id)].specs.fs_size_mib == 512
            )

            await pilot.press("G")
            await until_screen(pilot, app, ResizeDiskScreen)
            form = app.screen
            form.query_one("#size", Input).value = "256"
            await pilot.press("enter")
            assert "larger than the current 512 MiB" in status_text(form, "#size-error")
            form.query_one("#size", Input).value = str(1 << 24)  # larger than any test host's disk
            await pilot.press("enter")
            await wait_until(pilot, lambda: "Refused" in status_text(form, "#send-status"), "the refusal")
            assert "larger than the host's disk" in status_text(form, "#send-status")
            assert app.screen is form  # the form stays, with what was typed
            form.query_one("#size", Input).value = "768"
            await pilot.press("enter")
            await wait_until(
                pilot,
                lambda: app.screen is not form or "768 MiB" in status_text(form, "#send-status"),
                "the answer",
            )
            if can_resize_online():
                assert app.screen is not form, status_text(form, "#send-status")
                await wait_for(
                    pilot, app, lambda: app.main_screen.table.vms[("local", vm_id)].specs.fs_size_mib == 768
                )
            else:  # growing a mounted ext4 needs CAP_SYS_RESOURCE: the engine refuses and changes nothing
                assert "409: cannot grow the disk to 768 MiB" in status_text(form, "#send-status")
                assert app.screen is form and form.query_one("#size", Input).value == "768"
        expected = 768 if can_resize_online() else 512
        assert (await engine.get_vm(vm_id)).specs.fs_size_mib == expected
    finally:
        await engine.aclose()


async def test_E_lists_sets_and_deletes_masked_environment_variables_new_vms_get_them(engine_settings):
    engine = await open_engine(engine_settings)
    secret = "s3cret-value-xyz"
    try:
        await engine.set_env_var("KEEP", "kept-value")
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("E")
            await until_screen(pilot, app, EnvVarsScreen)
            screen = app.screen
            await wait_until(pilot, lambda: screen.query_one(DataTable).row_count == 1, "the variable")
            assert "KEEP" in table_text(screen) and "kept-value" not in table_text(screen)
            assert MASK in table_text(screen)

            await pilot.press("a")
            await until_screen(pilot, app, EnvVarFormScreen)
            await pilot.press(*"1BAD", "tab", *secret, "enter")
            assert "not starting with a digit" in status_text(app.screen, "#key-error")
            app.screen.query_one("#key", Input).value = "TOKEN"
            await pilot.press("enter")
            await until_screen(pilot, app, EnvVarsScreen)
            await wait_until(pilot, lambda: "TOKEN" in table_text(screen), "the new variable")
            assert secret not in table_text(screen)
            assert all(secret not in title + message for title, message, _ in app.notes)
            assert all(secret not in str(entry) for entry in app.main_screen.actions.log.entries)
            assert (await engine.list_env_vars())["TOKEN"].get_secret_value() == secret

            new_vm = await engine.create_vm(VmConfig(), wait_boot=True)
            environment = await engine.exec(new_vm, ["sh", "-c", 'echo "$TOKEN"'])
            assert environment.stdout == secret + "\n"

            table = screen.query_one(DataTable)
            table.move_cursor(row=table.get_row_index("TOKEN"))
            await pilot.press("d", "tab", "enter")
            await wait_until(pilot, lambda: "TOKEN" not in table_text(screen), "the deleted variable")
        assert set(await engine.list_env_vars()) == {"KEEP"}
    finally:
        await engine.aclose()


async def test_f_browses_downloads_a_tree_with_links_and_uploads_a_file(
    engine_settings, tmp_path, monkeypatch
):
    engine = await open_engine(engine_settings)
    local = tmp_path / "local"
    local.mkdir()
    monkeypatch.chdir(local)
    try:
        vm_id = await engine.create_vm(VmConfig(), wait_boot=True)
        tree = (
            "mkdir -p /root/tree/sub && echo alpha > /root/tree/a.txt && echo beta > /root/tree/sub/b.txt"
            " && ln -s a.txt /root/tree/link && chmod 640 /root/tree/a.txt"
        )
        made = await engine.exec(vm_id, ["sh", "-c", tree])
        assert made.exit_code == 0, made.stderr
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: states(app) == {vm_id: VmState.RUNNING})
            await pilot.press("f")
            await until_screen(pilot, app, FilesScreen)
            files = app.screen
            await wait_until(pilot, lambda: files.path == "/root", "the login directory")
            table = files.query_one(DataTable)
            await wait_until(pilot, lambda: "tree" in files.entries, "the tree in the listing")
            table.move_cursor(row=table.get_row_index("tree"))
            await pilot.press("enter")
            await wait_until(pilot, lambda: files.path == "/root/tree", "the tree directory")
            listing = table_text(files)
            assert "→ a.txt" in listing and "-rw-r-----" in listing and "sub/" in listing

            await pilot.press("backspace")
            await wait_until(pilot, lambda: files.path == "/root", "back in /root")
            table.move_cursor(row=table.get_row_index("tree"))
            await pilot.press("g")
            await until_screen(pilot, app, LocalPathScreen)
            assert app.screen.query_one("#path", Input).value == str(local / "tree")
            await pilot.press("enter")
            await until_screen(pilot, app, FilesScreen)
            await wait_until(pilot, lambda: "Copied" in status_text(files, "#files-transfer"), "the download")
            assert (local / "tree" / "a.txt").read_text() == "alpha\n"
            assert (local / "tree" / "sub" / "b.txt").read_text() == "beta\n"
            assert os.readlink(local / "tree" / "link") == "a.txt"

            (local / "up.txt").write_text("uploaded from the TUI\n")
            await pilot.press("u")
            await until_screen(pilot, app, LocalPathScreen)
            app.screen.query_one("#path", Input).value = str(local / "missing")
            await pilot.press("enter")
            assert "no such file or directory" in status_text(app.screen, "#path-error")
            app.screen.query_one("#path", Input).value = str(local / "up.txt")
            await pilot.press("enter")
            await until_screen(pilot, app, FilesScreen)
            await wait_until(pilot, lambda: "up.txt" in files.entries, "the uploaded file listed")

            async def endless_get(remote, local, progress):  # a copy that only ends when cancelled
                progress(TreeCopyStats(files=1, bytes=2048))
                await asyncio.Event().wait()

            files.session.get = endless_get
            table.move_cursor(row=table.get_row_index("up.txt"))
            await pilot.press("g")
            await until_screen(pilot, app, LocalPathScreen)
            await pilot.press("enter")
            await until_screen(pilot, app, FilesScreen)
            await wait_until(
                pilot, lambda: "2.0 KiB" in status_text(files, "#files-transfer"), "the progress"
            )
            await pilot.press("escape")  # refused while a copy runs
            assert app.screen is files and "x cancels it first" in status_text(files, "#files-transfer")
            await pilot.press("x")
            await wait_until(pilot, lambda: files.transfer is None, "the cancelled copy")
            assert "Cancelled" in status_text(files, "#files-transfer")
            await pilot.press("escape")
            await until_screen(pilot, app, type(app.main_screen))
        copied = await engine.exec(vm_id, ["cat", "/root/up.txt"])
        assert (copied.exit_code, copied.stdout) == (0, "uploaded from the TUI\n")
    finally:
        await engine.aclose()


async def test_a_vers_cli_alias_is_the_display_name_and_names_the_vm_for_vmtui_ssh(
    engine_settings, isolated_home
):
    engine = await open_engine(engine_settings)
    try:
        vm_id = await engine.create_vm(VmConfig(), wait_boot=True)
        (isolated_home / ".vers").mkdir()
        (isolated_home / ".vers" / "aliases.json").write_text(json.dumps({"my-box": vm_id}))
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: vm_id in states(app))
            assert app.main_screen.table.vms[("local", vm_id)].display_name == "my-box"
        aliased = await open_engine(engine_settings)
        try:
            assert (await find_vm(aliased, "my-box")).id == vm_id
        finally:
            await aliased.aclose()
    finally:
        await engine.aclose()

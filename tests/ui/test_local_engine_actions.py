"""Every VM action of the TUI, by keys, against the REAL local engine (`vmtui serve` on a temp state dir).

Each flow asserts on what the user sees (rows, dialogs, notifications) and on the engine's own state,
read through a second `VersProvider` on the same endpoint.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from textual.widgets import Button, DataTable, Input, ProgressBar

from tests.ui import test_local_engine
from tests.ui.helpers import record_notes, settle, text_of, wait_actions, wait_until
from tests.ui.test_local_engine import states, wait_for
from vmtui.config import PollSettings
from vmtui.core.errors import NotFound
from vmtui.core.lineage import NodeKind
from vmtui.core.models import Commit, VmConfig, VmState
from vmtui.providers.base import Provider
from vmtui.providers.vers import VersProvider
from vmtui.services import registry
from vmtui.services.registry import Registry
from vmtui.ui.app import VmTuiApp
from vmtui.ui.options import AppOptions
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.confirm_delete import ConfirmDeleteScreen
from vmtui.ui.screens.images import ImagesScreen, UploadScreen
from vmtui.ui.screens.main import MainScreen
from vmtui.ui.widgets.terminal_pane import TerminalPane
from vmtui.ui.widgets.vm_details import VmDetails

pytestmark = pytest.mark.root

SIZE = (120, 36)
engine_settings = test_local_engine.engine_settings
"""The existing fixture: a config whose `local` profile has a temp state dir; stops that daemon after."""


async def open_engine(settings) -> Provider:
    """A provider of our own on the engine the app will use (starts the daemon on first use)."""
    return await Registry(settings).opener("local")(lambda _status: None)


def make_app(settings, **options) -> VmTuiApp:
    openers = Registry(settings).openers(["local"])
    poll = PollSettings(fast=30, slow=30, max_backoff=30, timeout=30)
    return record_notes(VmTuiApp(openers, AppOptions(poll=poll, **options)))


async def select_row(pilot, app: VmTuiApp, vm_id: str) -> None:
    """Move the list cursor to `vm_id` with the arrow keys."""
    table = app.main_screen.table
    await pilot.press("1", "home")
    for _ in range(table.row_count):
        if table.selected_vm is not None and table.selected_vm.id == vm_id:
            return
        await pilot.press("down")
    raise AssertionError(f"{vm_id} is not in the list")


async def select_commit_in_tree(pilot, app: VmTuiApp) -> None:
    """`2` focuses the lineage tree; arrow down from the top to the first commit."""
    await pilot.press("2", "home")
    tree = app.main_screen.lineage
    for _ in range(10):
        if isinstance(tree.selected_item(), Commit):
            return
        await pilot.press("down")
    raise AssertionError("no commit in the lineage tree")


def text_of_details(app: VmTuiApp) -> str:
    details = app.main_screen.query_one(VmDetails)
    return " ".join(text_of(static) for static in details.query("Static"))


async def test_r_on_a_commit_in_the_tree_starts_a_vm_with_the_committed_file(engine_settings):
    engine = await open_engine(engine_settings)
    try:
        source = await engine.create_vm(VmConfig(labels={"flow": "restore"}), wait_boot=True)
        written = await engine.exec(source, ["sh", "-c", "echo kept-by-commit > /root/marker"])
        assert written.exit_code == 0, written.stderr
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: states(app) == {source: VmState.RUNNING})

            await pilot.press("c")  # commit the selected (only) VM; the form opens on its name field
            assert app.screen.focused is app.screen.query_one("#name", Input)
            await pilot.press(*"snap1", "enter")
            await wait_actions(pilot, app)
            await wait_for(pilot, app, lambda: bool(app.main_screen.fleet.results["local"].fleet.commits))
            (commit,) = app.main_screen.fleet.results["local"].fleet.commits
            assert commit.name == "snap1" and commit.parent_vm_id == source
            after = await engine.exec(source, ["sh", "-c", "echo too-late > /root/after-commit"])
            assert after.exit_code == 0, after.stderr

            await select_commit_in_tree(pilot, app)
            assert app.main_screen.lineage.selected_item() == commit
            assert "commit" in text_of_details(app) and commit.id in text_of_details(app)

            await pilot.press("r")
            await wait_actions(pilot, app)
            notes = [(title, message) for title, message, _ in app.notes]
            started = [m for t, m in notes if t == "New VM from commit"]
            assert started and started[0].startswith("Started VM "), notes
            new_id = started[0].split()[2]
            await wait_for(pilot, app, lambda: states(app).get(new_id) is VmState.RUNNING)
            row = app.main_screen.table.vms[("local", new_id)]
            assert row.parent_commit_id == commit.id

        restored = await engine.exec(new_id, ["cat", "/root/marker"])
        assert (restored.exit_code, restored.stdout.strip()) == (0, "kept-by-commit")
        assert (await engine.exec(new_id, ["test", "-e", "/root/after-commit"])).exit_code == 1
        assert {vm.id for vm in await engine.list_vms()} == {source, new_id}
    finally:
        await engine.aclose()


async def test_D_names_the_dependants_cancel_is_focused_then_confirm_deletes(engine_settings):
    engine = await open_engine(engine_settings)
    try:
        parent = await engine.create_vm(VmConfig(), wait_boot=True)
        (child,) = await engine.branch_vm(parent, 1)
        app = make_app(engine_settings, checkpoint="never")  # checkpoints: tests/ui/test_checkpoints.py
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: set(states(app)) == {parent, child})
            await select_row(pilot, app, parent)

            await pilot.press("D")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, ConfirmDeleteScreen)
            body = text_of(dialog.query_one("#confirm-body"))
            assert "Depends on it: 1 commit(s), 1 VM(s)" in body and child in body, body
            assert parent in text_of(dialog.query_one("#confirm-subject"))
            assert dialog.focused is dialog.query_one("#cancel", Button)
            await pilot.press("enter")  # Enter on the focused Cancel: nothing happens
            await wait_actions(pilot, app)
            assert isinstance(app.screen, MainScreen)
            assert not any(title == "Delete" for title, _, _ in app.notes)
            assert {vm.id for vm in await engine.list_vms()} == {parent, child}

            await pilot.press("D", "tab")  # focus moves to the Delete button
            assert app.screen.focused is app.screen.query_one("#confirm", Button)
            await pilot.press("enter")
            await wait_actions(pilot, app)
            assert ("Delete", f"Deleted {parent}", "information") in app.notes
            await wait_for(pilot, app, lambda: set(states(app)) == {child})
            assert ("local", parent) not in app.main_screen.table.row_keys()
            tree_items = app.main_screen.lineage.items
            assert ("local", NodeKind.VM.value, child) in tree_items  # the branch stays in the lineage
            assert ("local", NodeKind.VM.value, parent) not in tree_items
        assert [vm.id for vm in await engine.list_vms()] == [child]
    finally:
        await engine.aclose()


def bash_rootfs_tarball(path: Path) -> Path:
    """A tiny rootfs: bash and the libraries ldd finds for it, nothing else."""
    bash = shutil.which("bash")
    assert bash is not None
    ldd = subprocess.run(["ldd", bash], capture_output=True, text=True, check=True).stdout
    libs = [part for line in ldd.splitlines() for part in line.split() if part.startswith("/")]
    with tarfile.open(path, "w:gz") as tar:
        for name in ("bin", "etc", "tmp"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(bash, arcname="bin/bash")
        for lib in libs:
            tar.add(os.path.realpath(lib), arcname=lib.lstrip("/"))
    return path


def image_rows(screen: ImagesScreen) -> dict[str, list[str]]:
    table = screen.query_one("#images-table", DataTable)
    return {str(row_key.value): [str(cell) for cell in table.get_row(row_key)] for row_key in table.rows}


async def move_to_image(pilot, screen: ImagesScreen, name: str) -> None:
    table = screen.query_one("#images-table", DataTable)
    await pilot.press("home")
    for _ in range(table.row_count):
        if table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == name:
            return
        await pilot.press("down")
    raise AssertionError(f"image {name} is not listed")


async def delete_selected_image(pilot, app: VmTuiApp) -> None:
    """`D` on the images screen, then the Delete button (Tab from the focused Cancel)."""
    await pilot.press("D")
    assert isinstance(app.screen, ConfirmScreen)
    await pilot.press("tab", "enter")
    await pilot.pause()


def refusal(app: VmTuiApp, image: str) -> str | None:
    """The error notification of a refused image delete, as the user reads it."""
    return next((m for t, m, s in app.notes if t == f"Cannot delete {image}" and s == "error"), None)


async def test_images_screen_lists_uploads_and_deletes_with_the_servers_refusal(
    engine_settings, isolated_home
):
    tarball = bash_rootfs_tarball(isolated_home / "tiny-bash.tar.gz")  # typed as a short `~/` path
    (isolated_home / "junk.tar").write_text("this is not a tar archive\n" * 100)
    engine = await open_engine(engine_settings)
    try:
        user = await engine.create_vm(VmConfig(), wait_boot=False)  # keeps `default` in use
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: user in states(app))

            await pilot.press("i")
            screen = app.screen
            assert isinstance(screen, ImagesScreen)
            await wait_until(pilot, lambda: "default" in image_rows(screen), "the image list")
            assert image_rows(screen)["default"][2] == "1"

            await pilot.press("u")  # not a tarball: the server's reason, nothing added
            await pilot.press(*"~/junk.tar", "enter")
            await wait_until(pilot, lambda: any(t == "Upload failed" for t, _, _ in app.notes), "the error")
            failure = next(m for t, m, _ in app.notes if t == "Upload failed")
            assert failure.startswith("400: rejected rootfs tarball"), failure
            assert set(image_rows(screen)) == {"default"}
            assert [image.name for image in await engine.list_images()] == ["default"]

            await pilot.press("u")
            assert isinstance(app.screen, UploadScreen)
            await pilot.press(*"~/tiny-bash.tar.gz")  # the name defaults to the file's stem
            await pilot.press("enter")
            await wait_until(pilot, lambda: "tiny-bash" in image_rows(screen), "the uploaded image", 60)
            bar = screen.query_one("#upload-progress", ProgressBar)
            assert bar.total == tarball.stat().st_size and bar.progress == bar.total
            assert not bar.has_class("-visible")  # the bar goes away when the upload ends
            assert image_rows(screen)["tiny-bash"][2] == "0"
            assert ("Images", "Uploaded image tiny-bash", "information") in app.notes, app.notes
            listed = {image.name: image for image in await engine.list_images()}
            assert listed["tiny-bash"].size_bytes and listed["tiny-bash"].size_bytes > 100_000

            await move_to_image(pilot, screen, "default")  # built in: the server refuses, with its reason
            await delete_selected_image(pilot, app)
            await wait_until(pilot, lambda: refusal(app, "default") is not None, "the refusal")
            assert refusal(app, "default") == "409: the default image is built in and cannot be deleted"

            uses_it = await engine.create_vm(VmConfig(image_name="tiny-bash"), wait_boot=False)
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: image_rows(screen)["tiny-bash"][2] == "1", "the use count")
            await move_to_image(pilot, screen, "tiny-bash")  # in use: refused, with the server's reason
            await pilot.press("D")
            assert "used by 1 VM(s) or commit(s)" in text_of(app.screen.query_one("#confirm-body"))
            await pilot.press("tab", "enter")
            await wait_until(pilot, lambda: refusal(app, "tiny-bash") is not None, "the refusal")
            assert "in use by 1 VM(s)" in refusal(app, "tiny-bash"), app.notes
            assert {"default", "tiny-bash"} <= set(image_rows(screen))
            assert {"default", "tiny-bash"} <= {image.name for image in await engine.list_images()}

            await engine.delete_vm(uses_it)
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: image_rows(screen)["tiny-bash"][2] == "0", "the use count")
            await move_to_image(pilot, screen, "tiny-bash")
            await pilot.press("D")
            assert "not used by any VM" in text_of(app.screen.query_one("#confirm-body"))
            await pilot.press("tab", "enter")
            await wait_until(pilot, lambda: "tiny-bash" not in image_rows(screen), "the image to go")
            assert ("Images", "Deleted image tiny-bash", "information") in app.notes
            assert "tiny-bash" not in {image.name for image in await engine.list_images()}
            await pilot.press("escape")
            assert isinstance(app.screen, MainScreen)
    finally:
        await engine.aclose()


async def test_a_server_error_reaches_a_notification_and_the_app_keeps_running(engine_settings, monkeypatch):
    # The app must not learn of the deletion before `r`: a pushing engine would tell it at once (the
    # push itself is tested in tests/local/test_push.py), so this app polls only.
    def polled_only(*args, **kwargs) -> VersProvider:
        return VersProvider(*args, **{**kwargs, "event_stream": False})

    monkeypatch.setattr(registry, "VersProvider", polled_only)
    engine = await open_engine(engine_settings)
    try:
        source = await engine.create_vm(VmConfig(), wait_boot=True)
        commit_id = await engine.commit(source, name="soon gone")
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: bool(app.main_screen.fleet.results["local"].fleet.commits))
            await select_commit_in_tree(pilot, app)
            assert app.main_screen.lineage.selected_item().id == commit_id

            await engine.delete_commit(commit_id)  # behind the app's back, before its next poll
            with pytest.raises(NotFound):
                await engine.restore(commit_id)
            await pilot.press("r")
            await wait_actions(pilot, app)
            failures = [(m, s) for t, m, s in app.notes if t == "New VM from commit failed"]
            assert len(failures) == 1 and failures[0][1] == "error", app.notes
            assert failures[0][0] == "404: commit not found"
            assert not app.main_screen.actions.pending  # the badge is gone

            assert app.is_running
            await wait_for(pilot, app, lambda: not app.main_screen.fleet.results["local"].fleet.commits)
            assert states(app) == {source: VmState.RUNNING}  # the app still polls and shows the engine
        assert [vm.id for vm in await engine.list_vms()] == [source]
    finally:
        await engine.aclose()


async def wait_for_terminal_text(
    pilot, app: VmTuiApp, wanted: str, command: str, timeout: float = 120.0
) -> None:
    """Wait for the shell in the terminal pane; type `command` once it shows anything; wait for `wanted`."""
    area = app.main_screen.query_one("#terminal-area")
    deadline = time.monotonic() + timeout
    typed = False
    text = ""
    while time.monotonic() < deadline:
        await pilot.pause(0.2)
        panes = list(area.query(TerminalPane))
        text = "\n".join(panes[0].emulator.screen_text()) if panes and panes[0].emulator else ""
        if wanted in text:
            return
        if not typed and text.strip():
            await pilot.press(*command, "enter")
            typed = True
    raise AssertionError(f"the terminal never showed {wanted!r}: {text!r}")


async def test_s_on_a_paused_vm_asks_to_resume_first_then_opens_the_terminal(engine_settings, isolated_home):
    engine = await open_engine(engine_settings)
    try:
        vm_id = await engine.create_vm(VmConfig(), wait_boot=True)
        await engine.pause_vm(vm_id)
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: states(app) == {vm_id: VmState.PAUSED})

            await pilot.press("s")
            dialog = app.screen
            assert isinstance(dialog, ConfirmScreen) and dialog.title_text.startswith("Resume VM ")
            assert vm_id in text_of(dialog.query_one("#confirm-subject"))
            assert dialog.focused is dialog.query_one("#confirm", Button)  # not destructive: Enter resumes
            await pilot.press("n")  # No: no terminal, the VM stays paused
            await wait_actions(pilot, app)
            assert isinstance(app.screen, MainScreen)
            assert not app.main_screen.query(TerminalPane)
            assert (await engine.status(vm_id)).state is VmState.PAUSED

            await pilot.press("s", "enter")  # Resume
            await wait_for_terminal_text(pilot, app, "vmtui-42", "echo vmtui-$((6*7))")
            assert (await engine.status(vm_id)).state is VmState.RUNNING
            await wait_for(pilot, app, lambda: states(app) == {vm_id: VmState.RUNNING})
        assert (isolated_home / ".local/state/vmtui/known_hosts").is_file()  # the engine's key, trusted once
    finally:
        await engine.aclose()

"""The files screen's status lines with a scripted SFTP session, so the order of events is exact: the
listing that follows a copy must not wipe out the copy's result (this raced under CPU load), and an
error no handler expected is shown instead of lost in the worker. The real-engine path is covered in
`test_vm_edit.py`."""

from __future__ import annotations

import stat

from textual.app import App
from textual.widgets import DataTable

from tests.ui.helpers import record_notes, text_of, wait_until
from vmtui.core.models import Vm, VmState
from vmtui.services.sftp_tree import RemoteEntry, TreeCopyStats
from vmtui.ui.screens.files import FilesScreen, LocalPathScreen

TREE = RemoteEntry("tree", stat.S_IFDIR | 0o755, 4096)


class ScriptedSession:
    """Answers at once: a listing of /root with one directory; `get` runs what the test scripts."""

    connected = True

    def __init__(self) -> None:
        self.listings = 0
        self.fail_next_get: Exception | None = None

    async def list_directory(self, path: str) -> tuple[str, list[RemoteEntry]]:
        self.listings += 1
        return "/root", [TREE]

    async def get(self, remote, local, progress) -> TreeCopyStats:
        if self.fail_next_get is not None:
            error, self.fail_next_get = self.fail_next_get, None
            raise error
        done = TreeCopyStats(files=2, directories=2, symlinks=1, bytes=11)
        progress(done)
        return done

    async def close(self) -> None:
        pass


def files_screen(tmp_path) -> tuple[FilesScreen, ScriptedSession]:
    vm = Vm(provider="local", provider_kind="local", id="vm-1", label="box", state=VmState.RUNNING)
    screen = FilesScreen(None, vm, local_dir=tmp_path)  # the session below replaces the SSH one
    session = ScriptedSession()
    screen.session = session
    return screen, session


async def download_tree(pilot, app, screen: FilesScreen) -> None:
    await wait_until(pilot, lambda: "tree" in screen.entries, "the listing")
    table = screen.query_one(DataTable)
    table.move_cursor(row=table.get_row_index("tree"))
    await pilot.press("g")
    await wait_until(pilot, lambda: isinstance(app.screen, LocalPathScreen), "the path form")
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.screen is screen, "back on the files screen")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_the_copy_result_stays_visible_after_the_listing_that_follows_it(isolated_home, tmp_path):
    app = App()
    async with app.run_test() as pilot:
        screen, session = files_screen(tmp_path)
        await app.push_screen(screen)
        await download_tree(pilot, app, screen)
        assert session.listings == 2  # the directory was listed again after the copy
        assert "Copied /root/tree" in text_of(screen.query_one("#files-transfer"))
        assert "2 file(s), 2 dir(s), 1 link(s), 11 B" in text_of(screen.query_one("#files-transfer"))
        assert "0 file(s), 1 directory" in text_of(screen.query_one("#files-status"))


async def test_an_unexpected_copy_error_is_shown_and_the_screen_keeps_working(isolated_home, tmp_path):
    app = record_notes(App())
    async with app.run_test() as pilot:
        screen, session = files_screen(tmp_path)
        session.fail_next_get = ConnectionResetError("the gateway hung up")
        await app.push_screen(screen)
        await download_tree(pilot, app, screen)
        transfer = text_of(screen.query_one("#files-transfer"))
        assert "Copy failed" in transfer and "the gateway hung up" in transfer
        assert any(
            "the gateway hung up" in message and severity == "error" for _, message, severity in app.notes
        )
        assert screen.transfer is None and not screen.query_one("#files-progress").has_class("-running")

        await download_tree(pilot, app, screen)  # the next copy runs normally
        assert "Copied /root/tree" in text_of(screen.query_one("#files-transfer"))

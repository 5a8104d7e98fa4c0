"""The images screen: sizes and use counts, upload with progress, delete refused while in use."""

from __future__ import annotations

from textual.widgets import DataTable, Input

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, settle, text_of, wait_actions
from vmtui.ui.screens.images import ImagesScreen, UploadScreen


async def open_images(pilot, app):
    await settle(pilot, app)
    await pilot.press("i")
    await wait_actions(pilot, app)
    assert isinstance(app.screen, ImagesScreen)
    return app.screen


def rows(screen) -> dict[str, list[str]]:
    table = screen.query_one(DataTable)
    return {str(key.value): [str(c) for c in table.get_row(key)] for key in table.rows}


async def test_lists_images_with_size_and_use_count():
    app = make_app(demo_provider())
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_images(pilot, app)
        listed = rows(screen)
        assert listed["alpine"][1:3] == ["3.2 MiB", "1"]
        assert listed["default"][2] == "4"
        assert listed["debian-12"][1:3] == ["50.0 MiB", "0"]


async def test_delete_in_use_is_refused_with_the_servers_reason_then_unused_goes(tmp_path):
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_images(pilot, app)
        table = screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index("alpine"))
        await pilot.press("D")
        await pilot.pause()
        assert app.focused.id == "cancel" and "used by 1 VM(s) or commit(s)" in text_of(
            app.screen.query_one("#confirm-body")
        )
        await pilot.press("tab", "enter")
        await wait_actions(pilot, app)
        assert "alpine" in provider.images
        assert "409: image 'alpine' is in use by 1 VM(s): vm-17c0ffee" in text_of(
            screen.query_one("#images-status")
        )
        assert any("in use" in message and severity == "error" for _, message, severity in app.notes)
        table.move_cursor(row=table.get_row_index("debian-12"))
        await pilot.press("D", "tab", "enter")
        await wait_actions(pilot, app)
        assert "debian-12" not in provider.images and "debian-12" not in rows(screen)


async def test_upload_validates_the_path_then_uploads_with_progress(tmp_path):
    provider = demo_provider()
    app = make_app(provider)
    tarball = tmp_path / "tools.tar.gz"
    tarball.write_bytes(b"\x1f\x8b" + b"0" * 4094)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_images(pilot, app)
        await pilot.press("u")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, UploadScreen)
        form.query_one("#path", Input).value = str(tmp_path / "missing.tar")
        form.query_one("#name", Input).value = "bad name!"
        await pilot.press("enter")
        await pilot.pause()
        assert "is not a file" in text_of(form.query_one("#path-error"))
        assert "only letters" in text_of(form.query_one("#name-error"))
        assert not [c for c in provider.calls if c[0] == "upload_image"]
        form.query_one("#path", Input).value = str(tarball)
        form.query_one("#name", Input).value = ""  # defaults to the file name without .tar.gz
        await pilot.pause()
        form.query_one("#path", Input).focus()
        await pilot.press("enter")
        await wait_actions(pilot, app)
        assert provider.images["tools"].size_bytes == 4096
        assert rows(screen)["tools"][1] == "4.0 KiB"
        assert screen.query_one("#upload-progress").progress == 4096
        assert ("Images", "Uploaded image tools", "information") in app.notes

"""`i`: root filesystem images of a profile — size, how many VMs use each, upload, delete."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, ProgressBar

from vmtui.core.errors import ProviderError
from vmtui.core.models import Image
from vmtui.services.actions import Actions
from vmtui.ui.format import clean, format_size, safe
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.form import FormScreen
from vmtui.ui.screens.list_screen import ListScreen, Row, close_binding, reload_binding

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass(frozen=True)
class UploadRequest:
    path: Path
    name: str


class UploadScreen(FormScreen[UploadRequest]):
    TITLE_TEXT = "Upload a rootfs tarball"
    OK_LABEL = "Upload"

    def fields(self) -> ComposeResult:
        yield from self.field("path", "Tarball path (.tar, .tar.gz)", placeholder="/path/to/rootfs.tar.gz")
        yield from self.field("name", "Image name", placeholder="letters, digits, . _ -")

    def validate(self) -> UploadRequest | None:
        raw_path = self.value("path")
        path = Path(raw_path).expanduser() if raw_path else None
        path_error = (
            "a path is needed"
            if path is None
            else f"{clean(path, 80)} is not a file"
            if not path.is_file()
            else None
        )
        name = self.value("name") or (_default_name(path) if path else "")
        name_error = (
            "a name is needed"
            if not name
            else "only letters, digits, '.', '_' and '-'"
            if not set(name) <= _NAME_CHARS
            else None
        )
        ok = self.set_error("path", path_error)
        ok = self.set_error("name", name_error) and ok
        return UploadRequest(path, name) if ok and path is not None else None


def _default_name(path: Path) -> str:
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".tar"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


class ImagesScreen(ListScreen[Image]):
    KIND = "images"
    TITLE = "Images"
    WHAT = "images"
    COLUMNS = (
        ("Name", "name", 30),
        ("Size", "size", 12),
        ("Used by", "in_use", 9),
        ("Created", "created", None),
    )
    SHOW_PALETTE_KEY = False
    BINDINGS: ClassVar[list[BindingType]] = [
        close_binding(KIND),
        Binding("u", "upload", "Upload", id="images.upload", tooltip="Upload a rootfs tarball from a path"),
        Binding(
            "D", "delete", "Delete", id="images.delete", tooltip="Delete the image (refused while in use)"
        ),
        reload_binding(KIND, "image list"),
    ]

    def __init__(self, actions: Actions, profile: str, *, read_only: bool = False) -> None:
        super().__init__(actions)
        self.profile = profile
        self.read_only = read_only

    def heading(self) -> Text:
        return Text(f"Images on {clean(self.profile, 40)}")

    def below(self) -> ComposeResult:
        yield ProgressBar(total=100, show_eta=False, id="upload-progress")

    async def fetch(self) -> list[Image]:
        return sorted(await self.actions.list_images(self.profile), key=lambda i: i.name)

    def rows(self, items: list[Image]) -> Iterable[Row]:
        for image in items:
            created = f"{image.created_at:%Y-%m-%d %H:%M}" if image.created_at else "-"
            cells = (safe(image.name, limit=60), format_size(image.size_bytes), str(image.in_use), created)
            yield image.name, cells

    def loaded(self) -> str:
        return f"{len(self.items)} image(s)"

    def load_failed(self, error: ProviderError) -> None:
        self.status(f"Cannot list images: {error}")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("upload", "delete") and self.read_only:
            return None
        return True

    def action_upload(self) -> None:
        def start(request: UploadRequest | None) -> None:
            if request is not None:
                self._upload(request)

        self.app.push_screen(UploadScreen(), start)

    @work(group="images-upload", exit_on_error=False)
    async def _upload(self, request: UploadRequest) -> None:
        bar = self.query_one("#upload-progress", ProgressBar)
        bar.add_class("-visible")
        bar.update(total=max(1, request.path.stat().st_size), progress=0)
        self.status(f"Uploading {request.path} as {request.name}…")

        def progress(done: int, total: int) -> None:
            bar.update(total=max(1, total), progress=done)

        try:
            outcome = await self.actions.upload_image(self.profile, request.name, request.path, progress)
        except ProviderError as exc:
            self.status(f"Upload failed: {exc}")
            self.notify(clean(exc, 300), title="Upload failed", severity="error", markup=False)
        else:
            self.status(outcome.message)
            self.notify(clean(outcome.message, 300), title="Images", markup=False)
        finally:
            bar.remove_class("-visible")
        self.load()

    def action_delete(self) -> None:
        name = self.selected_key()
        image = next((i for i in self.items if i.name == name), None)
        if image is None:
            return
        use = (
            f"used by {image.in_use} VM(s) or commit(s) — the server will refuse"
            if image.in_use
            else "not used by any VM or commit"
        )
        question = ConfirmScreen(
            f"Delete image {clean(image.name, 50)}?",
            Text(f"{clean(self.profile, 30)} · {format_size(image.size_bytes)}", style="bold"),
            Text(f"It is {use}. VMs cannot be created from it afterwards."),
        )
        self.confirm(
            question,
            lambda: self.change(
                lambda: self.actions.delete_image(self.profile, image.name),
                f"Cannot delete {clean(image.name, 40)}",
                "Not deleted",
            ),
        )

    @on(DataTable.RowHighlighted)
    def _highlight(self, event: DataTable.RowHighlighted) -> None:
        image = next((i for i in self.items if i.name == event.row_key.value), None)
        if image is not None:
            self.status(
                f"{image.name}: {format_size(image.size_bytes)}, used by {image.in_use} VM(s) or commit(s)"
            )

"""`i`: root filesystem images of a profile — size, how many VMs use each, upload, delete."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Label, ProgressBar, Static

from vmtui.core.errors import ProviderError
from vmtui.core.models import Image
from vmtui.services.actions import Actions
from vmtui.ui.format import clean, format_size, safe
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.form import FormScreen

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


class ImagesScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="images.close", tooltip="Back to the VM list"),
        Binding("u", "upload", "Upload", id="images.upload", tooltip="Upload a rootfs tarball from a path"),
        Binding(
            "D", "delete", "Delete", id="images.delete", tooltip="Delete the image (refused while in use)"
        ),
        Binding("ctrl+r", "reload", "Refresh", id="images.refresh", tooltip="Reload the image list"),
    ]

    def __init__(self, actions: Actions, profile: str, *, read_only: bool = False) -> None:
        super().__init__()
        self.actions = actions
        self.profile = profile
        self.read_only = read_only
        self.images: list[Image] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="images-dialog", classes="dialog"):
            yield Label(Text(f"Images on {clean(self.profile, 40)}"), classes="dialog-title")
            yield DataTable(cursor_type="row", id="images-table")
            yield ProgressBar(total=100, show_eta=False, id="upload-progress")
            yield Static("", id="images-status")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Name", key="name", width=30)
        table.add_column("Size", key="size", width=12)
        table.add_column("Used by", key="in_use", width=9)
        table.add_column("Created", key="created")
        table.focus()
        self.action_reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("upload", "delete") and self.read_only:
            return None
        return True

    def _status(self, text: str) -> None:
        self.query_one("#images-status", Static).update(Text(clean(text, 300)))

    def action_reload(self) -> None:
        self._load()

    @work(group="images", exclusive=True, exit_on_error=False)
    async def _load(self) -> None:
        try:
            self.images = await self.actions.list_images(self.profile)
        except ProviderError as exc:
            self._status(f"Cannot list images: {exc}")
            return
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        for image in sorted(self.images, key=lambda i: i.name):
            created = f"{image.created_at:%Y-%m-%d %H:%M}" if image.created_at else "-"
            table.add_row(
                safe(image.name, limit=60),
                format_size(image.size_bytes),
                str(image.in_use),
                created,
                key=image.name,
            )
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
        self._status(f"{len(self.images)} image(s)")

    def _selected(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

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
        self._status(f"Uploading {request.path} as {request.name}…")

        def progress(done: int, total: int) -> None:
            bar.update(total=max(1, total), progress=done)

        try:
            outcome = await self.actions.upload_image(self.profile, request.name, request.path, progress)
        except ProviderError as exc:
            self._status(f"Upload failed: {exc}")
            self.notify(clean(exc, 300), title="Upload failed", severity="error", markup=False)
        else:
            self._status(outcome.message)
            self.notify(clean(outcome.message, 300), title="Images", markup=False)
        finally:
            bar.remove_class("-visible")
        self._load()

    def action_delete(self) -> None:
        name = self._selected()
        image = next((i for i in self.images if i.name == name), None)
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
        self.app.push_screen(question, lambda confirmed: self._delete(image.name) if confirmed else None)

    @work(group="images-delete", exit_on_error=False)
    async def _delete(self, name: str) -> None:
        self._status(f"Deleting {name}…")
        try:
            outcome = await self.actions.delete_image(self.profile, name)
        except ProviderError as exc:
            self._status(f"Not deleted: {exc}")
            self.notify(
                clean(exc, 300),
                title=f"Cannot delete {clean(name, 40)}",
                severity="error",
                timeout=8,
                markup=False,
            )
            return
        self._status(outcome.message)
        self.notify(clean(outcome.message, 300), title="Images", markup=False)
        self._load()

    @on(DataTable.RowHighlighted)
    def _highlight(self, event: DataTable.RowHighlighted) -> None:
        image = next((i for i in self.images if i.name == event.row_key.value), None)
        if image is not None:
            self._status(
                f"{image.name}: {format_size(image.size_bytes)}, used by {image.in_use} VM(s) or commit(s)"
            )

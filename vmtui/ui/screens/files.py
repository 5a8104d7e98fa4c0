"""A small SFTP browser on one VM: directories with sizes, modes and link targets; download the
highlighted file or tree to a local path, upload a local file or tree into the directory shown.

It uses the same `SshSession.get/put/list_directory` as `vmtui cp` (`services/sftp_tree`: links stay
links, nothing is written through one). A transfer shows its progress and `x` cancels it; what was
copied before the cancel stays, and the transfer line says so. One transfer runs at a time.

The listing and the transfer each have their own status line: the listing that follows a copy (or
one the user opens while it runs) must not wipe out the copy's result.
"""

from __future__ import annotations

import asyncio
import posixpath
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Label, ProgressBar, Static
from textual.worker import Worker

from vmtui.core.errors import ProviderError
from vmtui.core.models import Vm
from vmtui.paths import state_dir
from vmtui.providers.base import Provider
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.sftp_tree import CopyProgress, RemoteEntry, TreeCopyStats
from vmtui.services.ssh import SshSession
from vmtui.ui.format import clean, format_size, safe
from vmtui.ui.screens.form import FormScreen

PARENT = ".."


class LocalPathScreen(FormScreen[Path]):
    """One local path: where a download goes (its directory must exist), or what to upload (must exist)."""

    OK_LABEL = "Copy"
    DIALOG_CLASSES = "dialog -wide"

    def __init__(self, title: str, label: str, initial: str, *, must_exist: bool) -> None:
        super().__init__()
        self.TITLE_TEXT = title
        self.label = label
        self.initial = initial
        self.must_exist = must_exist

    def fields(self) -> ComposeResult:
        yield from self.field("path", self.label, self.initial)

    def validate(self) -> Path | None:
        text = self.value("path")
        path = Path(text).expanduser() if text else None
        if path is None:
            message = "a path is needed" if self.submitted else None
        elif self.must_exist and not path.exists():
            message = f"no such file or directory: {text}"
        elif not self.must_exist and not (path.is_dir() or path.parent.is_dir()):
            message = f"no such directory: {path.parent}"
        else:
            message = None
        return path if self.set_error("path", message) and path else None


class FilesScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="files.close", tooltip="Back to the VM list"),
        Binding("enter", "open", "Open", id="files.open", tooltip="Open the highlighted directory"),
        Binding("backspace", "parent", "Up", id="files.parent", tooltip="Go to the parent directory"),
        Binding(
            "g", "download", "Download", id="files.download", tooltip="Download the highlighted file or tree"
        ),
        Binding("u", "upload", "Upload", id="files.upload", tooltip="Upload a local file or tree here"),
        Binding("x", "cancel_transfer", "Cancel copy", id="files.cancel", tooltip="Stop the running copy"),
        Binding("ctrl+r", "reload", "Refresh", id="files.refresh", tooltip="List the directory again"),
    ]
    DEFAULT_CSS = """
    FilesScreen DataTable { height: 1fr; }
    FilesScreen #files-progress { display: none; }
    FilesScreen #files-progress.-running { display: block; }
    FilesScreen .list-status { height: auto; color: $text-muted; }
    """

    def __init__(
        self,
        provider: Provider,
        vm: Vm,
        *,
        read_only: bool = False,
        keepalive: int = 10,
        local_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.provider = provider
        self.vm = vm
        self.read_only = read_only
        self.local_dir = local_dir or Path.cwd()
        self.session = SshSession(
            provider,
            vm.id,
            known_hosts=TofuKnownHosts(state_dir() / "known_hosts"),
            keepalive_interval=keepalive,
        )
        self.path = "."
        self.entries: dict[str, RemoteEntry] = {}
        self.transfer: Worker[None] | None = None
        self.last_copy: TreeCopyStats | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="files-dialog", classes="dialog"):
            yield Label(Text(f"Files of {clean(self.vm.display_name, 60)}"), classes="dialog-title")
            yield Static("", id="files-path", classes="dialog-hint")
            yield DataTable(cursor_type="row", id="files-table")
            yield ProgressBar(id="files-progress", show_eta=False)
            yield Static("", id="files-transfer", classes="list-status")
            yield Static("Connecting…", id="files-status", classes="list-status")
        yield Footer()

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def status(self, text: str) -> None:
        """What the directory listing shows (or why it cannot)."""
        self.query_one("#files-status", Static).update(Text(clean(text, 300)))

    def transfer_status(self, text: str) -> None:
        """How the running or last copy goes or went."""
        self.query_one("#files-transfer", Static).update(Text(clean(text, 300)))

    def unexpected(self, what: str, error: Exception) -> str:
        """Show an error no handler expected (a bug, or a connection dropping oddly) instead of losing
        it in the worker; the screen keeps working."""
        text = f"{what}: {type(error).__name__}: {error}"
        self.notify(clean(text, 300), title="Files", severity="error")
        return text

    def on_mount(self) -> None:
        for label, key, width in (
            ("Name", "name", 36),
            ("Size", "size", 10),
            ("Mode", "mode", 11),
            ("Target", "target", None),
        ):
            self.table.add_column(label, key=key, width=width)
        self.table.focus()
        self.list_path(".")

    async def on_unmount(self) -> None:
        if self.transfer is not None:
            self.transfer.cancel()
        await self.session.close()

    def action_close(self) -> None:
        if self.transfer is not None:
            self.transfer_status("A copy is running: x cancels it first")
            return
        self.dismiss(None)

    # ------------------------------------------------------------------ browsing

    @work(group="files-list", exclusive=True, exit_on_error=False)
    async def list_path(self, path: str) -> None:
        try:
            if not self.session.connected:
                await self.session.connect()
            absolute, entries = await self.session.list_directory(path)
        except ProviderError as exc:
            self.status(f"Cannot list {path}: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - a bug or odd drop must show, not vanish in the worker
            self.status(self.unexpected(f"Cannot list {path}", exc))
            return
        self.path = absolute
        self.entries = {entry.name: entry for entry in entries}
        self.query_one("#files-path", Static).update(Text(clean(absolute, 200)))
        table = self.table
        table.clear()
        if absolute != "/":
            table.add_row(safe(PARENT + "/"), "", "", "", key=PARENT)
        for entry in entries:
            table.add_row(*_cells(entry), key=entry.name)
        if table.row_count:
            table.move_cursor(row=0)
        self.status(self._summary(entries))

    def _summary(self, entries: list[RemoteEntry]) -> str:
        dirs = sum(1 for entry in entries if entry.is_dir)
        text = f"{len(entries) - dirs} file(s), {dirs} director{'y' if dirs == 1 else 'ies'}"
        return text + ("" if self.read_only else "; g downloads, u uploads here")

    def selected(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_open(self) -> None:
        name = self.selected()
        if name == PARENT:
            self.action_parent()
        elif name is not None:
            entry = self.entries[name]
            if entry.is_dir or entry.is_link:  # a link is followed inside the VM; a file link fails clearly
                self.list_path(posixpath.join(self.path, name))

    def action_parent(self) -> None:
        self.list_path(posixpath.dirname(self.path.rstrip("/")) or "/")

    def action_reload(self) -> None:
        self.list_path(self.path)

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    # ------------------------------------------------------------------ transfers

    def action_download(self) -> None:
        name = self.selected()
        if name is None or name == PARENT or self._busy():
            return
        remote = posixpath.join(self.path, name)
        form = LocalPathScreen(
            f"Download {clean(remote, 60)}", "To (local path)", str(self.local_dir / name), must_exist=False
        )

        def chosen(local: Path | None) -> None:
            if local is not None:
                size = self.entries[name].size if stat.S_ISREG(self.entries[name].mode) else None
                self.transfer = self._copy(
                    f"{remote} → {local}", size, lambda p: self.session.get(remote, local, p)
                )

        self.app.push_screen(form, chosen)

    def action_upload(self) -> None:
        if self._busy():
            return
        if self.read_only:
            self.transfer_status("read-only mode: no uploads")
            return
        here = self.path
        form = LocalPathScreen(
            f"Upload into {clean(here, 60)}",
            "From (local file or directory)",
            str(self.local_dir),
            must_exist=True,
        )

        def chosen(local: Path | None) -> None:
            if local is not None:
                size = local.stat().st_size if local.is_file() else None
                self.transfer = self._copy(
                    f"{local} → {here}", size, lambda p: self.session.put(local, here, p)
                )

        self.app.push_screen(form, chosen)

    def _busy(self) -> bool:
        if self.transfer is not None:
            self.transfer_status("A copy is already running (x cancels it)")
            return True
        return False

    def action_cancel_transfer(self) -> None:
        if self.transfer is not None:
            self.transfer.cancel()

    @work(group="files-transfer", exit_on_error=False)
    async def _copy(
        self, what: str, total: int | None, run: Callable[[CopyProgress], Awaitable[TreeCopyStats]]
    ) -> None:
        bar = self.query_one("#files-progress", ProgressBar)
        bar.update(total=total, progress=0)
        bar.add_class("-running")
        stats = TreeCopyStats()

        def progress(done: TreeCopyStats) -> None:
            stats.bytes, stats.files = done.bytes, done.files
            bar.update(progress=done.bytes)
            self.transfer_status(
                f"Copying {what}: {format_size(done.bytes)}, {done.files} file(s) done; x cancels"
            )

        self.transfer_status(f"Copying {what}…")
        try:
            self.last_copy = await run(progress)
        except ProviderError as exc:
            self.transfer_status(f"Copy failed: {exc}")
        except asyncio.CancelledError:
            self.transfer_status(f"Cancelled {what} after {format_size(stats.bytes)}; what was copied stays")
            raise
        except Exception as exc:  # noqa: BLE001 - a bug or odd drop must show, not vanish in the worker
            self.transfer_status(self.unexpected(f"Copy failed: {what}", exc))
        else:
            copied = self.last_copy
            skipped = f"; skipped {len(copied.skipped)} special file(s)" if copied.skipped else ""
            self.transfer_status(
                f"Copied {what}: {copied.files} file(s), {copied.directories} dir(s), "
                f"{copied.symlinks} link(s), {format_size(copied.bytes)}{skipped}"
            )
            self.list_path(self.path)
        finally:
            bar.remove_class("-running")
            self.transfer = None


def _cells(entry: RemoteEntry) -> tuple[Text, str, str, Text]:
    name = entry.name + ("/" if entry.is_dir else "")
    size = "" if entry.is_dir else format_size(entry.size)
    target = safe(f"→ {entry.link_target}", limit=120) if entry.link_target is not None else Text("")
    return safe(name, limit=120), size, stat.filemode(entry.mode), target

"""Networking of one Swiftor VM: its desktop URL and its port mappings (name → port inside the VM,
served at `https://{name}-{vmid}.<domain>`).

`a` adds a mapping, `d` removes the highlighted one (after a confirm), `y` copies the URL and `o`
opens it in the browser (the URL is also shown, for terminals far from any browser).
"""

from __future__ import annotations

import asyncio
import re
import webbrowser
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Label, Static

from vmtui.core.errors import ProviderError
from vmtui.core.models import Vm
from vmtui.core.swiftor_plans import Route, routes_of
from vmtui.providers.swiftor import PortMapping, SwiftorProvider
from vmtui.ui.format import clean, safe
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.swiftor_form import SendingFormScreen

NAME_PATTERN = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
URL_WIDTH = 76
"""Fits `https://{name}-{uuid}.swiftor.io` for names up to 20 characters; `y` copies any URL whole."""
ROUTE_ROW = "\0route"
"""Row-key prefix of the image's built-in routes (no mapping name can contain NUL)."""


def open_in_browser(url: str) -> bool:
    """Open `url` in a graphical browser; False when there is none. A console browser (lynx, w3m,
    links) would take over the terminal the TUI is drawing on, so it is never started."""
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    attached = type(browser) is webbrowser.GenericBrowser or (
        isinstance(browser, webbrowser.UnixBrowser) and not browser.background
    )
    return False if attached else browser.open(url)


@dataclass(frozen=True)
class MappingRequest:
    name: str
    port: int


class MappingFormScreen(SendingFormScreen[MappingRequest]):
    """Add a mapping; it is created on the server before the dialog closes."""

    OK_LABEL = "Add"
    SENDING_TEXT = "Adding the mapping…"

    def __init__(self, provider: SwiftorProvider, vm: Vm) -> None:
        super().__init__()
        self.provider = provider
        self.vm = vm
        self.TITLE_TEXT = f"Map a port of {clean(vm.display_name, 40)}"

    def fields(self) -> ComposeResult:
        yield from self.field("name", "Name (subdomain: a-z, 0-9, -; up to 63)", placeholder="myapp")
        yield from self.field("port", "Port inside the VM (1-65535)", placeholder="8080")

    def validate(self) -> MappingRequest | None:
        name = self.value("name")
        raw_port = self.value("port")
        port = int(raw_port) if raw_port.isdecimal() else 0
        port_error = None if 1 <= port <= 65535 or not raw_port else "a port from 1 to 65535"
        ok = self.set_error("name", self.needed(name, "a name") or _name_error(name))
        ok = self.set_error("port", self.needed(raw_port, "a port") or port_error) and ok
        return MappingRequest(name, port) if ok and name and raw_port else None

    async def send(self, request: MappingRequest) -> None:
        await self.provider.add_mapping(self.vm.id, request.name, request.port)


def _name_error(name: str) -> str | None:
    if len(name) > 63:
        return "at most 63 characters"
    if name and not NAME_PATTERN.fullmatch(name):
        return "lowercase letters, digits and '-' only, not starting or ending with '-'"
    return None


class NetworkingScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="networking.close", tooltip="Back to the VM list"),
        Binding("a", "add", "Add", id="networking.add", tooltip="Map a port of the VM to a public URL"),
        Binding(
            "d",
            "delete",
            "Remove",
            id="networking.delete",
            tooltip="Remove the highlighted mapping (asks first)",
        ),
        Binding(
            "y", "copy", "Copy URL", id="networking.copy", tooltip="Copy the highlighted URL to the clipboard"
        ),
        Binding("o", "open", "Open", id="networking.open", tooltip="Open the highlighted URL in the browser"),
        Binding("ctrl+r", "reload", "Refresh", id="networking.refresh", tooltip="Reload the mappings"),
    ]
    DEFAULT_CSS = """
    NetworkingScreen #networking-table { height: 1fr; }
    NetworkingScreen #networking-status { height: auto; color: $text-muted; }
    """

    def __init__(self, provider: SwiftorProvider, vm: Vm) -> None:
        super().__init__()
        self.provider = provider
        self.vm = vm
        self.mappings: list[PortMapping] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="networking-dialog", classes="dialog"):
            yield Label(Text(f"Networking of {clean(self.vm.display_name, 60)}"), classes="dialog-title")
            yield Static(
                Text(
                    f"{self.vm.image or 'The image'} serves {self._routes_text()} at {self.desktop_url}\n"
                    "Each mapping serves one more port of the VM at its own URL."
                ),
                id="desktop-url",
                classes="dialog-hint",
            )
            yield DataTable(cursor_type="row", id="networking-table")
            yield Static("Loading…", id="networking-status")
        yield Footer()

    @property
    def desktop_url(self) -> str:
        return self.provider.desktop_url(self.vm.id)

    @property
    def routes(self) -> tuple[Route, ...]:
        """What the VM's image serves at its own URL (seed 003's distribution table)."""
        return routes_of(self.vm.image)

    def _routes_text(self) -> str:
        parts = [f"{r.path} (port {r.port}, {r.service})" for r in self.routes]
        return ", ".join(parts) or "its default port"

    def _route_url(self, path: str) -> str:
        return self.desktop_url if path == "/" else self.desktop_url + path

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Name", key="name", width=16)
        table.add_column("Port", key="port", width=5)
        table.add_column("URL", key="url", width=URL_WIDTH)
        table.focus()
        self.action_reload()

    def _status(self, text: str) -> None:
        self.query_one("#networking-status", Static).update(Text(clean(text, 300)))

    def action_reload(self) -> None:
        self._load()

    @work(group="networking-load", exclusive=True, exit_on_error=False)
    async def _load(self, select: str | None = None) -> None:
        try:
            self.mappings = await self.provider.list_mappings(self.vm.id)
        except ProviderError as exc:
            self._status(f"Cannot list mappings: {exc}")
            self.notify(clean(exc, 300), title="Networking", severity="error", markup=False)
            return
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        for service, port, path in [(r.service, str(r.port), r.path) for r in self.routes] or [
            ("VM URL", "-", "/")  # an image the seed does not list: its ports are unknown
        ]:
            table.add_row(
                Text(service, style="italic"),
                port,
                safe(self._route_url(path), limit=200),
                key=ROUTE_ROW + path,
            )
        for mapping in sorted(self.mappings, key=lambda m: m.name):
            table.add_row(
                safe(mapping.name, limit=63),
                str(mapping.port),
                safe(self._url(mapping), limit=200),
                key=mapping.name,
            )
        names = {m.name for m in self.mappings}
        table.move_cursor(
            row=table.get_row_index(select) if select in names else min(keep, table.row_count - 1)
        )
        self._status(f"{len(self.mappings)} mapping(s)")

    def _url(self, mapping: PortMapping) -> str:
        return mapping.url or self.provider.mapping_url(mapping)

    def _selected(self) -> tuple[str, str] | None:
        """(row key, URL) of the highlighted row."""
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key is not None and key.startswith(ROUTE_ROW):
            return key, self._route_url(key.removeprefix(ROUTE_ROW))
        mapping = next((m for m in self.mappings if m.name == key), None)
        return (key, self._url(mapping)) if mapping is not None else None

    # ------------------------------------------------------------------ URLs

    def action_copy(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        self.app.copy_to_clipboard(selected[1])
        self.notify(f"Copied {clean(selected[1], 200)}", title="Networking", timeout=3, markup=False)

    def action_open(self) -> None:
        selected = self._selected()
        if selected is not None:
            self._open(selected[1])

    @work(group="networking-open", exit_on_error=False)
    async def _open(self, url: str) -> None:
        self.notify(f"Opening {clean(url, 200)}", title="Networking", timeout=6, markup=False)
        if not await asyncio.to_thread(open_in_browser, url):  # starting a browser may block
            self.notify(
                f"No graphical browser here; open it yourself: {clean(url, 200)}",
                title="Networking",
                severity="warning",
                timeout=10,
                markup=False,
            )

    # ------------------------------------------------------------------ changes

    def action_add(self) -> None:
        def added(request: MappingRequest | None) -> None:
            if request is not None:
                self.notify(
                    f"Mapped {clean(request.name, 63)} to port {request.port}",
                    title="Networking",
                    markup=False,
                )
                self._load(request.name)

        self.app.push_screen(MappingFormScreen(self.provider, self.vm), added)

    def action_delete(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        name, url = selected
        if name.startswith(ROUTE_ROW):
            self.notify(
                "The image's own routes are built in; only mappings can be removed.", severity="warning"
            )
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._delete(name)

        question = ConfirmScreen(
            "Remove this port mapping?",  # a title is markup: server-given names go in the Text below
            Text(f"{clean(self.vm.display_name, 60)} · {clean(name, 63)}", style="bold"),
            Text(f"{clean(url, 200)} stops serving."),
            confirm_label="Remove",
        )
        self.app.push_screen(question, confirmed)

    @work(group="networking-delete", exit_on_error=False)
    async def _delete(self, name: str) -> None:
        try:
            await self.provider.delete_mapping(self.vm.id, name)
        except ProviderError as exc:
            self._status(f"{name} not removed: {exc}")
            self.notify(
                clean(exc, 300), title=f"Cannot remove {clean(name, 40)}", severity="error", markup=False
            )
            return
        self.notify(f"Removed {clean(name, 63)}", title="Networking", markup=False)
        self._load()

"""Networking of one Swiftor VM: its desktop URL and its port mappings (name → port inside the VM,
served at `https://{name}-{vmid}.<domain>`).

`a` adds a mapping, `d` removes the highlighted one (after a confirm), `y` copies the URL and `o`
opens it in the browser (the URL is also shown, for terminals far from any browser).
"""

from __future__ import annotations

import asyncio
import re
import webbrowser
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from vmtui.core.models import PortMapping, Vm
from vmtui.core.swiftor_plans import Route, routes_of
from vmtui.services.actions import Actions
from vmtui.ui.format import clean, safe
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.list_screen import ListScreen, Row, close_binding, reload_binding
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

    def __init__(self, actions: Actions, vm: Vm) -> None:
        super().__init__()
        self.actions = actions
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
        await self.actions.add_mapping(self.vm, request.name, request.port)


def _name_error(name: str) -> str | None:
    if len(name) > 63:
        return "at most 63 characters"
    if name and not NAME_PATTERN.fullmatch(name):
        return "lowercase letters, digits and '-' only, not starting or ending with '-'"
    return None


class NetworkingScreen(ListScreen[PortMapping]):
    KIND = "networking"
    TITLE = "Networking"
    WHAT = "mappings"
    COLUMNS = (("Name", "name", 16), ("Port", "port", 5), ("URL", "url", URL_WIDTH))
    BINDINGS: ClassVar[list[BindingType]] = [
        close_binding(KIND),
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
        reload_binding(KIND, "mappings"),
    ]

    def __init__(self, actions: Actions, vm: Vm) -> None:
        super().__init__(actions)
        self.vm = vm
        self.urls = actions.mappings_api(vm)

    def heading(self) -> Text:
        return Text(f"Networking of {clean(self.vm.display_name, 60)}")

    def hints(self) -> ComposeResult:
        yield Static(
            Text(
                f"{self.vm.image or 'The image'} serves {self._routes_text()} at {self.desktop_url}\n"
                "Each mapping serves one more port of the VM at its own URL."
            ),
            id="desktop-url",
            classes="dialog-hint",
        )

    @property
    def desktop_url(self) -> str:
        return self.urls.desktop_url(self.vm.id)

    @property
    def routes(self) -> tuple[Route, ...]:
        """What the VM's image serves at its own URL (seed 003's distribution table)."""
        return routes_of(self.vm.image)

    def _routes_text(self) -> str:
        parts = [f"{r.path} (port {r.port}, {r.service})" for r in self.routes]
        return ", ".join(parts) or "its default port"

    def _route_url(self, path: str) -> str:
        return self.desktop_url if path == "/" else self.desktop_url + path

    async def fetch(self) -> list[PortMapping]:
        return sorted(await self.actions.list_mappings(self.vm), key=lambda m: m.name)

    def rows(self, items: list[PortMapping]) -> Iterable[Row]:
        builtin = [(r.service, str(r.port), r.path) for r in self.routes] or [
            ("VM URL", "-", "/")  # an image the seed does not list: its ports are unknown
        ]
        for service, port, path in builtin:
            yield (
                ROUTE_ROW + path,
                (Text(service, style="italic"), port, safe(self._route_url(path), limit=200)),
            )
        for mapping in items:
            yield (
                mapping.name,
                (safe(mapping.name, limit=63), str(mapping.port), safe(self._url(mapping), limit=200)),
            )

    def loaded(self) -> str:
        return f"{len(self.items)} mapping(s)"

    def _url(self, mapping: PortMapping) -> str:
        return mapping.url or self.urls.mapping_url(mapping)

    def _selected(self) -> tuple[str, str] | None:
        """(row key, URL) of the highlighted row."""
        key = self.selected_key()
        if key is not None and key.startswith(ROUTE_ROW):
            return key, self._route_url(key.removeprefix(ROUTE_ROW))
        mapping = next((m for m in self.items if m.name == key), None)
        return (key, self._url(mapping)) if key is not None and mapping is not None else None

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
                message = f"Mapped {clean(request.name, 63)} to port {request.port}"
                self.notify(message, title="Networking", markup=False)
                self.load(request.name)

        self.app.push_screen(MappingFormScreen(self.actions, self.vm), added)

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
        question = ConfirmScreen(
            "Remove this port mapping?",  # a title is markup: server-given names go in the Text below
            Text(f"{clean(self.vm.display_name, 60)} · {clean(name, 63)}", style="bold"),
            Text(f"{clean(url, 200)} stops serving."),
            confirm_label="Remove",
        )
        self.confirm(
            question,
            lambda: self.change(
                lambda: self.actions.delete_mapping(self.vm, name),
                f"Cannot remove {clean(name, 40)}",
                f"{name} not removed",
            ),
        )

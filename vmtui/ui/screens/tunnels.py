"""TunnelsScreen: the app's port tunnels (`ssh -L` into VMs over the TLS gateway).

Type `LOCAL:REMOTE` (or one port for both; local 0 picks a free one) and Enter to forward
127.0.0.1:LOCAL to port REMOTE inside the selected VM. Tunnels stay up while the app runs, reconnecting
after a drop; `d` closes the highlighted one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Label, Static

from vmtui.core.errors import ProviderError
from vmtui.core.models import Vm
from vmtui.providers.base import Provider
from vmtui.services.tunnels import PortSpec, Tunnel, Tunnels, TunnelState
from vmtui.ui.format import clean

STATE_STYLES = {
    TunnelState.UP: "bold green",
    TunnelState.CONNECTING: "yellow",
    TunnelState.RECONNECTING: "bold yellow",
    TunnelState.CLOSED: "dim",
}


class TunnelsScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape", "app.pop_screen", "Back", id="tunnels.close_screen", tooltip="Back (tunnels stay up)"
        ),
        Binding(
            "d", "close_tunnel", "Close tunnel", id="tunnels.close", tooltip="Close the highlighted tunnel"
        ),
    ]
    DEFAULT_CSS = """
    TunnelsScreen #tunnels-table { height: 1fr; }
    TunnelsScreen #tunnels-status { height: auto; color: $text-muted; }
    """

    def __init__(self, tunnels: Tunnels, providers: Mapping[str, Provider], vm: Vm | None) -> None:
        super().__init__()
        self.tunnels = tunnels
        self.providers = providers
        self.vm = vm

    def compose(self) -> ComposeResult:
        target = clean(self.vm.display_name, 40) if self.vm is not None else "no VM selected"
        with Vertical(id="tunnels-dialog", classes="dialog"):
            yield Label(Text(f"Tunnels (new ones go to {target})"), classes="dialog-title")
            yield Input(
                placeholder="LOCAL:REMOTE, e.g. 8080:80 (0:80 picks a free local port)", id="tunnels-ports"
            )
            yield DataTable(cursor_type="row", id="tunnels-table")
            yield Static("", id="tunnels-status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key, width in (
            ("Local", "local", 16),
            ("VM", "vm", 20),
            ("Remote", "remote", 6),
            ("State", "state", 12),
            ("Note", "note", 30),
        ):
            table.add_column(label, key=key, width=width)
        self.tunnels.on_change = lambda _tunnel: self.call_later(self._fill)
        self._fill()
        self.query_one(Input).focus()
        if self.vm is None:
            self.query_one(Input).disabled = True
            self.status("Select a VM in the list to open a tunnel to it")

    def on_unmount(self) -> None:
        self.tunnels.on_change = lambda _tunnel: None

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        for index, tunnel in enumerate(self.tunnels.open_tunnels):
            note = tunnel.error or ""
            if tunnel.reconnects:
                note = f"reconnected {tunnel.reconnects}×" + (f"; {note}" if note else "")
            table.add_row(
                f"127.0.0.1:{tunnel.local_port}",
                clean(tunnel.vm_name, 20),
                str(tunnel.ports.remote),
                Text(tunnel.state.value, STATE_STYLES[tunnel.state]),
                clean(note, 30),
                key=str(index),
            )
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))

    @on(Input.Submitted, "#tunnels-ports")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            ports = PortSpec.parse(event.value)
        except ValueError as exc:
            self.status(str(exc))
            return
        self.open_tunnel(ports)

    @work(group="tunnel-open", exit_on_error=False)
    async def open_tunnel(self, ports: PortSpec) -> None:
        vm = self.vm
        if vm is None:
            return
        self.status(f"Connecting to {clean(vm.display_name, 40)}…")
        try:
            tunnel = await self.tunnels.open(self.providers[vm.provider], vm.id, vm.display_name, ports)
        except ProviderError as exc:
            self.status(f"Cannot open the tunnel: {exc}")
            self.notify(clean(exc, 300), title="Tunnel", severity="error", markup=False)
            return
        self.query_one(Input).value = ""
        self._fill()
        self.status(f"Forwarding {tunnel.label}")
        self.notify(clean(tunnel.label, 200), title="Tunnel open", markup=False)

    def _selected(self) -> Tunnel | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        index = int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or 0)
        return self.tunnels.open_tunnels[index] if index < len(self.tunnels.open_tunnels) else None

    @work(group="tunnel-close", exit_on_error=False)
    async def action_close_tunnel(self) -> None:
        tunnel = self._selected()
        if tunnel is not None:
            await self.tunnels.close(tunnel)
            self._fill()
            self.status(f"Closed {tunnel.label}")

    def status(self, text: str) -> None:
        self.query_one("#tunnels-status", Static).update(Text(clean(text, 300)))

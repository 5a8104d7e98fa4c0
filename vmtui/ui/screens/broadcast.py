"""BroadcastScreen: one command on N VMs (the marked ones), results grouped by identical output.

Each group is headed by its VMs with their exit codes (like `dshbak -c`), groups with a failure first.
The progress line counts VMs done and failed while the fan-out runs (`services.broadcast`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from vmtui.core.models import Vm
from vmtui.providers.base import Provider
from vmtui.services.action_log import ActionLog
from vmtui.services.broadcast import Broadcast, OutputGroup, VmResult, group_results
from vmtui.ui.format import clean, clean_lines
from vmtui.ui.screens.exec_runs import shell_command

SHOWN_NAMES = 12
"""VM names listed in a group's heading before "and N more"."""
NAME_WIDTH = 20
"""A VM's name in headings (ids are cut, as in the VM list)."""


def render_groups(groups: list[OutputGroup]) -> Group:
    """Each group: a heading naming its VMs and outcomes, then the output they share."""
    parts: list[Text] = []
    for group in groups:
        results = group.results
        names = ", ".join(_outcome(result) for result in results[:SHOWN_NAMES])
        more = f" and {len(results) - SHOWN_NAMES} more" if len(results) > SHOWN_NAMES else ""
        count = f"{len(results)} VM{'s' if len(results) != 1 else ''}"
        style = "bold red" if group.failed else "bold green"
        parts.append(Text(f"── {count}: {names}{more}", style))
        lines = clean_lines(group.output) or ["(no output)"]
        parts.append(Text("\n".join(lines) + "\n"))
    return Group(*parts)


def _outcome(result: VmResult) -> str:
    name = clean(result.vm.display_name, NAME_WIDTH)
    return name if not result.failed else f"{name} [{clean(result.outcome, 60)}]"


class BroadcastScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="broadcast.close", tooltip="Back to the VM list"),
    ]
    DEFAULT_CSS = """
    BroadcastScreen #broadcast-results { height: 1fr; border: round $foreground 30%; }
    BroadcastScreen #broadcast-status { height: auto; color: $text-muted; }
    """

    def __init__(
        self, providers: Mapping[str, Provider], targets: list[Vm], log: ActionLog | None = None
    ) -> None:
        super().__init__()
        self.broadcast = Broadcast(providers, log=log)
        self.targets = targets
        self.results: list[VmResult] = []

    def compose(self) -> ComposeResult:
        names = ", ".join(clean(vm.display_name, NAME_WIDTH) for vm in self.targets[:6])
        more = f" and {len(self.targets) - 6} more" if len(self.targets) > 6 else ""
        with Vertical(id="broadcast-dialog", classes="dialog"):
            yield Label(
                Text(f"Broadcast to {len(self.targets)} VM(s): {names}{more}"), classes="dialog-title"
            )
            yield Input(
                placeholder="command, run as sh -c … on every VM; Enter runs it", id="broadcast-command"
            )
            with VerticalScroll(id="broadcast-results"):
                yield Static("", id="broadcast-groups")
            yield Static(
                "Space marks VMs in the list; without marks the selected VM is the target",
                id="broadcast-status",
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#broadcast-command")
    def _submitted(self, event: Input.Submitted) -> None:
        line = event.value.strip()
        if line:
            self.run_broadcast(line)

    @work(group="broadcast", exclusive=True, exit_on_error=False)
    async def run_broadcast(self, line: str) -> None:
        self.results = []
        self.query_one("#broadcast-groups", Static).update("")
        self._progress(line)
        results = await self.broadcast.run(
            self.targets, shell_command(line), on_result=lambda result: self._heard(result, line)
        )
        groups = group_results(results)
        self.query_one("#broadcast-groups", Static).update(render_groups(groups))
        failed = sum(result.failed for result in results)
        self.status(
            f"{clean(line, 60)}: {len(results)} VM(s), {len(groups)} distinct output(s), {failed} failed"
        )

    def _heard(self, result: VmResult, line: str) -> None:
        self.results.append(result)
        self._progress(line)

    def _progress(self, line: str) -> None:
        failed = sum(result.failed for result in self.results)
        self.status(f"{clean(line, 60)}: {len(self.results)} of {len(self.targets)} done, {failed} failed…")

    def status(self, text: str) -> None:
        self.query_one("#broadcast-status", Static).update(Text(clean(text, 300)))

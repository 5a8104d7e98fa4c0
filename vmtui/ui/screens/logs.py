"""`ctrl+l`: the logs there are for the selected row's profile: the local engine's own log (the tail of
`serve.log`, `r` reloads). No platform here keeps a VM's console output, and the view says so."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.binding import Binding, BindingType

from vmtui.core.text import one_line
from vmtui.ui.format import clean
from vmtui.ui.screens.text_view import TextViewScreen

TAIL_BYTES = 256 * 1024
"""How much of the end of the log is shown: enough for hours of a quiet engine, quick to read."""


def read_tail(path: Path, limit: int = TAIL_BYTES) -> str:
    """The last `limit` bytes of a text file from its first whole line; control characters escaped."""
    with path.open("rb") as file:
        file.seek(0, 2)
        size = file.tell()
        file.seek(max(0, size - limit))
        data = file.read()
    lines = data.decode("utf-8", "replace").splitlines()
    if size > limit and lines:
        lines = lines[1:]  # the first line was cut
    return "\n".join(one_line(line, 2000) for line in lines)


class LogsScreen(TextViewScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Reload", id="view.reload", tooltip="Read the log again"),
    ]

    def __init__(self, profile: str, engine_log: Path | None, vm_name: str | None) -> None:
        super().__init__(f"Logs: profile {clean(profile, 40)}")
        self.profile = profile
        self.engine_log = engine_log
        console = (
            f"Console output of VM {clean(vm_name, 60)}: not available (the platform keeps none). "
            if vm_name
            else ""
        )
        self.hint = f"{console}r reloads, c copies, Esc closes"

    def on_mount(self) -> None:
        self.action_reload()

    @work(group="logs", exclusive=True, exit_on_error=False)
    async def action_reload(self) -> None:
        if self.engine_log is None:
            self.show_text(
                f"Not available: profile '{self.profile}' is not the local engine; only the local "
                "engine's log can be shown (a remote platform keeps its own)."
            )
            return
        try:
            text = await asyncio.to_thread(read_tail, self.engine_log)
        except OSError as exc:
            self.show_text(f"Cannot read the engine log {self.engine_log}: {exc.strerror or exc}")
            return
        self.show_text(f"{self.engine_log} (the end):\n\n{text}" if text else f"{self.engine_log} is empty")
        self.query_one("#text-view-scroll").scroll_end(animate=False)

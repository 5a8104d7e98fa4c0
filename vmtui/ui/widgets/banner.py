"""The red line(s) at the top: profiles that are offline (showing old data) or cannot be opened."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Static

from vmtui.services.fleet import FleetSupervisor
from vmtui.ui.format import clean, format_age


class Banner(Static):
    def __init__(self, *, now: Callable[[], float], ascii_only: bool = False, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.now = now
        self.mark = "!" if ascii_only else "⚠"
        self._text: str | None = None

    def show_problems(self, fleet: FleetSupervisor) -> None:
        lines = []
        for result in fleet.results.values():
            if not result.stale:
                continue
            age = result.age(self.now())
            shown = f"showing data from {format_age(age)} ago" if age is not None else "no data yet"
            lines.append(
                f"{self.mark} {clean(result.provider, 30)}: {clean(result.error, 200)} · {shown} · "
                "retrying in the background"
            )
        for name, text in fleet.connecting.items():
            if name in fleet.open_errors:
                lines.append(f"{self.mark} {clean(name, 30)}: {clean(text, 200)}")
        text = "\n".join(lines)
        if text != self._text:  # refreshed every second: relayout only on a change
            self._text = text
            self.update(text)
            self.set_class(bool(lines), "-visible")

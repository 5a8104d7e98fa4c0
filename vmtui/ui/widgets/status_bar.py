"""One line at the bottom: a read-only badge, each profile's connection state and data age, actions in
flight and the filter. With --ascii it draws ASCII only."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rich.text import Text
from textual.widgets import Static

from vmtui.services.poller import PollResult
from vmtui.ui.format import clean, format_age, theme_style


class StatusBar(Static):
    def __init__(
        self, *, now: Callable[[], float], ascii_only: bool = False, read_only: bool = False, **kwargs
    ) -> None:
        super().__init__("", **kwargs)
        self.now = now
        self.ascii_only = ascii_only
        self.read_only = read_only
        self.connecting: dict[str, str] = {}
        self.results: dict[str, PollResult] = {}
        self.pending: dict[tuple[str, str], str] = {}
        self.filter_text = ""
        self.marked = 0
        self._shown: Text | None = None
        self._colours: dict[str, str] | None = None
        """The theme's variables, read once per theme (reading them costs more than the whole line)."""

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)

    def _on_theme_changed(self, _theme: object) -> None:
        self._colours = None
        self._show()

    def refresh_status(
        self,
        *,
        connecting: Mapping[str, str],
        results: Mapping[str, PollResult],
        pending: Mapping[tuple[str, str], str],
        filter_text: str,
        marked: int = 0,
    ) -> None:
        self.connecting, self.results, self.pending = dict(connecting), dict(results), dict(pending)
        self.filter_text = filter_text
        self.marked = marked
        self._show()

    def _show(self) -> None:
        status = self.render_status()
        if status != self._shown:  # called every second for the data age: repaint only on a change
            self._shown = status
            self.update(status, layout=False)  # one line of fixed size: a repaint, never a relayout

    def render_status(self) -> Text:
        dot, cross, bar, mid, more = ("*", "x", "  |  ", " - ", "...")
        if not self.ascii_only:
            dot, cross, bar, mid, more = ("●", "✖", "  │  ", " · ", "…")
        if self._colours is None:
            self._colours = self.app.get_css_variables()
        colours = self._colours
        warn, error, ok, accent = (
            theme_style(colours, f"text-{n}") for n in ("warning", "error", "success", "accent")
        )
        text = Text()
        if self.read_only:
            text.append(" READ-ONLY ", style=f"bold reverse {warn}")
            text.append(" ")
        for index, profile in enumerate(sorted({*self.connecting, *self.results})):
            if index:
                text.append(bar, style="dim")
            text.append(clean(profile, 30), style="bold")
            text.append(" ")
            result = self.results.get(profile)
            if profile in self.connecting:
                text.append(f"{more} {clean(self.connecting[profile], 80)}", style=warn)
            elif result is None:
                text.append(f"connecting{more}", style=warn)
            elif result.stale:
                age = result.age(self.now())
                text.append(f"{cross} offline", style=error)
                text.append(
                    f"{mid}data {format_age(age)} old" if age is not None else f"{mid}no data yet",
                    style="dim",
                )
            else:
                text.append(f"{dot} live", style=ok)
                if result.pushed:  # changes arrive as they happen: the last poll's age means nothing
                    text.append(f"{mid}push", style="dim")
                else:
                    text.append(f"{mid}{format_age(result.age(self.now()))} ago", style="dim")
            if result is not None and result.lineage is not None:
                done, total = result.lineage
                text.append(f"{mid}lineage {done:,}/{total:,}", style="dim")
        if self.pending:
            verbs = ", ".join(sorted(set(self.pending.values())))
            text.append(f"{bar}{len(self.pending)} in flight: {verbs}", style=warn)
        if self.marked:
            text.append(f"{bar}{self.marked:,} selected", style=f"bold {accent}")
        if self.filter_text:
            text.append(f"{bar}filter: {clean(self.filter_text, 60)}", style=accent)
        return text

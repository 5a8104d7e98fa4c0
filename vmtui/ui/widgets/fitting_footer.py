"""The main screen's footer: shows the key hints that fit, the most useful first, `? Help` always."""

from __future__ import annotations

from typing import NamedTuple

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from vmtui.ui.actions import BY_ID

LEAST_USEFUL = 1_000
"""The rank of a binding that is not in the action registry."""


class Hint(NamedTuple):
    """What one FooterKey shows."""

    key: str
    key_display: str
    description: str
    action: str
    enabled: bool
    tooltip: str


class FittingFooter(Footer):
    """A Footer that shows the hints of the lowest `footer_rank` that fit its width, in their order.

    It rebuilds its keys only when the hints to show changed: the screen publishes its bindings on
    every focus move and refresh, and a Footer would mount all of its keys again each time."""

    _shown: tuple[tuple[Hint, ...], bool] | None = None
    """The hints composed last, and the compact flag they were composed with."""

    def on_mount(self) -> None:
        # Mounted after the screen published its bindings (the main screen adds the footer after
        # the first rows): show them now rather than at the next change.
        self.bindings_changed(self.screen)

    def compose(self) -> ComposeResult:
        hints = self._shown[0] if self._shown is not None else ()
        self.styles.grid_size_columns = len(hints)
        for hint in hints:
            key = FooterKey(
                hint.key,
                hint.key_display,
                hint.description,
                hint.action,
                disabled=not hint.enabled,
                tooltip=hint.tooltip,
            )
            yield key.data_bind(compact=Footer.compact)

    async def recompose(self) -> None:
        shown = (self._fitting_hints() if self._bindings_ready else (), self.compact)
        if shown == self._shown:
            return
        self._shown = shown
        await super().recompose()

    def _fitting_hints(self) -> tuple[Hint, ...]:
        hints = [
            (
                Hint(
                    binding.key,
                    self.app.get_key_display(binding),
                    binding.description,
                    binding.action,
                    enabled,
                    tooltip,
                ),
                self._rank(binding.id),
            )
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show
        ]
        kept: set[int] = set()
        room = self.size.width
        for index in sorted(range(len(hints)), key=lambda index: hints[index][1]):
            width = self._hint_width(hints[index][0])
            if kept and width > room:
                break
            kept.add(index)
            room -= width
        return tuple(hint for index, (hint, _) in enumerate(hints) if index in kept)

    @staticmethod
    def _rank(binding_id: str | None) -> int:
        action = BY_ID.get(binding_id or "")
        return action.footer_rank if action else LEAST_USEFUL

    def _hint_width(self, hint: Hint) -> int:
        """The cells a hint takes: key and description with FooterKey's padding (both styles)."""
        padding = 2 if self.compact else 3
        return cell_len(hint.key_display) + cell_len(hint.description) + padding

    def on_resize(self, event: events.Resize) -> None:
        if self.is_attached:
            self.call_after_refresh(self.recompose)

"""The main screen's footer: shows the key hints that fit, the most useful first, `? Help` always."""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from vmtui.ui.actions import BY_ID

LEAST_USEFUL = 1_000
"""The rank of a binding that is not in the action registry."""


class FittingFooter(Footer):
    """A Footer that shows the hints of the lowest `footer_rank` that fit its width, in their order."""

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        shown = [
            (binding, enabled, tooltip)
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show
        ]
        keys = [
            FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            )
            for binding, enabled, tooltip in shown
        ]
        widths = [self._hint_width(key) for key in keys]
        ranks = [self._rank(binding.id) for binding, _, _ in shown]
        kept: set[int] = set()
        room = self.size.width
        for index in sorted(range(len(keys)), key=lambda index: ranks[index]):
            if kept and widths[index] > room:
                break
            kept.add(index)
            room -= widths[index]
        self.styles.grid_size_columns = len(kept)
        for index, key in enumerate(keys):
            if index in kept:
                yield key.data_bind(compact=Footer.compact)

    @staticmethod
    def _rank(binding_id: str | None) -> int:
        action = BY_ID.get(binding_id or "")
        return action.footer_rank if action else LEAST_USEFUL

    def _hint_width(self, key: FooterKey) -> int:
        """The cells a hint takes: key and description with FooterKey's padding (both styles)."""
        padding = 2 if self.compact else 3
        return cell_len(key.key_display) + cell_len(key.description) + padding

    def on_resize(self, event: events.Resize) -> None:
        if self.is_attached:
            self.call_after_refresh(self.recompose)

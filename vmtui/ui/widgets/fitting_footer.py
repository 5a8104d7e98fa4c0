"""The main screen's footer: shows the key hints that fit, the most useful first, `? Help` always."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer

from vmtui.ui.actions import BY_ID
from vmtui.ui.widgets.footer_hint import FooterHint

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
        hints = [
            FooterHint(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                enabled=enabled,
                tooltip=tooltip,
            )
            for binding, enabled, tooltip in shown
        ]
        ranks = [self._rank(binding.id) for binding, _, _ in shown]
        kept: set[int] = set()
        room = self.size.width
        for index in sorted(range(len(hints)), key=lambda index: ranks[index]):
            if kept and hints[index].cells > room:
                break
            kept.add(index)
            room -= hints[index].cells
        for index, hint in enumerate(hints):
            if index in kept:
                yield hint

    @staticmethod
    def _rank(binding_id: str | None) -> int:
        action = BY_ID.get(binding_id or "")
        return action.footer_rank if action else LEAST_USEFUL

    def on_resize(self, event: events.Resize) -> None:
        if self.is_attached:
            self.call_after_refresh(self.recompose)

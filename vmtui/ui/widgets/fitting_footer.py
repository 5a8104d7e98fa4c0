"""The main screen's footer: shows the key hints that fit, the most useful first, `? Help` always."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer

from vmtui.ui.actions import BY_ID
from vmtui.ui.widgets.footer_hint import FooterHint

LEAST_USEFUL = 1_000
"""The rank of a binding that is not in the action registry."""

Shown = tuple[tuple[str, str, str, str, bool, str], ...]
"""What the composed hints show: key, its display, description, action, enabled, tooltip."""


class FittingFooter(Footer):
    """A Footer that shows the hints of the lowest `footer_rank` that fit its width, in their order.

    It rebuilds its hints only when what they show changed: the screen publishes its bindings on every
    focus move and refresh, and a Footer would mount all of its hints again each time."""

    _shown: Shown | None = None
    _hints: list[FooterHint] | None = None

    def on_mount(self) -> None:
        # Mounted after the screen published its bindings (the main screen adds the footer after the
        # first rows): show them now rather than at the next change.
        self.bindings_changed(self.screen)

    def compose(self) -> ComposeResult:
        yield from self._hints or ()

    async def recompose(self) -> None:
        hints = self._fitting_hints() if self._bindings_ready else []
        shown = tuple(
            (hint.key, hint.key_display, hint.description, hint.action, hint.enabled, str(hint.tooltip or ""))
            for hint in hints
        )
        if shown == self._shown:
            return
        self._shown, self._hints = shown, hints
        await super().recompose()

    def _fitting_hints(self) -> list[FooterHint]:
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
        return [hint for index, hint in enumerate(hints) if index in kept]

    @staticmethod
    def _rank(binding_id: str | None) -> int:
        action = BY_ID.get(binding_id or "")
        return action.footer_rank if action else LEAST_USEFUL

    def on_resize(self, event: events.Resize) -> None:
        if self.is_attached:
            self.call_after_refresh(self.recompose)

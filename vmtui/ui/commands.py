"""Command palette (ctrl+p): every registry action for the current selection, then the profiles.

Unavailable actions are listed too, with the reason in their help line, and do nothing but explain
themselves when chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Protocol

from textual.command import DiscoveryHit, Hit, Hits, Provider

from vmtui.core.models import Commit, Vm
from vmtui.services.availability import Needs
from vmtui.services.fleet import FleetSupervisor
from vmtui.ui.actions import UiAction, palette_entries
from vmtui.ui.format import clean


class PaletteHost(Protocol):
    """What the palette needs from the screen it is opened on."""

    fleet: FleetSupervisor
    registry: dict[str, UiAction]

    def selected_vm(self) -> Vm | None: ...

    def selected_commit(self) -> Commit | None: ...

    def unavailable(self, action_id: str) -> str | None: ...

    def refuse(self, action_id: str) -> bool: ...

    async def action_run(self, action_id: str) -> None: ...

    def default_profile(self) -> str: ...

    def show_profile(self, name: str) -> None: ...

    def hide_profile(self, name: str) -> None: ...

    def set_default_profile(self, name: str) -> None: ...


class VmCommands(Provider):
    @property
    def host(self) -> PaletteHost:
        return self.screen  # type: ignore[return-value]

    def _entries(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        host = self.host
        vm = host.selected_vm()
        commit = host.selected_commit()
        for action in palette_entries(host.registry.values()):
            label = action.palette or ""
            needs = action.requires.needs
            if commit is not None and (needs is Needs.COMMIT or (needs is Needs.TARGET and vm is None)):
                label = f"{label} {clean(commit.display_name, 40)}"
            elif needs in (Needs.VM, Needs.SELECTION, Needs.TARGET) and vm is not None:
                label = f"{label} {clean(vm.display_name, 40)}"
            reason = host.unavailable(action.id)
            if reason:
                yield f"{label}  (unavailable)", f"Unavailable: {reason}", partial(host.refuse, action.id)
            else:
                yield label, action.help, partial(host.action_run, action.id)
        yield from self._profiles()

    def _profiles(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        host = self.host
        fleet = host.fleet
        active = host.default_profile()
        for name in fleet.openers:
            label = clean(name, 40)
            summary = fleet.summary(name, active)
            if name not in fleet.shown:
                yield f"profile: show {label}", summary, partial(host.show_profile, name)
                continue
            yield f"profile: use {label}", summary, partial(host.set_default_profile, name)
            if len(fleet.shown) > 1:
                yield f"profile: hide {label}", "Stop listing its VMs", partial(host.hide_profile, name)

    async def discover(self) -> Hits:
        for label, help_text, command in self._entries():
            yield DiscoveryHit(label, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, command in self._entries():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), command, text=label, help=help_text)

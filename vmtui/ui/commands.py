"""Command palette (ctrl+p): every action for the current selection, built from live state.

Unavailable actions are listed too, with the reason in their help line, and do nothing but
explain themselves when chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from vmtui.ui.format import clean

if TYPE_CHECKING:
    from vmtui.ui.screens.main import MainScreen

# (area: title, screen action, help)
_COMMANDS = (
    ("vm: new root VM", "new_vm", "Create a VM from an image"),
    ("vm: branch", "branch", "Branch the selected VM into new VMs"),
    ("vm: commit", "commit", "Snapshot the selected VM"),
    ("vm: pause / resume", "pause", "Pause a running VM or resume a paused one"),
    ("vm: power: start / stop", "power", "Start a stopped VM or stop a running one (Swiftor)"),
    ("vm: delete", "delete", "Delete the selected VM (asks first)"),
    ("vm: open terminal (ssh)", "ssh", "SSH into the selected VM in the terminal pane"),
    ("vm: secrets", "secrets", "Environment secrets of the selected VM (Swiftor)"),
    ("vm: port mappings", "networking", "Public port mappings of the selected VM (Swiftor)"),
    ("vm: copy id", "yank", "Copy the selected id to the clipboard"),
    ("commit: new VM from commit", "restore", "Start a VM from the commit selected in the tree"),
    ("list: filter", "filter", "Filter the VM list"),
    ("list: clear filter", "clear_filter", "Show every VM again"),
    ("app: refresh now", "refresh", "Poll every profile now"),
    ("app: images", "images", "List, upload and delete root filesystem images"),
    ("app: help (keys)", "help", "Every key binding"),
    ("view: zoom focused pane", "zoom", "Maximise or restore the focused pane"),
    ("view: maximise terminal", "zoom_terminal", "Maximise the terminal pane and focus it"),
)


class VmCommands(Provider):
    @property
    def main(self) -> MainScreen:
        return self.screen  # type: ignore[return-value]

    def _entries(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        main = self.main
        vm = main.selected_vm()
        commit = main.selected_commit()
        subject = f" {clean(vm.display_name, 40)}" if vm else ""
        for title, action, help_text in _COMMANDS:
            reason = main.unavailable(action)
            label = title
            if title.startswith("vm: ") and action not in ("new_vm",) and subject:
                label = f"{title}{subject}"
            elif action == "restore" and commit is not None:
                label = f"{title} {clean(commit.name or commit.id, 40)}"
            if reason:
                yield (
                    f"{label}  (unavailable)",
                    f"Unavailable: {reason}",
                    partial(main.notify, reason, title="Not available", severity="warning"),
                )
            else:
                yield (label, help_text, getattr(main, f"action_{action}"))
        for name in main.openers:
            label = clean(name, 40)
            if name not in main.shown:
                yield (f"profile: show {label}", main.profile_summary(name), partial(main.show_profile, name))
                continue
            yield (
                f"profile: use {label}",
                main.profile_summary(name),
                partial(main.set_default_profile, name),
            )
            if len(main.shown) > 1:
                yield (f"profile: hide {label}", "Stop listing its VMs", partial(main.hide_profile, name))
        yield ("app: change theme", "Pick a theme (light and dark ones)", main.app.action_change_theme)
        yield ("app: save screenshot", "Save an SVG of the screen", main.app.action_screenshot)
        yield ("app: quit", "Leave vmtui; VMs keep running", main.app.exit)

    async def discover(self) -> Hits:
        for label, help_text, command in self._entries():
            yield DiscoveryHit(label, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, command in self._entries():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), command, text=label, help=help_text)

"""Typing ahead after creating a VM: keys meant for the new VM wait for it instead of hitting the old one.

`n`, Enter, `s` typed quickly used to open the shell on the previously selected VM, because the cursor
moves to a new VM only when a poll lists it. From the moment a flow starts making a VM until the cursor
is on it, actions that act on the selection queue here and run on the new VM once it is selected (or are
dropped with a message if it was not made).
"""

from __future__ import annotations

from vmtui.services.actions import PendingKey
from vmtui.services.availability import Needs

WAITS_FOR_NEW_VM = (Needs.VM, Needs.SELECTION, Needs.TARGET)


class NewVmWait:
    def __init__(self) -> None:
        self.expected = 0
        """Flows started that will make a VM and have not said which yet."""
        self.select_when_listed: PendingKey | None = None
        """The VM just made: the cursor moves to it as soon as a poll lists it."""
        self.queued: list[str] = []
        """Action ids typed meanwhile, in order."""

    @property
    def active(self) -> bool:
        return self.expected > 0 or self.select_when_listed is not None

    def holds(self, needs: Needs) -> bool:
        """Whether an action needing `needs` must wait for the new VM now."""
        return self.active and needs in WAITS_FOR_NEW_VM

    def made(self, key: PendingKey) -> None:
        self.expected = max(0, self.expected - 1)
        self.select_when_listed = key

    def failed(self) -> list[str]:
        """A flow made no VM: the queued actions to drop (when no other VM is on its way)."""
        self.expected = max(0, self.expected - 1)
        if self.active:
            return []
        dropped, self.queued = self.queued, []
        return dropped

    def selected(self) -> list[str]:
        """The cursor is on the new VM: the queued actions to run now."""
        self.select_when_listed = None
        ready, self.queued = self.queued, []
        return ready

"""App-wide messages carrying service events to the main screen."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from vmtui.services.poller import PollResult


@dataclass
class FleetUpdated(Message, bubble=False):
    """A poll result for one profile. A newer one replaces an older one still queued, so a busy UI
    only ever applies the latest state. Only the main screen handles it: it does not bubble on to the
    app (one dispatch fewer on every poll, unchanged ones included)."""

    result: PollResult

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FleetUpdated) and message.result.provider == self.result.provider


@dataclass
class ProfileConnecting(Message):
    """A profile is being opened (e.g. the local engine is starting), or failed to open."""

    profile: str
    status: str | None
    error: str | None = None


@dataclass
class ProfileNotice(Message):
    """Something the fleet supervisor did on its own for a profile (e.g. restarted the local engine)."""

    profile: str
    text: str

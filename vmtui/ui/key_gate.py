"""Keys typed ahead reach the screen they were typed for.

Textual forwards each key to the focused widget by posting it to that widget's queue and goes on
to the next key at once. A key that opens a dialog (`n`, `D`) acts only once it has bubbled up to
the bindings, so the keys typed right after it had already been forwarded to the old focus: `D`
then `y` ran `y` on the VM list, and a name typed quickly after `n` moved its cursor instead.

The gate lets one key through at a time. The next key waits until the previous one has passed every
node on its way up (a callback queued behind it on each, in bubbling order, then on the app) and the
screen then on top has worked through its own queue (a pushed dialog has mounted and focused its
field). Nothing is timed: each step waits for the one before it, in order.

A widget that takes every key itself (the terminal pane: keys go to the program in the VM and open no
dialog) gets them straight away while nothing is held, so typing into a shell pays no round trip. It
says so with `takes_every_key`, key by key: after the terminal's ctrl+] prefix the next key may leave
the terminal and open a dialog, so that key goes through the gate like any other, and the keys typed
after it reach the panes or the dialog, not the program in the VM.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

from textual import events
from textual.app import App
from textual.widget import Widget


class KeyGate:
    def __init__(self, app: App, dispatch: Callable[[events.Key], Awaitable[None]]) -> None:
        self.app = app
        self.dispatch = dispatch
        self.held: deque[events.Key] = deque()
        self.passing = False

    async def admit(self, key: events.Key) -> None:
        """Dispatch `key` now, or after the keys typed before it have been handled."""
        if self.passing:
            self.held.append(key)
            return
        if getattr(self.app.focused, "takes_every_key", False):
            await self.dispatch(key)
            return
        await self._send(key)

    async def _send(self, key: events.Key) -> None:
        self.passing = True
        target = self.app.focused or self.app.screen
        await self.dispatch(key)
        self._follow([node for node in target.ancestors_with_self if isinstance(node, Widget)])

    def _follow(self, path: list[Widget]) -> None:
        """Queue the next step behind the key on the next node of its path (a closed node is skipped)."""
        while path:
            if path[0].call_later(self._follow, path[1:]):
                return
            path = path[1:]
        self.app.call_later(self._settle)

    def _settle(self) -> None:
        if not self.app.screen.call_later(self._open):
            self._open()

    def _open(self) -> None:
        self.app.call_later(self._next)

    async def _next(self) -> None:
        self.passing = False
        if self.held:
            await self._send(self.held.popleft())

"""The key gate hands keys for a terminal pane straight on: a shell's typing pays no round trip."""

from __future__ import annotations

from textual import events

from vmtui.ui.key_gate import KeyGate
from vmtui.ui.widgets.terminal_pane import TerminalPane


class FocusedApp:
    """Only what the gate reads from the app when the focused widget takes every key."""

    def __init__(self, focused: object) -> None:
        self.focused = focused


async def test_keys_for_a_terminal_pane_are_dispatched_at_once_without_holding_the_next():
    dispatched: list[str] = []

    async def dispatch(key: events.Key) -> None:
        dispatched.append(key.key)

    gate = KeyGate(FocusedApp(TerminalPane()), dispatch)  # type: ignore[arg-type]
    for key in "ls":
        await gate.admit(events.Key(key, key))
    assert dispatched == ["l", "s"] and not gate.passing and not gate.held


async def test_while_keys_are_held_a_terminal_key_waits_its_turn():
    dispatched: list[str] = []

    async def dispatch(key: events.Key) -> None:
        dispatched.append(key.key)

    gate = KeyGate(FocusedApp(TerminalPane()), dispatch)  # type: ignore[arg-type]
    gate.passing = True  # a key that may open a dialog is still on its way
    await gate.admit(events.Key("x", "x"))
    assert dispatched == [] and [key.key for key in gate.held] == ["x"]


def test_the_key_after_the_terminal_prefix_goes_through_the_gate():
    """It may leave the terminal and open a dialog: the keys typed after it must wait for it."""
    pane = TerminalPane()
    assert pane.takes_every_key
    pane.prefix_armed = True
    assert not pane.takes_every_key

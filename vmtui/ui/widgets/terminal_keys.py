"""The terminal's own keys: the ctrl+] prefix (tmux-like) and the scrollback keys, in one table.

Inside a focused terminal every key goes to the remote program, except ctrl+]: it arms the prefix, and the
next key picks a command below. The pane routes the prefix, the tabs carry the commands out, and the help
screen and README list this table.
"""

from __future__ import annotations

PREFIX_KEY = "ctrl+right_square_bracket"
PREFIX_DISPLAY = "ctrl+]"

PREFIX_COMMANDS: dict[str, tuple[str, str]] = {
    "n": ("next", "next tab"),
    "p": ("previous", "previous tab"),
    "x": ("close", "close the tab (ends its session)"),
    "X": ("close_ended", "close every ended tab"),
    "r": ("reconnect", "reconnect an ended session"),
}
"""Key after ctrl+] → (tab command, what it does). 1-9 pick tab N; ctrl+] or Esc leaves the terminal."""

LEAVE_KEYS = (PREFIX_KEY, "escape")

HELP_ROWS: tuple[tuple[str, str], ...] = (
    (
        f"{PREFIX_DISPLAY} {PREFIX_DISPLAY} / {PREFIX_DISPLAY} esc",
        "leave the terminal (focus goes to the panes)",
    ),
    *((f"{PREFIX_DISPLAY} {key}", text) for key, (_, text) in PREFIX_COMMANDS.items()),
    (f"{PREFIX_DISPLAY} 1-9", "go to tab 1-9"),
    (f"{PREFIX_DISPLAY} other key", "leave the terminal, then that key acts on the panes"),
    ("shift+pgup / shift+pgdn", "scroll back through the terminal's history (scroll mode)"),
    ("scroll mode: up / down / home", "move the copy line; home goes to the oldest line"),
    ("scroll mode: /, n / N", "search the scrollback; n older match, N newer"),
    ("scroll mode: v, then y", "select lines, copy them (OSC 52); the mouse selects and copies too"),
    ("scroll mode: q / esc", "back to the live screen"),
)


def prefix_command(key: str) -> tuple[str, int] | None:
    """The tab command for the key typed after the prefix: (command, tab index for "goto")."""
    if key in PREFIX_COMMANDS:
        return PREFIX_COMMANDS[key][0], 0
    if len(key) == 1 and key in "123456789":
        return "goto", int(key) - 1
    return None

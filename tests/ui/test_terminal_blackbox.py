"""Black box: a real Textual app with TerminalTabs (bash on a PTY) running inside tmux, driven by keys.

This goes through Textual's real terminal driver and input parser (which Pilot bypasses): keys typed in
tmux must reach the inner shell as the right bytes, vim must open and quit cleanly, ctrl+] Esc must leave.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.timeout(90),
]

APP = """
import sys
from textual.app import App
from textual.widgets import Footer, Input
from vmtui.terminal.pty_transport import PtyTransport
from vmtui.ui.widgets.terminal_tabs import TerminalTabs

HOME = sys.argv[1]
ENV = {"PATH": "/usr/bin:/bin", "TERM": "xterm-256color", "PS1": "$ ", "HOME": HOME, "LANG": "C.UTF-8"}


async def bash(sink, cols, rows):
    return await PtyTransport.spawn(sink, cols, rows, ["bash", "--norc", "--noprofile", "-i"], env=ENV, cwd=HOME)


class Demo(App):
    def compose(self):
        yield TerminalTabs()
        yield Input(id="other", placeholder="other widget")
        yield Footer()

    async def on_mount(self):
        await self.query_one(TerminalTabs).open_session("bash", bash)


Demo().run()
"""


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True
        ).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p")

    def wait_for(self, condition: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; screen:\n{screen}")
            time.sleep(0.1)

    def type(self, text: str) -> None:
        self("send-keys", "-l", text)
        self("send-keys", "Enter")


@pytest.fixture
def tmux(tmp_path: Path):
    script = tmp_path / "app.py"
    script.write_text(APP)
    home = tmp_path / "home"
    home.mkdir()
    socket = f"vmtui-bb-{os.getpid()}-{time.monotonic_ns()}"
    session = Tmux(socket)
    root = Path(__file__).resolve().parents[2]
    command = f"cd {root} && TERM=xterm-256color {sys.executable} {script} {home}"
    session("-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30", command)
    yield session
    subprocess.run(["tmux", "-L", socket, "kill-server"], check=False, capture_output=True)


def test_keys_vim_and_leave_chord_through_the_real_driver(tmux: Tmux) -> None:
    tmux.wait_for(lambda screen: "ctrl+] Tabs / leave" in screen and "$" in screen)
    tmux.type("echo hello-$((1+2))")
    tmux.wait_for(lambda screen: "\nhello-3\n" in screen)
    # bash puts the tty back in cooked mode before it runs the line: once "cat-4" is shown, keys typed are
    # echoed by the tty and end in a newline for cat (typed earlier, readline's raw mode would take them).
    tmux.type("echo cat-$((2+2)); cat -v")
    tmux.wait_for(lambda screen: "\ncat-4\n" in screen)
    tmux.type("cat-is-reading")  # echoed once by the tty and once by cat: then cat surely reads the keys
    tmux.wait_for(lambda screen: screen.count("cat-is-reading") == 2)
    tmux("send-keys", "F5", "C-Left", "Up", "BTab", "Home", "F12", "Enter")
    tmux.wait_for(lambda screen: "^[[15~^[[1;5D^[[A^[[Z^[[H^[[24~" in screen)
    tmux("send-keys", "C-c")
    tmux.type("vim -u NONE -N -i NONE notes.txt")
    tmux.wait_for(lambda screen: screen.count("\n~") > 10)
    tmux("send-keys", "-l", "ihello vim")
    tmux("send-keys", "Escape")
    # Without the kitty keyboard protocol (tmux has none) Textual reads ESC + ":" within ESCDELAY as one key
    # and drops the ESC, so wait for vim to leave insert mode before typing on.
    tmux.wait_for(lambda screen: "hello vim" in screen and "-- INSERT --" not in screen)
    tmux.type(":q!")
    screen = tmux.wait_for(lambda screen: "\n~" not in screen and "hello-3" in screen)
    assert "hello vim" not in screen
    tmux("send-keys", "C-]", "Escape")  # ctrl+] is the tab prefix; then Esc leaves
    tmux.wait_for(lambda screen: "Tabs / leave" not in screen)  # the footer follows the focus
    tmux("send-keys", "-l", "typed-outside")
    screen = tmux.wait_for(lambda screen: "typed-outside" in screen)
    assert "$ typed-outside" not in screen  # it went to the input, not to the shell

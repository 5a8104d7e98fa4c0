"""Re-create the terminal recordings used by the emulator tests (run by hand: `python record.py`).

Each scenario runs real programs in a private tmux server at 80x24 (TERM=xterm-256color), captures every
byte the programs write (`pipe-pane`) into `<name>.bin`, and stores tmux's own view of the final screen
(`capture-pane -p`) as `<name>.screen.txt` (and, at a `@snap` step, `<name>.snap.txt`, whose first line
is the byte offset of that moment): the oracle the emulator's screen text is compared with.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
COLS, ROWS = 80, 24

CURSES_APP = r"""
import curses, time
def main(scr):
    curses.start_color(); curses.use_default_colors()
    curses.init_pair(1, curses.COLOR_GREEN, -1); curses.init_pair(2, curses.COLOR_BLACK, curses.COLOR_CYAN)
    scr.addstr(0, 0, " PID USER      CPU%  MEM%  COMMAND ".ljust(79), curses.color_pair(2) | curses.A_BOLD)
    for i in range(1, 15):
        scr.addstr(i, 0, f"{1000 + i:4d} root   {i * 3.5:6.1f} {i * 1.25:5.1f}  worker-{i}")
        scr.addstr(i, 15, f"{i * 3.5:6.1f}", curses.color_pair(1))
    scr.addstr(20, 0, "F1Help  F10Quit", curses.A_REVERSE)
    scr.refresh(); scr.getch()
curses.wrapper(main)
print("curses app done")
"""

SCENARIOS: dict[str, list[str]] = {
    "bash_colors": [
        (
            r"printf '\033[1mbold\033[0m \033[2mdim\033[0m \033[3mitalic\033[0m \033[4munder\033[0m"
            r" \033[7mrev\033[0m \033[9mstrike\033[0m\n'"
        ),
        (
            r"printf '\033[31mred\033[0m \033[92mbright\033[0m \033[38;5;208mindexed\033[0m"
            r" \033[38;2;10;20;30;48;2;200;100;50mtruecolor\033[0m\n'"
        ),
        r"printf 'wide: \xe6\xbc\xa2\xe5\xad\x97 end\n'",
        "seq 1 40",
        "echo done-bash",
    ],
    "vim_session": [
        "vim -u NONE -N -i NONE /tmp/vmtui-rec.txt",
        "@ihello from vim",
        "@snap",
        "@Escape",
        "@:q!",
        "@Enter",
        "echo after-vim",
    ],
    "less_session": [
        "seq 1 200 > /tmp/vmtui-rec-seq.txt; less /tmp/vmtui-rec-seq.txt",
        "@Space",
        "@snap",
        "@q",
        "echo after-less",
    ],
    "curses_app": [
        "python3 /tmp/vmtui-rec-curses.py",
        "@snap",
        "@q",
    ],
}


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], check=True, capture_output=True, text=True).stdout


def record(name: str, steps: list[str]) -> None:
    out = HERE / f"{name}.bin"
    out.unlink(missing_ok=True)
    socket = f"vmtui-rec-{os.getpid()}-{name}"
    with tempfile.TemporaryDirectory() as home:
        conf = Path(home) / "tmux.conf"
        conf.write_text("set -g default-terminal xterm-256color\nset -g status off\n")
        # The shell starts only once pipe-pane is attached, so its first prompt is recorded too.
        env = f"sleep 0.5; exec env -i HOME={home} TERM=xterm-256color LANG=C.UTF-8 PS1='$ ' bash --norc --noprofile"
        tmux(socket, "-f", str(conf), "new-session", "-d", "-x", str(COLS), "-y", str(ROWS), env)
        tmux(socket, "pipe-pane", "-o", f"cat >> {out}")
        time.sleep(1.0)
        for step in steps:
            if step == "@snap":
                # The screen in the middle of the session, and how many bytes had been written by then.
                snap = tmux(socket, "capture-pane", "-p")
                (HERE / f"{name}.snap.txt").write_text(f"offset={out.stat().st_size}\n{snap}")
                continue
            if step.startswith("@"):
                key = step[1:]
                literal = key not in ("Escape", "Enter", "Space")
                tmux(socket, "send-keys", *(["-l"] if literal else []), key)
            else:
                tmux(socket, "send-keys", "-l", step)
                tmux(socket, "send-keys", "Enter")
            time.sleep(0.8)
        time.sleep(0.5)
        screen = tmux(socket, "capture-pane", "-p")
        tmux(socket, "kill-server")
    (HERE / f"{name}.screen.txt").write_text(screen)


def main() -> None:
    Path("/tmp/vmtui-rec-curses.py").write_text(CURSES_APP)
    Path("/tmp/vmtui-rec.txt").write_text("existing line\n")
    for name in sys.argv[1:] or SCENARIOS:
        record(name, SCENARIOS[name])
        print(name, (HERE / f"{name}.bin").stat().st_size, "bytes")


if __name__ == "__main__":
    main()

"""Memory of a pane's parser process (avt parses each pane's output in a child process, see
`vmtui.terminal.remote_emulator`): its unique set size (private pages) idle and with a full scrollback.

Baselines, measured in the same run: idle against a bare Python interpreter blocked on a read (what any
child process costs); full against a bare Python process holding an in-process avt emulator fed the same
bytes (what parsing in the app's own process would cost it). 120x40 panes, the default scrollback of
10,000 lines, filled from `bench_terminal.coloured_output` (SGR-coloured words, every line different).

`python -m bench terminal-memory` runs it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from bench.bench_terminal import coloured_output
from vmtui.terminal.remote_emulator import RemoteEmulator

COLS, ROWS = 120, 40
SCROLLBACK = 10_000
FILL_MB = 4.0  # ~28,000 lines: the scrollback is full
IN_PROCESS = """
import sys
from vmtui.terminal.emulator import TerminalEmulator
emulator = TerminalEmulator({cols}, {rows}, scrollback={scrollback}, backend="avt")
left = {size}
while left:  # a chunk at a time, as a transport feeds it
    chunk = sys.stdin.buffer.read(min(left, 65536))
    emulator.feed(chunk)
    left -= len(chunk)
assert emulator.scrollback_length == {scrollback}, emulator.scrollback_length
print("ready", flush=True)
sys.stdin.read()
"""
IDLE = "import sys; print('ready', flush=True); sys.stdin.read()"


def unique_mib(pid: int) -> float:
    """Private (unshared) resident memory of `pid`, MiB."""
    kib = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, *value = line.split()
        if key in ("Private_Clean:", "Private_Dirty:"):
            kib += int(value[0])
    return kib / 1024


def _bare_process_mib(code: str, data: bytes = b"") -> float:
    """USS of a bare `python -c code` once it prints "ready" (fed `data` on stdin first)."""
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parents[1],
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(data)
        process.stdin.flush()
        if process.stdout.readline() != b"ready\n":
            raise RuntimeError(f"the baseline process failed (status {process.wait()})")
        return unique_mib(process.pid)
    finally:
        process.stdin.close()
        process.wait()


async def _parser_process_mib(data: bytes) -> tuple[float, float]:
    """USS of a pane's parser process idle (a prompt parsed), then after `data`."""
    emulator = RemoteEmulator(COLS, ROWS, scrollback=SCROLLBACK, on_output=lambda: None)
    try:
        emulator.send(b"$ ")
        emulator.take_changes(everything_sent=True)
        idle = unique_mib(emulator.pid)
        emulator.send(data)
        emulator.take_changes(everything_sent=True)
        if emulator.scrollback_length != SCROLLBACK:
            raise RuntimeError(f"scrollback not full: {emulator.scrollback_length} lines")
        return idle, unique_mib(emulator.pid)
    finally:
        emulator.close()


def run() -> list[dict]:
    data = coloured_output(FILL_MB)
    idle, full = asyncio.run(_parser_process_mib(data))
    bare = _bare_process_mib(IDLE)
    code = IN_PROCESS.format(cols=COLS, rows=ROWS, scrollback=SCROLLBACK, size=len(data))
    in_process = _bare_process_mib(code, data)
    return [
        _row("parser process of an idle pane vs a bare Python process", idle, bare),
        _row(f"parser process, {SCROLLBACK:,} scrollback lines vs avt in a bare process", full, in_process),
    ]


def _row(name: str, value: float, baseline: float) -> dict:
    return {"name": name, "value": value, "unit": "MiB USS", "baseline": baseline, "ratio": value / baseline}


if __name__ == "__main__":
    for row in run():
        print(row)

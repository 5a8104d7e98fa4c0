"""The terminal pane fed the way users feed it: `cat` on a real PTY, and `cat` inside a local-engine VM
through SSH over the engine's TLS gateway. Headless 120x40 app; the clock stops when the sentinel line
is painted.

Rows, each with baselines measured in the same run on the same bytes:
- avt in two threads at once vs one (does `feed_str` release the GIL?);
- PTY: pane vs the raw `avt` feed (the emulator alone) and vs `cat` on a PTY read by a bare loop;
  the same bare loop feeding each read to avt in its own thread (no UI: the most a design can reach
  whose reads and parsing share one GIL); CPU seconds: the pane's (its process and its parser process)
  and the bare loop's whole path (reader, `cat`, the kernel workers that move tty data), each vs the
  raw avt feed's;
- SSH (root only: a real sandboxed VM of a `vmtui serve` engine in its own process, temp state dir): pane
  vs the raw `avt` feed and vs a bare asyncssh read loop on a shell over the same gateway;
- keystroke-to-echo p50/p99 in one tab (a PTY running `cat`, the tty echoes) while another session floods
  through a PTY, in a background tab (`TerminalTabs`) or in a pane shown beside it, vs the same with
  no flood.
Each figure is the median of `REPEAT` runs (the machine is shared; medians tame the noise).
"""

from __future__ import annotations

import asyncio
import codecs
import fcntl
import json
import os
import pty
import signal
import statistics
import struct
import subprocess
import tempfile
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import avt
from textual import events
from textual.app import App, ComposeResult

from bench.bench_terminal import (
    COLS,
    ROWS,
    SENTINEL,
    TYPING_GAP,
    BenchApp,
    _on_screen,
    _parser_cpu_seconds,
    _percentile,
    _raw_avt_seconds,
    _until,
    coloured_output,
)
from vmtui.terminal.pty_transport import PtyTransport
from vmtui.terminal.ssh_transport import ssh_transport_factory
from vmtui.terminal.transport import TerminalSink, TerminalTransport, TransportFactory
from vmtui.ui.widgets.terminal_pane import TerminalPane
from vmtui.ui.widgets.terminal_tabs import TerminalTabs

FLOOD_MB = 50
REPEAT = 3
ECHO_KEYS = 80


def _median_of(measure: Callable[[], float], repeat: int = REPEAT) -> float:
    return statistics.median(measure() for _ in range(repeat))


# -- PTY ----------------------------------------------------------------------------------------------
def _kernel_worker_seconds() -> float:
    """CPU seconds used so far by the kernel's worker threads (kworker: they move PTY output into the
    reader's tty buffer). Threads that come and go during a run are missed; others' tty work is counted."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            if "(kworker" in fields[0]:
                utime, stime = fields[1].split()[11:13]
                total += int(utime) + int(stime)
        except (OSError, IndexError, ValueError):  # a thread that ended meanwhile
            continue
    return total / os.sysconf("SC_CLK_TCK")


def _bare_pty_run(path: Path, parse: bool = False) -> tuple[float, float]:
    """`cat path` on a PTY, read by a plain blocking loop until the child side closes (each read fed to
    avt in the same thread when `parse`): (wall seconds, CPU seconds of reader + cat + kernel workers)."""
    vt = avt.Vt(COLS, ROWS, 0)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    master, slave = pty.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    workers_before, before = _kernel_worker_seconds(), os.times()
    started = time.perf_counter()
    process = subprocess.Popen(["cat", str(path)], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO once cat exited and its side closed
                break
            if not data:
                break
            if parse:
                vt.feed_str(decoder.decode(data))
    finally:
        os.close(master)
        process.wait()
    wall = time.perf_counter() - started
    after = os.times()
    own = after.user + after.system - before.user - before.system
    cat = after.children_user + after.children_system - before.children_user - before.children_system
    return wall, own + cat + _kernel_worker_seconds() - workers_before


def _pty(argv: list[str]) -> TransportFactory:
    async def spawn(sink: TerminalSink, cols: int, rows: int) -> TerminalTransport:
        return await PtyTransport.spawn(sink, cols, rows, argv)

    return spawn


async def _until_painted(pane: TerminalPane, text: str, timeout: float) -> None:
    """Until `text` is on the pane's painted screen, checked at each of the pane's paints (15 a second in
    a flood). Polling every 5 ms instead woke the UI thread 200 times a second to take the pipeline lock
    and read the screen, competing for the GIL with the flood being measured."""
    painted = asyncio.Event()
    paint = pane.paint

    def paint_and_check(rows: set[int] | None) -> None:
        paint(rows)
        if _on_screen(pane, text):
            painted.set()

    pane.paint = paint_and_check  # type: ignore[method-assign]
    try:
        if not _on_screen(pane, text):
            await asyncio.wait_for(painted.wait(), timeout)
    finally:
        del pane.paint


async def _pty_pane_run(path: Path) -> tuple[float, float]:
    """(Seconds, CPU seconds of the app process and its parser process) from connecting a pane to `cat
    path` on a PTY until the sentinel is painted."""
    app = BenchApp()
    async with app.run_test(headless=True, size=(COLS, ROWS)) as pilot:
        await pilot.pause()
        pane = app.query_one(TerminalPane)
        started, cpu, parser_cpu = time.perf_counter(), time.process_time(), _parser_cpu_seconds(pane)
        pane.connect(_pty(["cat", str(path)]))
        await _until_painted(pane, SENTINEL, timeout=600)
        wall = time.perf_counter() - started
        return wall, time.process_time() - cpu + _parser_cpu_seconds(pane) - parser_cpu


def _raw_avt_run(data: bytes) -> tuple[float, float]:
    cpu = time.process_time()
    return _raw_avt_seconds(data), time.process_time() - cpu


def _median_runs(measure: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    """Medians of `REPEAT` (wall, CPU) measurements."""
    runs = [measure() for _ in range(REPEAT)]
    return statistics.median(wall for wall, _ in runs), statistics.median(cpu for _, cpu in runs)


def _pty_rows(path: Path, megabytes: float, data: bytes) -> list[dict]:
    pane, pane_cpu = _median_runs(lambda: asyncio.run(_pty_pane_run(path)))
    raw, raw_cpu = _median_runs(lambda: _raw_avt_run(data))
    bare, bare_cpu = _median_runs(lambda: _bare_pty_run(path))
    ceiling = _median_of(lambda: _bare_pty_run(path, parse=True)[0])
    name = f"PTY cat {FLOOD_MB} MB"
    return [
        _row(f"{name}: pane vs raw avt feed", megabytes / pane, "MB/s", megabytes / raw),
        _row(f"{name}: pane vs bare PTY read loop", megabytes / pane, "MB/s", megabytes / bare),
        _row(
            f"{name}: bare loop feeding avt, one thread, no UI vs raw avt",
            megabytes / ceiling,
            "MB/s",
            megabytes / raw,
        ),
        _row(f"{name}: pane CPU (app + parser process) vs raw avt feed CPU", pane_cpu, "s", raw_cpu),
        _row(f"{name}: bare loop CPU (reader + cat + kworkers) vs raw avt CPU", bare_cpu, "s", raw_cpu),
    ]


def _feed_seconds(texts: list[str], threads: int) -> float:
    """Seconds for `threads` threads to feed `texts` into an emulator each, all at once."""

    def feed_all() -> None:
        vt = avt.Vt(COLS, ROWS, 0)
        for text in texts:
            vt.feed_str(text)

    workers = [threading.Thread(target=feed_all) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def _gil_row(data: bytes, megabytes: float) -> dict:
    """Whether avt parses in parallel: two threads feeding two emulators vs one thread (2x if `feed_str`
    released the GIL, 1x if it holds it)."""
    text = data.decode()
    texts = [text[start : start + 16384] for start in range(0, len(text), 16384)]
    one = megabytes / _median_of(lambda: _feed_seconds(texts, 1))
    two = 2 * megabytes / _median_of(lambda: _feed_seconds(texts, 2))
    return _row("avt feed_str: two threads feeding two emulators vs one thread", two, "MB/s", one)


# -- keystroke echo while another tab floods ------------------------------------------------------------
class TabsApp(App):
    """The terminal area as users have it: sessions in `TerminalTabs`, one tab shown at a time."""

    def compose(self) -> ComposeResult:
        yield TerminalTabs(scrollback=1000)


async def _echo_latencies_ms(flood_path: Path | None, beside: bool) -> list[float]:
    """Key-to-echo in a tab running `cat` (the tty echoes every key at once), while another session
    floods: in a background tab, or (`beside`) in a pane shown next to it."""
    app = BenchApp(panes=2) if beside else TabsApp()
    async with app.run_test(headless=True, size=(COLS, ROWS)) as pilot:
        await pilot.pause()
        flood = _pty(["sh", "-c", f"while :; do cat {flood_path}; done"] if flood_path else ["cat"])
        if beside:
            typing, flooding = app.query(TerminalPane)
            typing.connect(_pty(["cat"]))
            flooding.connect(flood)
        else:
            tabs = app.query_one(TerminalTabs)
            flooding = await tabs.open_session("flood", flood)
            await _until(lambda: flooding.transport is not None, timeout=10)
            typing = await tabs.open_session("typing", _pty(["cat"]))
        typing.focus()
        await _until(lambda: typing.transport is not None, timeout=10)
        await pilot.pause(0.5)
        emulator = typing.emulator
        assert emulator is not None
        samples = []
        for i in range(ECHO_KEYS):
            character = "abcdefghijklmnopqrstuvwxyz"[i % 26]
            marker = emulator.cursor.col
            started = time.perf_counter()
            app.post_message(events.Key(character, character))
            await _until(lambda marker=marker: emulator.cursor.col != marker and typing.settled, 10, 0.0005)
            samples.append((time.perf_counter() - started) * 1000)
            if emulator.cursor.col > COLS - 5:
                app.post_message(events.Key("enter", "\r"))
                await _until(lambda: emulator.cursor.col == 0 and typing.settled, timeout=10)
            await asyncio.sleep(TYPING_GAP)
        if flood_path is not None:
            assert flooding.emulator is not None and flooding.emulator.total_scrolled > 0, "no flood"
        typing.close()
        flooding.close()
        return samples


def _echo_rows(path: Path) -> list[dict]:
    rows = []
    for beside, where in ((False, "another tab floods"), (True, "a pane beside it floods")):
        idle = asyncio.run(_echo_latencies_ms(None, beside))
        flooded = asyncio.run(_echo_latencies_ms(path, beside))
        rows += [
            _row(
                f"PTY key-to-echo {label} while {where} a PTY (vs no flood)",
                _percentile(flooded, fraction),
                "ms",
                _percentile(idle, fraction),
            )
            for label, fraction in (("p50", 0.5), ("p99", 0.99))
        ]
    return rows


# -- SSH into a local-engine VM --------------------------------------------------------------------------
async def _ssh_rows(state: Path, data: bytes, megabytes: float) -> list[dict]:
    """`vmtui serve` runs in its own process (as users run it); the VM is a real sandbox."""
    from vmtui.core.models import VmConfig
    from vmtui.providers.vers import VersProvider
    from vmtui.services.known_hosts import TofuKnownHosts
    from vmtui.services.local_daemon import ensure_daemon
    from vmtui.services.ssh import SshSession

    endpoint = await asyncio.to_thread(ensure_daemon, state, timeout=60)
    provider = VersProvider(
        "local",
        endpoint.api_url,
        endpoint.token,
        vm_domain=f"vm.{endpoint.domain}",
        ssh_address=(endpoint.ssh_host, endpoint.ssh_port),
        ca_path=endpoint.ca_path,
        memory_snapshots=False,
    )
    known_hosts = TofuKnownHosts(state / "known_hosts")
    command = b"cat /root/flood.txt\r"
    vm_id = ""

    def session() -> SshSession:
        return SshSession(provider, vm_id, known_hosts=known_hosts)

    async def bare_loop_seconds() -> float:
        async with session() as ssh:
            shell = await ssh.open_shell(COLS, ROWS)
            await asyncio.sleep(0.5)  # the prompt
            started = time.perf_counter()
            shell.write(command)
            tail = b""
            while SENTINEL.encode() not in tail:
                chunk = await shell.read()
                if not chunk:
                    raise RuntimeError("the shell ended before the sentinel")
                tail = tail[-64:] + chunk
            return time.perf_counter() - started

    async def pane_seconds() -> float:
        app = BenchApp()
        async with app.run_test(headless=True, size=(COLS, ROWS)) as pilot:
            await pilot.pause()
            pane = app.query_one(TerminalPane)
            pane.connect(ssh_transport_factory(session))
            await _until(lambda: pane.transport is not None, timeout=60)
            await asyncio.sleep(0.5)  # the prompt
            started = time.perf_counter()
            pane.send(command)
            await _until_painted(pane, SENTINEL, timeout=900)
            elapsed = time.perf_counter() - started
            pane.close()
            return elapsed

    try:
        vm_id = await provider.create_vm(VmConfig(), wait_boot=True)
        async with session() as ssh:
            await ssh.connection.run("cat > /root/flood.txt", input=data, encoding=None, check=True)
        pane = statistics.median([megabytes / await pane_seconds() for _ in range(REPEAT)])
        bare = statistics.median([megabytes / await bare_loop_seconds() for _ in range(REPEAT)])
    finally:
        if vm_id:
            await provider.delete_vm(vm_id)
        await provider.aclose()
        _stop_engine(state)
    raw = megabytes / _median_of(lambda: _raw_avt_seconds(data))
    return [
        _row(f"SSH cat {FLOOD_MB} MB in a VM: pane vs raw avt feed", pane, "MB/s", raw),
        _row(f"SSH cat {FLOOD_MB} MB in a VM: pane vs bare asyncssh read loop", pane, "MB/s", bare),
    ]


def _stop_engine(state: Path) -> None:
    pid = json.loads((state / "endpoint.json").read_text())["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def _row(name: str, value: float, unit: str, baseline: float) -> dict:
    return {"name": name, "value": value, "unit": unit, "baseline": baseline, "ratio": value / baseline}


def run() -> list[dict]:
    data = coloured_output(FLOOD_MB)
    megabytes = len(data) / 1e6
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "flood.txt"
        path.write_bytes(data)
        rows = [_gil_row(data, megabytes)]
        rows += _pty_rows(path, megabytes, data)
        rows += _echo_rows(path)
        if os.geteuid() == 0:
            rows += asyncio.run(_ssh_rows(Path(workdir) / "engine", data, megabytes))
    return rows


if __name__ == "__main__":
    os.environ.setdefault("TEXTUAL_FPS", "60")
    for row in run():
        print(row)

"""Benchmarks of the embedded terminal (headless Textual app, no network, no PTY jitter).

Rows, each with a baseline measured in the same run:
- `cat` of 50 MB of coloured text through the whole pipeline (flow-controlled source -> TerminalPane ->
  avt -> dirty-row repaint) until a sentinel line is on screen, vs raw `avt.Vt.feed_str` of the same bytes;
- the same workload (smaller: pyte is ~100x slower) through the widget on pyte, the peer baseline;
- ms per full 120x40 frame render (strip cache cold), avt widget vs pyte widget;
- keystroke-to-echo latency p50/p99 while another session floods output, vs an idle app;
- CPU of the process and its parser processes while a session sits idle, vs the same app with no terminal.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import resource
import statistics
import threading
import time
from pathlib import Path

import avt
from textual import events
from textual.app import App, ComposeResult
from textual.geometry import Region

from vmtui.terminal.transport import TerminalSink
from vmtui.ui.widgets.terminal_pane import TerminalPane

COLS, ROWS = 120, 40
FLOOD_MB = 50
PYTE_FLOOD_MB = 2
SENTINEL = "SENTINEL-END-OF-FLOOD"
SOURCE_CHUNK = 65536
TYPING_GAP = 0.05  # between keystrokes: fast human typing, so the 60 Hz frame cap is not what is measured


def coloured_output(megabytes: float) -> bytes:
    """`ls --color`-like lines of SGR-coloured words, ending with the sentinel line. Every line starts with
    its block's number, so no two lines are alike (as in a real log): a pane that caches rows by content
    gains nothing here that real output would not give it."""
    words = ["%(block)b "]
    for i in range(4000):
        words.append(f"\x1b[{31 + i % 7}mword{i:05d}\x1b[0m \x1b[1;38;5;{i % 256}mbold\x1b[0m ")
        if i % 6 == 5:
            words.append("\r\n%(block)b ")
    template = "".join(words).encode()
    repeat = max(1, int(megabytes * 1_000_000 / len(template)))
    blocks = (template % {b"block": b"%06d" % number} for number in range(repeat))
    return b"".join(blocks) + f"\r\n{SENTINEL}\r\n".encode()


class FloodTransport:
    """A source that feeds the pane from a thread of its own as fast as the pane parses, as the real
    transports' reader threads do."""

    def __init__(self, sink: TerminalSink, data: bytes) -> None:
        self._sink = sink
        self._data = data
        self._loop = asyncio.get_running_loop()
        self._stopped = threading.Event()
        threading.Thread(target=self._pump, name="bench-flood", daemon=True).start()

    def _pump(self) -> None:
        for position in range(0, len(self._data), SOURCE_CHUNK):
            if self._stopped.is_set():
                return
            self._sink.feed(self._data[position : position + SOURCE_CHUNK])
            time.sleep(0)  # lets the GIL go between chunks, as a reader thread's read(2) does

    def write(self, data: bytes) -> None:
        pass

    def resize(self, cols: int, rows: int) -> None:
        pass

    def close(self) -> None:
        self._stopped.set()


class EchoTransport(FloodTransport):
    """Echoes every write back after the event loop's next turn, like a remote shell with echo on."""

    def __init__(self, sink: TerminalSink) -> None:
        super().__init__(sink, b"")

    def write(self, data: bytes) -> None:
        self._loop.call_soon(self._sink.feed, data)


class BenchApp(App):
    def __init__(self, panes: int = 1, emulator: str | None = None) -> None:
        super().__init__()
        self.pane_count = panes
        self.emulator_name = emulator

    def compose(self) -> ComposeResult:
        for _ in range(self.pane_count):
            yield TerminalPane(emulator=self.emulator_name, scrollback=1000)


def _on_screen(pane: TerminalPane, text: str) -> bool:
    """`text` is parsed and painted: checked on the emulator first, so polling costs almost nothing."""
    emulator = pane.emulator
    if emulator is None:
        return False
    with pane.pipeline.lock:
        if not any(text in line for line in emulator.screen_text()):
            return False
    return any(text in pane.render_line(y).text for y in range(pane.size.height))


async def _until(condition, timeout: float, poll: float = 0.005) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(poll)


async def _pipeline_seconds(data: bytes, emulator: str) -> float:
    app = BenchApp(emulator=emulator)
    async with app.run_test(headless=True, size=(COLS, ROWS)) as pilot:
        await pilot.pause()
        pane = app.query_one(TerminalPane)
        started = time.perf_counter()
        pane.connect(lambda sink, cols, rows: _flood(sink, data))
        await _until(lambda: _on_screen(pane, SENTINEL), timeout=600)
        return time.perf_counter() - started


async def _flood(sink: TerminalSink, data: bytes) -> FloodTransport:
    return FloodTransport(sink, data)


def _raw_avt_seconds(data: bytes) -> float:
    vt = avt.Vt(COLS, ROWS, 0)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    started = time.perf_counter()
    for start in range(0, len(data), 16384):
        vt.feed_str(decoder.decode(data[start : start + 16384]))
    return time.perf_counter() - started


async def _frame_ms(emulator: str, frames: int = 30) -> float:
    app = BenchApp(emulator=emulator)
    async with app.run_test(headless=True, size=(COLS, ROWS)) as pilot:
        await pilot.pause()
        pane = app.query_one(TerminalPane)
        pane.connect(lambda sink, cols, rows: _flood(sink, coloured_output(0.05)))
        await _until(lambda: _on_screen(pane, SENTINEL), timeout=60)
        samples = []
        for _ in range(frames):
            pane._cache.clear()  # a frame where every row changed: taken at the paint, then drawn
            started = time.perf_counter()
            pane.pipeline.snapshot_rows()
            for y in range(ROWS):
                pane.render_line(y)
            samples.append(time.perf_counter() - started)
        return statistics.median(samples) * 1000


async def _frame_after_new_lines_ms(new_lines: int, frames: int = 60) -> float:
    """Median CPU ms to draw the whole pane through Textual's line path (its line cache emptied, as on a full
    repaint) after `new_lines` unique lines scrolled in: rows whose line only moved up can reuse their
    strips, new ones cannot."""
    app = BenchApp()
    async with app.run_test(headless=True, size=(COLS, ROWS)) as pilot:
        await pilot.pause()
        pane = app.query_one(TerminalPane)
        pane.connect(lambda sink, cols, rows: _echo(sink))
        await _until(lambda: pane.transport is not None, timeout=60)
        region = Region(0, 0, pane.size.width, pane.size.height)
        lines = iter(coloured_output(1).split(b"\r\n"))
        pane.feed(b"".join(next(lines) + b"\r\n" for _ in range(ROWS)))  # a full screen, so lines scroll
        samples = []
        for _ in range(frames):
            pane.feed(b"".join(next(lines) + b"\r\n" for _ in range(new_lines)))
            await _until(lambda: pane.settled, timeout=60)
            pane._styles_cache.clear()
            started = time.thread_time()  # CPU of this (the UI) thread: a preempted frame costs nothing more
            pane.render_lines(region)
            samples.append(time.thread_time() - started)
        return statistics.median(samples) * 1000


async def _echo_latencies_ms(flood: bool, keys: int = 60) -> list[float]:
    app = BenchApp(panes=2)
    async with app.run_test(headless=True, size=(COLS, ROWS)) as pilot:
        await pilot.pause()
        typing, flooding = app.query(TerminalPane)
        typing.connect(lambda sink, cols, rows: _echo(sink))
        if flood:
            flooding.connect(lambda sink, cols, rows: _flood(sink, coloured_output(200)))
        typing.focus()
        await pilot.pause(0.3)
        samples = []
        for i in range(keys):
            character = "abcdefghijklmnopqrstuvwxyz"[i % 26]
            marker = typing.emulator.cursor.col
            started = time.perf_counter()
            app.post_message(events.Key(character, character))
            await _until(
                lambda marker=marker: typing.emulator.cursor.col != marker and typing.settled,
                timeout=10,
                poll=0.0005,
            )
            samples.append((time.perf_counter() - started) * 1000)
            if typing.emulator.cursor.col > COLS - 5:
                typing.feed(b"\r\n")
            await asyncio.sleep(TYPING_GAP)
        if flood:
            assert flooding.emulator.total_scrolled > 0, "the flooding session produced no output"
        return samples


async def _echo(sink: TerminalSink) -> EchoTransport:
    return EchoTransport(sink)


def _parser_cpu_seconds(pane: TerminalPane) -> float:
    """CPU seconds used so far by the pane's parser process (0 if it parses in this one)."""
    pid = getattr(pane.emulator, "pid", None)
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_percent(with_session: bool, seconds: float = 2.0) -> float:
    async def measure() -> float:
        app = BenchApp(panes=1 if with_session else 0)
        async with app.run_test(headless=True, size=(COLS, ROWS)) as pilot:
            await pilot.pause(0.3)
            if with_session:
                pane = app.query_one(TerminalPane)
                pane.connect(lambda sink, cols, rows: _echo(sink))
                pane.focus()
                await pilot.pause(0.3)
            panes = list(app.query(TerminalPane))
            parser_before = sum(_parser_cpu_seconds(pane) for pane in panes)
            before = resource.getrusage(resource.RUSAGE_SELF)
            wall = time.perf_counter()
            await asyncio.sleep(seconds)
            after = resource.getrusage(resource.RUSAGE_SELF)
            used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            used += sum(_parser_cpu_seconds(pane) for pane in panes) - parser_before
            return 100 * used / (time.perf_counter() - wall)

    return asyncio.run(measure())


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run() -> list[dict]:
    rows: list[dict] = []
    data = coloured_output(FLOOD_MB)
    megabytes = len(data) / 1e6
    pipeline = megabytes / asyncio.run(_pipeline_seconds(data, "avt"))
    raw = megabytes / _raw_avt_seconds(data)
    rows.append(
        {
            "name": f"cat {FLOOD_MB} MB through pane (avt) vs raw avt feed",
            "value": pipeline,
            "unit": "MB/s",
            "baseline": raw,
            "ratio": pipeline / raw,
        }
    )

    small = coloured_output(PYTE_FLOOD_MB)
    small_mb = len(small) / 1e6
    avt_small = small_mb / asyncio.run(_pipeline_seconds(small, "avt"))
    pyte_small = small_mb / asyncio.run(_pipeline_seconds(small, "pyte"))
    rows.append(
        {
            "name": f"cat {PYTE_FLOOD_MB} MB through pane: avt vs pyte widget (peer)",
            "value": avt_small,
            "unit": "MB/s",
            "baseline": pyte_small,
            "ratio": avt_small / pyte_small,
        }
    )

    scrolled = asyncio.run(_frame_after_new_lines_ms(2))
    screenful = asyncio.run(_frame_after_new_lines_ms(ROWS))
    rows.append(
        {
            "name": f"frame after 2 new lines scrolled in vs after {ROWS} (every row new)",
            "value": scrolled,
            "unit": "ms",
            "baseline": screenful,
            "ratio": scrolled / screenful,
        }
    )

    avt_frame = asyncio.run(_frame_ms("avt"))
    pyte_frame = asyncio.run(_frame_ms("pyte"))
    rows.append(
        {
            "name": f"full {COLS}x{ROWS} frame render (avt widget vs pyte widget)",
            "value": avt_frame,
            "unit": "ms",
            "baseline": pyte_frame,
            "ratio": avt_frame / pyte_frame,
        }
    )

    idle = asyncio.run(_echo_latencies_ms(flood=False))
    flooded = asyncio.run(_echo_latencies_ms(flood=True))
    for label, fraction in (("p50", 0.5), ("p99", 0.99)):
        value, baseline = _percentile(flooded, fraction), _percentile(idle, fraction)
        rows.append(
            {
                "name": f"key-to-echo {label} while another session floods (vs idle)",
                "value": value,
                "unit": "ms",
                "baseline": baseline,
                "ratio": value / baseline if baseline else None,
            }
        )

    with_session = _cpu_percent(True)
    without = _cpu_percent(False)
    rows.append(
        {
            "name": "CPU with an idle open session (vs app without terminal)",
            "value": with_session,
            "unit": "% of a core",
            "baseline": without,
            "ratio": with_session / without if without else None,
        }
    )
    return rows


if __name__ == "__main__":
    os.environ.setdefault("TEXTUAL_FPS", "60")
    for row in run():
        print(row)

"""The Textual-free terminal core: output pipeline, scrollback view, mouse reports."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from vmtui.terminal import pipeline
from vmtui.terminal.emulator import FeedResult, TerminalEmulator
from vmtui.terminal.modes import ModeScanner
from vmtui.terminal.mouse import MouseModifiers, MouseReporter, encode_mouse
from vmtui.terminal.pipeline import OutputPipeline
from vmtui.terminal.scrollback_view import ScrollbackView


class Host:
    """Runs the pipeline's callbacks when told, and records what it painted."""

    def __init__(self) -> None:
        self.soon: list[Callable[[], None]] = []
        self.later: list[Callable[[], None]] = []
        self.painted: list[set[int] | None] = []

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        self.soon.append(callback)

    def call_in(self, delay: float, callback: Callable[[], None]) -> None:
        self.later.append(callback)

    def output_applied(self, result: FeedResult) -> bool:
        return False

    def paint(self, rows: set[int] | None) -> None:
        self.painted.append(rows)

    def run_soon(self) -> None:
        while self.soon:
            self.soon.pop(0)()

    def run_all(self) -> None:
        while self.soon or self.later:
            self.run_soon()
            if self.later:
                self.later.pop(0)()


class Transport:
    def __init__(self) -> None:
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data

    def resize(self, cols: int, rows: int) -> None: ...

    def close(self) -> None: ...


def make_pipeline(cols: int = 40, rows: int = 10) -> tuple[OutputPipeline, Host, Transport]:
    host, transport = Host(), Transport()
    output = OutputPipeline(host)
    output.transport = transport
    output.attach(TerminalEmulator(cols, rows, scrollback=100))
    return output, host, transport


def test_output_is_parsed_in_the_feeding_thread_and_wakes_the_ui_once_per_paint() -> None:
    output, host, _ = make_pipeline()
    output.feed(b"one\r\n")
    output.feed(b"two\r\n")
    assert output.emulator.screen_text()[:2] == ["one", "two"]  # type: ignore[union-attr]
    assert len(host.soon) == 1 and not output.settled, "a repaint is already due: no second wake-up"
    host.run_all()
    assert output.settled and host.painted
    output.feed(b"three")
    assert len(host.soon) == 1, "output after the paint wakes the UI again"


def test_an_echo_after_a_quiet_period_is_painted_at_once_when_the_ui_wakes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline, "MAX_FPS", 1e9)  # the previous paint's frame slot is over at once
    output, host, _ = make_pipeline()
    output.feed(b"$ ")
    host.run_all()
    host.painted.clear()
    output.feed(b"x")
    host.run_soon()
    assert output.emulator.screen_text()[0] == "$ x" and host.painted == [{0}]
    assert host.later == [] and output.settled, "no frame timer after a quiet period"


class Clock:
    """`time.monotonic` for the pipeline, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_a_flood_read_in_small_batches_is_painted_at_the_flood_rate_and_an_echo_after_it_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The UI wakes after the first batch following a paint (less than FLOOD_BYTES); the bytes of the
    frame before tell it a flood is on."""
    clock = Clock()
    monkeypatch.setattr(pipeline, "time", clock)
    output, host, _ = make_pipeline()
    delays: list[float] = []

    def call_in(delay: float, callback: Callable[[], None]) -> None:
        delays.append(delay)
        host.later.append(callback)

    host.call_in = call_in  # type: ignore[method-assign]
    batch = b"".join(b"line %d\r\n" % n for n in range(900))[: pipeline.FLOOD_BYTES // 2]
    output.feed(batch)
    host.run_soon()
    assert len(host.painted) == 1 and delays == [], "the first output is painted at once"
    for _frame in range(3):
        output.feed(batch)
        host.run_soon()  # the wake-up comes after one batch: less than FLOOD_BYTES since the paint
        output.feed(batch)
        output.feed(batch)  # the reader goes on until the frame slot comes
        clock.now += delays[-1]
        host.later.pop(0)()
    assert delays == pytest.approx([1 / pipeline.MAX_FPS, 1 / pipeline.FLOOD_FPS, 1 / pipeline.FLOOD_FPS])
    assert len(host.painted) == 4 and output.settled
    assert output.emulator.screen_text()[-2] == batch.decode().split("\r\n")[-2]  # type: ignore[union-attr]

    clock.now += 1 / pipeline.FLOOD_FPS  # the flood is over: a quiet frame slot
    output.feed(b"x")
    host.run_soon()
    assert len(host.painted) == 5 and output.settled, "an echo after a quiet period is painted at once"
    assert len(delays) == 3


def test_a_flood_from_a_reader_thread_loses_nothing_while_the_ui_reads_the_screen() -> None:
    output, host, _ = make_pipeline(cols=40, rows=10)
    lines = 20_000
    reader = threading.Thread(
        target=lambda: [
            output.feed(b"".join(b"%d\r\n" % n for n in range(i, i + 500))) for i in range(0, lines, 500)
        ]
    )
    reader.start()
    seen_rows = 0
    while True:  # the UI side: wake-ups, paints and reads of the emulator under the lock
        host.run_soon()
        with output.lock:
            seen_rows += len(output.emulator.screen_text())  # type: ignore[union-attr]
        if not reader.is_alive():
            break
    reader.join()
    output.feed(b"SENTINEL")
    host.run_all()
    emulator = output.emulator
    assert emulator is not None and output.settled and seen_rows > 0
    assert emulator.screen_text()[-1] == "SENTINEL" and emulator.screen_text()[-2] == str(lines - 1)
    assert emulator.total_scrolled == lines - (emulator.rows - 1)


def test_output_before_the_size_is_known_is_parsed_once_attached() -> None:
    host = Host()
    output = OutputPipeline(host)
    output.feed(b"early")
    host.run_all()
    assert not output.settled and not host.painted
    emulator = TerminalEmulator(20, 3)
    output.attach(emulator)
    host.run_all()
    assert emulator.screen_text()[0] == "early" and output.settled


def test_only_dirty_rows_and_the_cursor_rows_are_painted() -> None:
    output, host, _ = make_pipeline()
    output.feed(b"\x1b[5;1Hrow four")
    host.run_all()
    host.painted.clear()
    output.feed(b"\x1b[2;1Hrow one")
    host.run_all()
    assert host.painted == [{1, 4}]  # the changed row (and cursor now) and where the cursor was


def test_a_synchronized_update_is_held_until_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "SYNC_OUTPUT_TIMEOUT", 60.0)
    output, host, _ = make_pipeline()
    host.run_all()
    host.painted.clear()
    output.feed(b"\x1b[?2026hhalf a frame")
    host.run_soon()
    for _ in range(5):  # frame slots pass while the program holds the update
        assert host.later and not host.painted
        host.later.pop(0)()
        host.run_soon()
    output.feed(b"\x1b[?2026l")
    host.run_all()
    assert host.painted and not output.emulator.mode(2026)  # type: ignore[union-attr]


def test_replies_go_back_through_the_transport() -> None:
    output, host, transport = make_pipeline()
    output.feed(b"\x1b[6n")
    host.run_all()
    assert transport.written == b"\x1b[1;1R"


# -- scrollback view --------------------------------------------------------------------------------------


def view_with_lines(count: int, rows: int = 5) -> ScrollbackView:
    emulator = TerminalEmulator(20, rows, scrollback=100)
    emulator.feed("\r\n".join(f"line {i}" for i in range(count)).encode())
    view = ScrollbackView(lambda: rows)
    view.emulator = emulator
    return view


def test_search_walks_matches_backwards_and_forwards_and_reveals_them() -> None:
    view = view_with_lines(40)
    view.enter_scroll_mode()
    assert view.search("line 1")  # backwards from the bottom: "line 19" is the nearest
    assert view.match is not None and view.line_text(view.match[0]) == "line 19"
    assert view.history_offset > 0 and view.top_line() <= view.index(view.match[0]) < view.top_line() + 5
    assert view.search("line 1")
    assert view.line_text(view.match[0]) == "line 18"
    assert view.search("line 1", backwards=False)
    assert view.line_text(view.match[0]) == "line 19"
    assert not view.search("absent")


def test_v_and_y_copy_whole_lines_and_leave_scroll_mode() -> None:
    view = view_with_lines(20)
    view.scroll_history(3)
    assert view.scroll_mode
    view.key("v")
    view.key("up")
    outcome = view.key("y")
    assert outcome.copied == "line 15\nline 16"  # lines 12-16 are shown; the cursor line starts at the last
    assert not view.scroll_mode and view.history_offset == 0 and not view.selection.started


def test_a_mouse_selection_spans_lines_by_column() -> None:
    view = view_with_lines(5)
    view.selection.start(view.point(2, 1))
    view.selection.extend(view.point(3, 2))
    assert view.selected_text() == "ne 1\nline"
    assert view.selection.span(view.absolute(view.top_line() + 1), 20) == (2, 20)


def test_a_scrolled_back_view_stays_on_its_lines_while_output_arrives() -> None:
    view = view_with_lines(20)
    view.scroll_history(4)
    top_text = view.line_text(view.absolute(view.top_line()))
    assert view.emulator is not None
    assert view.follow_output(view.emulator.feed(b"\r\nmore\r\nand more"))
    assert view.line_text(view.absolute(view.top_line())) == top_text


# -- mouse ------------------------------------------------------------------------------------------------


def test_mouse_encodings() -> None:
    assert encode_mouse(0, 4, 9, sgr=True) == b"\x1b[<0;5;10M"
    assert encode_mouse(0, 4, 9, sgr=True, release=True) == b"\x1b[<0;5;10m"
    assert encode_mouse(2, 0, 0, MouseModifiers(shift=True, ctrl=True), sgr=True) == b"\x1b[<22;1;1M"
    assert encode_mouse(0, 4, 9, sgr=False) == b"\x1b[M" + bytes([32, 37, 42])
    assert encode_mouse(0, 4, 9, sgr=False, release=True) == b"\x1b[M" + bytes([35, 37, 42])
    assert encode_mouse(0, 300, 9, sgr=False) is None  # X10 cannot say column 301
    assert encode_mouse(64, 0, 0, sgr=True) == b"\x1b[<64;1;1M"


def test_drags_are_reported_only_in_drag_or_motion_mode() -> None:
    scanner = ModeScanner()
    reporter = MouseReporter(scanner)
    for event in scanner.scan("\x1b[?1000h\x1b[?1006h"):
        scanner.apply(event)
    assert reporter.tracking
    none = MouseModifiers()
    assert reporter.press(1, 0, 0, none) == b"\x1b[<0;1;1M"
    assert reporter.move(1, 0, none) is None  # click tracking only
    for event in scanner.scan("\x1b[?1002h"):
        scanner.apply(event)
    assert reporter.move(1, 0, none) == b"\x1b[<32;2;1M"
    assert reporter.pressed(1)
    assert reporter.release(1, 1, 0, none) == b"\x1b[<0;2;1m"
    assert not reporter.pressed(1) and reporter.move(2, 0, none) is None

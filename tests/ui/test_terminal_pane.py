"""TerminalPane behaviour with an in-memory transport (Pilot)."""

from __future__ import annotations

import threading

import pytest
from textual import events
from textual.message import Message

from tests.ui.helpers import wait_until
from tests.ui.terminal_helpers import TerminalApp, screen_lines, settle
from vmtui.terminal import pipeline
from vmtui.ui.widgets import terminal_display
from vmtui.ui.widgets.terminal_pane import TerminalPane

SIZE = (60, 20)


def unique(messages: list[Message], kind: type[Message]) -> list:
    """Messages of `kind`, once each (the hook sees a bubbling message at every level)."""
    found: dict[int, Message] = {}
    for message in messages:
        if isinstance(message, kind):
            found.setdefault(id(message), message)
    return list(found.values())  # the Input below the pane takes 3 rows: the pane is 60x17


@pytest.fixture(params=["avt", "pyte"])
def emulator(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_first_size_is_the_real_pane_size(emulator: str) -> None:
    app = TerminalApp(emulator)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.transport.opened_size == (60, 17)
        assert app.pane.emulator is not None and app.pane.emulator.size == (60, 17)
        assert app.pane.emulator.backend_name == emulator


async def test_typing_and_special_keys_reach_the_remote(emulator: str) -> None:
    app = TerminalApp(emulator)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("l", "s", "space", "-", "l", "enter")
        assert app.transport.take() == b"ls -l\r"
        await pilot.press(
            "ctrl+c",
            "escape",
            "f5",
            "alt+x",
            "tab",
            "shift+tab",
            "backspace",
            "delete",
            "up",
            "ctrl+left",
            "pageup",
            "f1",
            "f12",
            "home",
        )
        assert app.transport.take() == (
            b"\x03\x1b\x1b[15~\x1bx\t\x1b[Z\x7f\x1b[3~\x1b[A\x1b[1;5D\x1b[5~\x1bOP\x1b[24~\x1b[H"
        )


async def test_app_bindings_do_not_steal_keys_from_the_terminal() -> None:
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+q", "ctrl+c")  # App's quit (priority) and help-quit bindings
        await pilot.pause()
        assert app.is_running
        assert app.transport.take() == b"\x11\x03"


async def test_cursor_keys_follow_decckm_set_by_the_remote() -> None:
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"\x1b[?1h")
        await pilot.pause()
        await pilot.press("up", "left")
        assert app.transport.take() == b"\x1bOA\x1bOD"


async def test_leave_chord_moves_focus_and_sends_nothing() -> None:
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.focused is app.pane
        await pilot.press("ctrl+right_square_bracket", "escape")
        assert app.focused is not app.pane and app.focused.id == "other"
        assert app.transport.take() == b""
        await pilot.press("x")  # now typed into the input, not the terminal
        assert app.transport.take() == b""


async def test_leave_chord_is_shown_as_a_binding() -> None:
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = [binding.key for _node, binding, _enabled, _tip in app.active_bindings.values()]
        assert "ctrl+right_square_bracket" in shown
        assert "ctrl+q" not in shown  # consumed by the focused terminal


async def test_output_is_rendered_and_queries_answered(emulator: str) -> None:
    app = TerminalApp(emulator)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"\x1b[1;32mhello\x1b[0m world\r\n$ \x1b[6n\x1b[c")
        await settle(pilot)
        assert screen_lines(app.pane)[:2] == ["hello world", "$"]
        assert app.transport.take() == b"\x1b[2;3R\x1b[?62;22c"
        segments = list(app.pane.render_line(0))
        assert segments[0].text == "hello" and segments[0].style.bold


async def test_paste_is_bracketed_only_when_the_remote_asks(emulator: str) -> None:
    app = TerminalApp(emulator)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.pane.post_message(events.Paste("one\ntwo\r\n"))
        await pilot.pause()
        assert app.transport.take() == b"one\rtwo\r"
        app.transport.sink.feed(b"\x1b[?2004h")
        await pilot.pause()
        app.pane.post_message(events.Paste("a\nb\x1b[201~c"))
        await pilot.pause()
        assert app.transport.take() == b"\x1b[200~a\rbc\x1b[201~"


async def test_resize_is_debounced_and_carries_the_pane_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terminal_display, "RESIZE_DEBOUNCE", 0.5)  # wide margin: CI machines can be slow
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.resize_terminal(70, 25)
        await pilot.resize_terminal(90, 30)
        assert app.transport.resizes == []  # still inside the debounce window
        await wait_until(pilot, lambda: app.transport.resizes)
        assert app.transport.resizes == [(90, 27)]  # one resize, with the final size
        assert app.pane.emulator.size == (90, 27) == (app.pane.size.width, app.pane.size.height)


async def test_a_flood_fed_from_a_reader_thread_ends_painted_with_nothing_lost(emulator: str) -> None:
    app = TerminalApp(emulator)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        transport = app.transport
        lines = 20_000 if emulator == "avt" else 2_000  # pyte parses about 0.5 MB/s
        flood = b"".join(b"\x1b[33mflood\x1b[0m %d\r\n" % n for n in range(lines))
        reader = threading.Thread(
            target=lambda: [transport.sink.feed(flood[i : i + 4096]) for i in range(0, len(flood), 4096)]
        )
        reader.start()
        while reader.is_alive():
            await pilot.pause(0.01)  # the UI keeps painting frames meanwhile
        transport.sink.feed(b"SENTINEL")
        await settle(pilot, timeout=60)
        pane = app.pane
        assert screen_lines(pane)[-2:] == [f"flood {lines - 1}", "SENTINEL"]
        assert pane.emulator.total_scrolled == lines - (pane.emulator.rows - 1), "no line was dropped"


async def test_a_reader_thread_cannot_feed_between_two_rows_of_a_frame() -> None:
    """A frame's rows show one moment of the stream (and a flood's parses cannot stretch a frame)."""
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        pane = app.pane
        draw_row = pane.render_line
        lock_free_after_row: list[bool] = []

        def reader_could_feed() -> None:
            if acquired := pane.pipeline.lock.acquire(blocking=False):
                pane.pipeline.lock.release()
            lock_free_after_row.append(acquired)

        def render_line(y: int):
            strip = draw_row(y)
            reader = threading.Thread(target=reader_could_feed)
            reader.start()
            reader.join()
            return strip

        pane.render_line = render_line  # what Textual calls for each row
        pane.refresh()
        lines = pane.render_lines(pane.size.region)
        assert len(lines) == pane.size.height
        assert len(lock_free_after_row) == pane.size.height
        assert not any(lock_free_after_row)


async def test_title_and_close_messages() -> None:
    seen: list[Message] = []
    app = TerminalApp()
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"\x1b]2;root@vm: ~\x07")
        await settle(pilot)
        titles = [m.title for m in unique(seen, TerminalPane.TitleChanged)]
        assert titles == ["root@vm: ~"]
        app.pane.close()
        await pilot.pause()
        closed = [m.reason for m in unique(seen, TerminalPane.Closed)]
        assert closed == ["closed by user"]
        assert app.pane.transport is None
        await pilot.press("a")  # no transport: nothing breaks


async def test_focus_events_reported_when_enabled() -> None:
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"\x1b[?1004h")
        await pilot.pause()
        await pilot.press("ctrl+right_square_bracket", "escape")
        app.pane.focus()
        await pilot.pause()
        assert app.transport.take() == b"\x1b[O\x1b[I"


async def test_scrollback_keyboard_scrolling_and_search(emulator: str) -> None:
    app = TerminalApp(emulator)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"".join(b"line %d\r\n" % i for i in range(100)))
        await settle(pilot)
        assert screen_lines(app.pane)[0] == "line 84"
        await pilot.press("shift+pageup")
        assert app.pane.history_offset == 16 and app.pane.scroll_mode
        assert screen_lines(app.pane)[0].split() == ["line", "68", "[16/84]"]  # with the position marker
        await pilot.press("slash", "l", "i", "n", "e", "space", "3", "enter")
        assert app.pane.scroll_mode
        assert "line 39" in screen_lines(app.pane) and "line 68" not in screen_lines(app.pane)
        assert app.pane.view.line_text(app.pane.view.match[0]) == "line 39"
        await pilot.press("n")
        assert app.pane.view.line_text(app.pane.view.match[0]) == "line 38"
        await pilot.press("N")
        assert app.pane.view.line_text(app.pane.view.match[0]) == "line 39"
        await pilot.press("escape")
        assert app.pane.history_offset == 0 and not app.pane.scroll_mode
        assert screen_lines(app.pane)[0] == "line 84"
        assert app.transport.take() == b""  # none of this went to the remote
        await pilot.press("shift+pageup", "x")  # any other key returns to live and is sent
        assert app.pane.history_offset == 0 and app.transport.take() == b"x"


async def test_keyboard_line_selection_is_copied() -> None:
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"".join(b"row %d\r\n" % i for i in range(40)) + b"$ ")
        await settle(pilot)
        await pilot.press("shift+pageup")  # view: rows 8..24; the copy line starts on the last one
        await pilot.press("v", "up", "up", "y")
        assert app.clipboard == "row 22\nrow 23\nrow 24"
        assert not app.pane.scroll_mode


async def test_mouse_drag_selects_and_copies() -> None:
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"first line here\r\nsecond line")
        await settle(pilot)
        await pilot.mouse_down(TerminalPane, offset=(6, 0))
        await pilot.hover(TerminalPane, offset=(5, 1))
        await pilot.mouse_up(TerminalPane, offset=(5, 1))
        assert app.clipboard == "line here\nsecond"
        assert app.transport.take() == b""


async def test_mouse_reports_when_the_remote_asks() -> None:
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"\x1b[?1000;1006h")
        await pilot.pause()
        await pilot.click(TerminalPane, offset=(4, 2))
        assert app.transport.take() == b"\x1b[<0;5;3M\x1b[<0;5;3m"
        app.pane.post_message(events.MouseScrollUp(app.pane, 1, 1, 0, 0, 0, False, False, False))
        await pilot.pause()
        assert app.transport.take() == b"\x1b[<64;2;2M"


async def test_mouse_reports_in_the_legacy_encoding_and_shift_selects_locally() -> None:
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"\x1b[?1002hclick me")
        await pilot.pause()
        await pilot.click(TerminalPane, offset=(2, 0))
        assert app.transport.take() == b"\x1b[M" + bytes([32, 35, 33]) + b"\x1b[M" + bytes([35, 35, 33])
        await pilot.mouse_down(TerminalPane, offset=(0, 0), shift=True)  # shift: local selection (xterm)
        await pilot.hover(TerminalPane, offset=(4, 0))
        await pilot.mouse_up(TerminalPane, offset=(4, 0), shift=True)
        assert app.transport.take() == b""
        assert app.clipboard == "click"


async def test_wheel_scrolls_history_or_sends_arrows_on_alternate_screen() -> None:
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"".join(b"%d\r\n" % i for i in range(50)))
        await settle(pilot)
        app.pane.post_message(events.MouseScrollUp(app.pane, 1, 1, 0, 0, 0, False, False, False))
        await pilot.pause()
        assert app.pane.history_offset == 3
        app.pane.post_message(events.MouseScrollDown(app.pane, 1, 1, 0, 0, 0, False, False, False))
        await pilot.pause()
        assert app.pane.history_offset == 0
        app.transport.sink.feed(b"\x1b[?1049h")
        await settle(pilot)
        app.pane.post_message(events.MouseScrollUp(app.pane, 1, 1, 0, 0, 0, False, False, False))
        await pilot.pause()
        assert app.transport.take() == b"\x1b[A" * 3
        assert app.pane.history_offset == 0


async def test_connection_failure_is_reported_as_closed() -> None:
    seen: list[Message] = []

    async def failing(_sink, _cols, _rows):
        raise ConnectionRefusedError("connection refused by 127.0.0.1")

    app = TerminalApp(factory=failing)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(pilot)
        assert [m.reason for m in unique(seen, TerminalPane.Closed)] == ["connection refused by 127.0.0.1"]
        assert app.pane.closed_reason == "connection refused by 127.0.0.1"


async def test_synchronized_output_holds_the_screen_until_the_frame_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline, "SYNC_OUTPUT_TIMEOUT", 5.0)
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"old frame")
        await settle(pilot)
        app.transport.sink.feed(b"\x1b[?2026h\rnew frame")
        while app.pane.emulator.screen_text()[0] != "new frame":  # parsed ...
            await pilot.pause(0.01)
        await pilot.pause(0.1)
        assert screen_lines(app.pane)[0] == "old frame"  # ... but a half-drawn frame is never shown
        app.transport.sink.feed(b"\x1b[?2026l")
        await settle(pilot)
        assert screen_lines(app.pane)[0] == "new frame"


async def test_removing_the_pane_closes_its_session() -> None:
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        transport = app.transport
        await app.pane.remove()
        assert transport.closed


async def test_cursor_is_drawn_with_its_shape_and_hidden_on_request() -> None:
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"ab")
        await settle(pilot)

        def cursor_style():
            _before, cell, _after = app.pane.render_line(0).divide([2, 3, 60])
            return next(iter(cell)).style

        assert cursor_style().reverse
        app.transport.sink.feed(b"\x1b[4 q")
        await settle(pilot)
        assert cursor_style().underline and not cursor_style().reverse
        app.transport.sink.feed(b"\x1b[?25l")
        await settle(pilot)
        assert not cursor_style().underline and not cursor_style().reverse
        app.transport.sink.feed(b"\x1b[?25h\x1b[2 q")
        await pilot.press("ctrl+right_square_bracket", "escape")  # unfocused: no cursor drawn
        assert not cursor_style().reverse


async def test_escape_reaches_the_remote_while_the_pane_is_maximized() -> None:
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.screen.maximize(app.pane)
        await pilot.press("escape")
        assert app.transport.take() == b"\x1b"
        assert app.screen.maximized is app.pane
        await pilot.press(
            "ctrl+right_square_bracket", "escape"
        )  # unfocused: Escape minimizes again, as Textual does
        app.screen.maximize(app.query_one("#other"))
        await pilot.press("escape")
        assert app.screen.maximized is None
        assert app.transport.take() == b""

"""The terminal emulator adapter, on both engines, against recordings with tmux as the oracle."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmtui.terminal import emulator
from vmtui.terminal.emulator import (
    PRIMARY_DA_REPLY,
    SECONDARY_DA_REPLY,
    TerminalEmulator,
    default_backend_name,
)
from vmtui.terminal.modes import CursorShape, Mode
from vmtui.terminal.screen_model import BOLD, FAINT, INVERSE, ITALIC, STRIKE, UNDERLINE, CellStyle, Run

try:  # pyavt is an optional platform dependency (x86_64 wheels, Python < 3.14)
    import avt

    from vmtui.terminal.avt_backend import cell_runs, line_runs
    from vmtui.terminal.avt_dump import sgr_style
except ImportError:
    avt = None

needs_avt = pytest.mark.skipif(avt is None, reason="pyavt has no wheel for this platform or Python")
RECORDINGS = Path(__file__).parent.parent / "data" / "recordings"
INSTALLED_BACKENDS = ["pyte"] if avt is None else ["avt", "pyte"]
BACKENDS = [pytest.param("avt", marks=needs_avt), "pyte"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def make(backend: str, cols: int = 80, rows: int = 24, scrollback: int = 100) -> TerminalEmulator:
    return TerminalEmulator(cols, rows, scrollback=scrollback, backend=backend)


def feed_in_pieces(term: TerminalEmulator, data: bytes, size: int = 7) -> bytes:
    """Feed in tiny chunks so escape sequences and UTF-8 characters are split between feeds."""
    replies = b""
    for start in range(0, len(data), size):
        replies += term.feed(data[start : start + size]).reply
    return replies


def oracle(path: Path) -> list[str]:
    lines = path.read_text().split("\n")[:24]
    return [line.rstrip() for line in lines] + [""] * (24 - len(lines))


def row_runs(term: TerminalEmulator, row: int) -> list[Run]:
    """A row's runs as the display takes them (its snapshot)."""
    return term.row_snapshot(row)[1]()


def style_of(term: TerminalEmulator, row: int, text: str) -> CellStyle:
    for run_text, style in row_runs(term, row):
        if text in run_text:
            return style
    raise AssertionError(f"{text!r} not on row {row}: {row_runs(term, row)}")


# -- recordings: final screen and a mid-session screen equal tmux's ------------------------------------


@pytest.mark.parametrize("name", ["bash_colors", "vim_session", "less_session", "curses_app"])
def test_recording_final_screen_matches_tmux(backend: str, name: str) -> None:
    term = make(backend)
    feed_in_pieces(term, (RECORDINGS / f"{name}.bin").read_bytes())
    assert term.screen_text() == oracle(RECORDINGS / f"{name}.screen.txt")
    assert not term.alternate_screen


@pytest.mark.parametrize("name", ["vim_session", "less_session", "curses_app"])
def test_recording_mid_session_screen_matches_tmux(backend: str, name: str) -> None:
    header, _, screen = (RECORDINGS / f"{name}.snap.txt").read_text().partition("\n")
    offset = int(header.removeprefix("offset="))
    term = make(backend)
    feed_in_pieces(term, (RECORDINGS / f"{name}.bin").read_bytes()[:offset], size=13)
    expected = [line.rstrip() for line in screen.split("\n")[:24]]
    assert term.screen_text() == expected + [""] * (24 - len(expected))
    assert term.alternate_screen


def test_bash_recording_keeps_scrolled_lines_in_scrollback(backend: str) -> None:
    term = make(backend)
    term.feed((RECORDINGS / "bash_colors.bin").read_bytes())
    history = list(term.scrollback_text())
    assert "19" in history and "1" in history
    assert history.index("1") < history.index("19")
    assert term.total_scrolled == len(history)


# -- attributes and colours --------------------------------------------------------------------------


def test_sgr_attributes(backend: str) -> None:
    term = make(backend)
    term.feed(
        b"\x1b[1mB\x1b[0m \x1b[3mI\x1b[0m \x1b[4mU\x1b[0m \x1b[7mR\x1b[0m \x1b[9mS\x1b[0m \x1b[2mD\x1b[0m"
    )
    assert style_of(term, 0, "B").flags == BOLD
    assert style_of(term, 0, "I").flags == ITALIC
    assert style_of(term, 0, "U").flags == UNDERLINE
    assert style_of(term, 0, "R").flags == INVERSE
    assert style_of(term, 0, "S").flags == STRIKE
    if backend == "avt":  # pyte has no faint
        assert style_of(term, 0, "D").flags == FAINT


def test_colours_16_256_truecolor(backend: str) -> None:
    term = make(backend)
    term.feed(
        b"\x1b[31mr\x1b[0m \x1b[94mb\x1b[0m \x1b[42mg\x1b[0m \x1b[38;2;10;20;30;48;2;200;100;50mt\x1b[0m"
    )
    assert style_of(term, 0, "r").fg == 1
    assert style_of(term, 0, "b").fg == 12
    assert style_of(term, 0, "g").bg == 2
    assert style_of(term, 0, "t") == CellStyle((10, 20, 30), (200, 100, 50), 0)
    term.feed(b"\r\n\x1b[38;5;208mx\x1b[0m")
    fg = style_of(term, 1, "x").fg
    assert fg == 208 or fg == (0xFF, 0x87, 0x00)  # pyte resolves the palette to RGB itself


def test_wide_characters_take_two_cells(backend: str) -> None:
    term = make(backend, cols=10, rows=2)
    term.feed("漢字ab".encode())
    assert term.screen_text()[0] == "漢字ab"
    assert term.cursor.col == 6
    text = "".join(run for run, _style in row_runs(term, 0))
    assert text.startswith("漢字ab")
    assert len(text) == 10 - 2  # two wide chars stand for four cells


def test_utf8_split_across_feeds(backend: str) -> None:
    term = make(backend)
    data = "héllo 漢".encode()
    for byte in data:
        term.feed(bytes([byte]))
    assert term.screen_text()[0] == "héllo 漢"


# -- alternate screen, scrollback, resize --------------------------------------------------------------


def test_alternate_screen_restores_primary(backend: str) -> None:
    term = make(backend, cols=20, rows=4)
    term.feed(b"$ prompt\r\nline2")
    result = term.feed(b"\x1b[?1049h\x1b[H\x1b[2Jfull screen app")
    assert result.screen_switched and term.alternate_screen
    assert term.screen_text()[0] == "full screen app"
    term.feed(b"\x1b[?1049l")
    assert not term.alternate_screen
    assert term.screen_text()[:2] == ["$ prompt", "line2"]


def test_alternate_screen_output_stays_out_of_scrollback(backend: str) -> None:
    term = make(backend, cols=20, rows=3)
    term.feed(b"\x1b[?1049h" + b"".join(b"alt %d\r\n" % i for i in range(10)) + b"\x1b[?1049l")
    assert not any(line.startswith("alt") for line in term.scrollback_text())


def test_scrollback_is_bounded(backend: str) -> None:
    term = make(backend, cols=10, rows=3, scrollback=5)
    term.feed(b"".join(b"%d\r\n" % i for i in range(20)))
    assert term.scrollback_length == 5
    assert list(term.scrollback_text()) == ["13", "14", "15", "16", "17"]
    assert term.total_scrolled == 18
    assert term.line_text(0) == "13" and term.line_text(5) == "18"


def test_resize_changes_size_and_keeps_bottom_text(backend: str) -> None:
    term = make(backend, cols=20, rows=6)
    term.feed(b"".join(b"row%d\r\n" % i for i in range(5)) + b"last")
    term.resize(30, 3)
    assert term.size == (30, 3)
    assert "last" in term.screen_text()
    assert "row0" in list(term.scrollback_text())
    with pytest.raises(ValueError):
        term.resize(0, 3)


# -- modes, replies, title, cursor --------------------------------------------------------------------


def test_cursor_position_report_is_taken_where_the_query_sits(backend: str) -> None:
    term = make(backend)
    result = term.feed(b"abc\x1b[6nde\r\nxy\x1b[6n")
    assert result.reply == b"\x1b[1;4R\x1b[2;3R"


def test_device_attribute_and_status_replies(backend: str) -> None:
    term = make(backend)
    assert term.feed(b"\x1b[c").reply == PRIMARY_DA_REPLY
    assert term.feed(b"\x1b[0c").reply == PRIMARY_DA_REPLY
    assert term.feed(b"\x1b[>c").reply == SECONDARY_DA_REPLY
    assert term.feed(b"\x1b[5n").reply == b"\x1b[0n"
    assert term.feed(b"plain text \x1b[31mred").reply == b""


def test_query_split_across_chunks_is_answered_once(backend: str) -> None:
    term = make(backend)
    assert feed_in_pieces(term, b"hello\x1b[6n", size=1) == b"\x1b[1;6R"


@pytest.mark.parametrize(
    "mode",
    [
        Mode.BRACKETED_PASTE,
        Mode.MOUSE_CLICK,
        Mode.MOUSE_SGR,
        Mode.FOCUS_EVENTS,
        Mode.MOUSE_DRAG,
        Mode.SYNCHRONIZED_OUTPUT,
    ],
)
def test_private_modes_set_and_reset(backend: str, mode: Mode) -> None:
    term = make(backend)
    assert not term.mode(mode)
    feed_in_pieces(term, f"\x1b[?{int(mode)}h".encode(), size=3)
    assert term.mode(mode)
    assert term.feed(f"\x1b[?{int(mode)}$p".encode()).reply == f"\x1b[?{int(mode)};1$y".encode()
    term.feed(f"\x1b[?{int(mode)}l".encode())
    assert not term.mode(mode)


def test_combined_mode_parameters_and_reset(backend: str) -> None:
    term = make(backend)
    term.feed(b"\x1b[?1000;1006;2004h")
    assert term.scanner.mouse_tracking and term.mode(Mode.MOUSE_SGR) and term.mode(Mode.BRACKETED_PASTE)
    term.feed(b"\x1bc")
    assert not term.scanner.mouse_tracking and not term.mode(Mode.BRACKETED_PASTE)


def test_application_cursor_keys(backend: str) -> None:
    term = make(backend)
    assert not term.application_cursor
    term.feed(b"\x1b[?1h")
    assert term.application_cursor
    assert term.feed(b"\x1b[?1$p").reply == b"\x1b[?1;1$y"
    term.feed(b"\x1b[?1l")
    assert not term.application_cursor


def test_cursor_visibility_and_shape(backend: str) -> None:
    term = make(backend)
    term.feed(b"\x1b[?25l")
    assert not term.cursor.visible
    term.feed(b"\x1b[?25h\x1b[5 q")
    assert term.cursor.visible
    assert term.scanner.cursor_shape is CursorShape.BAR
    term.feed(b"\x1b[4 q")
    assert term.scanner.cursor_shape is CursorShape.UNDERLINE
    term.feed(b"\x1b[ q")
    assert term.scanner.cursor_shape is CursorShape.BLOCK


def test_window_title_bel_and_st_and_split(backend: str) -> None:
    term = make(backend)
    assert term.feed(b"\x1b]0;first\x07").title == "first"
    assert term.feed(b"\x1b]2;second\x1b\\").title == "second"
    term.feed(b"\x1b]2;thi")
    assert term.feed("rd \u2603\x07".encode()).title == "third \u2603"
    assert term.title == "third \u2603"
    assert term.screen_text()[0] == ""  # the title never lands on the screen


def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VMTUI_TERMINAL_EMULATOR", "pyte")
    assert default_backend_name() == "pyte"
    assert TerminalEmulator(10, 2).backend_name == "pyte"
    with pytest.raises(ValueError, match="unknown terminal emulator"):
        TerminalEmulator(10, 2, backend="vt100")
    with pytest.raises(ValueError, match="at least 1x1"):
        TerminalEmulator(0, 2)


@needs_avt
def test_avt_is_the_default_where_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VMTUI_TERMINAL_EMULATOR", raising=False)
    assert default_backend_name() == "avt"
    monkeypatch.setenv("VMTUI_TERMINAL_EMULATOR", "avt")
    assert TerminalEmulator(10, 2).backend_name == "avt"


def test_without_avt_pyte_is_the_default_and_asking_for_avt_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulator, "AvtBackend", None)
    monkeypatch.delenv("VMTUI_TERMINAL_EMULATOR", raising=False)
    assert default_backend_name() == "pyte"
    with pytest.raises(RuntimeError, match="pyavt"):
        TerminalEmulator(10, 2, backend="avt")


# -- avt fast path: runs parsed from the native SGR dump equal the cell-by-cell walk -------------------

_SGR = st.sampled_from(
    [
        "0",
        "1",
        "2",
        "3",
        "4",
        "5",
        "7",
        "9",
        "22",
        "31",
        "97",
        "42",
        "104",
        "38;5;208",
        "48;5;17",
        "38;2;1;2;3",
        "48;2;250;0;99",
        "39",
        "49",
        "1;4;35",
    ]
)
_TEXT = st.text(
    alphabet=st.sampled_from(list("ab z\"\\'{}[]u#漢字é\u0301😀\t\u23ce")), min_size=0, max_size=30
)
_PIECE = st.one_of(_TEXT, _SGR.map(lambda p: f"\x1b[{p}m"), st.just("\r\n"), st.just("\x1b[2;5H"))


@needs_avt
@settings(max_examples=150, deadline=None)
@given(st.lists(_PIECE, max_size=40))
def test_avt_line_runs_match_the_cell_walk(pieces: list[str]) -> None:
    vt = avt.Vt(24, 4, 0)
    vt.feed_str("".join(pieces))
    for row in range(4):
        assert line_runs(vt[row]) == merged(cell_runs(vt[row]))


def merged(runs: list) -> list:
    out: list = []
    for text, style in runs:
        if out and out[-1][1] == style:
            out[-1] = (out[-1][0] + text, style)
        else:
            out.append((text, style))
    return out


@needs_avt
def test_sgr_style_parsing() -> None:
    assert sgr_style("0") == CellStyle()
    assert sgr_style("0;1;38:5:208;44") == CellStyle(208, 4, BOLD)
    assert sgr_style("0;94;101;3") == CellStyle(12, 9, ITALIC)
    assert sgr_style("0;38:2:1:2:3;48:2:4:5:6;7;9") == CellStyle((1, 2, 3), (4, 5, 6), INVERSE | STRIKE)


# -- chunk boundaries never change what the scanner finds ---------------------------------------------

_CONTROL = st.sampled_from(
    [
        "\x1b[?1049h",
        "\x1b[?1049l",
        "\x1b[?2004h",
        "\x1b[?2004l",
        "\x1b[?1000;1006h",
        "\x1b[?1000l",
        "\x1b[6n",
        "\x1b[c",
        "\x1b[>c",
        "\x1b[5n",
        "\x1b]2;tïtle\x07",
        "\x1b]0;other\x1b\\",
        "\x1b[3 q",
        "\x1b[?2004$p",
        "\x1b[31m",
        "\x1b[0m",
        "plain text ",
        "漢字",
        "\r\n",
    ]
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(_CONTROL, max_size=30), st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=8)
)
def test_any_chunking_gives_the_same_replies_modes_and_title(pieces: list[str], sizes: list[int]) -> None:
    data = "".join(pieces).encode()
    for backend in INSTALLED_BACKENDS:
        whole = make(backend, cols=30, rows=5)
        whole_reply = whole.feed(data).reply
        split = make(backend, cols=30, rows=5)
        split_reply = b""
        start, turn = 0, 0
        while start < len(data):
            size = sizes[turn % len(sizes)]
            split_reply += split.feed(data[start : start + size]).reply
            start, turn = start + size, turn + 1
        assert split_reply == whole_reply
        assert split.scanner.modes == whole.scanner.modes
        assert split.title == whole.title and split.scanner.cursor_shape == whole.scanner.cursor_shape
        assert split.screen_text() == whole.screen_text()


def test_mode_report_reflects_the_state_at_the_query_position(backend: str) -> None:
    term = make(backend)
    assert (
        term.feed(b"\x1b[?2004h\x1b[?2004$p\x1b[?2004l\x1b[?2004$p").reply == b"\x1b[?2004;1$y\x1b[?2004;2$y"
    )

"""`ModeScanner` finds every sequence it acts on wherever the stream is split, and nothing else."""

from __future__ import annotations

import pytest

from vmtui.terminal.emulator import TerminalEmulator
from vmtui.terminal.modes import CursorShape, EventKind, Mode, ModeScanner

# (sequence, the event it must give)
SEQUENCES = [
    *[(f"\x1b[?{int(mode)}h", (EventKind.MODE_SET, (int(mode),))) for mode in Mode],
    *[(f"\x1b[?{int(mode)}l", (EventKind.MODE_RESET, (int(mode),))) for mode in Mode],
    ("\x1b[?1000;1006h", (EventKind.MODE_SET, (1000, 1006))),
    ("\x1b[6n", (EventKind.CURSOR_POSITION_QUERY, False)),
    ("\x1b[?6n", (EventKind.CURSOR_POSITION_QUERY, True)),
    ("\x1b[5n", (EventKind.STATUS_QUERY, None)),
    ("\x1b[c", (EventKind.PRIMARY_DA_QUERY, None)),
    ("\x1b[0c", (EventKind.PRIMARY_DA_QUERY, None)),
    ("\x1b[>c", (EventKind.SECONDARY_DA_QUERY, None)),
    ("\x1b[>0c", (EventKind.SECONDARY_DA_QUERY, None)),
    ("\x1b[?2004$p", (EventKind.MODE_QUERY, 2004)),
    ("\x1b[ q", (EventKind.CURSOR_SHAPE, CursorShape.BLOCK)),
    ("\x1b[0 q", (EventKind.CURSOR_SHAPE, CursorShape.BLOCK)),
    ("\x1b[2 q", (EventKind.CURSOR_SHAPE, CursorShape.BLOCK)),
    ("\x1b[3 q", (EventKind.CURSOR_SHAPE, CursorShape.UNDERLINE)),
    ("\x1b[4 q", (EventKind.CURSOR_SHAPE, CursorShape.UNDERLINE)),
    ("\x1b[5 q", (EventKind.CURSOR_SHAPE, CursorShape.BAR)),
    ("\x1b[6 q", (EventKind.CURSOR_SHAPE, CursorShape.BAR)),
    ("\x1b]0;tïtle 漢字\x07", (EventKind.TITLE, "tïtle 漢字")),
    ("\x1b]2;other\x1b\\", (EventKind.TITLE, "other")),
    ("\x1bc", (EventKind.RESET, None)),
]
# Text around the sequence: UTF-8 of 1-3 bytes and SGR-coloured words. The first context contains every
# character the scanner looks for first ('?', ']', 'c', 'n', 'q'), so it scans in one regex pass and only the
# real sequence may give an event; the second has none of them, so it searches for the sequence's start.
CONTEXTS = [
    ("héllo 漢字 \x1b[1;38;5;208mcan't? [quick]\x1b[0m ", " wörld \x1b[31mno > next\x1b[0m ✓"),
    ("héllo 漢字 \x1b[1;38;5;208mword 42\x1b[0m ", " wörld \x1b[31m7\x1b[0m ✓"),
]


def events(scanner: ModeScanner, chunks: list[str]) -> list[tuple[EventKind, object]]:
    """The events of `chunks`, checking that each event's end offset falls just past a sequence."""
    found = []
    for chunk in chunks:
        for event in scanner.scan(chunk):
            assert 0 < event.end <= len(chunk)
            assert chunk[event.end - 1] in "hlncqp\x07\\c", (chunk, event)
            found.append((event.kind, event.arg))
    return found


@pytest.fixture(params=CONTEXTS, ids=["every-start-character", "few-start-characters"])
def context(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param


@pytest.mark.parametrize(("sequence", "expected"), SEQUENCES, ids=[repr(s) for s, _ in SEQUENCES])
def test_each_sequence_is_found_at_every_split_of_the_stream(
    sequence: str, expected: tuple, context: tuple[str, str]
) -> None:
    before, after = context
    text = before + sequence + after
    assert events(ModeScanner(), [text]) == [expected]
    for split in range(1, len(text)):
        assert events(ModeScanner(), [text[:split], text[split:]]) == [expected], split


@pytest.mark.parametrize(("sequence", "expected"), SEQUENCES, ids=[repr(s) for s, _ in SEQUENCES])
def test_each_sequence_split_inside_utf8_bytes_acts_once(
    sequence: str, expected: tuple, context: tuple[str, str]
) -> None:
    """Through the emulator's decoder: split at every byte, including inside multi-byte characters."""
    before, after = context
    data = (before + sequence + after).encode()
    whole = TerminalEmulator(40, 5)
    whole_reply = whole.feed(data).reply
    for split in range(1, len(data)):
        term = TerminalEmulator(40, 5)
        reply = term.feed(data[:split]).reply + term.feed(data[split:]).reply
        assert reply == whole_reply, split
        assert (term.scanner.modes, term.title, term.scanner.cursor_shape) == (
            whole.scanner.modes,
            whole.title,
            whole.scanner.cursor_shape,
        ), split
        assert term.screen_text() == whole.screen_text(), split


def test_sequences_in_one_chunk_come_in_stream_order() -> None:
    text = "a\x1b[5 qb\x1b[6n\x1b]2;t\x07\x1b[?2004h\x1b[c\x1bcz\x1b[?2004$p"
    kinds = [kind for kind, _arg in events(ModeScanner(), [text])]
    assert kinds == [
        EventKind.CURSOR_SHAPE,
        EventKind.CURSOR_POSITION_QUERY,
        EventKind.TITLE,
        EventKind.MODE_SET,
        EventKind.PRIMARY_DA_QUERY,
        EventKind.RESET,
        EventKind.MODE_QUERY,
    ]


@pytest.mark.parametrize(
    "text",
    [
        "plain text with c, n, q, ? and ] and > everywhere: quick brown fox? [x] a > b",
        "\x1b[38;5;208mcount\x1b[0m \x1b[1mq\x1b[0m\x1b[2J\x1b[10;20H\x1b[K\x1b[?",
        "\x1b[>4;1m\x1b[4h\x1b[1c\x1b[7n\x1b[3$p\x1b]7;file:///x\x07 q \x1b[12;1 q",
        "\x1b]1;icon\x07",
    ],
)
def test_other_text_and_sequences_give_no_event(text: str) -> None:
    assert events(ModeScanner(), [text]) == []

"""Key-name to xterm byte encoding."""

from __future__ import annotations

import pytest

from vmtui.terminal.keys import encode_key, split_key


@pytest.mark.parametrize(
    ("key", "character", "expected"),
    [
        ("a", "a", b"a"),
        ("A", "A", b"A"),
        ("shift+a", None, b"A"),
        ("e_acute", "é", "é".encode()),
        ("space", " ", b" "),
        ("enter", "\r", b"\r"),
        ("tab", "\t", b"\t"),
        ("shift+tab", None, b"\x1b[Z"),
        ("backspace", "\x08", b"\x7f"),
        ("ctrl+backspace", None, b"\x08"),
        ("ctrl+h", None, b"\x08"),
        ("escape", "\x1b", b"\x1b"),
        ("delete", "\x7f", b"\x1b[3~"),
        ("insert", None, b"\x1b[2~"),
        ("pageup", None, b"\x1b[5~"),
        ("pagedown", None, b"\x1b[6~"),
        ("f1", None, b"\x1bOP"),
        ("f4", None, b"\x1bOS"),
        ("f5", None, b"\x1b[15~"),
        ("f6", None, b"\x1b[17~"),
        ("f10", None, b"\x1b[21~"),
        ("f11", None, b"\x1b[23~"),
        ("f12", None, b"\x1b[24~"),
        ("ctrl+c", None, b"\x03"),
        ("ctrl+d", None, b"\x04"),
        ("ctrl+z", None, b"\x1a"),
        ("ctrl+@", None, b"\x00"),
        ("ctrl+space", None, b"\x00"),
        ("ctrl+left_square_bracket", None, b"\x1b"),
        ("ctrl+backslash", None, b"\x1c"),
        ("ctrl+right_square_bracket", None, b"\x1d"),
        ("ctrl+circumflex_accent", None, b"\x1e"),
        ("ctrl+underscore", None, b"\x1f"),
        ("alt+x", "x", b"\x1bx"),
        ("alt+shift+x", None, b"\x1bX"),
        ("alt+ctrl+x", None, b"\x1b\x18"),
        ("alt+enter", None, b"\x1b\r"),
        ("alt+backspace", None, b"\x1b\x7f"),
        ("alt+full_stop", None, b"\x1b."),
        ("slash", "/", b"/"),
        ("ctrl+up", None, b"\x1b[1;5A"),
        ("shift+up", None, b"\x1b[1;2A"),
        ("alt+left", None, b"\x1b[1;3D"),
        ("ctrl+shift+right", None, b"\x1b[1;6C"),
        ("ctrl+home", None, b"\x1b[1;5H"),
        ("shift+end", None, b"\x1b[1;2F"),
        ("shift+f5", None, b"\x1b[15;2~"),
        ("ctrl+f1", None, b"\x1b[1;5P"),
        ("alt+f12", None, b"\x1b[24;3~"),
        ("ctrl+delete", None, b"\x1b[3;5~"),
        ("shift+pageup", None, b"\x1b[5;2~"),
    ],
)
def test_encoding(key: str, character: str | None, expected: bytes) -> None:
    assert encode_key(key, character) == expected


@pytest.mark.parametrize(
    ("key", "normal", "application"),
    [
        ("up", b"\x1b[A", b"\x1bOA"),
        ("down", b"\x1b[B", b"\x1bOB"),
        ("right", b"\x1b[C", b"\x1bOC"),
        ("left", b"\x1b[D", b"\x1bOD"),
        ("home", b"\x1b[H", b"\x1bOH"),
        ("end", b"\x1b[F", b"\x1bOF"),
        ("ctrl+up", b"\x1b[1;5A", b"\x1b[1;5A"),  # modified keys ignore DECCKM
    ],
)
def test_cursor_keys_follow_decckm(key: str, normal: bytes, application: bytes) -> None:
    assert encode_key(key, None, application_cursor=False) == normal
    assert encode_key(key, None, application_cursor=True) == application


@pytest.mark.parametrize("key", ["f24", "ctrl+f99", "ctrl+é", "unknown_key_name"])
def test_keys_without_an_encoding(key: str) -> None:
    assert encode_key(key, None) is None


def test_split_key() -> None:
    assert split_key("ctrl+shift+up") == (5, "up")
    assert split_key("alt+ctrl+x") == (6, "x")
    assert split_key("+") == (0, "+")
    assert split_key("ctrl++") == (4, "+")

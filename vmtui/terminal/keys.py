"""Encoding of Textual key events into the bytes an xterm-compatible terminal sends.

Keys are mapped by *name* (`event.key`, e.g. ``ctrl+shift+up``), never by character alone: Textual reports
ctrl/alt combinations and special keys without a usable character. Reference: xterm's ctlseqs
("PC-Style Function Keys"): modifiers are encoded as parameter ``1 + shift + 2*alt + 4*ctrl``.
"""

from __future__ import annotations

CSI = "\x1b["
SS3 = "\x1bO"

# Cursor keys and home/end: final byte; sent as SS3 in application cursor mode (DECCKM) when unmodified.
_CURSOR_FINALS = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
# Keys sent as CSI <number> ~.
_TILDE_NUMBERS = {
    "insert": 2,
    "delete": 3,
    "pageup": 5,
    "pagedown": 6,
    "f5": 15,
    "f6": 17,
    "f7": 18,
    "f8": 19,
    "f9": 20,
    "f10": 21,
    "f11": 23,
    "f12": 24,
}
# F1-F4 are SS3 P..S unmodified, CSI 1;<mod> P..S modified.
_PF_FINALS = {"f1": "P", "f2": "Q", "f3": "R", "f4": "S"}
_SIMPLE = {"enter": "\r", "tab": "\t", "escape": "\x1b", "backspace": "\x7f", "space": " "}
_SHIFT, _ALT, _CTRL = 1, 2, 4
_MODIFIER_BITS = {"shift": _SHIFT, "alt": _ALT, "meta": _ALT, "ctrl": _CTRL}

# Textual's names for punctuation keys, used to resolve ``ctrl+<punctuation>`` and ``alt+<punctuation>``.
_PUNCTUATION = {
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "backslash": "\\",
    "circumflex_accent": "^",
    "underscore": "_",
    "minus": "-",
    "at": "@",
    "slash": "/",
    "question_mark": "?",
    "full_stop": ".",
    "comma": ",",
    "semicolon": ";",
    "colon": ":",
    "apostrophe": "'",
    "quotation_mark": '"',
    "grave_accent": "`",
    "tilde": "~",
    "exclamation_mark": "!",
    "number_sign": "#",
    "dollar_sign": "$",
    "percent_sign": "%",
    "ampersand": "&",
    "asterisk": "*",
    "left_parenthesis": "(",
    "right_parenthesis": ")",
    "plus": "+",
    "equals_sign": "=",
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "vertical_line": "|",
    "left_curly_bracket": "{",
    "right_curly_bracket": "}",
}
# ctrl+<char> for the non-letter characters that have a C0 control code.
_CTRL_SPECIAL = {
    "@": "\x00",
    " ": "\x00",
    "2": "\x00",
    "[": "\x1b",
    "3": "\x1b",
    "\\": "\x1c",
    "4": "\x1c",
    "]": "\x1d",
    "5": "\x1d",
    "^": "\x1e",
    "6": "\x1e",
    "_": "\x1f",
    "-": "\x1f",
    "7": "\x1f",
    "/": "\x1f",
    "?": "\x7f",
    "8": "\x7f",
}


def split_key(key: str) -> tuple[int, str]:
    """Split a Textual key name into (xterm modifier bits, base key name)."""
    if key.endswith("+"):  # a literal "+" key, alone or modified ("ctrl++")
        parts = key[:-1].split("+")[:-1] + ["+"]
    else:
        parts = key.split("+")
    base = parts[-1]
    bits = 0
    for modifier in parts[:-1]:
        bits |= _MODIFIER_BITS.get(modifier, 0)
    return bits, base


def _base_character(base: str, character: str | None) -> str | None:
    """The printable character a base key name stands for, if any."""
    if len(base) == 1:
        return base
    if base in _PUNCTUATION:
        return _PUNCTUATION[base]
    if base == "space":
        return " "
    if character and len(character) == 1 and character.isprintable():
        return character
    return None


def encode_key(key: str, character: str | None, *, application_cursor: bool = False) -> bytes | None:
    """Bytes to send for a key event, or None if the key has no terminal encoding.

    Args:
        key: Textual key name (``event.key``).
        character: ``event.character`` (may be None for special and control keys).
        application_cursor: DECCKM is set (cursor keys send ``ESC O x``).
    """
    bits, base = split_key(key)
    text = _encode(bits, base, character, application_cursor)
    return text.encode("utf-8") if text is not None else None


def _encode(bits: int, base: str, character: str | None, application_cursor: bool) -> str | None:
    parameter = 1 + bits
    if base in _CURSOR_FINALS:
        final = _CURSOR_FINALS[base]
        if bits:
            return f"{CSI}1;{parameter}{final}"
        return (SS3 if application_cursor else CSI) + final
    if base in _TILDE_NUMBERS:
        number = _TILDE_NUMBERS[base]
        return f"{CSI}{number};{parameter}~" if bits else f"{CSI}{number}~"
    if base in _PF_FINALS:
        final = _PF_FINALS[base]
        return f"{CSI}1;{parameter}{final}" if bits else SS3 + final
    if base == "tab" and bits & _SHIFT:
        return ("\x1b" if bits & _ALT else "") + f"{CSI}Z"
    if base in _SIMPLE and base != "space":
        return _with_alt(bits, _encode_simple(base, bits))
    char = _base_character(base, character)
    if char is None:
        return None
    if bits & _CTRL:
        control = _control_character(char)
        if control is None:
            return None
        return _with_alt(bits, control)
    if bits & _SHIFT and len(base) == 1:
        char = char.upper()
    return _with_alt(bits, char)


def _encode_simple(base: str, bits: int) -> str:
    if base == "backspace" and bits & _CTRL:
        return "\x08"
    return _SIMPLE[base]


def _control_character(char: str) -> str | None:
    if "a" <= char.lower() <= "z":
        return chr(ord(char.lower()) & 0x1F)
    return _CTRL_SPECIAL.get(char)


def _with_alt(bits: int, text: str) -> str:
    return "\x1b" + text if bits & _ALT else text

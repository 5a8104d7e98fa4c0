"""Text from outside (servers, VMs, the config file) made safe to show on one line of a terminal."""

from __future__ import annotations

import unicodedata

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Control and format characters (escape sequences, bidi overrides, zero-width characters), line and
paragraph separators, and lone surrogates."""

ELLIPSIS = "…"


def one_line(text: str, limit: int, *, placeholder: str | None = None) -> str:
    """At most `limit` characters of `text` that can neither move the cursor, change colours nor
    reorder the line: each unsafe character is shown escaped (`\\x1b`, `\\u202e`) or, given a
    `placeholder`, as that. A longer text is cut to make room for a final '…'."""
    out: list[str] = []
    length = 0
    for char in text:
        if unicodedata.category(char) not in UNSAFE_CATEGORIES:
            piece = char
        elif placeholder is not None:
            piece = placeholder
        else:
            code = ord(char)
            piece = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
        if length + len(piece) > limit:
            while out and length + len(ELLIPSIS) > limit:
                length -= len(out.pop())
            return "".join(out) + ELLIPSIS
        out.append(piece)
        length += len(piece)
    return "".join(out)

"""Mouse reports for a remote program that asked for them (xterm's X10 and SGR encodings).

`encode_mouse` is pure, like `keys.encode_key`; `MouseReporter` remembers which buttons are down so drags
and releases are reported the way the program's tracking mode (press/release, drag, any motion) wants.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmtui.terminal.modes import Mode, ModeScanner

WHEEL_UP, WHEEL_DOWN = 64, 65
_NO_BUTTON = 3  # motion without a button held
_MAX_X10_POSITION = 223  # X10 puts 32 + position in one byte


@dataclass(frozen=True, slots=True)
class MouseModifiers:
    shift: bool = False
    meta: bool = False
    ctrl: bool = False


def encode_mouse(
    button: int,
    col: int,
    row: int,
    modifiers: MouseModifiers = MouseModifiers(),
    *,
    sgr: bool,
    release: bool = False,
    motion: bool = False,
) -> bytes | None:
    """The report of a mouse event at the 0-based cell (col, row), or None if X10 cannot express it.

    Args:
        button: 0-2 for left/middle/right, 3 for no button, 64/65 for the wheel.
        sgr: the program enabled SGR encoding (mode 1006); otherwise the legacy X10 bytes are used.
    """
    x, y = col + 1, row + 1
    code = (
        button + (4 if modifiers.shift else 0) + (8 if modifiers.meta else 0) + (16 if modifiers.ctrl else 0)
    )
    code += 32 if motion else 0
    if sgr:
        return f"\x1b[<{code};{x};{y}{'m' if release else 'M'}".encode()
    if x > _MAX_X10_POSITION or y > _MAX_X10_POSITION:
        return None
    legacy = 3 + (code & ~3) if release else code
    return b"\x1b[M" + bytes([32 + legacy, 32 + x, 32 + y])


class MouseReporter:
    """Turns presses, moves, releases and wheel turns into reports, following the program's modes."""

    def __init__(self, scanner: ModeScanner) -> None:
        self._scanner = scanner
        self._buttons_down: set[int] = set()

    @property
    def tracking(self) -> bool:
        """The remote program asked for mouse reports."""
        return self._scanner.mouse_tracking

    def press(self, button: int, col: int, row: int, modifiers: MouseModifiers) -> bytes | None:
        """`button` as Textual numbers it (1 = left, 2 = middle, 3 = right)."""
        self._buttons_down.add(button)
        return self._encode(button - 1, col, row, modifiers)

    def pressed(self, button: int) -> bool:
        """The press of `button` was reported (not made with shift held, say), so its release must be."""
        return button in self._buttons_down

    def release(self, button: int, col: int, row: int, modifiers: MouseModifiers) -> bytes | None:
        self._buttons_down.discard(button)
        return self._encode(button - 1, col, row, modifiers, release=True)

    def move(self, col: int, row: int, modifiers: MouseModifiers) -> bytes | None:
        """A drag report (mode 1002 or 1003), a motion report (1003 only), else None."""
        any_motion = self._scanner.is_set(Mode.MOUSE_MOTION)
        if self._buttons_down and (any_motion or self._scanner.is_set(Mode.MOUSE_DRAG)):
            return self._encode(min(self._buttons_down) - 1, col, row, modifiers, motion=True)
        if any_motion:
            return self._encode(_NO_BUTTON, col, row, modifiers, motion=True)
        return None

    def wheel(self, up: bool, col: int, row: int, modifiers: MouseModifiers) -> bytes | None:
        return self._encode(WHEEL_UP if up else WHEEL_DOWN, col, row, modifiers)

    def _encode(
        self,
        button: int,
        col: int,
        row: int,
        modifiers: MouseModifiers,
        *,
        release: bool = False,
        motion: bool = False,
    ) -> bytes | None:
        sgr = self._scanner.is_set(Mode.MOUSE_SGR)
        return encode_mouse(button, col, row, modifiers, sgr=sgr, release=release, motion=motion)

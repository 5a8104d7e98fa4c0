"""The messages between a terminal pane and the child process that parses its output (`parser_child`).

Three pipes per child: output bytes go down a *data* pipe as they arrive (no framing); requests go down a
*control* pipe, which the child reads before it parses more, and serves in order once it has parsed
the request's `after` bytes (0: at once); the child answers on a *reply* pipe. There, too, it pushes
frames unasked (`ParserChild`): when it parses output after the pane took a frame (asked for, or
`Resume`), and once output has stopped with some not pushed yet.
Requests and replies are length-prefixed pickles: both ends are this program, on pipes no one else holds.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
from collections import deque
from dataclasses import dataclass

from vmtui.terminal.emulator import FeedResult
from vmtui.terminal.modes import CursorShape
from vmtui.terminal.screen_model import Cursor, LineEntry

_LENGTH = struct.Struct("<I")
READ_SIZE = 1 << 20


@dataclass(frozen=True, slots=True)
class FrameRequest:
    """Take a frame: what changed since the last one."""

    after: int = 0


@dataclass(frozen=True, slots=True)
class LinesRequest:
    """Scrollback lines `first` .. `first + count - 1`, numbered absolutely (see `ScrollbackView`)."""

    first: int
    count: int
    after: int = 0


@dataclass(frozen=True, slots=True)
class ResizeRequest:
    """Resize after the output sent before it (no answer)."""

    cols: int
    rows: int
    after: int = 0


@dataclass(frozen=True, slots=True)
class Resume:
    """The pane has all output sent in its mirror: push the next frame when there is output (no answer)."""

    after: int = 0


Request = FrameRequest | LinesRequest | ResizeRequest | Resume


@dataclass(slots=True)
class Frame:
    """The terminal as the child has parsed it: the rows changed since the last frame and the state."""

    changes: FeedResult
    rows: dict[int, LineEntry]
    cursor: Cursor
    application_cursor: bool
    modes: frozenset[int]
    cursor_shape: CursorShape
    title: str
    size: tuple[int, int]
    scrollback_length: int
    total_scrolled: int
    parsed_total: int
    """Bytes parsed since the child started."""
    pushed: bool = False
    """Sent unasked (not the answer to a `FrameRequest`)."""


def send_message(fd: int, message: object) -> None:
    """Write one message whole (blocking)."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_LENGTH.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


class MessageReader:
    """Messages read off a pipe, in order. `read_once` never blocks if the pipe was reported readable."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()
        self._messages: deque[object] = deque()

    def read_once(self) -> None:
        """Read what the pipe holds (one read) and decode the messages it completes; EOFError at its end."""
        try:
            data = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return
        if not data:
            raise EOFError("the other end of the pipe closed")
        buffer = self._buffer
        buffer += data
        offset = 0
        while len(buffer) - offset >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer, offset)
            end = offset + _LENGTH.size + length
            if end > len(buffer):
                break
            self._messages.append(pickle.loads(buffer[offset + _LENGTH.size : end]))
            offset = end
        del buffer[:offset]

    def next_message(self, timeout: float) -> object:
        """The next message, waiting up to `timeout` seconds for it; TimeoutError if none came."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while not self._messages:
            if not poller.poll(timeout * 1000):
                raise TimeoutError(f"no message within {timeout} s")
            self.read_once()
        return self._messages.popleft()

    def pending(self) -> list[object]:
        """The messages decoded so far, taken."""
        messages = list(self._messages)
        self._messages.clear()
        return messages

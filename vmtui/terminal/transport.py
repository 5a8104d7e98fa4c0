"""The two small interfaces between a terminal widget and whatever carries its bytes (SSH, a local PTY)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol


class TerminalTransport(Protocol):
    """The remote end as the widget sees it. Every method must return quickly (no blocking I/O)."""

    def write(self, data: bytes) -> None:
        """Send input (keys, paste, mouse reports, replies) to the remote program."""

    def resize(self, cols: int, rows: int) -> None:
        """Tell the remote PTY its new size."""

    def close(self) -> None:
        """End the session; the transport reports `closed()` to its sink when it is gone."""


class TerminalSink(Protocol):
    """Where a transport delivers output: implemented by `TerminalPane`."""

    def feed(self, data: bytes) -> None:
        """Output bytes from the remote program, in order, from one thread at a time (a PTY's reader
        thread, the event loop for SSH); they are parsed before this returns."""

    def closed(self, reason: str) -> None:
        """The session ended (remote exit, network failure, `close()`); `reason` is shown to the user."""


# Opens a session with the pane's real size and returns its transport; output goes to the sink.
TransportFactory = Callable[[TerminalSink, int, int], Awaitable[TerminalTransport]]

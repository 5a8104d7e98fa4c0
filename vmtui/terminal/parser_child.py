"""The process that parses one terminal's output (`python -m vmtui.terminal.parser_child COLS ROWS
SCROLLBACK CONTROL_FD`): avt holds the GIL while it parses, so a pane that parsed in its own process
could not paint meanwhile. Output comes on stdin, requests on CONTROL_FD, replies go to stdout
(`parser_protocol`). It exits when the pane closes either pipe, or its process ends.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from collections import deque
from typing import cast

from avt._avt import Line

from vmtui.terminal.avt_backend import line_entry
from vmtui.terminal.emulator import FeedResult, TerminalEmulator
from vmtui.terminal.parser_protocol import (
    Frame,
    FrameRequest,
    LinesRequest,
    MessageReader,
    Request,
    ResizeRequest,
    send_message,
)

DATA_READ = 16 * 1024  # parsed at a time: a request waits at most this long (~0.2 ms of avt)
IDLE_PUSH_GAP = 1 / 60  # output stopped this long ago: push what the pane has not seen


class ParserChild:
    """Parses output as it comes and answers the pane's requests between two reads, requests first.

    It pushes a frame unasked: at once when output follows a frame the pane took (an echo), and when
    output stopped `IDLE_PUSH_GAP` ago with some not pushed yet (a flood's last screen); so the pane's
    paints take what was pushed and never wait for the child."""

    def __init__(self, emulator: TerminalEmulator, data_fd: int, control_fd: int, reply_fd: int) -> None:
        self._emulator = emulator
        self._data_fd = data_fd
        self._requests = MessageReader(control_fd)
        self._reply_fd = reply_fd
        self._changes = FeedResult(dirty_rows=set(range(emulator.rows)))
        self._parsed_total = 0
        self._may_push = True  # no frame pushed since the pane last took one
        self._last_input = 0.0
        self._waiting: deque[Request] = deque()  # requests until their `after` bytes are parsed

    def run(self) -> None:
        """Until the pane closes a pipe."""
        poller = select.poll()
        poller.register(self._requests.fd, select.POLLIN)
        poller.register(self._data_fd, select.POLLIN)
        while True:
            ready = {fd for fd, _events in poller.poll(self._idle_push_wait())}
            if not ready:
                self._push(idle=True)
            elif self._requests.fd in ready:
                try:
                    self._requests.read_once()
                except EOFError:
                    return
                self._waiting.extend(cast(list[Request], self._requests.pending()))
                self._serve_ready()
            elif self._data_fd in ready:
                data = os.read(self._data_fd, DATA_READ)
                if not data:
                    return
                self._last_input = time.monotonic()
                self._parse(data)

    def _parse(self, data: bytes) -> None:
        self._changes.merge(self._emulator.feed(data))
        self._parsed_total += len(data)
        if self._waiting:
            self._serve_ready()
        self._push()

    def _push(self, *, idle: bool = False) -> None:
        """Send what was parsed unasked: once per frame the pane takes, or when idle."""
        if (self._may_push or idle) and self._changes.parsed_bytes:
            send_message(self._reply_fd, self._frame(pushed=True))
            self._may_push = False

    def _idle_push_wait(self) -> int | None:
        """Milliseconds to wait for input before an idle push (None: nothing to push, wait for input)."""
        if not self._changes.parsed_bytes:
            return None
        return max(0, round((self._last_input + IDLE_PUSH_GAP - time.monotonic()) * 1000))

    def _serve_ready(self) -> None:
        waiting = self._waiting
        while waiting and self._parsed_total >= waiting[0].after:
            self._serve(waiting.popleft())

    def _serve(self, request: Request) -> None:
        emulator = self._emulator
        if isinstance(request, FrameRequest):
            send_message(self._reply_fd, self._frame())
        elif isinstance(request, LinesRequest):
            first_kept = emulator.total_scrolled - emulator.scrollback_length
            numbers = range(
                max(request.first, first_kept), min(request.first + request.count, emulator.total_scrolled)
            )
            lines = {n: line_entry(cast(Line, emulator.scrollback_line(n - first_kept))) for n in numbers}
            send_message(self._reply_fd, lines)
        elif isinstance(request, ResizeRequest):
            emulator.resize(request.cols, request.rows)
            self._changes.dirty_rows = set(range(emulator.rows))
        else:
            self._may_push = True
            self._push()

    def _frame(self, *, pushed: bool = False) -> Frame:
        emulator = self._emulator
        changes, self._changes = self._changes, FeedResult()
        self._may_push = not pushed
        rows = {
            row: line_entry(cast(Line, emulator.screen_line(row)))
            for row in changes.dirty_rows
            if 0 <= row < emulator.rows
        }
        scanner = emulator.scanner
        return Frame(
            changes=changes,
            rows=rows,
            cursor=emulator.cursor,
            application_cursor=emulator.application_cursor,
            modes=frozenset(scanner.modes),
            cursor_shape=scanner.cursor_shape,
            title=scanner.title,
            size=emulator.size,
            scrollback_length=emulator.scrollback_length,
            total_scrolled=emulator.total_scrolled,
            parsed_total=self._parsed_total,
            pushed=pushed,
        )


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a ctrl+c typed at the pane's own terminal is the pane's
    cols, rows, scrollback, control_fd = (int(arg) for arg in argv)
    emulator = TerminalEmulator(cols, rows, scrollback=scrollback, backend="avt")
    try:
        ParserChild(emulator, sys.stdin.fileno(), control_fd, sys.stdout.fileno()).run()
    except BrokenPipeError:  # the pane is gone
        pass


if __name__ == "__main__":
    main(sys.argv[1:])

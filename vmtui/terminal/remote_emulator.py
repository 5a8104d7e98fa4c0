"""`RemoteEmulator`: a terminal parsed in a child process (`parser_child`), mirrored here at each paint.

avt holds the GIL while it parses, so a pane parsing a flood in its own process could not paint at the
same time; in a child, the two run on two cores. The pane forwards output bytes as they arrive (`send`,
any thread: a blocking write, so a full pipe holds the transport back as parsing did); the child says
when it has parsed something, and at its next paint the pane takes a frame (`take_changes`): the changed
rows as avt dumps them, the cursor, modes, title, replies to send. The child pushes frames itself (see
`ParserChild`), so a paint takes the last one pushed and never waits for the child: an echo costs one
hop, and a flood in one pane cannot hold up the paints of the others. Keys wait until the child has
parsed everything received (`take_changes(everything_sent=True)`). Scrollback lines are asked for when
shown or searched, a block at a time, and kept (a scrolled-off line never changes).

`open_emulator` starts one where it can (avt installed, ``VMTUI_TERMINAL_PARSER`` not ``inline``) and
falls back to a `TerminalEmulator` in this process otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import vmtui
from vmtui.terminal.avt_dump import entry_runs
from vmtui.terminal.emulator import FeedResult, TerminalEmulator, avt_available, default_backend_name
from vmtui.terminal.modes import ModeScanner
from vmtui.terminal.parser_protocol import (
    Frame,
    FrameRequest,
    LinesRequest,
    MessageReader,
    ResizeRequest,
    Resume,
    send_message,
)
from vmtui.terminal.screen_model import Cursor, LineEntry, RowSnapshot, Run

BLOCK = 256  # scrollback lines asked for at once
DATA_PIPE_SIZE = 1 << 20  # output the child may fall behind by before `send` blocks: ~15 ms of parsing
REPLY_TIMEOUT = 30.0  # a child that answers nothing for this long is taken for dead
_BLANK: LineEntry = ("", [], "")


class ParserGone(OSError):
    """The parser process exited or stopped answering."""


class RemoteEmulator:
    """The pane's side of a parser process: a mirror of its screen, and the pipes to it.

    Everything but `send` runs on the event loop's thread (the UI thread), which also reads the replies:
    pushed frames in a loop reader, answers synchronously after each request."""

    backend_name = "avt"

    def __init__(self, cols: int, rows: int, *, scrollback: int, on_output: Callable[[], None]) -> None:
        if cols < 1 or rows < 1:
            raise ValueError(f"terminal size must be at least 1x1, got {cols}x{rows}")
        self._on_output = on_output
        data_read, self._data_fd = os.pipe()
        with contextlib.suppress(OSError):  # a 64 KiB pipe holds one SSH read: the loop would wait for each
            fcntl.fcntl(self._data_fd, fcntl.F_SETPIPE_SZ, DATA_PIPE_SIZE)
        control_read, self._control_fd = os.pipe()
        reply_fd, reply_write = os.pipe()
        package_root = str(Path(vmtui.__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        argv = [sys.executable, "-m", "vmtui.terminal.parser_child", str(cols), str(rows), str(scrollback)]
        try:
            self._process = subprocess.Popen(
                [*argv, str(control_read)],
                stdin=data_read,
                stdout=reply_write,
                stderr=subprocess.DEVNULL,
                pass_fds=(control_read,),
                env=env,
            )
        except BaseException:
            for fd in (self._data_fd, self._control_fd, reply_fd):
                os.close(fd)
            raise
        finally:
            for fd in (data_read, control_read, reply_write):
                os.close(fd)
        os.set_blocking(reply_fd, False)
        self._replies = MessageReader(reply_fd)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(reply_fd, self._on_readable)
        self._send_lock = threading.Lock()
        self._closed = False
        self.sent = 0
        """Bytes handed to the child (counted before they are written)."""
        self.parsed = 0
        """Bytes the child had parsed at the last frame."""
        self._unclaimed = FeedResult()
        self._pushes_paused = False  # the child pushed a frame and waits to be asked or resumed
        self._rows: list[LineEntry] = [_BLANK] * rows
        self._blocks: dict[int, dict[int, LineEntry]] = {}
        self.size = (cols, rows)
        self.cursor = Cursor(0, 0, True)
        self.application_cursor = False
        self.scanner = ModeScanner()
        self.scrollback_length = 0
        self.total_scrolled = 0

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def cols(self) -> int:
        return self.size[0]

    @property
    def rows(self) -> int:
        return self.size[1]

    @property
    def title(self) -> str:
        return self.scanner.title

    @property
    def alternate_screen(self) -> bool:
        return self.scanner.alternate_screen

    @property
    def alive(self) -> bool:
        """Its process runs and it was not closed."""
        return not self._closed and self._process.poll() is None

    @property
    def caught_up(self) -> bool:
        """Everything sent was parsed and taken in a frame."""
        return self.parsed >= self.sent

    def mode(self, mode: int) -> bool:
        return self.scanner.is_set(mode)

    # -- to the child -----------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Output to parse, in order (any thread; blocks while the child's pipe is full)."""
        with self._send_lock:
            if self._closed:
                return
            self.sent += len(data)
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._data_fd, view) :]
            except BrokenPipeError:
                raise ParserGone(f"the terminal's parser process {self._how_it_ended()}") from None

    def resize(self, cols: int, rows: int) -> None:
        if cols < 1 or rows < 1:
            raise ValueError(f"terminal size must be at least 1x1, got {cols}x{rows}")
        if (cols, rows) == self.size:
            return
        if self._ask(ResizeRequest(cols, rows, after=self.sent), reply=False) is not None:
            self._absorb()

    def take_changes(self, *, everything_sent: bool = False) -> FeedResult:
        """What changed since the last call: what the child pushed (the child may push again), or with
        `everything_sent`, a frame once it has parsed all output sent (a round trip)."""
        if everything_sent and not self.caught_up:
            self._absorb(self.sent)
        elif self._pushes_paused and self._ask(Resume(), reply=False) is not None:
            self._pushes_paused = False
        changes, self._unclaimed = self._unclaimed, FeedResult()
        return changes

    def close(self) -> None:
        """Stop the child (it exits at the end of its pipes) and reap it."""
        if self._closed:
            return
        self._loop.remove_reader(self._replies.fd)
        os.close(self._control_fd)  # first: a `send` blocked on a full pipe fails once the child is gone
        with self._send_lock:
            self._closed = True
            os.close(self._data_fd)
        os.close(self._replies.fd)
        threading.Thread(target=self._process.wait, name=f"parser-reaper-{self.pid}", daemon=True).start()

    # -- the mirror -------------------------------------------------------------------------------------
    def row_snapshot(self, row: int) -> RowSnapshot:
        entry = self._rows[row]
        return entry[0], lambda: entry_runs(entry)

    def scrollback_runs(self, index: int) -> list[Run]:
        entry = self._scrollback_entry(index)
        return entry_runs(entry) if entry is not None else []

    def line_text(self, index: int) -> str:
        """Text of line `index` of scrollback + screen (0 = oldest scrollback line)."""
        if index < self.scrollback_length:
            entry = self._scrollback_entry(index)
            return entry[2] if entry is not None else ""
        return self._rows[index - self.scrollback_length][2]

    def screen_text(self) -> list[str]:
        return [text for _dump, _runs, text in self._rows]

    def scrollback_text(self) -> Iterator[str]:
        for index in range(self.scrollback_length):
            yield self.line_text(index)

    # -- internals --------------------------------------------------------------------------------------
    def _how_it_ended(self) -> str:
        """The child's end as a user reads it (its stderr is not kept: it may hold terminal output)."""
        try:
            status = self._process.wait(timeout=1.0)  # the pipe broke: it exited or is about to
        except subprocess.TimeoutExpired:
            return "closed its input"
        if status < 0:
            with contextlib.suppress(ValueError):
                return f"was killed by {signal.Signals(-status).name}"
        return f"exited with status {status}"

    def _on_readable(self) -> None:
        try:
            self._replies.read_once()
        except EOFError:
            self._loop.remove_reader(self._replies.fd)
            return
        self._take_pushed(self._replies.pending())

    def _take_pushed(self, frames: list[object]) -> None:
        """Mirror frames the child pushed, and have the pane repaint."""
        for frame in frames:
            self._mirror(cast(Frame, frame))
        if frames:
            self._pushes_paused = True
            self._on_output()

    def _ask(self, request: object, *, reply: bool = True) -> object | None:
        """Send a request and wait for its answer (None: the child is gone)."""
        if self._closed:
            return None
        try:
            send_message(self._control_fd, request)
            if not reply:
                return True
            while isinstance(message := self._replies.next_message(REPLY_TIMEOUT), Frame) and message.pushed:
                self._take_pushed([message])
            if isinstance(message, Frame):  # mirrored in stream order, before any frame pushed after it
                self._mirror(message)
                self._pushes_paused = False  # the child pushes again after an answer
            # frames pushed after the answer came with it: the loop reader will not see them
            self._take_pushed(self._replies.pending())
            return message
        except (OSError, EOFError, TimeoutError):
            return None

    def _absorb(self, after: int = 0) -> None:
        """Ask for a frame (`_ask` mirrors it)."""
        self._ask(FrameRequest(after))

    def _mirror(self, frame: Frame) -> None:
        self._unclaimed.merge(frame.changes)
        if frame.size != self.size:
            self.size = frame.size
            self._rows = [_BLANK] * frame.size[1]
        for row, entry in frame.rows.items():
            self._rows[row] = entry
        self.cursor = frame.cursor
        self.application_cursor = frame.application_cursor
        scanner = self.scanner  # the same object: the pane's `MouseReporter` reads it
        scanner.modes = set(frame.modes)
        scanner.cursor_shape = frame.cursor_shape
        scanner.title = frame.title
        if frame.total_scrolled != self.total_scrolled:  # blocks taken before their last line scrolled off
            partial = self.total_scrolled // BLOCK
            self._blocks = {block: lines for block, lines in self._blocks.items() if block < partial}
        first_kept = frame.total_scrolled - frame.scrollback_length
        self._blocks = {
            block: lines for block, lines in self._blocks.items() if (block + 1) * BLOCK > first_kept
        }
        self.scrollback_length = frame.scrollback_length
        self.total_scrolled = frame.total_scrolled
        self.parsed = frame.parsed_total

    def _scrollback_entry(self, index: int) -> LineEntry | None:
        absolute = self.total_scrolled - self.scrollback_length + index
        block = absolute // BLOCK
        lines = self._blocks.get(block)
        if lines is None:
            answer = self._ask(LinesRequest(block * BLOCK, BLOCK))
            lines = answer if isinstance(answer, dict) else {}
            self._blocks[block] = lines
        return lines.get(absolute)


def open_emulator(
    cols: int, rows: int, *, scrollback: int, backend: str | None, on_output: Callable[[], None]
) -> TerminalEmulator | RemoteEmulator:
    """A terminal parsed in a child process if it can be, else in this one (`on_output`: the child parsed
    more; called on the event loop's thread)."""
    name = backend or default_backend_name()
    if name == "avt" and avt_available() and os.environ.get("VMTUI_TERMINAL_PARSER") != "inline":
        try:
            return RemoteEmulator(cols, rows, scrollback=scrollback, on_output=on_output)
        except OSError:  # no process to be had: parse here
            pass
    return TerminalEmulator(cols, rows, scrollback=scrollback, backend=name)

"""A `TerminalTransport` that runs a local command on a pseudo-terminal (used for tests and benchmarks)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Mapping, Sequence

from vmtui.terminal.transport import TerminalSink

READ_BATCH = 64 * 1024  # read at most this much per wakeup...
READ_TIME = 0.002  # ...and for at most this long: each feed holds the emulator's lock, keep it short


def unread_bytes(fd: int) -> int:
    """What the tty holds for reading now (FIONREAD); unlike a read, this never waits."""
    (count,) = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))
    return int(count)


def read_available(fd: int, limit: int = READ_BATCH, seconds: float = READ_TIME) -> tuple[bytes, bool]:
    """What a non-blocking PTY `fd` holds, up to `limit` bytes and `seconds` of reading, and whether it ended.

    A PTY read returns at most one tty buffer (~4 KB): reading once per wakeup would cost a round of feed,
    parse and repaint scheduling per 4 KB. A read that finds the tty empty waits for the kernel worker that
    moves the writer's output into it (milliseconds each on a loaded machine), so only the first read (the
    one the poller said would not block) is made blind, the others only for what FIONREAD reports."""
    chunks: list[bytes] = []
    size = 0
    deadline = time.perf_counter() + seconds
    while size < limit:
        if chunks and unread_bytes(fd) == 0:
            break
        try:
            data = os.read(fd, limit - size)
        except BlockingIOError:
            break
        except OSError:  # EIO: the child side is gone
            data = b""
        if not data:
            return b"".join(chunks), True
        chunks.append(data)
        size += len(data)
        if time.perf_counter() > deadline:
            break
    return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), False


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtyTransport:
    """A child process on a PTY, read by a thread of its own that feeds the sink (the pane's pipeline).

    The reader blocks in poll(2) (no GIL held, no CPU while idle) on the PTY and a wake-up pipe; it
    owns both and closes them when `close()` or the child's exit tells it to stop. Writes, resizes and
    the sink's `closed` happen on the event loop."""

    def __init__(self, sink: TerminalSink, process: subprocess.Popen[bytes], master_fd: int) -> None:
        self._sink = sink
        self._process = process
        self._fd = master_fd
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self._unsent = bytearray()  # input the PTY could not take yet, sent when it is writable
        self._stop_read, self._stop_write = os.pipe()
        self.reader = threading.Thread(target=self._read, name=f"pty-reader-{process.pid}", daemon=True)
        self.reader.start()

    @classmethod
    async def spawn(
        cls,
        sink: TerminalSink,
        cols: int,
        rows: int,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> PtyTransport:
        """Start `argv` as a session leader with the PTY as its controlling terminal, sized cols x rows.

        util-linux `setsid --ctty` does the setsid + TIOCSCTTY dance, so no Python code runs between fork and
        exec (a `preexec_fn` is unsafe in a threaded program such as a Textual app). coreutils `env
        --default-signal` gives the program every signal's default action, as terminals do: signals ignored
        by whoever started vmtui (`nohup`, a shell's background job) would otherwise be ignored in the
        session too, and then SIGHUP could not end it on `close()` nor ctrl+c interrupt its programs."""
        master, slave = pty.openpty()
        _set_size(master, cols, rows)
        os.set_blocking(master, False)
        child_env = dict(os.environ if env is None else env)
        child_env.setdefault("TERM", "xterm-256color")
        try:
            process = subprocess.Popen(  # noqa: ASYNC220 - fork+exec only, it does not wait
                ["setsid", "--ctty", "env", "--default-signal", *argv],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=child_env,
                cwd=cwd,
                close_fds=True,
            )
        except OSError:
            os.close(master)
            raise
        finally:
            os.close(slave)
        return cls(sink, process, master)

    @property
    def pid(self) -> int:
        return self._process.pid

    def write(self, data: bytes) -> None:
        if self._closed or not data:
            return
        had_backlog = bool(self._unsent)
        self._unsent += data
        if not had_backlog:
            self._flush()

    def _flush(self) -> None:
        try:
            written = os.write(self._fd, self._unsent)
        except BlockingIOError:
            written = 0
        except OSError:
            written = len(self._unsent)  # the child is gone; its exit is reported by the reader
        del self._unsent[:written]
        if self._unsent:
            self._loop.add_writer(self._fd, self._flush)
        else:
            self._loop.remove_writer(self._fd)

    def resize(self, cols: int, rows: int) -> None:
        if not self._closed:
            _set_size(self._fd, cols, rows)

    def close(self) -> None:
        if self._closed:
            return
        try:
            os.killpg(self._process.pid, signal.SIGHUP)
        except ProcessLookupError:
            pass
        self._finish("closed")

    def _read(self) -> None:
        """The reader thread: feed the sink until stopped, or until the child side is gone and then
        until stopped (the fds stay open until `_finish` has stopped every use of them)."""
        try:
            if self._pump():
                return
            self._loop.call_soon_threadsafe(self._output_ended)
        except Exception as error:  # noqa: BLE001 - a failed feed ends the session, and the user sees why
            self._loop.call_soon_threadsafe(self._finish, f"terminal output failed: {error}")
        try:
            os.read(self._stop_read, 1)
        finally:
            self._close_reader_fds()

    def _pump(self) -> bool:
        """Feed the sink until stopped (True) or the child side is gone (False)."""
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._stop_read, select.POLLIN)
        while True:
            if any(fd == self._stop_read for fd, _events in poller.poll()):
                self._close_reader_fds()
                return True
            data, ended = read_available(self._fd)
            self._sink.feed(data)
            if ended:
                return False

    def _close_reader_fds(self) -> None:
        os.close(self._fd)
        os.close(self._stop_read)

    def _output_ended(self) -> None:
        if self._closed:
            return
        exited = self._loop.run_in_executor(None, self._process.wait)
        exited.add_done_callback(lambda done: self._finish(f"process exited with status {done.result()}"))

    def _finish(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_writer(self._fd)
        os.write(self._stop_write, b"x")  # the reader closes the PTY and returns
        os.close(self._stop_write)
        if self._process.poll() is None:
            self._loop.run_in_executor(None, self._process.wait)  # reap it without blocking the loop
        self._sink.closed(reason)

"""Every change the TUI made, with its time, profile, target and result, replayable as commands.

`Actions` appends one `LogEntry` per change (create, branch, commit, …) with the HTTP requests the
change sent (`vmtui.core.request_trace`). The log keeps the last `limit` entries and, given a path,
appends each entry to a JSON-lines file (0600) so a session can be read back after it ends.
Exports: the equivalent `vers` CLI commands (where vers-cli has one) and `curl` lines that read the
token from `$VERS_API_KEY`; secret values are masked when a request is traced, never stored.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from vmtui.core import request_trace
from vmtui.core.errors import ProviderError
from vmtui.core.request_trace import TracedRequest

log = logging.getLogger(__name__)

LIMIT = 10_000
TOKEN_VARIABLE = "VERS_API_KEY"
OK = "ok"


@dataclass(frozen=True)
class LogEntry:
    time: datetime
    profile: str
    action: str
    """What was done: `create`, `branch`, `commit`, `restore`, `pause`, …"""
    target: str
    """The VM, commit, image or profile it was done to."""
    result: str
    """`ok`, or the server's error."""
    vers: tuple[str, ...] = ()
    """The equivalent vers-cli command's words; empty when vers-cli has none."""
    ids: tuple[str, ...] = ()
    """What the change made (new VM or commit ids)."""
    requests: tuple[TracedRequest, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.result == OK

    def to_json(self) -> str:
        data = asdict(self)
        data["time"] = self.time.isoformat()
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> LogEntry:
        data = json.loads(line)
        return cls(
            time=datetime.fromisoformat(data["time"]),
            profile=data["profile"],
            action=data["action"],
            target=data["target"],
            result=data["result"],
            vers=tuple(data["vers"]),
            ids=tuple(data["ids"]),
            requests=tuple(TracedRequest(**request) for request in data["requests"]),
        )


EXPORTS = {"vers": "vers.sh", "curl": "curl.sh"}
"""Export kind -> file name suffix."""


class ActionLog:
    def __init__(
        self, *, limit: int = LIMIT, directory: Path | None = None, session: str | None = None
    ) -> None:
        """With a `directory`, each entry is appended to `<directory>/<session>.jsonl` as it happens
        (a session is one run of the app: its start time and process id unless given)."""
        self.entries: deque[LogEntry] = deque(maxlen=limit)
        self.directory = directory
        self.session = session or f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}"
        self.path = directory / f"{self.session}.jsonl" if directory is not None else None
        self.listeners: list[Callable[[LogEntry], None]] = []
        """Called with each new entry (the log screen appends a row)."""
        self._now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __len__(self) -> int:
        return len(self.entries)

    @contextmanager
    def change(self, profile: str, action: str, target: str, vers: Sequence[str] = ()) -> Iterator[list[str]]:
        """Log the block as one change: its requests, and `ok` or its error. Append what it made
        (ids) to the yielded list."""
        made: list[str] = []
        with request_trace.tracing() as requests:
            try:
                yield made
            except Exception as exc:
                self.append(profile, action, target, describe(exc), vers, made, requests)
                raise
            self.append(profile, action, target, OK, vers, made, requests)

    def append(
        self,
        profile: str,
        action: str,
        target: str,
        result: str,
        vers: Sequence[str],
        ids: Sequence[str],
        requests: Sequence[TracedRequest],
    ) -> LogEntry:
        entry = LogEntry(
            self._now(), profile, action, target, result, tuple(vers), tuple(ids), tuple(requests)
        )
        self.entries.append(entry)
        if self.path is not None:
            self._persist(self.path, entry)
        for listener in list(self.listeners):
            listener(entry)
        return entry

    @staticmethod
    def _persist(path: Path, entry: LogEntry) -> None:
        """Append to the session file; a full disk loses the file copy, never the change."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as out:
                out.write(entry.to_json() + "\n")
        except OSError as exc:
            log.warning("action log not written to %s: %s", path, exc)

    @staticmethod
    def read(path: Path) -> list[LogEntry]:
        """A persisted session, oldest first."""
        with path.open(encoding="utf-8") as source:
            return [LogEntry.from_json(line) for line in source if line.strip()]

    def script(self, kind: str) -> str:
        """The log as a shell script: `vers` (vers-cli commands) or `curl` (HTTP requests)."""
        if kind == "vers":
            return vers_script(self.entries)
        if kind == "curl":
            return curl_script(self.entries)
        raise ValueError(f"no export named {kind!r}; there are: {', '.join(EXPORTS)}")

    def export(self, kind: str, directory: Path) -> Path:
        """Write `script(kind)` to `<directory>/<session>-<kind>.sh` (0600, replaced atomically)."""
        text = self.script(kind)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = directory / f"{self.session}-{EXPORTS[kind]}"
        partial = target.with_name(target.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(partial, target)
        return target


def describe(error: Exception) -> str:
    """A failure as people read it: a provider's own message, or the type of a bug."""
    return str(error) if isinstance(error, ProviderError) else f"{type(error).__name__}: {error}"


def _header(entry: LogEntry) -> str:
    return f"# {entry.time:%Y-%m-%d %H:%M:%S} [{entry.profile}] {entry.action} {entry.target}: {entry.result}"


def vers_script(entries: Sequence[LogEntry] | deque[LogEntry]) -> str:
    """A shell script of the vers-cli commands of the successful changes; the others as comments."""
    lines = ["#!/bin/sh", "# vmtui action log as vers-cli commands", "set -e"]
    for entry in entries:
        lines.append(_header(entry))
        if not entry.vers:
            lines.append(f"# (vers-cli has no command for {entry.action})")
        elif entry.ok:
            lines.append(shlex.join(entry.vers))
        else:
            lines.append(f"# {shlex.join(entry.vers)}")
    return "\n".join(lines) + "\n"


def curl_line(request: TracedRequest) -> str:
    words = ["curl", "-sS", "-X", request.method]
    if request.auth_scheme is not None:
        words += ["-H", f"Authorization: {request.auth_scheme} ${TOKEN_VARIABLE}"]
    if request.body == request_trace.STREAMED:
        words += ["--data-binary", "@image.tar"]
    elif request.body is not None:
        words += ["-H", "Content-Type: application/json", "--data", request.body]
    words.append(request.url)
    # double quotes around the header only, so the shell expands the token variable
    return " ".join(f'"{w}"' if f"${TOKEN_VARIABLE}" in w else shlex.quote(w) for w in words)


def curl_script(entries: Sequence[LogEntry] | deque[LogEntry]) -> str:
    """A shell script of the HTTP requests each change sent; failed ones as comments."""
    lines = ["#!/bin/sh", f"# vmtui action log as curl requests; the token comes from ${TOKEN_VARIABLE}"]
    for entry in entries:
        lines.append(_header(entry))
        for request in entry.requests:
            ok = request.status is not None and request.status < 400
            line = curl_line(request)
            lines.append(line if ok else f"# {line}  # answered {request.status or 'nothing'}")
    return "\n".join(lines) + "\n"

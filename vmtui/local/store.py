"""The engine's durable state: one SQLite database (WAL) under the state dir.

Rows describe VMs, commits, images and idempotency records; the bulky data (layers, VM dirs,
image trees) lives in directories next to it. Callers insert a commit row only after its layer
directory was renamed into place, so a listed commit is always complete.

All methods are synchronous, short and thread-safe: the engine calls them from its event loop, the
API runs its writes (which fsync) in worker threads. Reads go through a second connection so that,
WAL letting readers and the writer work at once, a read on the loop never waits for a write's fsync.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal


def utc_now() -> str:
    """Timestamps in the wire format of the Vers API: `2026-04-01T12:00:00.123456Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class VmRecord:
    """One VM row. `state` is what the VM should be (booting/running/paused/stopped/dead);
    `phase` is the row's own life: `creating` until its sandbox first exists, then `ready`,
    `deleting` while it is being destroyed (a restart finishes the job), and `deleted` once
    destroyed (kept for lineage)."""

    id: str
    owner: str | None = None
    """None for the Vers API's own VMs; other front ends (Swiftor) put their account here."""
    state: str = "booting"
    phase: str = "creating"
    created_at: str = field(default_factory=utc_now)
    deleted_at: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    image: str = "default"
    layers: list[str] = field(default_factory=list)
    """Layer ids (commit ids) under the VM's writable layer, newest first."""
    parent_commit_id: str | None = None
    grandparent_vm_id: str | None = None
    vcpu_count: int = 1
    mem_size_mib: int = 512
    fs_size_mib: int = 1024
    init_pid: int | None = None
    ssh_private_key: str = field(default="", repr=False)
    ssh_public_key: str = ""
    env: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass
class CommitRecord:
    id: str
    owner: str | None = None
    name: str = ""
    description: str | None = None
    created_at: str = field(default_factory=utc_now)
    parent_vm_id: str | None = None
    grandparent_commit_id: str | None = None
    layers: list[str] = field(default_factory=list)
    """This commit's own layer id first, then the chain it was made on."""
    image: str = "default"
    is_public: bool = False


@dataclass
class ImageRecord:
    name: str
    path: str
    size_bytes: int
    created_at: str = field(default_factory=utc_now)


@dataclass
class StoredResponse:
    """A response kept for an idempotency key, with the hash of the request body it answered."""

    status: int
    body: bytes
    content_type: str | None
    created_at: float
    body_hash: str = ""


_JSON_FIELDS = {"labels", "layers", "env"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vms (
    id TEXT PRIMARY KEY, owner TEXT, state TEXT NOT NULL, phase TEXT NOT NULL,
    created_at TEXT NOT NULL, deleted_at TEXT, labels TEXT NOT NULL, image TEXT NOT NULL,
    layers TEXT NOT NULL, parent_commit_id TEXT, grandparent_vm_id TEXT,
    vcpu_count INTEGER NOT NULL, mem_size_mib INTEGER NOT NULL, fs_size_mib INTEGER NOT NULL,
    init_pid INTEGER, ssh_private_key TEXT NOT NULL, ssh_public_key TEXT NOT NULL, env TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commits (
    id TEXT PRIMARY KEY, owner TEXT, name TEXT NOT NULL, description TEXT, created_at TEXT NOT NULL,
    parent_vm_id TEXT, grandparent_commit_id TEXT, layers TEXT NOT NULL, image TEXT NOT NULL,
    is_public INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    name TEXT PRIMARY KEY, path TEXT NOT NULL, size_bytes INTEGER NOT NULL, created_at TEXT NOT NULL
);
DROP TABLE IF EXISTS idempotency;
CREATE TABLE IF NOT EXISTS idempotent_responses (
    key TEXT NOT NULL, scope TEXT NOT NULL, status INTEGER NOT NULL, body BLOB NOT NULL,
    content_type TEXT, created_at REAL NOT NULL, body_hash TEXT NOT NULL, PRIMARY KEY (key, scope)
);
CREATE TABLE IF NOT EXISTS env_vars (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS vms_parent_commit ON vms(parent_commit_id);
"""


class Store:
    """SQLite-backed tables of the local engine."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._read_lock = threading.Lock()
        self._reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._reader.row_factory = sqlite3.Row
        self._reader.execute("PRAGMA busy_timeout=5000")
        self.on_change: Callable[[str, str, Literal["created", "updated", "deleted"]], None] = _ignore
        """Called with (table, row id, change) after each write of a row (the engine's change feed)."""
        self.vms_generation = 0
        """Counts writes to the VM table: a reader may keep what it listed while this is unchanged."""

    def close(self) -> None:
        with self._read_lock:
            self._reader.close()
        with self._lock:
            self._db.close()

    def _rows(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        """A read, on the reader connection (each statement sees every committed write)."""
        with self._read_lock:
            return self._reader.execute(sql, params).fetchall()

    def _row(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    # -- meta ---------------------------------------------------------------------------------

    def owner_id(self) -> str:
        """The id this engine reports as `owner_id` of Vers VMs and commits (stable per state dir)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='owner_id'").fetchone()
            if row:
                return row["value"]
            value = str(uuid.uuid4())
            self._db.execute("INSERT INTO meta(key, value) VALUES ('owner_id', ?)", (value,))
            return value

    def created_at(self) -> str:
        """When this state dir was first opened: the engine's account, org and API key date from it."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='created_at'").fetchone()
            if row:
                return str(row["value"])
            value = utc_now()
            self._db.execute("INSERT INTO meta(key, value) VALUES ('created_at', ?)", (value,))
            return value

    # -- VMs ----------------------------------------------------------------------------------

    def insert_vm(self, vm: VmRecord) -> None:
        self._insert("vms", vm)

    def update_vm(self, vm_id: str, **changes: Any) -> None:
        self._update("vms", vm_id, changes)

    def get_vm(self, vm_id: str, *, include_deleted: bool = False) -> VmRecord | None:
        row = self._row("SELECT * FROM vms WHERE id=?", (vm_id,))
        vm = _record(VmRecord, row) if row else None
        if vm is None or (vm.phase == "deleted" and not include_deleted):
            return None
        return vm

    def list_vms(
        self, *, owner: str | None = None, all_owners: bool = False, phases: tuple[str, ...] = ("ready",)
    ) -> list[VmRecord]:
        """VMs in the given phases, oldest first; by default only the Vers API's own (owner NULL)."""
        query = f"SELECT * FROM vms WHERE phase IN ({','.join('?' * len(phases))})"
        params: list[Any] = list(phases)
        if not all_owners:
            query += " AND owner IS ?"
            params.append(owner)
        rows = self._rows(query + " ORDER BY created_at, id", params)
        return [_record(VmRecord, row) for row in rows]

    def count_vms_on_commit(self, commit_id: str) -> int:
        """Live VMs started directly from this commit (Vers' definition of a commit in use)."""
        row = self._row(
            "SELECT COUNT(*) AS n FROM vms WHERE parent_commit_id=? AND phase != 'deleted'", (commit_id,)
        )
        return int(row["n"]) if row else 0

    def purge_vm(self, vm_id: str) -> None:
        """Forget a VM that never finished being created."""
        with self._lock:
            self._db.execute("DELETE FROM vms WHERE id=?", (vm_id,))
            self.vms_generation += 1
        self.on_change("vms", vm_id, "deleted")

    # -- commits ------------------------------------------------------------------------------

    def insert_commit(self, commit: CommitRecord) -> None:
        self._insert("commits", commit)

    def update_commit(self, commit_id: str, **changes: Any) -> None:
        self._update("commits", commit_id, changes)

    def get_commit(self, commit_id: str) -> CommitRecord | None:
        row = self._row("SELECT * FROM commits WHERE id=?", (commit_id,))
        return _record(CommitRecord, row) if row else None

    def list_commits(
        self, *, owner: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[CommitRecord], int]:
        """One page of commits, newest first, and the total count."""
        with self._read_lock:  # one read transaction: the page and its total agree
            self._reader.execute("BEGIN")
            try:
                total = self._reader.execute(
                    "SELECT COUNT(*) AS n FROM commits WHERE owner IS ?", (owner,)
                ).fetchone()
                rows = self._reader.execute(
                    "SELECT * FROM commits WHERE owner IS ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                    (owner, limit, offset),
                ).fetchall()
            finally:
                self._reader.execute("COMMIT")
        return [_record(CommitRecord, row) for row in rows], int(total["n"])

    def delete_commit(self, commit_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM commits WHERE id=?", (commit_id,))
        self.on_change("commits", commit_id, "deleted")

    def referenced_layers(self) -> set[str]:
        """Every layer id some commit or not-deleted VM still stacks on."""
        with self._lock:
            rows = self._db.execute("SELECT layers FROM commits").fetchall()
            rows += self._db.execute("SELECT layers FROM vms WHERE phase != 'deleted'").fetchall()
        return {layer for row in rows for layer in json.loads(row["layers"])}

    # -- images -------------------------------------------------------------------------------

    def insert_image(self, image: ImageRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO images(name, path, size_bytes, created_at) VALUES (?,?,?,?)",
                (image.name, image.path, image.size_bytes, image.created_at),
            )

    def get_image(self, name: str) -> ImageRecord | None:
        row = self._row("SELECT * FROM images WHERE name=?", (name,))
        return _record(ImageRecord, row) if row else None

    def list_images(self) -> list[ImageRecord]:
        rows = self._rows("SELECT * FROM images ORDER BY name")
        return [_record(ImageRecord, row) for row in rows]

    def delete_image(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM images WHERE name=?", (name,))

    def image_usage(self, name: str) -> tuple[int, int]:
        """(VMs, commits) built on an image; an image in use must not be deleted."""
        with self._lock:
            vms = self._db.execute(
                "SELECT COUNT(*) AS n FROM vms WHERE image=? AND phase != 'deleted'", (name,)
            ).fetchone()
            commits = self._db.execute("SELECT COUNT(*) AS n FROM commits WHERE image=?", (name,)).fetchone()
        return int(vms["n"]), int(commits["n"])

    # -- account environment variables (Vers `/env_vars`) -----------------------------------

    def env_vars(self) -> dict[str, str]:
        rows = self._rows("SELECT key, value FROM env_vars ORDER BY key")
        return {row["key"]: row["value"] for row in rows}

    def set_env_vars(self, values: dict[str, str], *, replace: bool) -> None:
        """Add or overwrite variables; with `replace`, the given set becomes the whole set."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if replace:
                    self._db.execute("DELETE FROM env_vars")
                self._db.executemany(
                    "INSERT OR REPLACE INTO env_vars(key, value) VALUES (?, ?)", list(values.items())
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def delete_env_var(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM env_vars WHERE key=?", (key,)).rowcount > 0

    # -- idempotency --------------------------------------------------------------------------

    def get_response(self, key: str, scope: str, *, max_age: float) -> StoredResponse | None:
        row = self._row(
            "SELECT status, body, content_type, created_at, body_hash FROM idempotent_responses"
            " WHERE key=? AND scope=?",
            (key, scope),
        )
        if row is None or row["created_at"] < time.time() - max_age:
            return None
        return StoredResponse(
            row["status"], bytes(row["body"]), row["content_type"], row["created_at"], row["body_hash"]
        )

    def put_response(self, key: str, scope: str, response: StoredResponse) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO idempotent_responses"
                "(key, scope, status, body, content_type, created_at, body_hash) VALUES (?,?,?,?,?,?,?)",
                (
                    key,
                    scope,
                    response.status,
                    response.body,
                    response.content_type,
                    response.created_at,
                    response.body_hash,
                ),
            )

    def purge_responses(self, *, older_than: float) -> None:
        with self._lock:
            self._db.execute("DELETE FROM idempotent_responses WHERE created_at < ?", (older_than,))

    # -- helpers ------------------------------------------------------------------------------

    def _insert(self, table: str, record: Any) -> None:
        values = {f.name: _encode(f.name, getattr(record, f.name)) for f in fields(record)}
        columns = ",".join(values)
        with self._lock:
            self._db.execute(
                f"INSERT INTO {table}({columns}) VALUES ({','.join('?' * len(values))})",
                list(values.values()),
            )
            if table == "vms":
                self.vms_generation += 1
        self.on_change(table, str(values.get("id", "")), "created")

    def _update(self, table: str, row_id: str, changes: dict[str, Any]) -> None:
        if not changes:
            return
        sets = ",".join(f"{name}=?" for name in changes)
        params = [_encode(name, value) for name, value in changes.items()] + [row_id]
        with self._lock:
            self._db.execute(f"UPDATE {table} SET {sets} WHERE id=?", params)
            if table == "vms":
                self.vms_generation += 1
        self.on_change(table, row_id, "deleted" if changes.get("phase") == "deleted" else "updated")


def _ignore(table: str, row_id: str, change: str) -> None:
    pass


def _encode(name: str, value: Any) -> Any:
    if name in _JSON_FIELDS:
        return json.dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _record(cls: type, row: sqlite3.Row) -> Any:
    values = {}
    for f in fields(cls):
        value = row[f.name]
        if f.name in _JSON_FIELDS:
            value = json.loads(value)
        elif f.name == "is_public":
            value = bool(value)
        values[f.name] = value
    return cls(**values)

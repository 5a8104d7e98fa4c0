"""Swiftor-only state of the local engine: users and their plans, VM settings, secrets, mappings.

One SQLite file (`swiftor.sqlite`, WAL, 0600) in the engine's state dir. The VMs themselves
(sandboxes, filesystems, running state) belong to the engine; rows here add what the Swiftor API
says about them. Secret values are stored here because the engine must inject them at every start;
the file is readable by its owner only and values never leave it except to the VM's owner.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vmtui.core.swiftor_plans import DEFAULT_PLAN

FILE_NAME = "swiftor.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    email TEXT PRIMARY KEY,
    plan TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vms (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL REFERENCES users(email),
    label TEXT NOT NULL,
    region TEXT NOT NULL,
    distribution TEXT NOT NULL,
    desktop TEXT,
    cpu INTEGER NOT NULL,
    ram_gb INTEGER NOT NULL,
    persistent INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS vms_by_email ON vms(email, created_at);
CREATE TABLE IF NOT EXISTS secrets (
    vmid TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (vmid, key)
);
CREATE TABLE IF NOT EXISTS mappings (
    vmid TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    port INTEGER NOT NULL,
    PRIMARY KEY (vmid, name)
);
"""


@dataclass(frozen=True)
class SwiftorVm:
    id: str
    email: str
    label: str
    region: str
    distribution: str
    desktop: str | None
    cpu: int
    ram_gb: int
    persistent: bool


@dataclass(frozen=True)
class Mapping:
    vmid: str
    name: str
    port: int


class SwiftorStore:
    """Synchronous, short queries; safe to call from the event loop thread."""

    def __init__(self, path: Path):
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, *args: object) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _write(self, sql: str, *args: object) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # -- users --------------------------------------------------------------------------------

    def ensure_user(self, email: str, plan: str | None = None) -> str:
        """Register the user on first sight; a `plan` (from a signed token) replaces the stored one.
        Returns the user's plan."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO users(email, plan) VALUES (?, ?)", (email, plan or DEFAULT_PLAN)
            )
            if plan:
                self._db.execute("UPDATE users SET plan = ? WHERE email = ?", (plan, email))
            row = self._db.execute("SELECT plan FROM users WHERE email = ?", (email,)).fetchone()
        return str(row["plan"])

    def user_plan(self, email: str) -> str:
        rows = self._rows("SELECT plan FROM users WHERE email = ?", email)
        return str(rows[0]["plan"]) if rows else DEFAULT_PLAN

    # -- VMs ----------------------------------------------------------------------------------

    def insert_vm(self, vm: SwiftorVm, password: str) -> None:
        """The VM row and its VM_PASSWORD secret, together or not at all."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT INTO vms(id, email, label, region, distribution, desktop, cpu, ram_gb,"
                    " persistent, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        vm.id,
                        vm.email,
                        vm.label,
                        vm.region,
                        vm.distribution,
                        vm.desktop,
                        vm.cpu,
                        vm.ram_gb,
                        int(vm.persistent),
                        time.time(),
                    ),
                )
                self._db.execute(
                    "INSERT INTO secrets(vmid, key, value) VALUES (?, 'VM_PASSWORD', ?)", (vm.id, password)
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def list_vms(self, email: str) -> list[SwiftorVm]:
        rows = self._rows("SELECT * FROM vms WHERE email = ? ORDER BY created_at, id", email)
        return [self._vm(row) for row in rows]

    def get_vm(self, vmid: str, email: str) -> SwiftorVm | None:
        """The VM when it exists and belongs to `email`; None otherwise (foreign = unknown)."""
        rows = self._rows("SELECT * FROM vms WHERE id = ? AND email = ?", vmid, email)
        return self._vm(rows[0]) if rows else None

    def find_vm(self, vmid: str) -> SwiftorVm | None:
        rows = self._rows("SELECT * FROM vms WHERE id = ?", vmid)
        return self._vm(rows[0]) if rows else None

    def delete_vm(self, vmid: str) -> None:
        """The VM's row with its secrets and mappings (cascade)."""
        self._write("DELETE FROM vms WHERE id = ?", vmid)

    @staticmethod
    def _vm(row: sqlite3.Row) -> SwiftorVm:
        return SwiftorVm(
            id=row["id"],
            email=row["email"],
            label=row["label"],
            region=row["region"],
            distribution=row["distribution"],
            desktop=row["desktop"],
            cpu=row["cpu"],
            ram_gb=row["ram_gb"],
            persistent=bool(row["persistent"]),
        )

    # -- secrets ------------------------------------------------------------------------------

    def secrets(self, vmid: str) -> dict[str, str]:
        return {
            row["key"]: row["value"]
            for row in self._rows("SELECT key, value FROM secrets WHERE vmid = ? ORDER BY key", vmid)
        }

    def set_secret(self, vmid: str, key: str, value: str) -> None:
        self._write(
            "INSERT INTO secrets(vmid, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT(vmid, key) DO UPDATE SET value = excluded.value",
            vmid,
            key,
            value,
        )

    def delete_secret(self, vmid: str, key: str) -> bool:
        return self._write("DELETE FROM secrets WHERE vmid = ? AND key = ?", vmid, key) > 0

    # -- mappings -----------------------------------------------------------------------------

    def mappings(self, vmid: str) -> list[Mapping]:
        rows = self._rows("SELECT name, port FROM mappings WHERE vmid = ? ORDER BY name", vmid)
        return [Mapping(vmid, row["name"], row["port"]) for row in rows]

    def mapping(self, vmid: str, name: str) -> Mapping | None:
        rows = self._rows("SELECT port FROM mappings WHERE vmid = ? AND name = ?", vmid, name)
        return Mapping(vmid, name, rows[0]["port"]) if rows else None

    def add_mapping(self, vmid: str, name: str, port: int) -> bool:
        """False when the VM already has a mapping of that name."""
        try:
            self._write("INSERT INTO mappings(vmid, name, port) VALUES (?, ?, ?)", vmid, name, port)
        except sqlite3.IntegrityError:
            return False
        return True

    def delete_mapping(self, vmid: str, name: str) -> bool:
        return self._write("DELETE FROM mappings WHERE vmid = ? AND name = ?", vmid, name) > 0

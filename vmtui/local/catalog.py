"""Names that point at commits, and domains that point at VMs: the engine's side of today's Vers
`/commit_tags`, `/repositories` (with their tags, visibility and the public listing) and `/domains`.

The engine serves one organisation (its owner), named `ORG_NAME`; a reference `repo:tag` names a
repository tag of it. Rows live in their own tables of the engine's SQLite database (own connection,
WAL): a tag or repository only names a commit, so deleting a commit leaves tags that then resolve
to "not found", as a dangling git ref would.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from vmtui.core.errors import BadRequest, Conflict, NotFound
from vmtui.local.store import utc_now

ORG_NAME = "local"
"""The organisation name of the engine's owner (the `org_name` of its public repositories)."""
NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
"""Tag and repository names: alphanumeric, hyphens, underscores, dots, 1-64 characters."""
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS commit_tags (
    tag_id TEXT PRIMARY KEY, tag_name TEXT NOT NULL UNIQUE, commit_id TEXT NOT NULL,
    description TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS repositories (
    repo_id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT,
    is_public INTEGER NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS repo_tags (
    tag_id TEXT PRIMARY KEY, repo_id TEXT NOT NULL, tag_name TEXT NOT NULL, commit_id TEXT NOT NULL,
    description TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (repo_id, tag_name)
);
CREATE TABLE IF NOT EXISTS domains (
    domain_id TEXT PRIMARY KEY, domain TEXT NOT NULL UNIQUE, vm_id TEXT NOT NULL, created_at TEXT NOT NULL
);
"""

UNSET = object()
"""`update_*(description=UNSET)` leaves the description alone; None clears it."""


@dataclass(frozen=True)
class Tag:
    tag_id: str
    tag_name: str
    commit_id: str
    description: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Repository:
    repo_id: str
    name: str
    description: str | None
    is_public: bool
    created_at: str

    @property
    def full_name(self) -> str:
        return f"{ORG_NAME}/{self.name}"


@dataclass(frozen=True)
class Domain:
    domain_id: str
    domain: str
    vm_id: str
    created_at: str


def check_name(name: str, what: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise BadRequest(f"invalid {what} {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return name


class Catalog:
    """Commit tags, repositories with their tags, and domains of one engine."""

    def __init__(self, path: Path):
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, query: str, params: tuple[object, ...]) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._db.execute(query, params).fetchone()
            return row

    def _all(self, query: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(query, params).fetchall()

    def _write(self, query: str, params: tuple[object, ...], conflict: str) -> int:
        try:
            with self._lock:
                return self._db.execute(query, params).rowcount
        except sqlite3.IntegrityError:
            raise Conflict(conflict) from None

    # -- commit tags (`/commit_tags`) -------------------------------------------------------------

    def create_tag(self, tag_name: str, commit_id: str, description: str | None) -> Tag:
        now = utc_now()
        tag = Tag(str(uuid.uuid4()), check_name(tag_name, "tag name"), commit_id, description, now, now)
        self._write(
            "INSERT INTO commit_tags VALUES (?,?,?,?,?,?)",
            (tag.tag_id, tag.tag_name, tag.commit_id, tag.description, tag.created_at, tag.updated_at),
            f"tag {tag_name!r} already exists",
        )
        return tag

    def list_tags(self) -> list[Tag]:
        return [Tag(**dict(row)) for row in self._all("SELECT * FROM commit_tags ORDER BY tag_name")]

    def get_tag(self, tag_name: str) -> Tag:
        row = self._one("SELECT * FROM commit_tags WHERE tag_name=?", (tag_name,))
        if row is None:
            raise NotFound(f"tag not found: {tag_name}")
        return Tag(**dict(row))

    def update_tag(self, tag_name: str, *, commit_id: str | None = None, description: object = UNSET) -> Tag:
        tag = self.get_tag(tag_name)
        self._write(
            "UPDATE commit_tags SET commit_id=?, description=?, updated_at=? WHERE tag_id=?",
            (
                commit_id or tag.commit_id,
                tag.description if description is UNSET else description,
                utc_now(),
                tag.tag_id,
            ),
            "tag changed meanwhile",
        )
        return self.get_tag(tag_name)

    def delete_tag(self, tag_name: str) -> None:
        if not self._write("DELETE FROM commit_tags WHERE tag_name=?", (tag_name,), ""):
            raise NotFound(f"tag not found: {tag_name}")

    # -- repositories and their tags ----------------------------------------------------------------

    def create_repo(self, name: str, description: str | None) -> Repository:
        repo = Repository(
            str(uuid.uuid4()), check_name(name, "repository name"), description, False, utc_now()
        )
        self._write(
            "INSERT INTO repositories VALUES (?,?,?,?,?)",
            (repo.repo_id, repo.name, repo.description, int(repo.is_public), repo.created_at),
            f"repository {name!r} already exists",
        )
        return repo

    def list_repos(self, *, public_only: bool = False) -> list[Repository]:
        where = " WHERE is_public=1" if public_only else ""
        return [_repo(row) for row in self._all(f"SELECT * FROM repositories{where} ORDER BY name")]

    def get_repo(self, name: str, *, public_only: bool = False) -> Repository:
        row = self._one("SELECT * FROM repositories WHERE name=?", (name,))
        if row is None or (public_only and not row["is_public"]):
            raise NotFound(f"repository not found: {name}")
        return _repo(row)

    def get_public_repo(self, org_name: str, name: str) -> Repository:
        if org_name != ORG_NAME:
            raise NotFound(f"organisation not found: {org_name}")
        return self.get_repo(name, public_only=True)

    def set_visibility(self, name: str, is_public: bool) -> None:
        repo = self.get_repo(name)
        self._write("UPDATE repositories SET is_public=? WHERE repo_id=?", (int(is_public), repo.repo_id), "")

    def delete_repo(self, name: str) -> None:
        repo = self.get_repo(name)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM repo_tags WHERE repo_id=?", (repo.repo_id,))
                self._db.execute("DELETE FROM repositories WHERE repo_id=?", (repo.repo_id,))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def create_repo_tag(self, repo_name: str, tag_name: str, commit_id: str, description: str | None) -> Tag:
        repo = self.get_repo(repo_name)
        now = utc_now()
        tag = Tag(str(uuid.uuid4()), check_name(tag_name, "tag name"), commit_id, description, now, now)
        self._write(
            "INSERT INTO repo_tags VALUES (?,?,?,?,?,?,?)",
            (tag.tag_id, repo.repo_id, tag.tag_name, commit_id, description, now, now),
            f"tag {tag_name!r} already exists in {repo_name}",
        )
        return tag

    def list_repo_tags(self, repo: Repository) -> list[Tag]:
        rows = self._all(
            "SELECT tag_id, tag_name, commit_id, description, created_at, updated_at FROM repo_tags"
            " WHERE repo_id=? ORDER BY tag_name",
            (repo.repo_id,),
        )
        return [Tag(**dict(row)) for row in rows]

    def get_repo_tag(self, repo: Repository, tag_name: str) -> Tag:
        row = self._one(
            "SELECT tag_id, tag_name, commit_id, description, created_at, updated_at FROM repo_tags"
            " WHERE repo_id=? AND tag_name=?",
            (repo.repo_id, tag_name),
        )
        if row is None:
            raise NotFound(f"tag not found: {repo.name}:{tag_name}")
        return Tag(**dict(row))

    def update_repo_tag(
        self, repo_name: str, tag_name: str, *, commit_id: str | None = None, description: object = UNSET
    ) -> Tag:
        repo = self.get_repo(repo_name)
        tag = self.get_repo_tag(repo, tag_name)
        self._write(
            "UPDATE repo_tags SET commit_id=?, description=?, updated_at=? WHERE tag_id=?",
            (
                commit_id or tag.commit_id,
                tag.description if description is UNSET else description,
                utc_now(),
                tag.tag_id,
            ),
            "tag changed meanwhile",
        )
        return self.get_repo_tag(repo, tag_name)

    def delete_repo_tag(self, repo_name: str, tag_name: str) -> None:
        tag = self.get_repo_tag(self.get_repo(repo_name), tag_name)
        self._write("DELETE FROM repo_tags WHERE tag_id=?", (tag.tag_id,), "")

    def resolve_ref(self, ref: str) -> str:
        """The commit a `repo:tag` reference (or `org/repo:tag` of a public repository) names."""
        repo_part, sep, tag_name = ref.rpartition(":")
        if not sep or not repo_part or not tag_name:
            raise BadRequest(f"invalid reference {ref!r}: expected repo:tag")
        org, slash, repo_name = repo_part.rpartition("/")
        repo = self.get_public_repo(org, repo_name) if slash else self.get_repo(repo_name)
        return self.get_repo_tag(repo, tag_name).commit_id

    # -- domains -----------------------------------------------------------------------------------

    def create_domain(self, domain: str, vm_id: str) -> Domain:
        name = domain.strip().lower().rstrip(".")
        if not DOMAIN_RE.fullmatch(name):
            raise BadRequest(f"invalid domain {domain!r}")
        record = Domain(str(uuid.uuid4()), name, vm_id, utc_now())
        self._write(
            "INSERT INTO domains VALUES (?,?,?,?)",
            (record.domain_id, record.domain, record.vm_id, record.created_at),
            f"domain {name} is already in use",
        )
        return record

    def list_domains(self, vm_id: str | None = None) -> list[Domain]:
        if vm_id is None:
            rows = self._all("SELECT * FROM domains ORDER BY created_at, domain")
        else:
            rows = self._all("SELECT * FROM domains WHERE vm_id=? ORDER BY created_at, domain", (vm_id,))
        return [Domain(**dict(row)) for row in rows]

    def get_domain(self, domain_id: str) -> Domain:
        row = self._one("SELECT * FROM domains WHERE domain_id=?", (domain_id,))
        if row is None:
            raise NotFound(f"domain not found: {domain_id}")
        return Domain(**dict(row))

    def domain_for_host(self, host: str) -> Domain | None:
        row = self._one("SELECT * FROM domains WHERE domain=?", (host.lower().rstrip("."),))
        return Domain(**dict(row)) if row is not None else None

    def delete_domain(self, domain_id: str) -> None:
        if not self._write("DELETE FROM domains WHERE domain_id=?", (domain_id,), ""):
            raise NotFound(f"domain not found: {domain_id}")

    def forget_vm(self, vm_id: str) -> None:
        """A deleted VM's domains stop routing."""
        self._write("DELETE FROM domains WHERE vm_id=?", (vm_id,), "")


def _repo(row: sqlite3.Row) -> Repository:
    values = dict(row)
    values["is_public"] = bool(values["is_public"])
    return Repository(**values)

"""Compare file trees: two commits, or a VM against the commit it started from.

A platform that compares files itself (`FileDiffApi` with `capabilities.has_file_diff`: the local
engine, from its layers) answers in one request, and the text of a file in another. Elsewhere (Vers)
the comparison costs VMs: each commit is branched into a temporary VM, each side lists its files with
`find -printf` through exec, the text of the first `TEXT_FILES_MAX` small changed files is fetched,
and the temporary VMs are deleted, also when a step fails. `cost` says what that takes before anything
starts (VMs, and seconds as measured on the previous run); `run` reports each step as it goes. On that
path a regular file counts as changed when its size, mode or modification time differ.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from vmtui.core.errors import BadRequest, NotFound, ProviderError, Unsupported
from vmtui.core.models import FileChange, FileDiff, FileTexts
from vmtui.providers.base import FileDiffApi, Provider
from vmtui.services.action_log import ActionLog

TEXT_MAX_BYTES = 256 * 1024
TEXT_FILES_MAX = 50
"""Files whose text the branch-and-list method fetches before it deletes its VMs."""
BOOT_TIMEOUT = 180.0
PRUNED = ("/proc", "/sys", "/dev", "/run")
"""Kernel and runtime file systems: not part of a commit."""
_FIND_FORMAT = "%y\\0%s\\0%T@\\0%m\\0%l\\0%p\\0"
_KINDS: dict[str, Literal["file", "dir", "symlink"]] = {"f": "file", "d": "dir", "l": "symlink"}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DiffRequest:
    """Compare `before` (a commit id; None: the image the VM started from) with `after` (a commit
    id, or a VM id with `after_is_vm`). `under` narrows the branch-and-list method to one directory."""

    before: str | None
    after: str
    after_is_vm: bool = False
    under: str = "/"

    @property
    def title(self) -> str:
        after = f"VM {self.after}" if self.after_is_vm else f"commit {self.after}"
        return f"{f'commit {self.before}' if self.before else 'its image'} → {after}"


@dataclass(frozen=True)
class DiffCost:
    temporary_vms: int
    seconds: float | None
    """Measured on the previous run of the same method (None: not run yet this session)."""

    def describe(self) -> str:
        if self.temporary_vms == 0:
            return "The platform compares the files itself: no VM is started."
        took = (
            f"about {self.seconds:.0f} s (the last run)" if self.seconds is not None else "time unknown yet"
        )
        return (
            f"Starts {self.temporary_vms} temporary VM(s) branched from the commit(s), lists their files, "
            f"fetches the text of up to {TEXT_FILES_MAX} changed files, then deletes them: {took}."
        )


@dataclass
class DiffResult:
    diff: FileDiff
    fetched: dict[str, FileTexts] = field(default_factory=dict)
    """Texts fetched before the temporary VMs went (branch-and-list method)."""
    loader: Callable[[str], Awaitable[FileTexts]] | None = None
    """Fetches one file's texts on demand (a platform that compares files itself)."""
    notes: list[str] = field(default_factory=list)
    """What the user must know: VMs that could not be deleted, texts not fetched."""

    async def texts(self, path: str) -> FileTexts:
        if path in self.fetched:
            return self.fetched[path]
        if self.loader is not None:
            return await self.loader(path)
        raise NotFound(
            f"the text of {path} was not fetched (only the first {TEXT_FILES_MAX} small files are)"
        )


class FileDiffer:
    """Compares file trees on one profile's provider; logs the temporary VMs it makes and deletes."""

    def __init__(
        self,
        profile: str,
        provider: Provider,
        log: ActionLog,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.profile = profile
        self.provider = provider
        self.log = log
        self._sleep = sleep
        self._clock = clock
        self._last_seconds: float | None = None
        self.base: str | None = None
        """A commit the user marked to compare the next selection with."""

    def cost(self, request: DiffRequest) -> DiffCost:
        if self.native:
            return DiffCost(0, None)
        return DiffCost(1 if request.after_is_vm else 2, self._last_seconds)

    async def run(self, request: DiffRequest, progress: Progress) -> DiffResult:
        if self.native:
            return await self._run_native(request, progress)
        started = self._clock()
        result = await self._run_branches(request, progress)
        self._last_seconds = self._clock() - started
        return result

    @property
    def native(self) -> bool:
        """The platform compares files itself (no temporary VMs)."""
        return self.provider.capabilities.has_file_diff and isinstance(self.provider, FileDiffApi)

    async def _run_native(self, request: DiffRequest, progress: Progress) -> DiffResult:
        api = self.provider
        assert isinstance(api, FileDiffApi)
        progress("Comparing on the platform…")
        if request.after_is_vm:
            diff = await api.diff_vm(request.after)
            return DiffResult(diff, loader=lambda path: api.diff_vm_text(request.after, path))
        if request.before is None:
            raise BadRequest("pick the commit to compare with")
        before = request.before
        diff = await api.diff_commits(before, request.after)
        return DiffResult(diff, loader=lambda path: api.diff_commits_text(before, request.after, path))

    async def _run_branches(self, request: DiffRequest, progress: Progress) -> DiffResult:
        if not self.provider.capabilities.has_exec or not self.provider.capabilities.can_branch:
            raise Unsupported(f"{self.provider.kind} can neither compare files nor branch and run commands")
        if request.before is None:
            raise Unsupported("this VM did not start from a commit: there is nothing to compare it with")
        _check_under(request.under)
        temporary: list[str] = []
        notes: list[str] = []
        try:
            before_vm = await self._branch(request.before, temporary, progress)
            if request.after_is_vm:
                after_vm = request.after
            else:
                after_vm = await self._branch(request.after, temporary, progress)
            progress("Listing files (before)…")
            old = await self._list(before_vm, request.under)
            progress("Listing files (after)…")
            new = await self._list(after_vm, request.under)
            changes = _compare(old, new)
            small = [
                c
                for c in changes
                if c.kind == "file" and max(c.size_before or 0, c.size_after or 0) <= TEXT_MAX_BYTES
            ]
            fetched: dict[str, FileTexts] = {}
            for n, change in enumerate(small[:TEXT_FILES_MAX], 1):
                progress(f"Fetching texts {n}/{min(len(small), TEXT_FILES_MAX)}…")
                fetched[change.path] = await self._texts(before_vm, after_vm, change)
            if len(small) > TEXT_FILES_MAX:
                notes.append(
                    f"texts fetched for the first {TEXT_FILES_MAX} of {len(small)} small changed files"
                )
        finally:
            for vm_id in temporary:
                progress(f"Deleting temporary VM {vm_id}…")
                try:
                    with self.log.change(self.profile, "delete", vm_id, ("vers", "delete", vm_id)):
                        await self.provider.delete_vm(vm_id)
                except ProviderError as exc:
                    notes.append(f"could not delete temporary VM {vm_id}: {exc}")
        diff = FileDiff(before=request.before, after=request.after, changes=changes)
        return DiffResult(diff, fetched=fetched, notes=notes)

    async def _branch(self, commit_id: str, temporary: list[str], progress: Progress) -> str:
        progress(f"Branching commit {commit_id} into a temporary VM…")
        with self.log.change(self.profile, "branch", commit_id, ("vers", "branch", commit_id)) as made:
            ids = await self.provider.branch(commit_id, 1)
            made.extend(ids)
        temporary.extend(ids)
        if not ids:
            raise ProviderError(f"branching {commit_id} made no VM")
        progress(f"Waiting for VM {ids[0]} to run…")
        waited = 0.0
        while not (await self.provider.get_vm(ids[0])).state.is_live:
            if waited >= BOOT_TIMEOUT:
                raise ProviderError(f"temporary VM {ids[0]} did not start within {BOOT_TIMEOUT:.0f} s")
            await self._sleep(0.5)
            waited += 0.5
        return ids[0]

    async def _list(self, vm_id: str, under: str) -> dict[str, _Stat]:
        pruned: list[str] = []
        for path in PRUNED:
            pruned += [*(["-o"] if pruned else []), "-path", path]
        command = ["find", under, "(", *pruned, ")", "-prune", "-o", "-printf", _FIND_FORMAT]
        result = await self.provider.exec(vm_id, command)
        if result.exit_code != 0 and not result.stdout:  # with output: some entries were unreadable
            raise ProviderError(f"listing files in {vm_id} failed: {result.stderr.strip()[-300:]}")
        return _parse_find(result.stdout)

    async def _texts(self, before_vm: str, after_vm: str, change: FileChange) -> FileTexts:
        sides: list[str | None] = []
        for vm_id, present in (
            (before_vm, change.size_before is not None),
            (after_vm, change.size_after is not None),
        ):
            if not present:
                sides.append(None)
                continue
            result = await self.provider.exec(vm_id, ["head", "-c", str(TEXT_MAX_BYTES), "--", change.path])
            text = result.stdout
            if result.exit_code != 0 or "\x00" in text or "\ufffd" in text:
                return FileTexts(path=change.path, binary=True)
            sides.append(text)
        return FileTexts(path=change.path, before=sides[0], after=sides[1])


@dataclass(frozen=True)
class _Stat:
    kind: Literal["file", "dir", "symlink", "other"]
    size: int
    mtime: str
    mode: str
    target: str


def _check_under(under: str) -> None:
    if not under.startswith("/") or "\x00" in under or any(p == ".." for p in under.split("/")):
        raise BadRequest("the directory to compare must be an absolute path without '..'")


def _parse_find(output: str) -> dict[str, _Stat]:
    fields = output.split("\x00")
    found: dict[str, _Stat] = {}
    for i in range(0, len(fields) - 5, 6):
        kind, size, mtime, mode, target, path = fields[i : i + 6]
        found[path] = _Stat(
            _KINDS.get(kind, "other"), int(size) if size.isdigit() else 0, mtime, mode, target
        )
    return found


def _compare(old: dict[str, _Stat], new: dict[str, _Stat]) -> list[FileChange]:
    changes: list[FileChange] = []
    for path in sorted(old.keys() | new.keys()):
        before, after = old.get(path), new.get(path)
        if before is None and after is not None:
            changes.append(FileChange(path=path, change="added", kind=after.kind, size_after=_size(after)))
        elif after is None and before is not None:
            changes.append(
                FileChange(path=path, change="removed", kind=before.kind, size_before=_size(before))
            )
        elif before is not None and after is not None and _differs(before, after):
            changes.append(
                FileChange(
                    path=path,
                    change="changed",
                    kind=after.kind,
                    size_before=_size(before),
                    size_after=_size(after),
                )
            )
    return changes


def _size(stat: _Stat) -> int | None:
    return stat.size if stat.kind == "file" else None


def _differs(before: _Stat, after: _Stat) -> bool:
    if before.kind != after.kind or before.mode != after.mode:
        return True
    if before.kind == "symlink":
        return before.target != after.target
    return before.kind == "file" and (before.size != after.size or before.mtime != after.mtime)

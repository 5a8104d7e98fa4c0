"""What differs between two layer chains (two commits, or a VM and its parent commit), read on the host.

A chain is what a VM sees: layer dirs, newest first, each with `root/` and `usr/` overlayfs upper trees
(see sandbox.py), over a base (the image's rootfs under `/`, the host's /usr under `/usr` when the image
uses it). Layers were written by VMs, so they are hostile: every path is opened one component at a time
relative to its parent's directory fd with `O_NOFOLLOW`, so no symlink is ever followed, not even one a
running VM swaps in while its writable layer is read. Overlay rules apply as the kernel applies them: a
whiteout (0/0 character device), a non-directory or an opaque directory hides what lies below it.

Only paths that appear in the layers the two chains do not share can differ; each is resolved in both
chains. Two regular files of the same size and modification time count as equal (rsync's quick check);
otherwise files up to `COMPARE_MAX_BYTES` are compared byte for byte, larger ones count as changed.
Listing stops at `MAX_ENTRIES` paths (`truncated`), so a VM that plants millions of files costs bounded
memory and time; paths deeper than `MAX_DEPTH` are skipped the same way.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

MAX_ENTRIES = 50_000
MAX_DEPTH = 48
COMPARE_MAX_BYTES = 16 * 1024 * 1024
TEXT_MAX_BYTES = 256 * 1024
"""Largest file whose text the diff route returns."""
_CHUNK = 256 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")

Parts = tuple[bytes, ...]
Kind = Literal["file", "dir", "symlink", "other"]


@dataclass(frozen=True)
class Source:
    """One tree of a chain: an overlayfs upper tree of a layer, or the base (never has whiteouts)."""

    path: Path
    is_layer: bool


@dataclass(frozen=True)
class Chain:
    """The two stacks a VM mounts: `/` and `/usr` (no `usr` stack when the image brings its own /usr)."""

    root: list[Source]
    usr: list[Source]

    @classmethod
    def of(cls, layers: list[Path], image_rootfs: Path, host_usr: bool) -> Chain:
        return cls(
            root=[Source(layer / "root", True) for layer in layers] + [Source(image_rootfs, False)],
            usr=[Source(layer / "usr", True) for layer in layers] + [Source(Path("/usr"), False)]
            if host_usr
            else [],
        )


@dataclass(frozen=True)
class Entry:
    kind: Kind
    size: int
    mode: int
    mtime_ns: int
    source: Path
    target: bytes = b""
    """A symlink's target."""


@dataclass(frozen=True)
class Change:
    path: str
    change: Literal["added", "removed", "changed"]
    kind: Kind
    size_before: int | None
    size_after: int | None


@dataclass(frozen=True)
class TextPair:
    """Both sides of one path: None where it does not exist; `binary` when either side is not UTF-8
    text or is larger than TEXT_MAX_BYTES (then neither text is given)."""

    before: str | None
    after: str | None
    binary: bool


class LayerDiff:
    """Compares chain `before` with chain `after`; blocking (run it in a thread)."""

    def __init__(self, before: Chain, after: Chain):
        self.before = before
        self.after = after
        self.truncated = False

    def layer_names(self) -> set[str]:
        """The directory names of the layers both chains read (commit ids, and `upper` for a VM)."""
        return {s.path.parent.name for chain in (self.before, self.after) for s in chain.root if s.is_layer}

    def changes(self) -> list[Change]:
        found: list[Change] = []
        for prefix, before, after in (
            ("/", self.before.root, self.after.root),
            ("/usr/", self.before.usr, self.after.usr),
        ):
            paths = self._candidates(before, after, MAX_ENTRIES - len(found))
            if prefix == "/" and (self.before.usr or self.after.usr):
                paths = [p for p in paths if p[0] != b"usr"]  # hidden under the /usr mount
            old, new = _resolve_all(before, paths), _resolve_all(after, paths)
            hidden = self._hidden_below(paths, old, new, before, after, MAX_ENTRIES - len(found) - len(paths))
            if hidden:
                old.update(_resolve_all(before, hidden))
                new.update(_resolve_all(after, hidden))
                paths = sorted({*paths, *hidden})
            for parts in paths:
                change = _compare(_display(prefix, parts), old.get(parts), new.get(parts), parts)
                if change is not None:
                    found.append(change)
        found.sort(key=lambda c: c.path)
        return found

    def _hidden_below(
        self,
        paths: list[Parts],
        old: dict[Parts, Entry],
        new: dict[Parts, Entry],
        before: list[Source],
        after: list[Source],
        budget: int,
    ) -> list[Parts]:
        """What lies below a directory on one side that the other side replaced or removed (a whiteout
        or a symlink in a layer): those paths differ too, though no differing layer lists them."""
        listed = set(paths)
        hidden: set[Parts] = set()
        for parts in paths:
            one, other = old.get(parts), new.get(parts)
            for entry, counterpart, sources in ((one, other, before), (other, one, after)):
                if (
                    entry is None
                    or entry.kind != "dir"
                    or (counterpart is not None and counterpart.kind == "dir")
                ):
                    continue
                for source in sources:
                    hidden.update(p for p, _ in _walk(source, parts, budget - len(hidden)) if p not in listed)
                    if len(hidden) >= budget:
                        self.truncated = True
                        return sorted(hidden)
        return sorted(hidden)

    def text(self, path: str) -> TextPair:
        """Both sides of one absolute path, for a text diff."""
        texts = [_text(_read(chain, path)) for chain in (self.before, self.after)]
        if texts[0] is False or texts[1] is False:
            return TextPair(None, None, True)
        return TextPair(texts[0], texts[1], False)

    def _candidates(self, before: list[Source], after: list[Source], budget: int) -> list[Parts]:
        """Every path in a layer one chain has and the other lacks, plus what an opaque directory
        there hides in the lower trees; sorted depth first (the resolver's order)."""
        shared = {s.path for s in before} & {s.path for s in after}
        lower = [s for s in before + after if s.path in shared or not s.is_layer]
        seen: set[Parts] = set()
        for source in before + after:
            if source.path in shared:
                continue
            for parts, opaque in _walk(source, (), budget - len(seen)):
                seen.add(parts)
                if opaque:
                    for other in lower:
                        seen.update(p for p, _ in _walk(other, parts, budget - len(seen)))
                if len(seen) >= budget:
                    self.truncated = True
                    return sorted(seen)
        return sorted(seen)


def _display(prefix: str, parts: Parts) -> str:
    return prefix + "/".join(p.decode("utf-8", "backslashreplace") for p in parts)


def _read(chain: Chain, path: str) -> bytes | None | Literal[False]:
    """The file's bytes, None when it does not exist, False when it is not a small regular file."""
    sources, parts = _split(chain, path)
    entry = _resolve_all(sources, [parts]).get(parts) if parts else None
    if entry is None:
        return None
    if entry.kind != "file" or entry.size > TEXT_MAX_BYTES:
        return False
    return _read_bytes(entry.source, parts, TEXT_MAX_BYTES)


def _split(chain: Chain, path: str) -> tuple[list[Source], Parts]:
    """The stack and the path within it of an absolute path."""
    if not path.startswith("/") or "\x00" in path:
        raise ValueError("the path must be absolute")
    parts = tuple(p.encode("utf-8", "surrogateescape") for p in path.split("/") if p and p != ".")
    if b".." in parts or len(parts) > MAX_DEPTH:
        raise ValueError(f"the path must not contain '..' nor more than {MAX_DEPTH} components")
    if chain.usr and parts[:1] == (b"usr",):
        return chain.usr, parts[1:]
    return chain.root, parts


def _compare(path: str, old: Entry | None, new: Entry | None, parts: Parts) -> Change | None:
    if old is None and new is None:
        return None
    if old is None:
        assert new is not None
        return Change(path, "added", new.kind, None, _size(new))
    if new is None:
        return Change(path, "removed", old.kind, _size(old), None)
    if _same(old, new, parts):
        return None
    return Change(path, "changed", new.kind, _size(old), _size(new))


def _size(entry: Entry) -> int | None:
    return entry.size if entry.kind == "file" else None


def _same(old: Entry, new: Entry, parts: Parts) -> bool:
    if old.source == new.source:
        return True
    if old.kind != new.kind or stat.S_IMODE(old.mode) != stat.S_IMODE(new.mode):
        return False
    if old.kind == "symlink":
        return old.target == new.target
    if old.kind != "file":
        return True
    if old.size != new.size:
        return False
    if old.mtime_ns == new.mtime_ns:
        return True
    if old.size > COMPARE_MAX_BYTES:
        return False
    return _read_bytes(old.source, parts, COMPARE_MAX_BYTES) == _read_bytes(
        new.source, parts, COMPARE_MAX_BYTES
    )


def _walk(source: Source, under: Parts, budget: int) -> Iterator[tuple[Parts, bool]]:
    """(path, is an opaque directory) of the entries below `under` in one tree, depth first, never
    through a symlink: at most `budget` of them (read lazily, so a huge directory costs no more),
    none deeper than MAX_DEPTH."""
    if budget <= 0:
        return
    with _opened_dir(source.path, under) as top:
        if top is None:
            return
        entries = _entries(source, top, under)
        try:
            yield from itertools.islice(entries, budget)
        finally:
            entries.close()  # closes the directory fds it holds


def _entries(source: Source, dirfd: int, base: Parts) -> Iterator[tuple[Parts, bool]]:
    with os.scandir(dirfd) as listing:
        for entry in listing:
            parts = (*base, os.fsencode(entry.name))
            if not entry.is_dir(follow_symlinks=False):
                yield parts, False
                continue
            try:
                child = os.open(entry.name, _DIR_FLAGS, dir_fd=dirfd)
            except OSError:  # replaced by a non-directory meanwhile
                yield parts, False
                continue
            try:
                yield parts, source.is_layer and _opaque(child)
                if len(parts) < MAX_DEPTH:
                    yield from _entries(source, child, parts)
            finally:
                os.close(child)


def _opaque(dirfd: int) -> bool:
    return any(_xattr(dirfd, attr) == b"y" for attr in _OPAQUE_XATTRS)


def _xattr(fd: int, name: str) -> bytes | None:
    try:
        return os.getxattr(fd, name)
    except OSError:
        return None


@contextlib.contextmanager
def _opened_dir(root: Path, parts: Parts) -> Iterator[int | None]:
    """A directory fd for `root/parts` reached without following any symlink (None: not a directory)."""
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError:
        yield None
        return
    try:
        for part in parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError:
                os.close(fd)
                fd = -1
                break
            os.close(fd)
            fd = child
        yield fd if fd >= 0 else None
    finally:
        if fd >= 0:
            os.close(fd)


def _read_bytes(root: Path, parts: Parts, limit: int) -> bytes | Literal[False]:
    """At most `limit` bytes of a regular file (False: it is not one any more)."""
    with _opened_dir(root, parts[:-1]) as parent:
        if parent is None:
            return False
        try:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=parent)
        except OSError:
            return False
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            chunks: list[bytes] = []
            left = limit
            while left > 0 and (chunk := os.read(fd, min(_CHUNK, left))):
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)


def _text(content: bytes | None | Literal[False]) -> str | None | Literal[False]:
    if content is None:
        return None
    if content is False or b"\x00" in content:
        return False
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return False


def _resolve_all(sources: list[Source], paths: list[Parts]) -> dict[Parts, Entry]:
    """Where each path (sorted depth first) resolves in the stack, tree by tree from the top."""
    found: dict[Parts, Entry] = {}
    pending = paths
    for source in sources:
        if not pending:
            break
        rest: list[Parts] = []
        with _TreeCursor(source) as cursor:
            for parts in pending:
                entry = cursor.lookup(parts)
                if isinstance(entry, Entry):
                    found[parts] = entry
                elif entry == "below":
                    rest.append(parts)
        pending = rest
    return found


class _TreeCursor:
    """Looks paths up in one tree in depth-first order, holding only the fds of the current
    directory's ancestors (at most MAX_DEPTH)."""

    def __init__(self, source: Source):
        self.source = source
        self._stack: list[tuple[bytes, int | None, bool]] = []
        """(name, fd or None when missing/blocked, hides lower trees) from the tree's root down."""
        self._blocked_at = -1
        """Index in the stack of the first component that is not a directory (-1: none)."""

    def __enter__(self) -> Self:
        try:
            fd: int | None = os.open(self.source.path, _DIR_FLAGS)
        except OSError:
            fd = None
        self._stack = [(b"", fd, False)]
        return self

    def __exit__(self, *exc: object) -> None:
        for _, fd, _ in self._stack:
            if fd is not None:
                os.close(fd)
        self._stack = []

    def lookup(self, parts: Parts) -> Entry | Literal["absent", "below"]:
        """The entry here, "absent" when this tree hides the path from the lower ones, "below" when
        the lower trees decide."""
        if self._stack[0][1] is None:
            return "below"
        blocked = self._descend(parts[:-1])
        hides = self._stack[-1][2]
        if blocked:
            return "absent"
        parent = self._stack[-1][1]
        if parent is None:
            return "absent" if hides else "below"
        try:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return "absent" if hides else "below"
        except OSError:
            return "absent"
        if self.source.is_layer and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            return "absent"  # a whiteout
        target = b""
        if stat.S_ISLNK(st.st_mode):
            with contextlib.suppress(OSError):
                target = os.readlink(parts[-1], dir_fd=parent)
        return Entry(_kind(st.st_mode), st.st_size, st.st_mode, st.st_mtime_ns, self.source.path, target)

    def _descend(self, dirs: Parts) -> bool:
        """Make the stack hold `dirs`; True when a component is a non-directory here (it hides all
        below it in the lower trees)."""
        common = 0
        while (
            common < len(dirs)
            and common + 1 < len(self._stack)
            and self._stack[common + 1][0] == dirs[common]
        ):
            common += 1
        while len(self._stack) > common + 1:
            _, fd, _ = self._stack.pop()
            if fd is not None:
                os.close(fd)
        if self._blocked_at > common:
            self._blocked_at = -1
        for name in dirs[common:]:
            _, parent, hides = self._stack[-1]
            fd = None
            if parent is not None and self._blocked_at < 0:
                try:
                    fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
                except OSError as exc:
                    if exc.errno != errno.ENOENT:
                        self._blocked_at = len(self._stack)
            opaque = fd is not None and self.source.is_layer and _opaque(fd)
            self._stack.append((name, fd, hides or opaque))
        return self._blocked_at >= 0


def _kind(mode: int) -> Kind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"

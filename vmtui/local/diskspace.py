"""Free space of the engine's state dir: a reserve the engine never spends, and a ballast file.

Below `reserve_bytes` of free space the engine refuses what would fill its disk further (new VMs,
commits, uploads) with a 507, so status, list, exec, stop and delete keep working. Something else may
still fill the file system (thinly provisioned VM disks, other programs): the ballast, a preallocated
file of `ballast_bytes`, is then given back before the engine records a stop or delete, so SQLite
has room for those writes; it is made again once there is room.
"""

from __future__ import annotations

import os
from pathlib import Path

RESERVE_MAX = 256 * 1024**2
RESERVE_FRACTION = 0.05
BALLAST_MAX = 16 * 1024**2
MIB = 1024**2


class NoSpace(Exception):
    """Doing this would eat into the reserve; the message is safe to show to users."""


class StateReserve:
    """The reserve of the file system holding `state_dir` (sized from that file system unless given)."""

    def __init__(self, state_dir: Path, reserve_bytes: int | None = None):
        self.state_dir = state_dir
        stats = os.statvfs(state_dir)
        size = stats.f_blocks * stats.f_frsize
        self.reserve_bytes = (
            reserve_bytes if reserve_bytes is not None else min(RESERVE_MAX, int(size * RESERVE_FRACTION))
        )
        self.ballast_bytes = min(BALLAST_MAX, self.reserve_bytes // 2)
        self.ballast = state_dir / "reserve.ballast"

    def free_bytes(self) -> int:
        stats = os.statvfs(self.state_dir)
        return stats.f_bavail * stats.f_frsize

    def require(self, needed: int, what: str) -> None:
        """NoSpace unless `needed` bytes fit and leave the reserve free."""
        free = self.free_bytes()
        if free - needed < self.reserve_bytes:
            raise NoSpace(
                f"no space left on the engine's disk to {what}: {free // MIB} MiB free, "
                f"{-(-needed // MIB)} MiB needed and {self.reserve_bytes // MIB} MiB kept in reserve; "
                "delete VMs, commits or images"
            )

    def give_back(self) -> None:
        """Delete the ballast when the file system is (nearly) full, so the next writes fit."""
        if self.free_bytes() < self.ballast_bytes:
            self.ballast.unlink(missing_ok=True)

    def refill(self) -> None:
        """(Re)make the ballast when it is missing and there is room for it beyond the reserve."""
        if self.ballast_bytes == 0 or self.ballast.exists():
            return
        if self.free_bytes() < self.reserve_bytes + self.ballast_bytes:
            return
        tmp = self.ballast.with_suffix(".partial")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.ballast_bytes)
            finally:
                os.close(fd)
            os.rename(tmp, self.ballast)
        except OSError:  # filled up meanwhile: try again at the next refill
            tmp.unlink(missing_ok=True)

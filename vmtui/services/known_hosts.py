"""Trust-on-first-use host keys, one entry per VM server name, in a 0600 file under the state dir.

VMs get fresh host keys when they are created and the platforms publish none, so the first key seen
for a VM is pinned and any later change is refused. The file holds one `<server_name> <openssh key>`
line per VM; deleting a line forgets that VM.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vmtui.paths import write_private

if TYPE_CHECKING:
    import asyncssh


class HostKeyChanged(Exception):
    """The VM presented a different host key than the one pinned on first use."""


class TofuKnownHosts:
    def __init__(self, path: Path):
        self.path = path

    def _entries(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        entries: dict[str, str] = {}
        for line in self.path.read_text().splitlines():
            name, _, key = line.strip().partition(" ")
            if name and key and not name.startswith("#"):
                entries[name] = key.strip()
        return entries

    def pinned(self, name: str) -> asyncssh.SSHKey | None:
        key = self._entries().get(name)
        if not key:
            return None
        import asyncssh  # asyncssh costs the TUI's start a quarter second; SSH loads it

        return asyncssh.import_public_key(key)

    def check(self, name: str, key: asyncssh.SSHKey) -> None:
        """Accept and pin the first key seen for `name`; raise HostKeyChanged when it differs later."""
        pinned = self.pinned(name)
        if pinned is None:
            self._pin(name, key)
        elif pinned.public_data != key.public_data:
            raise HostKeyChanged(
                f"host key of {name} changed since it was first seen "
                f"(now {key.get_fingerprint()}, pinned {pinned.get_fingerprint()}); refusing to connect. "
                f"If the VM was legitimately re-created, delete its line from {self.path}"
            )

    def forget(self, name: str) -> None:
        entries = self._entries()
        if entries.pop(name, None) is not None:
            self._write(entries)

    def _pin(self, name: str, key: asyncssh.SSHKey) -> None:
        entries = self._entries()
        entries[name] = key.export_public_key().decode().strip()
        self._write(entries)

    def _write(self, entries: dict[str, str]) -> None:
        write_private(self.path, "".join(f"{name} {key}\n" for name, key in sorted(entries.items())))

"""vers-cli's local names for VMs (`vers alias`): `~/.vers/aliases.json`, `{"alias": "vm_id"}`.

vmtui only reads the file: an alias becomes a VM's display name when it has no `name` label, and
`vmtui ssh`/`vmtui cp` accept it wherever a VM is named. A missing file means no aliases; a file
that is not such an object is ignored with a warning in the log (it is vers-cli's, not ours to fix).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

ALIASES_FILE = Path("~/.vers/aliases.json")
MAX_BYTES = 1 << 20


def load_vers_aliases(path: Path | None = None) -> dict[str, str]:
    """Aliases by VM id (the first name in sorted order when a VM has several)."""
    by_vm: dict[str, str] = {}
    for alias, vm_id in read_alias_file(path).items():
        by_vm.setdefault(vm_id, alias)
    return by_vm


def read_alias_file(path: Path | None = None) -> dict[str, str]:
    """The file as it is, VM ids by alias in sorted order (entries that are not names of ids dropped)."""
    file = (path or ALIASES_FILE).expanduser()
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        log.warning("cannot read vers-cli aliases %s: %s", file, exc.strerror or exc)
        return {}
    problem = "larger than 1 MiB" if len(raw) > MAX_BYTES else None
    aliases: object = None
    if problem is None:
        try:
            aliases = json.loads(raw)
        except ValueError as exc:
            problem = f"not JSON ({exc})"
    if problem is None and not isinstance(aliases, dict):
        problem = "not a JSON object"
    if problem is not None or not isinstance(aliases, dict):
        log.warning("ignoring vers-cli aliases %s: %s", file, problem)
        return {}
    return {
        alias: vm_id for alias, vm_id in sorted(aliases.items()) if isinstance(vm_id, str) and vm_id and alias
    }

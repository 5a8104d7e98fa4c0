"""Where vmtui keeps its files, and how it writes private ones.

Directories follow the XDG base-directory rules through platformdirs (`$XDG_CONFIG_HOME/vmtui`,
`$XDG_DATA_HOME/vmtui`, `$XDG_STATE_HOME/vmtui`) and are created with mode 0700 the first time
they are asked for, because they hold keys, tokens and TOFU host keys.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import platformdirs

APP_NAME = "vmtui"
CONFIG_FILE_ENV = "VMTUI_CONFIG_FILE"


def _private_dir(path: Path) -> Path:
    """Create `path` (and parents) if missing; a directory we create gets mode 0700."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """The user config directory, e.g. `~/.config/vmtui`."""
    return _private_dir(platformdirs.user_config_path(APP_NAME))


def config_file(env: Mapping[str, str] | None = None) -> Path:
    """The TOML config file: `$VMTUI_CONFIG_FILE` if set, else `config_dir()/config.toml`.

    Neither the file nor its directory need exist (a missing file means "all defaults"), so
    asking for the path creates nothing; `write_private` creates the directory when saving.
    """
    env = os.environ if env is None else env
    override = env.get(CONFIG_FILE_ENV)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def data_dir() -> Path:
    """The user data directory, e.g. `~/.local/share/vmtui`."""
    return _private_dir(platformdirs.user_data_path(APP_NAME))


def state_dir() -> Path:
    """The user state directory (TOFU known_hosts, logs), e.g. `~/.local/state/vmtui`."""
    return _private_dir(platformdirs.user_state_path(APP_NAME))


def cache_dir() -> Path:
    """The user cache directory (data that can be fetched again, e.g. VM lineage), `~/.cache/vmtui`."""
    return _private_dir(platformdirs.user_cache_path(APP_NAME))


def engine_state_dir() -> Path:
    """The default state directory of the local engine (`vmtui serve`)."""
    return _private_dir(data_dir() / "engine")


def styles_dir() -> Path:
    """The TCSS directory: `vmtui/_styles` inside an installed wheel, else the repo's `styles/`."""
    package_dir = Path(__file__).resolve().parent
    bundled = package_dir / "_styles"
    if bundled.is_dir():
        return bundled
    return package_dir.parent / "styles"


def write_private(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` atomically with mode 0600.

    The bytes go to a temporary file in the same directory (created 0600 by mkstemp), are
    fsynced, and replace `path` in one rename, so readers see the old file or the new one, never
    a torn one, and the content is never readable by others, not even briefly.
    """
    payload = data.encode() if isinstance(data, str) else data
    directory = _private_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(payload)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, 0o600)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

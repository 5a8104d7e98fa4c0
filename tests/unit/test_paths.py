"""vmtui.paths: XDG locations, private directories, atomic 0600 writes."""

import os
import stat
from pathlib import Path

import pytest

from vmtui import paths


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_dirs_follow_xdg_and_are_created_private(isolated_home: Path):
    assert paths.config_dir() == isolated_home / ".config" / "vmtui"
    assert paths.data_dir() == isolated_home / ".local/share" / "vmtui"
    assert paths.state_dir() == isolated_home / ".local/state" / "vmtui"
    assert paths.engine_state_dir() == paths.data_dir() / "engine"
    for directory in (paths.config_dir(), paths.data_dir(), paths.state_dir(), paths.engine_state_dir()):
        assert directory.is_dir()
        assert _mode(directory) == 0o700


def test_existing_dir_keeps_its_mode(isolated_home: Path):
    existing = isolated_home / ".local/state" / "vmtui"
    existing.mkdir(parents=True, mode=0o750)
    os.chmod(existing, 0o750)
    assert paths.state_dir() == existing
    assert _mode(existing) == 0o750


def test_config_file_default_and_override(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    assert paths.config_file() == isolated_home / ".config" / "vmtui" / "config.toml"
    monkeypatch.setenv("VMTUI_CONFIG_FILE", str(tmp_path / "other.toml"))
    assert paths.config_file() == tmp_path / "other.toml"
    assert paths.config_file({"VMTUI_CONFIG_FILE": "/elsewhere/x.toml"}) == Path("/elsewhere/x.toml")
    assert paths.config_file({}) == isolated_home / ".config" / "vmtui" / "config.toml"


def test_styles_dir_is_the_repo_styles_folder_in_a_checkout():
    repo_root = Path(paths.__file__).resolve().parent.parent
    assert paths.styles_dir() == repo_root / "styles"


def test_write_private_creates_0600_file_and_parents(tmp_path: Path):
    target = tmp_path / "new" / "dir" / "token"
    paths.write_private(target, "secret-text")
    assert target.read_text() == "secret-text"
    assert _mode(target) == 0o600
    assert _mode(target.parent) == 0o700
    paths.write_private(target, b"\x00binary\xff")
    assert target.read_bytes() == b"\x00binary\xff"


def test_write_private_tightens_an_existing_world_readable_file(tmp_path: Path):
    target = tmp_path / "key"
    target.write_text("old")
    os.chmod(target, 0o644)
    paths.write_private(target, "new")
    assert target.read_text() == "new"
    assert _mode(target) == 0o600
    assert os.listdir(tmp_path) == ["key"]


def test_write_private_failure_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    target = tmp_path / "key"
    target.write_text("old content")

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        paths.write_private(target, "new content that never lands")
    assert target.read_text() == "old content"
    assert os.listdir(tmp_path) == ["key"]


def test_write_private_replaces_by_rename_so_open_readers_keep_the_old_inode(tmp_path: Path):
    target = tmp_path / "key"
    paths.write_private(target, "first")
    with target.open() as reader:
        paths.write_private(target, "second")
        assert reader.read() == "first"
    assert target.read_text() == "second"

"""Images: the default host-derived image and safe import of uploaded rootfs tarballs."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from vmtui.local.images import ImageError, build_default_image, image_size, import_rootfs_tarball, open_image


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def entry(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, mode
    return info


def test_default_image_has_a_private_etc_and_no_host_secrets(tmp_path):
    dest = tmp_path / "default"
    build_default_image(dest)
    info = open_image(dest)
    assert info.host_usr and info.rootfs == dest / "rootfs"
    root = info.rootfs
    assert stat.S_IMODE(os.stat(root / "tmp").st_mode) == 0o1777
    assert stat.S_IMODE(os.stat(root / "root").st_mode) == 0o700
    assert os.listdir(root / "root") == [] and os.listdir(root / "usr") == []
    for name in ("bin", "sbin", "lib", "lib64"):
        host = Path("/") / name
        if host.is_symlink():
            assert os.readlink(root / name) == os.readlink(host)
    shadow = (root / "etc/shadow").read_text()
    assert all(line.split(":")[1] == "*" for line in shadow.splitlines())
    assert stat.S_IMODE(os.stat(root / "etc/shadow").st_mode) == 0o600
    assert (root / "etc/passwd").read_text().startswith("root:x:0:0:")
    assert "VARIANT_ID=vmtui" in (root / "etc/os-release").read_text()
    assert not (root / "etc/ssh").exists() and not (root / "etc/sudoers").exists()
    assert not list(tmp_path.glob(".default.partial-*"))
    with pytest.raises(ImageError, match="already exists"):
        build_default_image(dest)


def test_import_accepts_a_normal_rootfs_and_keeps_modes(tmp_path):
    tar = make_tar(
        tmp_path / "ok.tar.gz",
        [
            (entry("./", tarfile.DIRTYPE, mode=0o755), None),
            (entry("./bin", tarfile.DIRTYPE, mode=0o755), None),
            (entry("./bin/tool", mode=0o4755), b"#!/bin/sh\n"),
            (entry("./bin/alias", tarfile.SYMTYPE, linkname="/bin/tool"), None),
            (entry("./bin/rel", tarfile.SYMTYPE, linkname="tool"), None),
            (entry("./bin/hard", tarfile.LNKTYPE, linkname="bin/tool", mode=0o4755), None),
            (entry("./tmp", tarfile.DIRTYPE, mode=0o1777), None),
            (entry("./etc/data", mode=0o600), b"x" * 1000),
        ],
    )
    size = import_rootfs_tarball(tar, tmp_path / "img")
    rootfs = open_image(tmp_path / "img").rootfs
    assert size == 1000 + len(b"#!/bin/sh\n") + len("/bin/tool") + len("tool") == image_size(rootfs)
    assert stat.S_IMODE(os.stat(rootfs / "bin/tool").st_mode) == 0o4755
    assert stat.S_IMODE(os.stat(rootfs / "tmp").st_mode) == 0o1777
    assert os.readlink(rootfs / "bin/alias") == "/bin/tool"
    assert os.stat(rootfs / "bin/hard").st_ino == os.stat(rootfs / "bin/tool").st_ino
    assert json.loads((tmp_path / "img/image.json").read_text())["kind"] == "rootfs"


@pytest.mark.parametrize(
    "members, reason",
    [
        ([(entry("../evil"), b"x")], "'..'"),
        ([(entry("ok/../../evil"), b"x")], "'..'"),
        ([(entry("/etc/evil"), b"x")], "absolute"),
        ([(entry("link", tarfile.SYMTYPE, linkname="../../etc"), None)], "escapes the root"),
        ([(entry("a/b/link", tarfile.SYMTYPE, linkname="../../../x"), None)], "escapes the root"),
        (
            [(entry("dir", tarfile.SYMTYPE, linkname="/etc"), None), (entry("dir/passwd"), b"x")],
            "through a symlink",
        ),
        (
            [
                (entry("s", tarfile.SYMTYPE, linkname="/etc"), None),
                (entry("h", tarfile.LNKTYPE, linkname="s/shadow"), None),
            ],
            "hard link",
        ),
        ([(entry("h", tarfile.LNKTYPE, linkname="/etc/shadow"), None)], "absolute"),
        (
            [(entry("x", tarfile.SYMTYPE, linkname="/tmp/vmtui-evil-target"), None), (entry("x"), b"owned")],
            "duplicate",
        ),
        ([(entry("dev/sda", tarfile.BLKTYPE), None)], "device"),
        ([(entry("dev/mem", tarfile.CHRTYPE), None)], "device"),
    ],
)
def test_import_rejects_malicious_tarballs(tmp_path, members, reason):
    tar = make_tar(tmp_path / "bad.tar.gz", members)
    with pytest.raises(ImageError, match=reason):
        import_rootfs_tarball(tar, tmp_path / "img")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.gz"]  # nothing half-extracted
    for outside in ("/evil", "/etc/evil", "/tmp/vmtui-evil-target", tmp_path.parent / "evil"):
        assert not Path(outside).exists()


def test_import_enforces_the_size_cap_and_rejects_non_tar(tmp_path):
    tar = make_tar(tmp_path / "big.tar.gz", [(entry("a"), b"x" * 600), (entry("b"), b"x" * 600)])
    with pytest.raises(ImageError, match="larger than the limit"):
        import_rootfs_tarball(tar, tmp_path / "img", max_bytes=1000)
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tarball" * 100)
    with pytest.raises(ImageError, match="tar archive"):
        import_rootfs_tarball(junk, tmp_path / "img")
    assert not (tmp_path / "img").exists()


def test_image_size_counts_hard_links_once(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 100)
    os.link(tmp_path / "a", tmp_path / "b")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/c").write_bytes(b"y" * 10)
    assert image_size(tmp_path) == 110


def bash_rootfs_tarball(path: Path) -> Path:
    """A tiny rootfs: bash and the libraries ldd finds for it, nothing else."""
    bash = shutil.which("bash")
    libs = [
        part
        for line in subprocess.run(
            ["ldd", bash], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        for part in line.split()
        if part.startswith("/")
    ]
    with tarfile.open(path, "w") as tar:
        for name in ("bin", "etc", "tmp"):
            tar.addfile(entry(name, tarfile.DIRTYPE, mode=0o755))
        tar.add(bash, arcname="bin/bash")
        for lib in libs:
            tar.add(os.path.realpath(lib), arcname=lib.lstrip("/"))
    return path


@pytest.mark.root
async def test_a_vm_boots_from_an_imported_bash_only_rootfs(tmp_path, boot_vm):
    size = import_rootfs_tarball(bash_rootfs_tarball(tmp_path / "bash.tar"), tmp_path / "images/bash")
    assert size > 100_000
    sandbox = await boot_vm("imported", image=tmp_path / "images/bash", hostname="tiny")
    code, out, err = await sandbox.exec(
        ["/bin/bash", "-c", 'read h < /etc/hostname; echo "$h $$ $HOME"; echo *'], cwd="/"
    )
    assert code == 0, err
    hostname, _pid, home, *entries = out.decode().split()
    assert (hostname, home) == ("tiny", "/root")
    assert "usr" not in entries and "bin" in entries  # no host /usr in an imported image
    code, _, err = await sandbox.exec(["ls"], cwd="/")
    assert code == 127 and b"not found" in err


def test_a_file_that_is_not_a_tarball_gets_one_clear_line(tmp_path):
    from vmtui.local.images import ImageError, import_rootfs_tarball

    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not an archive\n" * 10)
    with pytest.raises(ImageError) as caught:
        import_rootfs_tarball(junk, tmp_path / "image")
    assert str(caught.value) == "not a tar archive (plain, gzip, bzip2 or xz)"
    assert not (tmp_path / "image").exists()

"""TreeDownload against a real asyncssh SFTP server on loopback: links stay links, and a hostile
server (the VM's) cannot make the download write anywhere but inside the destination."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from vmtui.services.sftp_tree import TreeDownload, TreeUpload, UnsafeName, list_directory


class _NoAuth(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False


class _VmLikeServer(asyncssh.SFTPServer):
    """Serves link targets as stored (asyncssh's chroot hides absolute ones; a VM's sftp-server does not)."""

    def readlink(self, path: bytes) -> bytes:
        return os.readlink(self.map_path(path))


async def _serve(root: Path, server_class: type[asyncssh.SFTPServer]) -> asyncssh.SSHAcceptor:
    return await asyncssh.listen(
        "127.0.0.1",
        0,
        server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        server_factory=_NoAuth,
        sftp_factory=lambda chan: server_class(chan, chroot=os.fsencode(root)),
    )


async def _with_sftp(root: Path, work, server_class=_VmLikeServer) -> object:
    server = await _serve(root, server_class)
    try:
        port = server.sockets[0].getsockname()[1]
        async with (
            asyncssh.connect("127.0.0.1", port, known_hosts=None, username="root") as conn,
            conn.start_sftp_client() as sftp,
        ):
            return await work(sftp)
    finally:
        server.close()
        await server.wait_closed()


async def _download(root: Path, remote: str, local: Path, server_class=_VmLikeServer) -> object:
    return await _with_sftp(root, lambda sftp: TreeDownload(sftp).run(remote, local), server_class)


@pytest.fixture
def vm_tree(tmp_path: Path) -> Path:
    root = tmp_path / "vm"
    (root / "etc" / "sub").mkdir(parents=True)
    (root / "etc" / "sub" / "conf").write_text("conf\n")
    (root / "etc" / "sub" / "suid").write_text("x")
    (root / "etc" / "sub" / "suid").chmod(0o4755)
    (root / "etc" / "readonly").write_text("ro\n")
    (root / "etc" / "readonly").chmod(0o444)
    os.symlink("/etc/shadow", root / "etc" / "absolute")
    os.symlink("sub/conf", root / "etc" / "relative")
    os.symlink("../../outside", root / "etc" / "escaping")
    os.mkfifo(root / "etc" / "pipe")
    os.utime(root / "etc" / "sub" / "conf", (1_000_000, 1_000_000))
    return root


async def test_a_tree_arrives_with_links_as_links(tmp_path, vm_tree):
    dest = tmp_path / "copy"
    stats = await _download(vm_tree, "/etc", dest)
    assert os.readlink(dest / "absolute") == "/etc/shadow"
    assert os.readlink(dest / "relative") == "sub/conf"
    assert os.readlink(dest / "escaping") == "../../outside"
    assert (dest / "sub" / "conf").read_text() == "conf\n"
    assert (dest / "sub" / "conf").stat().st_mtime == 1_000_000
    assert stat.S_IMODE((dest / "readonly").stat().st_mode) == 0o444
    assert stat.S_IMODE((dest / "sub" / "suid").stat().st_mode) == 0o755  # set-uid dropped
    assert not (dest / "pipe").exists()
    assert (stats.files, stats.symlinks, stats.directories) == (3, 3, 2)
    assert stats.skipped == ["/etc/pipe"]


async def test_into_an_existing_directory_like_cp_r(tmp_path, vm_tree):
    into = tmp_path / "into"
    into.mkdir()
    await _download(vm_tree, "/etc/sub/conf", into)
    await _download(vm_tree, "/etc", into)
    assert (into / "conf").read_text() == "conf\n"
    assert (into / "etc" / "sub" / "conf").read_text() == "conf\n"


async def test_a_named_link_is_followed_inside_the_vm(tmp_path, vm_tree):
    os.symlink("etc", vm_tree / "etc-link")  # like /bin -> usr/bin
    await _download(vm_tree, "/etc-link", tmp_path / "copy")
    assert (
        not (tmp_path / "copy").is_symlink() and (tmp_path / "copy" / "sub" / "conf").read_text() == "conf\n"
    )
    os.symlink("/no/such/target", vm_tree / "dangling")
    with pytest.raises(asyncssh.SFTPNoSuchFile):  # followed by the server: nothing to copy, no link made
        await _download(vm_tree, "/dangling", tmp_path / "stolen")
    assert not os.path.lexists(tmp_path / "stolen")


class _LinkThenFile(_VmLikeServer):
    """Lists `victim` twice: first as a link to a host file, then as a regular file with content."""

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        async for name in super().scandir(path):
            if name.filename == b"victim":
                link = asyncssh.SFTPAttrs(permissions=stat.S_IFLNK | 0o777)
                yield asyncssh.SFTPName(b"victim", attrs=link)
            yield name

    def readlink(self, path: bytes) -> bytes:
        return os.fsencode(self.host_target)


class _SlashName(_VmLikeServer):
    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        async for name in super().scandir(path):
            yield name
        yield asyncssh.SFTPName(b"../../escape", attrs=asyncssh.SFTPAttrs(permissions=stat.S_IFREG | 0o644))


async def test_a_hostile_listing_never_writes_through_a_link(tmp_path):
    root = tmp_path / "vm"
    (root / "d").mkdir(parents=True)
    (root / "d" / "victim").write_text("written by the VM\n")
    host_file = tmp_path / "host-file"
    host_file.write_text("host data\n")
    _LinkThenFile.host_target = str(host_file)

    await _download(root, "/d", tmp_path / "copy", _LinkThenFile)
    assert host_file.read_text() == "host data\n"
    victim = tmp_path / "copy" / "victim"
    assert not victim.is_symlink() and victim.read_text() == "written by the VM\n"


async def test_a_name_with_a_slash_is_refused(tmp_path):
    (tmp_path / "vm" / "d").mkdir(parents=True)
    with pytest.raises(UnsafeName, match="unusable file name"):
        await _download(tmp_path / "vm", "/d", tmp_path / "copy", _SlashName)
    assert not (tmp_path / "escape").exists()


async def test_an_upload_keeps_links_drops_set_uid_reports_progress_and_replaces_a_link_in_the_way(
    tmp_path, vm_tree
):
    seen: list[int] = []
    vm = tmp_path / "vm"
    (vm / "srv").mkdir()
    host_file = tmp_path / "host-file"
    host_file.write_text("host data\n")
    os.symlink(host_file, vm / "srv" / "conf")  # a VM-side link where the upload puts a file

    await _with_sftp(
        vm, lambda sftp: TreeUpload(sftp, lambda stats: seen.append(stats.bytes)).run(vm / "etc", "/srv")
    )
    stats = await _with_sftp(vm, lambda sftp: TreeUpload(sftp).run(vm / "etc" / "sub" / "conf", "/srv/conf"))
    up = vm / "srv" / "etc"
    assert os.readlink(up / "relative") == "sub/conf" and os.readlink(up / "escaping") == "../../outside"
    assert (up / "absolute").is_symlink()  # (asyncssh's chroot rewrites an absolute target server-side)
    assert (up / "sub" / "conf").read_text() == "conf\n"
    assert (up / "sub" / "conf").stat().st_mtime == 1_000_000
    assert stat.S_IMODE((up / "sub" / "suid").stat().st_mode) == 0o755
    assert not (up / "pipe").exists()
    assert not (vm / "srv" / "conf").is_symlink() and (vm / "srv" / "conf").read_text() == "conf\n"
    assert host_file.read_text() == "host data\n"
    assert seen and seen[-1] == len("conf\n") + len("x") + len("ro\n")
    assert (stats.files, stats.bytes) == (1, len("conf\n"))


async def test_a_listing_shows_directories_first_with_modes_sizes_and_link_targets(vm_tree):
    entries = await _with_sftp(vm_tree, lambda sftp: list_directory(sftp, "/etc"))
    assert [entry.name for entry in entries] == [
        "sub",
        "absolute",
        "escaping",
        "pipe",
        "readonly",
        "relative",
    ]
    by_name = {entry.name: entry for entry in entries}
    assert by_name["sub"].is_dir and by_name["relative"].is_link
    assert (by_name["relative"].link_target, by_name["absolute"].link_target) == ("sub/conf", "/etc/shadow")
    assert by_name["readonly"].size == 3 and stat.S_IMODE(by_name["readonly"].mode) == 0o444

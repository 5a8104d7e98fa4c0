"""Mount points never follow symlinks: an image or a VM-written layer with a symlink (or a file) where
the engine mounts cannot make the boot mount onto the host's root. Uploads are refused naming the
entry; a layer that has one anyway (written by a VM, then committed) boots with a fresh directory."""

from __future__ import annotations

import secrets
import tarfile
from pathlib import Path

import pytest

from tests.local.conftest import make_spec
from tests.security.conftest import V1, member, new_vm, sh, tarball, upper_root
from vmtui.local.images import ENGINE_MOUNT_POINTS
from vmtui.local.sandbox import Sandbox

MOUNTED = ("dev", "proc", "sys", "run", "usr")
"""Names the sandbox mounts a file system onto in a default-image VM."""


@pytest.fixture
def host_marker(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A file on the host (outside every VM) and its secret content."""
    path = tmp_path_factory.mktemp("host") / "marker"
    value = f"host-only-{secrets.token_hex(12)}"
    path.write_text(value)
    return path, value


def _rootfs_with(name: str, kind: bytes, linkname: str = "") -> bytes:
    entries = [(member("bin", tarfile.DIRTYPE, mode=0o755), None), (member("etc/hostname"), b"x\n")]
    data = b"not a directory\n" if kind == tarfile.REGTYPE else None
    if kind == tarfile.LNKTYPE:
        entries.append((member("etc/target"), b"t\n"))
        linkname = "etc/target"
    return tarball([*entries, (member(name, kind, linkname=linkname), data)])


@pytest.mark.parametrize("name", sorted(ENGINE_MOUNT_POINTS))
async def test_an_upload_with_a_symlinked_mount_point_is_refused_naming_it(api, name):
    answer = await api.put("/api/rootfs/evil", content=_rootfs_with(name, tarfile.SYMTYPE, "/"))
    assert answer.status_code == 400, answer.text
    assert f"image entry '{name}' is a symlink" in answer.json()["error"]
    assert (await api.get("/api/rootfs")).json()["rootfs_names"] == ["default"]


@pytest.mark.parametrize(("kind", "shown"), [(tarfile.REGTYPE, "a file"), (tarfile.LNKTYPE, "a hard link")])
async def test_an_upload_with_a_file_where_the_engine_mounts_is_refused(api, kind, shown):
    answer = await api.put("/api/rootfs/evil", content=_rootfs_with("./run", kind))
    assert answer.status_code == 400, answer.text
    assert f"image entry 'run' is {shown}" in answer.json()["error"]


def _visible(output: dict, value: str) -> bool:
    return value in output["stdout"] or value in output["stderr"]


def _probe(name: str, marker: Path) -> str:
    """Shell that tries every way to the host marker through the VM's /<name> (and prints its type)."""
    return (
        f"cat {marker} /{name}{marker} /{name}/..{marker} /{name}/../..{marker} 2>&1; "
        f"if [ -L /{name} ]; then echo {name}=symlink; elif [ -d /{name} ]; then echo {name}=dir; fi"
    )


@pytest.mark.root
@pytest.mark.parametrize("name", MOUNTED)
async def test_a_layer_with_a_symlinked_mount_point_boots_without_reaching_the_host(
    tmp_path, host_marker, name
):
    marker, value = host_marker
    spec = make_spec(tmp_path, f"link-{name}")
    sandbox = await Sandbox.boot(spec)
    try:
        await sandbox.stop()
        (upper_root(spec.vm_dir) / name).symlink_to("/")  # what a VM-written layer may hold
        sandbox = await Sandbox.boot(spec)
        code, out, err = await sandbox.exec(["sh", "-c", _probe(name, marker)])
        seen = {"stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace")}
        assert not _visible(seen, value), f"the VM read the host's {marker} through /{name}"
        assert f"{name}=dir" in seen["stdout"], seen
        code, out, _ = await sandbox.exec(
            ["sh", "-c", f"echo hacked > /{name}/vmtui-escape 2>/dev/null; true"]
        )
        assert code == 0
        assert not Path("/vmtui-escape").exists(), "the VM wrote into the host's root"
    finally:
        await sandbox.destroy()
        Path("/vmtui-escape").unlink(missing_ok=True)


@pytest.mark.root
async def test_a_vm_from_a_commit_whose_run_is_a_symlink_cannot_read_host_files(api, engine, host_marker):
    marker, value = host_marker
    vm_id = await new_vm(api)
    # From inside, /run is a mount point a VM cannot replace (no CAP_SYS_ADMIN, locked mounts); the
    # layer is written the way any bug or future feature might let a VM write it.
    (upper_root(engine.state_dir / "vms" / vm_id) / "run").symlink_to("/")
    commit = await api.post(f"{V1}/vm/{vm_id}/commit")
    assert commit.status_code == 201, commit.text
    started = await api.post(f"{V1}/vm/from_commit", json={"commit_id": commit.json()["commit_id"]})
    assert started.status_code == 201, started.text
    child = started.json()["vm_id"]
    seen = await sh(api, child, _probe("run", marker))
    assert not _visible(seen, value), "a VM from the commit read a host file through /run"
    assert "run=dir" in seen["stdout"], seen
    assert (await sh(api, child, "grep -c ' /run tmpfs' /proc/mounts"))["stdout"].strip() == "1"

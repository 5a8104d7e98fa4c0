"""Disk full while committing: the state dir lives on a 40 MiB tmpfs and the VM's writable layer is
filled so that its capture cannot fit. The API answers with an error, the VM keeps running with its
data, no half-written layer stays behind, and every earlier commit still restores byte for byte."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.conftest import API, mounts_mentioning
from tests.reliability.vmfiles import exec_in, hashes_in, write_random_file

pytestmark = pytest.mark.root

TMPFS_SIZE = "40m"


@pytest.fixture
def small_state(tmp_path: Path) -> Iterator[Path]:
    """A state dir on its own small tmpfs, unmounted after the test (request it before `serve`)."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "vmtui-test-full", str(state)],
        check=True,
    )
    try:
        yield state
    finally:
        if subprocess.run(["umount", str(state)], check=False, capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(state)], check=True)


def _free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def _fill_vm(client, vm_id: str, state: Path) -> int:
    """Write a file into the VM big enough that a copy of it no longer fits; returns its size."""
    size = int(_free_bytes(state) * 0.6) // 4096 * 4096
    result = exec_in(client, vm_id, f"head -c {size} /dev/zero > /root/filler && sync")
    assert result["exit_code"] == 0, result
    assert _free_bytes(state) < size, "the filler should leave less room than its own size"
    return size


def _commit_on_full_disk(client, state: Path) -> tuple[str, dict[str, str], str, object]:
    """Make a VM with one good commit, fill the disk, try to commit again. Returns
    (vm_id, files of the good commit, good commit id, the failed answer)."""
    vm_id = client.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}}).json()["vm_id"]
    files = {
        path: write_random_file(client, vm_id, path, 512 * 1024) for path in ("/root/a.bin", "/root/b.bin")
    }
    good = client.post(f"{API}/vm/{vm_id}/commit", json={"name": "before the disk filled up"})
    assert good.status_code == 201, good.text
    _fill_vm(client, vm_id, state)
    failed = client.post(f"{API}/vm/{vm_id}/commit", json={"name": "does not fit"})
    return vm_id, files, good.json()["commit_id"], failed


def test_commit_on_a_full_disk_fails_and_damages_nothing(small_state: Path, serve) -> None:
    daemon = serve(small_state)
    with daemon.client() as client:
        vm_id, files, good_id, failed = _commit_on_full_disk(client, small_state)

        assert failed.status_code == 507, failed.text
        assert failed.headers["content-type"].startswith("application/json")
        assert failed.json()["success"] is False
        assert "no space left" in failed.json()["error"].lower(), "the error must say the disk is full"
        assert str(small_state) not in failed.text, "host paths of the state dir leak into the error"

        # The VM keeps running (not left frozen) with everything it had.
        assert client.get(f"{API}/vm/{vm_id}/status").json()["state"] == "running"
        assert hashes_in(client, vm_id, sorted(files)) == files
        assert exec_in(client, vm_id, "test -s /root/filler && echo still-there")["stdout"] == "still-there\n"

        # Nothing half-written is kept or listed.
        assert [c["commit_id"] for c in client.get(f"{API}/commits").json()["commits"]] == [good_id]
        assert {p.name for p in (small_state / "layers").iterdir()} == {good_id}

        # Room again: the earlier commit restores byte for byte, and committing works again.
        assert exec_in(client, vm_id, "rm /root/filler && sync")["exit_code"] == 0
        restored = client.post(f"{API}/vm/from_commit", json={"commit_id": good_id})
        assert restored.status_code == 201, restored.text
        assert hashes_in(client, restored.json()["vm_id"], sorted(files)) == files
        again = client.post(f"{API}/vm/{vm_id}/commit")
        assert again.status_code == 201, again.text
        for vm in client.get(f"{API}/vms").json():
            assert client.delete(f"{API}/vm/{vm['vm_id']}").status_code == 200
    assert daemon.stop() == 0
    assert mounts_mentioning(small_state / "vms") == set()


def _fill_host_side(path: Path) -> None:
    """Fill the file system of `path` from the host (not through the engine) until nothing is left."""
    chunk = b"\0" * (1024 * 1024)
    with open(path, "wb", buffering=0) as handle:
        for size in (len(chunk), 4096, 512):
            try:
                while True:
                    handle.write(chunk[:size])
            except OSError:
                continue


def test_a_full_state_disk_keeps_status_list_exec_and_delete_working(small_state: Path, serve) -> None:
    daemon = serve(small_state)
    with daemon.client() as client:
        vm_ids = [
            client.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}}).json()["vm_id"]
            for _ in range(2)
        ]
        filler = small_state / "filled-by-someone-else"
        _fill_host_side(filler)
        assert _free_bytes(small_state) < 64 * 1024

        refused = client.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}})
        assert refused.status_code == 507, refused.text
        assert "no space left" in refused.json()["error"].lower()
        commit = client.post(f"{API}/vm/{vm_ids[0]}/commit")
        assert commit.status_code == 507, commit.text

        assert {vm["vm_id"] for vm in client.get(f"{API}/vms").json()} == set(vm_ids)
        assert client.get(f"{API}/vm/{vm_ids[1]}/status").json()["state"] == "running"
        assert exec_in(client, vm_ids[1], "echo still-works")["stdout"] == "still-works\n"
        deleted = client.delete(f"{API}/vm/{vm_ids[0]}")
        assert deleted.status_code == 200, deleted.text
        assert [vm["vm_id"] for vm in client.get(f"{API}/vms").json()] == [vm_ids[1]]

        filler.unlink()
        again = client.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}})
        assert again.status_code == 201, again.text
        for vm in client.get(f"{API}/vms").json():
            assert client.delete(f"{API}/vm/{vm['vm_id']}").status_code == 200
    assert daemon.stop() == 0
    assert mounts_mentioning(small_state / "vms") == set()

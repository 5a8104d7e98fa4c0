"""VM disks (vmdisk.py): one mkfs per size, sparse per-VM copies, and VMs made before disk quotas keep
their writable layer when they boot with a disk."""

from __future__ import annotations

import os

import pytest

from tests.local.conftest import make_spec

pytestmark = pytest.mark.root


async def test_vms_share_one_template_per_size_and_their_images_are_sparse(tmp_path, boot_vm):
    one = await boot_vm("one", disk_mib=256)
    two = await boot_vm("two", disk_mib=256)
    assert [p.name for p in (tmp_path / ".disk-templates").iterdir()] == ["ext4-256m.img"]
    for sandbox in (one, two):
        image = sandbox.spec.vm_dir / "disk.img"
        assert image.stat().st_size == 256 * 1024 * 1024
        assert image.stat().st_blocks * 512 < 32 * 1024 * 1024, "the disk image is not sparse"
        code, out, _ = await sandbox.exec(["sh", "-c", "df -m / | tail -1"])
        assert code == 0 and "overlay" in out.decode()
    assert "disk" in one.enforced


async def test_a_layer_from_before_disk_quotas_moves_onto_the_disk(tmp_path, boot_vm):
    spec = make_spec(tmp_path, "legacy")
    legacy = spec.vm_dir / "upper" / "root" / "root"
    legacy.mkdir(parents=True)
    (legacy / "kept").write_text("written before quotas\n")
    (spec.vm_dir / "upper" / "usr").mkdir()
    sandbox = await boot_vm("legacy", disk_mib=64)
    code, out, err = await sandbox.exec(["cat", "/root/kept"])
    assert (code, out) == (0, b"written before quotas\n"), err
    assert not (spec.vm_dir / "upper").exists()
    assert os.path.ismount(spec.vm_dir / "disk")

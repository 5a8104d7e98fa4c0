"""Rootfs uploads: entries that would write outside the image (`..`, absolute paths, links out of the
tree, writes through a symlink) or make device nodes are refused with a 400 naming the entry, and
nothing of the upload is kept. Setuid files are kept (the image's own su/sudo need them): they act
inside VMs only, and the state dir they live in is closed to every host user but root."""

from __future__ import annotations

import os
import secrets
import stat
import tarfile

import pytest

from tests.security.conftest import member, tarball

OUTSIDE = f"/tmp/vmtui-upload-escape-{secrets.token_hex(6)}"

ATTACKS = {
    "dotdot": ([(member(f"../../../..{OUTSIDE}"), b"x")], "'..'"),
    "absolute": ([(member(OUTSIDE), b"x")], "absolute"),
    "hardlink-absolute": ([(member("h", tarfile.LNKTYPE, linkname="/etc/shadow"), None)], "absolute"),
    "hardlink-dotdot": ([(member("h", tarfile.LNKTYPE, linkname="../../etc/shadow"), None)], "'..'"),
    "hardlink-not-earlier": ([(member("h", tarfile.LNKTYPE, linkname="etc/later"), None)], "hard link"),
    "through-symlink": (
        [(member("out", tarfile.SYMTYPE, linkname="/tmp"), None), (member(f"out/{OUTSIDE[5:]}"), b"x")],
        "through a symlink",
    ),
    "symlink-then-file": (
        [(member("f", tarfile.SYMTYPE, linkname=OUTSIDE), None), (member("f"), b"x")],
        "duplicate member",
    ),
    "relative-symlink-out": ([(member("l", tarfile.SYMTYPE, linkname="../../../x"), None)], "escapes"),
    "char-device": ([(member("dev/mem", tarfile.CHRTYPE), None)], "device files"),
    "block-device": ([(member("disk", tarfile.BLKTYPE), None)], "device files"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_a_hostile_tarball_is_refused_and_leaves_nothing(api, engine, attack):
    members, reason = ATTACKS[attack]
    answer = await api.put("/api/rootfs/hostile", content=tarball(members))
    assert answer.status_code == 400, answer.text
    assert reason in answer.json()["error"]
    assert not os.path.lexists(OUTSIDE)
    assert (await api.get("/api/rootfs")).json()["rootfs_names"] == ["default"]
    assert not (engine.state_dir / "images" / "hostile").exists()
    assert list((engine.state_dir / "tmp").iterdir()) == []


async def test_setuid_files_are_kept_where_only_root_can_reach_them(api, engine):
    program = member("usr/bin/su", mode=0o4755)
    answer = await api.put("/api/rootfs/suid", content=tarball([(program, b"#!/bin/sh\n")]))
    assert answer.status_code == 201, answer.text
    kept = engine.state_dir / "images" / "suid" / "rootfs" / "usr" / "bin" / "su"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o4755
    assert stat.S_IMODE(engine.state_dir.stat().st_mode) & 0o077 == 0, "host users can reach the images"

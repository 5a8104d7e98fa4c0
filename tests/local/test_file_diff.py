"""`GET /api/v1/vm/commits/{a}/diff/{b}` and `GET /api/v1/vm/{id}/diff`: what changed in the files,
read from the layer chains on the host, never following what a VM planted there."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from tests.local.test_server import V1, _client, _new_vm, _sh, api  # noqa: F401 - fixtures
from vmtui.local import layer_diff
from vmtui.local.api.app import create_app

pytestmark = pytest.mark.root


async def _commit(api, vm_id: str) -> str:  # noqa: F811
    answer = await api.post(f"{V1}/vm/{vm_id}/commit", json={})
    assert answer.status_code == 201, answer.text
    return answer.json()["commit_id"]


async def _diff(api, url: str) -> dict:  # noqa: F811
    answer = await api.get(url)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _by_path(diff: dict) -> dict[str, dict]:
    return {c["path"]: c for c in diff["changes"]}


async def test_two_commits_differ_by_added_removed_and_changed_files(api):  # noqa: F811
    vm_id = await _new_vm(api)
    await _sh(
        api,
        vm_id,
        "mkdir -p /srv/app && echo one > /srv/app/conf && echo keep > /srv/keep && echo x > /srv/gone",
    )
    first = await _commit(api, vm_id)
    await _sh(
        api, vm_id, "echo two >> /srv/app/conf && rm /srv/gone && echo new > /srv/app/new && rm /etc/hostname"
    )
    second = await _commit(api, vm_id)

    diff = await _diff(api, f"{V1}/vm/commits/{first}/diff/{second}")
    changes = _by_path(diff)
    assert (diff["before"], diff["after"], diff["truncated"]) == (first, second, False)
    assert changes["/srv/app/conf"] == {
        "path": "/srv/app/conf",
        "change": "changed",
        "kind": "file",
        "size_before": 4,
        "size_after": 8,
    }
    assert changes["/srv/gone"]["change"] == "removed" and changes["/srv/gone"]["size_before"] == 2
    assert changes["/srv/app/new"]["change"] == "added" and changes["/srv/app/new"]["size_after"] == 4
    assert changes["/etc/hostname"]["change"] == "removed"  # came from the image: a whiteout hides it now
    assert "/srv/keep" not in changes  # the same file in both

    reverse = _by_path(await _diff(api, f"{V1}/vm/commits/{second}/diff/{first}"))
    assert reverse["/srv/gone"]["change"] == "added" and reverse["/srv/app/new"]["change"] == "removed"

    text = await _diff(api, f"{V1}/vm/commits/{first}/diff/{second}/text?path=/srv/app/conf")
    assert (text["before"], text["after"], text["binary"]) == ("one\n", "one\ntwo\n", False)
    added = await _diff(api, f"{V1}/vm/commits/{first}/diff/{second}/text?path=/srv/app/new")
    assert (added["before"], added["after"]) == (None, "new\n")


async def test_a_vm_against_its_parent_commit(api):  # noqa: F811
    vm_id = await _new_vm(api)
    await _sh(api, vm_id, "echo base > /root/notes")
    parent = await _commit(api, vm_id)
    child = (await api.post(f"{V1}/vm/branch/by_commit/{parent}")).json()["vms"][0]["vm_id"]
    await _sh(api, child, "printf 'base\\nmore\\n' > /root/notes && head -c 3000 /dev/zero > /root/blob")

    diff = await _diff(api, f"{V1}/vm/{child}/diff")
    changes = _by_path(diff)
    assert (diff["before"], diff["after"]) == (parent, child)
    assert changes["/root/notes"]["change"] == "changed"
    assert changes["/root/blob"] == {
        "path": "/root/blob",
        "change": "added",
        "kind": "file",
        "size_before": None,
        "size_after": 3000,
    }
    blob = await _diff(api, f"{V1}/vm/{child}/diff/text?path=/root/blob")
    assert blob == {"path": "/root/blob", "before": None, "after": None, "binary": True}
    notes = await _diff(api, f"{V1}/vm/{child}/diff/text?path=/root/notes")
    assert (notes["before"], notes["after"]) == ("base\n", "base\nmore\n")


async def test_a_directory_replaced_in_a_vm_hides_what_was_below(api):  # noqa: F811
    vm_id = await _new_vm(api)
    await _sh(api, vm_id, "mkdir -p /opt/d && echo a > /opt/d/a && echo b > /opt/d/b")
    parent = await _commit(api, vm_id)
    child = (await api.post(f"{V1}/vm/branch/by_commit/{parent}")).json()["vms"][0]["vm_id"]
    await _sh(api, child, "rm -rf /opt/d && mkdir /opt/d && echo c > /opt/d/c")  # an opaque directory

    changes = _by_path(await _diff(api, f"{V1}/vm/{child}/diff"))
    assert {p: c["change"] for p, c in changes.items() if p.startswith("/opt/d/")} == {
        "/opt/d/a": "removed",
        "/opt/d/b": "removed",
        "/opt/d/c": "added",
    }


async def test_planted_symlinks_odd_names_and_huge_files_neither_escape_nor_blow_up(engine, api, monkeypatch):  # noqa: F811
    """A hostile VM plants symlinks to the host's root and files, a sparse 8 GiB file, names with
    control characters and invalid UTF-8, and more entries than the listing limit."""
    secret = engine.state_dir / "host-secret"
    secret.write_text("HOST SECRET\n")
    vm_id = await _new_vm(api)
    await _sh(api, vm_id, "mkdir -p /srv && echo mine > /srv/f")
    vm_id = (await api.post(f"{V1}/vm/{vm_id}/branch")).json()["vms"][0]["vm_id"]
    plant = (
        f"rm -rf /srv && ln -s / /srv && mkdir -p /x && ln -s {secret} /x/secret && ln -s {secret.parent} /x/state"
        " && truncate -s 8G /x/huge && printf x > \"$(printf '/x/esc\\033[2Jname')\""
        " && printf y > \"$(printf '/x/bad\\377')\""
    )
    assert (await _sh(api, vm_id, plant))["exit_code"] == 0

    changes = _by_path(await _diff(api, f"{V1}/vm/{vm_id}/diff"))
    assert changes["/srv"]["kind"] == "symlink" and changes["/srv"]["change"] == "changed"
    assert changes["/srv/f"]["change"] == "removed"  # hidden under the link, not read through it
    assert not any(p.startswith(("/srv/", "/x/state/")) for p in changes if p != "/srv/f")
    assert changes["/x/huge"]["size_after"] == 8 * 1024**3
    assert "/x/esc\x1b[2Jname" in changes  # reported as it is; the TUI sanitises what it shows
    assert "/x/bad\\xff" in changes

    for path in ("/x/secret", "/srv" + str(secret), "/x/state/host-secret", "/srv/etc/hostname"):
        text = await _diff(api, f"{V1}/vm/{vm_id}/diff/text?path={path}")
        assert "HOST SECRET" not in str(text) and text["after"] is None
    huge = await _diff(api, f"{V1}/vm/{vm_id}/diff/text?path=/x/huge")
    assert huge["binary"] is True
    for bad in ("relative", "/x/../etc/passwd"):
        assert (await api.get(f"{V1}/vm/{vm_id}/diff/text", params={"path": bad})).status_code == 400

    many = "mkdir -p /many && cd /many && i=0; while [ $i -lt 400 ]; do : > f$i; i=$((i+1)); done"
    assert (await _sh(api, vm_id, many))["exit_code"] == 0
    monkeypatch.setattr(layer_diff, "MAX_ENTRIES", 300)
    capped = await _diff(api, f"{V1}/vm/{vm_id}/diff")
    assert capped["truncated"] is True and len(capped["changes"]) <= 300


async def test_diff_routes_need_the_token_and_existing_commits(engine, api):  # noqa: F811
    missing = "00000000-0000-4000-8000-000000000000"
    assert (await api.get(f"{V1}/vm/commits/{missing}/diff/{missing}")).status_code == 404
    assert (await api.get(f"{V1}/vm/{missing}/diff")).status_code == 404
    async with _client(create_app(engine, "test-token-" + "x" * 32)) as anonymous:
        assert (await anonymous.get(f"{V1}/vm/commits/{missing}/diff/{missing}")).status_code == 401
        assert (await anonymous.get(f"{V1}/vm/{missing}/diff")).status_code == 401
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert "/api/v1/vm/commits/{commit_id}/diff/{other_commit_id}" in paths
    assert "/api/v1/vm/{vm_id}/diff/text" in paths


def test_a_walk_leaves_no_fd_open(tmp_path):
    layer = tmp_path / "layer" / "root"
    for n in range(300):
        (layer / f"d{n}").mkdir(parents=True)
        (layer / f"d{n}" / "f").write_text("x")
    (tmp_path / "image").mkdir()
    before = len(os.listdir("/proc/self/fd"))
    diff = layer_diff.LayerDiff(
        layer_diff.Chain.of([], tmp_path / "image", False),
        layer_diff.Chain.of([tmp_path / "layer"], tmp_path / "image", False),
    )
    assert len(diff.changes()) == 600
    assert len(os.listdir("/proc/self/fd")) == before


async def test_a_commit_deleted_while_its_diff_runs_keeps_its_layer_until_the_diff_ends(engine):
    vm = await engine.create_vm(
        image="default", vcpu_count=1, mem_size_mib=256, fs_size_mib=256, labels={}, wait_boot=True
    )
    await engine.exec(vm.id, ["sh", "-c", "echo a > /root/a"])
    first = await engine.commit_vm(vm.id)
    await engine.exec(vm.id, ["sh", "-c", "echo b > /root/b"])
    second = await engine.commit_vm(vm.id)
    await engine.delete_vm(vm.id)
    diff = engine.commit_diff(first.id, second.id)
    started, release = threading.Event(), threading.Event()

    def held_changes() -> list[layer_diff.Change]:
        started.set()
        release.wait(120)
        return diff.changes()

    running = asyncio.create_task(engine.in_diff_thread(diff, held_changes))
    await asyncio.to_thread(started.wait, 120)
    await engine.delete_commit(second.id)  # collects the layers nobody references
    assert (engine.state_dir / "layers" / second.id).is_dir()
    release.set()
    assert "/root/b" in {c.path for c in await running}

    await engine.delete_commit(first.id)
    assert not (engine.state_dir / "layers" / second.id).exists()

"""`kill -9` of the real daemon in the middle of create, commit, branch and delete, then restart.

Each round writes a fresh random file into a VM, starts one request, kills the daemon after a random
short delay (the seed is printed, so a failure can be replayed), starts it again on the same state dir
and checks the whole picture against what the test knows:

* every commit that completed is listed and intact: a VM started from it sees the exact bytes;
* a commit or VM the interrupted request may have made is either absent or complete and working;
* no ghost: every listed VM runs and answers exec, `vms/` holds exactly the listed VMs, `layers/`
  only listed commits and no half-written capture;
* nothing left behind: no process in the cgroup of a VM that is not listed, no mount anywhere on the
  host that mentions the state dir.
"""

from __future__ import annotations

import concurrent.futures
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.reliability.conftest import (
    API,
    ServeProcess,
    db_vm_ids,
    live_processes_of,
    mounts_mentioning,
    processes_rooted_under,
    vm_frozen,
    wait_for,
)
from tests.reliability.vmfiles import exec_in, hashes_in, write_random_file

pytestmark = pytest.mark.root

OPERATIONS = ("create", "commit", "branch", "delete")
ROUNDS_PER_OPERATION = 3
MAX_KILL_DELAY = 0.15
"""Seconds: create/commit/branch/delete take about 0.05-0.3 s here, so kills land before, during and after."""
FILE_SIZES = (4096, 256 * 1024, 2 * 1024 * 1024)
OLD_COMMITS_RECHECKED = 2
"""Per round, besides new commits; every commit is checked again at the end."""


@dataclass
class Knowledge:
    """What the test knows must exist: VM -> files it holds, commit -> files it captured."""

    vms: dict[str, dict[str, str]] = field(default_factory=dict)
    commits: dict[str, dict[str, str]] = field(default_factory=dict)
    seen_vm_ids: set[str] = field(default_factory=set)
    checked_commits: set[str] = field(default_factory=set)
    figures: dict[str, int] = field(
        default_factory=lambda: {
            "kills": 0,
            "interrupted": 0,
            "completed_before_kill": 0,
            "commits_verified": 0,
            "files_hashed": 0,
            "vms_checked": 0,
            "interrupted_delete_listed_again": 0,
        }
    )


@dataclass
class InFlight:
    """The request running when the daemon is killed, and what it may legitimately leave behind."""

    operation: str
    source: str | None = None
    commit_id: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    response: httpx.Response | None = None


def _create_vm(client: httpx.Client) -> str:
    response = client.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}})
    assert response.status_code == 201, response.text
    return response.json()["vm_id"]


def _listed(client: httpx.Client) -> tuple[dict[str, str], dict[str, dict]]:
    vms = client.get(f"{API}/vms")
    commits = client.get(f"{API}/commits", params={"limit": 100})
    assert vms.status_code == 200 and commits.status_code == 200, (vms.text, commits.text)
    return (
        {vm["vm_id"]: vm["state"] for vm in vms.json()},
        {commit["commit_id"]: commit for commit in commits.json()["commits"]},
    )


def _prepare(
    client: httpx.Client, known: Knowledge, operation: str, rng: random.Random, counter: int
) -> tuple[InFlight, Callable]:
    """Set the stage for one operation and return it with the request to fire."""
    if operation == "create":
        return InFlight("create"), lambda: client.post(
            f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}}
        )
    if operation == "delete":
        if len(known.vms) < 2:
            vm_id = _create_vm(client)
            known.vms[vm_id] = {}
            known.seen_vm_ids.add(vm_id)
        victim = rng.choice(sorted(known.vms))
        return InFlight("delete", source=victim), lambda: client.delete(f"{API}/vm/{victim}")
    source = rng.choice(sorted(known.vms))
    path = f"/root/crash-{counter}.bin"
    known.vms[source][path] = write_random_file(client, source, path, size=rng.choice(FILE_SIZES))
    flight = InFlight(operation, source=source, files=dict(known.vms[source]))
    if operation == "commit":
        flight.commit_id = str(uuid.uuid4())
        return flight, lambda: client.post(f"{API}/vm/{source}/commit", json={"commit_id": flight.commit_id})
    return flight, lambda: client.post(f"{API}/vm/{source}/branch")


def _check_commit(client: httpx.Client, commit_id: str, files: dict[str, str], known: Knowledge) -> None:
    """Start a VM from the commit and compare every file's hash with what was written."""
    response = client.post(f"{API}/vm/from_commit", json={"commit_id": commit_id})
    assert response.status_code == 201, f"commit {commit_id} does not restore: {response.text}"
    vm_id = response.json()["vm_id"]
    known.seen_vm_ids.add(vm_id)
    try:
        assert hashes_in(client, vm_id, sorted(files)) == files, f"commit {commit_id} lost data"
    finally:
        assert client.delete(f"{API}/vm/{vm_id}").status_code == 200
    known.figures["commits_verified"] += 1
    known.figures["files_hashed"] += len(files)


def _reconcile(
    client: httpx.Client,
    daemon: ServeProcess,
    known: Knowledge,
    flight: InFlight,
    ids_before_restart: set[str],
    rng: random.Random,
) -> None:
    state_dir = daemon.state_dir
    vms, commits = _listed(client)

    # Commits: everything that completed is there; anything new came from the interrupted request.
    missing = set(known.commits) - set(commits)
    assert not missing, f"completed commits lost after kill -9 during {flight.operation}: {missing}"
    for commit_id in set(commits) - set(known.commits):
        legitimate = (flight.operation == "commit" and commit_id == flight.commit_id) or (
            flight.operation == "branch" and commits[commit_id]["parent_vm_id"] == flight.source
        )
        assert legitimate, f"unexpected commit {commit_id} after kill -9 during {flight.operation}"
        known.commits[commit_id] = flight.files
    if flight.operation == "commit" and flight.response is not None:
        assert flight.commit_id in commits

    # VMs: the known ones survive (but a deleted one), new ones only from create/branch, and at most one.
    if flight.operation == "delete":
        if flight.response is not None:
            assert flight.source not in vms, "a VM whose delete completed is listed again"
        elif flight.source in vms:  # the kill landed before the delete began: the VM must still be whole
            known.figures["interrupted_delete_listed_again"] += 1
            vm_files = known.vms[flight.source]
            assert hashes_in(client, flight.source, sorted(vm_files)) == vm_files
            assert client.delete(f"{API}/vm/{flight.source}").status_code == 200
            vms.pop(flight.source)
        known.vms.pop(flight.source)
    lost = set(known.vms) - set(vms)
    assert not lost, f"VMs lost after kill -9 during {flight.operation}: {lost}"
    new = set(vms) - set(known.vms)
    assert len(new) <= (1 if flight.operation in ("create", "branch") else 0), (
        f"unexpected VMs after kill -9 during {flight.operation}: {new}"
    )
    for vm_id in new:
        known.vms[vm_id] = {} if flight.operation == "create" else dict(flight.files)
        known.seen_vm_ids.add(vm_id)

    # No ghost: each listed VM runs, answers, and holds its files; the directories match the listing.
    for vm_id, files in known.vms.items():
        assert vms[vm_id] == "running", f"vm {vm_id} is {vms[vm_id]} after restart"
        assert exec_in(client, vm_id, "true")["exit_code"] == 0
        found = hashes_in(client, vm_id, sorted(files))
        assert found == files, (
            f"vm {vm_id} lost files after kill -9 during {flight.operation} "
            f"(source {flight.source}, answered: {flight.response is not None}): "
            f"{_vm_story(daemon, vm_id)}"
        )
        known.figures["vms_checked"] += 1
    assert {p.name for p in (state_dir / "vms").iterdir()} == set(vms), "vms/ holds unlisted VM dirs"
    layers = {p.name for p in (state_dir / "layers").iterdir()}
    assert layers <= set(commits), f"layers without a commit (partial captures?): {layers - set(commits)}"

    # Nothing left behind by what the restart dropped.
    dropped = (ids_before_restart | known.seen_vm_ids) - set(vms)
    assert live_processes_of(dropped) == {}, "processes of dropped VMs survive the restart"
    disks = {str((state_dir / "vms" / vm_id / "disk").resolve()) for vm_id in vms}
    assert mounts_mentioning(state_dir) <= disks, "mounts other than listed VMs' disks"

    fresh = [commit_id for commit_id in known.commits if commit_id not in known.checked_commits]
    older = sorted(known.checked_commits)
    for commit_id in fresh + rng.sample(older, min(OLD_COMMITS_RECHECKED, len(older))):
        _check_commit(client, commit_id, known.commits[commit_id], known)
        known.checked_commits.add(commit_id)


def test_kill_9_during_create_commit_branch_delete_loses_nothing(serve, tmp_path: Path) -> None:
    seed = int(os.environ.get("RELIABILITY_SEED") or random.randrange(2**32))
    print(f"crash-safety seed {seed}")
    rng = random.Random(seed)
    daemon = serve(tmp_path / "state")
    known = Knowledge()
    with daemon.client() as client:  # one completed commit at least, re-checked after every kill
        first = _create_vm(client)
        known.vms[first] = {"/root/base.bin": write_random_file(client, first, "/root/base.bin")}
        base = client.post(f"{API}/vm/{first}/commit")
        assert base.status_code == 201, base.text
        known.commits[base.json()["commit_id"]] = dict(known.vms[first])
    known.seen_vm_ids.add(first)

    plan = [op for op in OPERATIONS for _ in range(ROUNDS_PER_OPERATION)]
    rng.shuffle(plan)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        for counter, operation in enumerate(plan):
            with daemon.client() as client:
                flight, request = _prepare(client, known, operation, rng, counter)
                future = pool.submit(request)
                time.sleep(rng.uniform(0.0, MAX_KILL_DELAY))
                daemon.kill9()
                known.figures["kills"] += 1
                try:
                    response = future.result(timeout=120)
                except httpx.HTTPError:
                    known.figures["interrupted"] += 1
                else:
                    assert response.is_success, f"{operation} failed before the kill: {response.text}"
                    flight.response = response
                    known.figures["completed_before_kill"] += 1
                    _record_completed(known, flight)
            ids_before_restart = db_vm_ids(daemon.state_dir) | {
                p.name for p in (daemon.state_dir / "vms").iterdir()
            }
            daemon.start()
            with daemon.client() as client:
                _reconcile(client, daemon, known, flight, ids_before_restart, rng)
    finally:
        pool.shutdown(wait=True)

    # Deleting everything leaves nothing: no VM dir, no layer, no process, no mount.
    with daemon.client() as client:
        for commit_id in sorted(set(known.commits) - known.checked_commits):
            _check_commit(client, commit_id, known.commits[commit_id], known)
        for vm_id in known.vms:
            assert client.delete(f"{API}/vm/{vm_id}").status_code == 200
        for commit_id in known.commits:
            assert client.delete(f"{API}/commits/{commit_id}").status_code == 204
        assert _listed(client) == ({}, {})
    assert daemon.stop() == 0
    assert list((daemon.state_dir / "vms").iterdir()) == []
    assert list((daemon.state_dir / "layers").iterdir()) == []
    assert live_processes_of(known.seen_vm_ids | db_vm_ids(daemon.state_dir)) == {}
    assert mounts_mentioning(daemon.state_dir) == set()
    assert processes_rooted_under(daemon.state_dir) == set()
    print("crash-safety figures", known.figures)
    assert known.figures["kills"] == len(plan) and known.figures["commits_verified"] >= 1


def _record_completed(known: Knowledge, flight: InFlight) -> None:
    """The request answered before the kill: what it made must survive."""
    body = flight.response.json() if flight.response is not None and flight.response.content else {}
    if flight.operation == "create":
        known.vms[body["vm_id"]] = {}
        known.seen_vm_ids.add(body["vm_id"])
    elif flight.operation == "commit":
        known.commits[body["commit_id"]] = flight.files
    elif flight.operation == "branch":
        for vm in body["vms"]:
            known.vms[vm["vm_id"]] = dict(flight.files)
            known.seen_vm_ids.add(vm["vm_id"])


def test_a_vm_frozen_by_an_interrupted_commit_runs_after_restart(serve, tmp_path: Path) -> None:
    daemon = serve(tmp_path / "state")
    with daemon.client() as client:
        vm_id = _create_vm(client)
        paused_by_user = _create_vm(client)
        assert client.patch(f"{API}/vm/{paused_by_user}/state", json={"state": "Paused"}).status_code == 200
        kept = write_random_file(client, vm_id, "/root/kept.bin")
        # A big writable layer makes the capture (done while the VM is frozen) last long enough to hit.
        assert exec_in(client, vm_id, "head -c 160M /dev/zero > /root/big && sync")["exit_code"] == 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(client.post, f"{API}/vm/{vm_id}/commit")
            assert wait_for(lambda: vm_frozen(vm_id)), "the commit never froze the VM"
            daemon.kill9()
            try:  # the VM's files go with its disk image (one unlink): the delete may finish first
                pending.result(timeout=120)
            except httpx.HTTPError:
                pass
    daemon.start()
    with daemon.client() as client:
        status = client.get(f"{API}/vm/{vm_id}/status").json()
        assert status["state"] == "running", "the VM stays frozen although nobody paused it"
        assert hashes_in(client, vm_id, ["/root/kept.bin"]) == {"/root/kept.bin": kept}
        # ...while a VM the user paused stays paused across the crash.
        assert client.get(f"{API}/vm/{paused_by_user}/status").json()["state"] == "paused"
        assert vm_frozen(paused_by_user)


def _vm_story(daemon: ServeProcess, vm_id: str) -> str:
    """What the daemon logged about one VM, for failure messages."""
    lines = daemon.log_path.read_text(errors="replace").splitlines()
    return "\n".join(line for line in lines if vm_id in line or "serving state dir" in line)


def test_a_vm_whose_delete_was_interrupted_is_gone_or_intact(serve, tmp_path: Path) -> None:
    daemon = serve(tmp_path / "state")
    many_files = 10000
    with daemon.client() as client:
        vm_id = _create_vm(client)
        kept = write_random_file(client, vm_id, "/root/kept.bin")
        made = exec_in(
            client, vm_id, f"mkdir /root/many && cd /root/many && seq 1 {many_files} | xargs touch && sync"
        )
        assert made["exit_code"] == 0, made
        many = daemon.state_dir / "vms" / vm_id / "disk" / "upper" / "root" / "root" / "many"
        assert len(os.listdir(many)) == many_files

        def removal_started() -> bool:
            try:
                return len(os.listdir(many)) < many_files
            except FileNotFoundError:
                return True

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(client.delete, f"{API}/vm/{vm_id}")
            assert wait_for(removal_started), "the delete never started removing files"
            daemon.kill9()
            try:  # the VM's files go with its disk image (one unlink): the delete may finish first
                pending.result(timeout=120)
            except httpx.HTTPError:
                pass
    daemon.start()
    with daemon.client() as client:
        vms, _ = _listed(client)
        if vm_id in vms:  # the delete may be rolled back, but then the VM must be whole
            assert hashes_in(client, vm_id, ["/root/kept.bin"]) == {"/root/kept.bin": kept}
            count = exec_in(client, vm_id, "ls /root/many | wc -l")["stdout"].strip()
            assert count == str(many_files), f"the resurrected VM has {count} of {many_files} files"

"""The engine's SQLite store: rows round-trip, lineage/usage queries, idempotency records."""

import os
import stat
import time

from vmtui.local.store import CommitRecord, ImageRecord, Store, StoredResponse, VmRecord


def test_vm_round_trip_and_phases(tmp_path):
    store = Store(tmp_path / "engine.db")
    vm = VmRecord(
        id="vm-1",
        labels={"team": "a"},
        layers=["c2", "c1"],
        env={"K": "v"},
        ssh_private_key="PRIVATE",
        ssh_public_key="ssh-ed25519 AAA",
    )
    store.insert_vm(vm)
    assert store.get_vm("vm-1") == vm
    assert store.list_vms() == []  # still `creating`: not listed
    store.update_vm("vm-1", phase="ready", state="running", init_pid=42)
    listed = store.list_vms()
    assert [v.id for v in listed] == ["vm-1"]
    assert listed[0].labels == {"team": "a"} and listed[0].layers == ["c2", "c1"] and listed[0].init_pid == 42
    store.update_vm("vm-1", phase="deleted")
    assert store.get_vm("vm-1") is None
    assert store.get_vm("vm-1", include_deleted=True).phase == "deleted"


def test_secrets_are_not_in_repr(tmp_path):
    vm = VmRecord(id="x", ssh_private_key="-----BEGIN OPENSSH PRIVATE KEY-----", env={"TOKEN": "hunter2"})
    assert "PRIVATE KEY" not in repr(vm) and "hunter2" not in repr(vm)


def test_owner_filter_separates_front_ends(tmp_path):
    store = Store(tmp_path / "engine.db")
    store.insert_vm(VmRecord(id="vers", phase="ready"))
    store.insert_vm(VmRecord(id="swiftor", phase="ready", owner="a@b.c"))
    assert [v.id for v in store.list_vms()] == ["vers"]
    assert [v.id for v in store.list_vms(owner="a@b.c")] == ["swiftor"]
    assert {v.id for v in store.list_vms(all_owners=True)} == {"vers", "swiftor"}


def test_commits_pages_usage_and_layers(tmp_path):
    store = Store(tmp_path / "engine.db")
    for n in range(5):
        store.insert_commit(
            CommitRecord(id=f"c{n}", layers=[f"c{n}"], created_at=f"2026-01-0{n + 1}T00:00:00Z")
        )
    page, total = store.list_commits(limit=2, offset=1)
    assert total == 5 and [c.id for c in page] == ["c3", "c2"]  # newest first
    store.insert_vm(VmRecord(id="v", phase="ready", parent_commit_id="c1", layers=["c1", "c0"]))
    assert store.count_vms_on_commit("c1") == 1 and store.count_vms_on_commit("c2") == 0
    assert store.referenced_layers() == {"c0", "c1", "c2", "c3", "c4"}
    store.delete_commit("c1")
    store.update_vm("v", phase="deleted")
    assert store.count_vms_on_commit("c1") == 0
    assert "c1" not in store.referenced_layers()


def test_images_and_usage(tmp_path):
    store = Store(tmp_path / "engine.db")
    store.insert_image(ImageRecord(name="alpine", path="/x", size_bytes=10))
    store.insert_vm(VmRecord(id="v", phase="ready", image="alpine"))
    store.insert_commit(CommitRecord(id="c", image="alpine"))
    assert store.image_usage("alpine") == (1, 1)
    assert [i.name for i in store.list_images()] == ["alpine"]
    store.delete_image("alpine")
    assert store.get_image("alpine") is None


def test_idempotency_records_expire(tmp_path):
    store = Store(tmp_path / "engine.db")
    store.put_response(
        "k", "POST /x?", StoredResponse(201, b'{"vm_id":"a"}', "application/json", time.time())
    )
    got = store.get_response("k", "POST /x?", max_age=60)
    assert got.status == 201 and got.body == b'{"vm_id":"a"}'
    assert store.get_response("k", "POST /y?", max_age=60) is None
    store.put_response("old", "s", StoredResponse(200, b"", None, time.time() - 7200))
    assert store.get_response("old", "s", max_age=3600) is None
    store.purge_responses(older_than=time.time() - 3600)
    assert store.get_response("old", "s", max_age=10**9) is None
    assert store.get_response("k", "POST /x?", max_age=60) is not None


def test_database_is_private_wal_and_survives_reopen(tmp_path):
    path = tmp_path / "engine.db"
    store = Store(path)
    owner = store.owner_id()
    store.insert_vm(VmRecord(id="v", phase="ready"))
    store.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = Store(path)
    assert again.owner_id() == owner
    assert again.get_vm("v") is not None
    assert again._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_env_vars_merge_replace_and_delete(tmp_path):
    store = Store(tmp_path / "engine.db")
    store.set_env_vars({"A": "1", "B": "2"}, replace=False)
    store.set_env_vars({"B": "3"}, replace=False)
    assert store.env_vars() == {"A": "1", "B": "3"}
    store.set_env_vars({"C": "4"}, replace=True)
    assert store.env_vars() == {"C": "4"}
    assert store.delete_env_var("C") and not store.delete_env_var("C")
    assert store.env_vars() == {}


def test_the_engines_vm_list_is_kept_only_while_the_vm_table_is_unchanged(tmp_path):
    from vmtui.local.engine import Engine

    engine = Engine(tmp_path)
    engine.store = Store(tmp_path / "engine.db")

    def add(vm_id: str) -> None:
        engine.db.insert_vm(
            VmRecord(
                id=vm_id,
                state="stopped",
                phase="ready",
                image="default",
                ssh_private_key="k",
                ssh_public_key="p",
            )
        )

    add("a")
    first = engine.list_vms()
    assert [vm.id for vm in first] == ["a"]
    assert engine.list_vms()[0] is first[0]  # unchanged table: nothing is read again

    add("b")
    assert [vm.id for vm in engine.list_vms()] == ["a", "b"]
    engine.db.update_vm("a", labels={"name": "web"})
    assert engine.list_vms()[0].labels == {"name": "web"}
    engine.db.update_vm("b", phase="deleted")
    assert [vm.id for vm in engine.list_vms()] == ["a"]
    engine.db.purge_vm("a")
    assert engine.list_vms() == []

    engine.store = Store(
        tmp_path / "other.db"
    )  # a new store (engine restarted) is never answered from the old
    add("c")
    assert [vm.id for vm in engine.list_vms()] == ["c"]

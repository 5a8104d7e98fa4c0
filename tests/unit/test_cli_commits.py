"""`vmtui commit …` and `vmtui tag …`: output (table, -q, --json) and vers-cli's exit codes, against
today's fake Vers API and the seed's (which has no tags), and once end to end on the real local engine."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.contract.fakes import SeedVers, TodayVers
from tests.contract.test_vers_dialects import provider_for
from tests.ui.test_local_engine import engine_settings  # noqa: F401 - the fixture
from vmtui.__main__ import main
from vmtui.core.models import VmConfig
from vmtui.services.registry import Registry


@pytest.fixture
def today(monkeypatch, isolated_home) -> TodayVers:
    """The CLI's profile opens a provider on today's fake API (one provider per command, as for real)."""
    server = TodayVers()

    async def open_fake(self, name, profile, status, timeout):
        return provider_for(server)

    monkeypatch.setattr(Registry, "open", open_fake)
    return server


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_commit_list_as_table_ids_and_json(today, capsys):
    vm_id = today.add_vm()
    today.commits["c-1111"] = vm_id
    today.commit_meta["c-1111"] = {"name": "base\x1b[31m", "description": None, "is_public": True}
    code, out, _ = run(capsys, "commit", "list")
    header, row = out.splitlines()
    assert code == 0 and header.split() == ["COMMIT", "ID", "NAME", "CREATED", "PUBLIC", "PARENT", "VM"]
    assert row.split()[:2] == ["c-1111", "base\\x1b[31m"] and "yes" in row and vm_id in row  # escaped
    assert run(capsys, "commit", "list", "-q") == (0, "c-1111\n", "")
    code, out, _ = run(capsys, "commit", "list", "--json")
    [listed] = json.loads(out)
    assert (listed["id"], listed["is_public"], listed["parent_vm_id"]) == ("c-1111", True, vm_id)


def test_publish_unpublish_and_delete_by_prefix_with_vers_exit_codes(today, capsys):
    vm_id = today.add_vm()
    today.commits["c-aaaa"] = vm_id
    today.commits["c-bbbb"] = vm_id
    assert run(capsys, "commit", "publish", "c-aaaa") == (0, "published commit c-aaaa\n", "")
    assert ("GET", "/api/v1/commits") not in today.paths  # a whole id costs no listing
    assert run(capsys, "commit", "unpublish", "c-a") == (0, "unpublished commit c-aaaa\n", "")  # a prefix
    assert run(capsys, "commit", "publish", "c-a") == (0, "published commit c-aaaa\n", "")
    assert today.commit_meta["c-aaaa"]["is_public"] is True
    code, out, _ = run(capsys, "commit", "unpublish", "c-aaaa", "--json")
    assert code == 0 and json.loads(out)[0]["is_public"] is False

    code, _, err = run(capsys, "commit", "delete", "c-")  # ambiguous prefix: refused, nothing deleted
    assert code == 5 and "matches 2 commits" in err and set(today.commits) == {"c-aaaa", "c-bbbb"}
    code, _, err = run(capsys, "commit", "delete", "nope")
    assert code == 3 and err == "vmtui commit delete: no commit named 'nope' in profile 'vers'\n"
    started = today.add_vm()
    today.vms[started].parent_commit_id = "c-bbbb"  # a VM started from it: the server refuses
    code, out, err = run(capsys, "commit", "delete", "c-aaaa", "c-bbbb")
    assert code == 4 and out == "deleted commit c-aaaa\n"
    assert "in use" in err and "deleted before it: c-aaaa" in err and set(today.commits) == {"c-bbbb"}


def test_tag_create_list_move_and_delete(today, capsys):
    vm_id = today.add_vm()
    today.commits["c-1"] = vm_id
    today.commits["c-2"] = vm_id
    assert run(capsys, "tag", "create", "stable", "c-1", "-d", "known good") == (
        0,
        "tagged c-1 as stable\n",
        "",
    )
    code, _, err = run(capsys, "tag", "create", "stable", "c-2")
    assert code == 4 and "exists" in err
    code, out, _ = run(capsys, "tag", "list", "--json")
    [tag] = json.loads(out)
    assert (tag["name"], tag["commit_id"], tag["description"]) == ("stable", "c-1", "known good")
    assert run(capsys, "tag", "update", "stable", "--commit", "c-2", "-q") == (0, "stable\n", "")
    assert today.tags["stable"]["commit_id"] == "c-2"
    code, out, _ = run(capsys, "tag", "list")
    assert code == 0 and out.splitlines()[1].split()[:2] == ["stable", "c-2"]
    assert run(capsys, "tag", "delete", "stable", "--json") == (0, '{"deleted": ["stable"]}\n', "")
    code, _, err = run(capsys, "tag", "delete", "stable")
    assert code == 3 and "tag not found" in err


def test_tags_on_the_seeds_api_fail_clearly(monkeypatch, isolated_home, capsys):
    server = SeedVers()

    async def open_fake(self, name, profile, status, timeout):
        return provider_for(server)

    monkeypatch.setattr(Registry, "open", open_fake)
    code, out, err = run(capsys, "tag", "list")
    assert code == 5 and out == "" and err == "vmtui tag list: this Vers server has no commit tags\n"


@pytest.mark.root
def test_commit_and_tag_commands_on_the_real_local_engine(engine_settings, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setenv("VMTUI_CONFIG_FILE", str(engine_settings.config_path))

    async def make_commit() -> str:
        """A commit, and a VM started from it (so the engine refuses to delete it)."""
        provider = await Registry(engine_settings).opener("local")(lambda _status: None)
        try:
            vm_id = await provider.create_vm(VmConfig(), wait_boot=True)
            commit_id = await provider.commit(vm_id, name="cli-made")
            await provider.restore(commit_id)
            return commit_id
        finally:
            await provider.aclose()

    commit_id = asyncio.run(make_commit())
    code, out, _ = run(capsys, "commit", "list", "--json")
    assert code == 0 and [(c["id"], c["name"]) for c in json.loads(out)] == [(commit_id, "cli-made")]
    assert run(capsys, "commit", "publish", "cli-made", "-q") == (0, f"{commit_id}\n", "")
    assert run(capsys, "tag", "create", "v1", commit_id[:8], "-q") == (0, "v1\n", "")
    code, out, _ = run(capsys, "tag", "list", "-q")
    assert (code, out) == (0, "v1\n")
    code, _, err = run(capsys, "commit", "delete", commit_id)
    assert code == 4 and "active VM" in err  # the engine refuses while the VM uses it

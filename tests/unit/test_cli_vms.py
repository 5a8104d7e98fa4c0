"""`vmtui status|info|run|run-commit|branch|delete|pause|resume|start|stop` on the real local engine:
text, -q and --json output, vers-cli's exit codes, one refusal each."""

from __future__ import annotations

import io
import json

import pytest

from tests.ui.test_local_engine import engine_settings  # noqa: F401 - the fixture
from vmtui.__main__ import main

pytestmark = pytest.mark.root


@pytest.fixture
def engine(engine_settings, monkeypatch):  # noqa: F811
    monkeypatch.setenv("VMTUI_CONFIG_FILE", str(engine_settings.config_path))
    return engine_settings


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def new_vm(capsys, *flags: str) -> str:
    code, out, err = run(capsys, "run", "--wait", "--json", *flags)
    assert code == 0, err
    [vm_id] = json.loads(out)["vm_ids"]
    return vm_id


def test_run_status_and_info(engine, capsys, isolated_home):
    vm_id = new_vm(
        capsys, "--name", "web", "--label", "team=infra", "--mem-size", "256M", "--vcpu-count", "1"
    )
    code, out, _ = run(capsys, "status")
    header, row = out.splitlines()
    assert code == 0 and header.split()[:4] == ["VM", "ID", "NAME", "STATE"]
    assert row.split()[:3] == [vm_id, "web", "running"]
    assert run(capsys, "ps", "-q") == (0, f"{vm_id}\n", "")
    code, out, _ = run(capsys, "status", "web", "--json")
    [listed] = json.loads(out)
    assert code == 0 and (listed["id"], listed["labels"]) == (vm_id, {"name": "web", "team": "infra"})

    code, out, _ = run(capsys, "info", vm_id[:8], "--json")
    info = json.loads(out)
    assert code == 0 and (info["id"], info["name"], info["memory_mib"], info["vcpu"]) == (
        vm_id,
        "web",
        256,
        1,
    )
    assert info["labels"] == {"name": "web", "team": "infra"}
    code, out, _ = run(capsys, "info", "web")
    assert code == 0 and f"id:             {vm_id}" in out.splitlines()
    assert "labels:         name=web, team=infra" in out.splitlines()

    (isolated_home / ".vers").mkdir()
    (isolated_home / ".vers" / "aliases.json").write_text(json.dumps({"box": vm_id}))
    code, out, _ = run(capsys, "info", "box", "-q")  # vers-cli's alias names it too
    assert (code, out) == (0, f"{vm_id}\n")

    code, out, err = run(capsys, "info", "nope")
    assert (code, out) == (3, "") and err == "vmtui info: no VM named 'nope' in profile 'local'\n"
    code, _, err = run(capsys, "run", "--mem-size", "lots")
    assert code == 5 and "'lots' is not a size" in err
    code, _, err = run(capsys, "run", "--vcpu-count", "0")
    assert code == 5 and "vcpu_count" in err
    assert run(capsys, "status", "-q") == (0, f"{vm_id}\n", "")  # the refused runs made nothing


def test_branch_commit_and_run_commit(engine, capsys):
    vm_id = new_vm(capsys)
    code, out, _ = run(capsys, "branch", vm_id, "--count", "2", "--json")
    branched = json.loads(out)["vm_ids"]
    assert code == 0 and len(branched) == 2
    code, out, _ = run(capsys, "commit", "create", vm_id, "--name", "base", "-q")
    commit_id = out.strip()
    assert code == 0 and commit_id
    code, out, _ = run(capsys, "run-commit", "base")
    assert code == 0 and out.startswith("started VM ")
    from_commit = out.split()[-1]
    code, out, _ = run(capsys, "info", from_commit, "--json")
    assert json.loads(out)["parent_commit"] == commit_id
    code, out, _ = run(capsys, "status", "--json")
    assert {vm["id"]: vm["parent_commit_id"] for vm in json.loads(out)}[from_commit] == commit_id
    code, out, _ = run(capsys, "status")
    assert [line.split()[3] for line in out.splitlines() if line.startswith(from_commit)] == [commit_id]
    code, out, _ = run(capsys, "branch", commit_id[:10], "-q")
    assert code == 0 and len(out.split()) == 1
    assert run(capsys, "tag", "create", "v1", commit_id, "-q")[0] == 0
    code, out, _ = run(capsys, "run-commit", "v1", "-q")
    assert code == 0 and len(out.split()) == 1
    code, out, _ = run(capsys, "status", "-q")
    assert len(out.split()) == 6

    code, _, err = run(capsys, "run-commit", "no-such-commit")
    assert code == 3 and "no commit or tag named 'no-such-commit'" in err
    code, _, err = run(capsys, "commit", "create", "nope")
    assert code == 3 and "no VM named 'nope'" in err
    code, _, err = run(capsys, "branch", vm_id, "--count", "0")
    assert code == 5 and "--count must be 1 or more" in err


def test_pause_resume_delete_and_power_refused(engine, capsys, monkeypatch):
    first, second = new_vm(capsys, "--name", "one"), new_vm(capsys, "--name", "two")
    assert run(capsys, "pause", "one", "two") == (0, f"paused VM {first}\npaused VM {second}\n", "")
    code, out, _ = run(capsys, "status", "one", "--json")
    assert json.loads(out)[0]["state"] == "paused"
    assert run(capsys, "resume", "one", "--json") == (0, json.dumps({"resumed": [first]}) + "\n", "")
    code, _, err = run(capsys, "start", "one")
    assert code == 5 and "not supported by this platform" in err
    for verb in ("pause", "resume", "status"):
        code, out, err = run(capsys, verb, "nope")
        assert (code, out) == (3, "") and f"vmtui {verb}: no VM named 'nope'" in err
    code, _, err = run(capsys, "stop", "one")
    assert code == 5 and "vmtui stop is not supported by this platform" in err

    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, out, err = run(capsys, "delete", "one")
    assert code == 1 and out == "" and "nothing deleted (pass -y" in err
    code, out, _ = run(capsys, "status", "-q")
    assert set(out.split()) == {first, second}
    code, out, err = run(capsys, "kill", "-y", "one", "nope")
    assert code == 3 and out == "" and "no VM named 'nope'" in err  # named VMs are all found first
    assert run(capsys, "delete", "-y", "one", second[:8]) == (
        0,
        f"deleted VM {first}\ndeleted VM {second}\n",
        "",
    )
    assert run(capsys, "status", "-q") == (0, "", "")


@pytest.fixture
def desk(engine, monkeypatch):
    """A local-swiftor profile `desk` on the same engine, beside the `local` one."""
    with engine.config_path.open("a") as config:
        config.write(
            f'[profiles.desk]\nkind = "local-swiftor"\nstate_dir = "{engine.profiles["local"].state_dir}"\n'
            'email = "cli@example.com"\n'
        )
    return engine


def test_swiftor_profiles_create_power_delete_and_refuse_the_rest(desk, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse\n"))
    code, out, err = run(capsys, "run", "-p", "desk", "--name", "box", "--distribution", "kali", "-q")
    assert code == 0, err
    vm_id = out.strip()
    code, _, err = run(capsys, "run", "-p", "desk", "--name", "other")
    assert code == 5 and "needs --name and --distribution" in err
    code, out, _ = run(capsys, "status", "-p", "desk", "--json")
    [listed] = json.loads(out)
    assert code == 0 and (listed["id"], listed["state"]) == (vm_id, "stopped")

    assert run(capsys, "start", "-p", "desk", "box") == (0, f"started VM {vm_id}\n", "")
    code, out, _ = run(capsys, "info", "-p", "desk", "box", "--json")
    assert code == 0 and json.loads(out)["state"] in ("booting", "running")
    assert run(capsys, "stop", "-p", "desk", vm_id[:8], "-q") == (0, f"{vm_id}\n", "")

    for argv in (
        ("pause", "box"),
        ("branch", "box"),
        ("commit", "create", "box"),
        ("label", "box", "set", "a=b"),
        ("resize", "box", "--fs-size", "1G"),
        ("env", "list"),
        ("image", "list"),
        ("whoami",),
    ):
        code, out, err = run(capsys, *argv, "-p", "desk")
        assert (code, out) == (5, ""), argv
        assert "profile 'desk' (swiftor):" in err and "not supported by this platform" in err, err

    assert run(capsys, "delete", "-p", "desk", "-y", "box") == (0, f"deleted VM {vm_id}\n", "")
    assert run(capsys, "status", "-p", "desk", "-q") == (0, "", "")

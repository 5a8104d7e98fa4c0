"""`vmtui label|resize|env|image|alias|whoami` on the real local engine: text, -q and --json output,
vers-cli's exit codes, one refusal each; env values masked, and readable from stdin."""

from __future__ import annotations

import io
import json
import sys
import tarfile

import pytest

from tests.ui.test_local_engine import engine_settings  # noqa: F401 - the fixture
from tests.ui.test_vm_edit import can_resize_online
from tests.unit.test_cli_vms import engine, new_vm, run  # noqa: F401 - the fixture
from vmtui.services.local_daemon import read_endpoint

pytestmark = pytest.mark.root


def test_labels_set_replace_remove(engine, capsys):  # noqa: F811
    vm_id = new_vm(capsys, "--name", "web")
    assert run(capsys, "label", "web", "--json") == (0, '{"name": "web"}\n', "")
    code, out, _ = run(capsys, "label", vm_id, "set", "team=infra", "tier=a=b", "--json")
    assert code == 0 and json.loads(out) == {"name": "web", "team": "infra", "tier": "a=b"}
    code, out, _ = run(capsys, "label", "web", "remove", "tier")
    assert code == 0 and out.splitlines()[1:] == ["name  web", "team  infra"]
    assert run(capsys, "label", "web", "replace", "name=api", "-q") == (0, "name\n", "")
    code, out, _ = run(capsys, "info", "api", "--json")
    assert json.loads(out)["labels"] == {"name": "api"}  # the new name names the VM

    code, _, err = run(capsys, "label", "api", "set", "novalue")
    assert code == 5 and "set takes KEY=VALUE, not 'novalue'" in err
    code, _, err = run(capsys, "label", "nope", "set", "a=b")
    assert code == 3 and "no VM named 'nope'" in err
    assert run(capsys, "label", "api", "--json") == (0, '{"name": "api"}\n', "")


def test_resize_grows_and_the_refusals_are_printed(engine, capsys):  # noqa: F811
    vm_id = new_vm(capsys, "--fs-size", "512")
    code, out, err = run(capsys, "resize", vm_id, "--fs-size", "256")
    assert (code, out) == (5, "") and "larger than the current 512 MiB" in err
    code, _, err = run(capsys, "resize", vm_id, "--fs-size", "big")
    assert code == 5 and "'big' is not a size" in err
    code, _, err = run(capsys, "resize", "nope", "--fs-size", "1G")
    assert code == 3 and "no VM named 'nope'" in err
    code, out, err = run(capsys, "resize", vm_id, "--fs-size", "1G")
    if can_resize_online():
        assert (code, out, err) == (0, f"resized the disk of {vm_id} to 1024 MiB\n", "")
    else:  # growing a mounted ext4 needs CAP_SYS_RESOURCE: the engine refuses and changes nothing
        assert (code, out) == (4, "") and "409: cannot grow the disk to 1024 MiB" in err
    code, out, _ = run(capsys, "info", vm_id, "--json")
    assert json.loads(out)["disk_mib"] == (1024 if can_resize_online() else 512)


def test_env_values_masked_and_read_from_stdin(engine, capsys, monkeypatch):  # noqa: F811
    assert run(capsys, "env", "set", "REGION=eu") == (0, "set variable REGION\n", "")
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cr3t-value\n"))
    assert run(capsys, "env", "set", "TOKEN", "-q") == (0, "TOKEN\n", "")
    code, out, _ = run(capsys, "env", "list")
    assert (
        code == 0 and "s3cr3t" not in out and out.splitlines()[1:] == ["REGION  ********", "TOKEN   ********"]
    )
    code, out, _ = run(capsys, "env", "list", "--reveal", "--json")
    assert json.loads(out) == {"REGION": "eu", "TOKEN": "s3cr3t-value"}
    code, _, err = run(capsys, "env", "set", "A", "B")
    assert code == 5 and "only one value can come from stdin" in err
    assert run(capsys, "env", "delete", "TOKEN", "--json") == (0, '{"deleted": ["TOKEN"]}\n', "")
    assert run(capsys, "env", "list", "-q") == (0, "REGION\n", "")
    code, _, err = run(capsys, "env", "delete", "TOKEN")
    assert code == 3 and "s3cr3t" not in err


def test_images_upload_list_delete(engine, capsys, tmp_path, monkeypatch):  # noqa: F811
    tarball = tmp_path / "tiny.tar"
    with tarfile.open(tarball, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    with monkeypatch.context() as terminal:  # progress is for a terminal only
        terminal.setattr(sys.stderr, "isatty", lambda: True)
        code, out, err = run(capsys, "image", "upload", "tiny", str(tarball))
    assert (code, out) == (0, "uploaded image tiny\n") and "\ruploading tiny: 100%" in err
    code, out, _ = run(capsys, "image", "list", "-q")
    assert code == 0 and "tiny" in out.split()
    code, out, _ = run(capsys, "image", "list", "--json")
    assert "tiny" in [image["name"] for image in json.loads(out)]
    code, _, err = run(capsys, "image", "upload", "bad", str(tmp_path / "missing.tar"))
    assert code == 5 and "is not a readable file" in err

    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, out, err = run(capsys, "image", "delete", "tiny")
    assert code == 1 and "nothing deleted" in err
    assert run(capsys, "image", "delete", "tiny", "-y") == (0, "deleted image tiny\n", "")
    code, out, _ = run(capsys, "image", "list", "-q")
    assert "tiny" not in out.split()
    code, _, _ = run(capsys, "image", "delete", "tiny", "-y")
    assert code == 3


def test_whoami_names_the_user_and_never_the_key(engine, capsys):  # noqa: F811
    code, out, _ = run(capsys, "whoami", "--json")
    answer = json.loads(out)
    assert code == 0 and answer["health"]["status"] == "ok"
    assert answer["whoami"]["user"]["email"].endswith("@localhost")
    assert answer["version"]["executable_name"] == "vmtui-serve"
    token = read_endpoint(engine.profiles["local"].state_dir).token
    assert token not in out
    code, out, _ = run(capsys, "whoami")
    assert code == 0 and "health:         ok" in out.splitlines() and token not in out


def test_alias_lists_vers_cli_aliases(isolated_home, capsys):
    folder = isolated_home / ".vers"
    folder.mkdir()
    (folder / "aliases.json").write_text(json.dumps({"web": "vm-1", "db": "vm-2"}))
    assert run(capsys, "alias") == (0, "ALIAS  VM ID\ndb     vm-2\nweb    vm-1\n", "")
    assert run(capsys, "alias", "web") == (0, "vm-1\n", "")
    assert run(capsys, "alias", "--json") == (0, '{"db": "vm-2", "web": "vm-1"}\n', "")
    code, out, err = run(capsys, "alias", "nope")
    assert (code, out) == (3, "") and "no alias 'nope'" in err

"""vers-cli's alias file (`~/.vers/aliases.json`) read into display names, never trusted blindly."""

from __future__ import annotations

import json

import httpx

from tests.contract.fakes import TodayVers
from vmtui.providers.vers import VersProvider
from vmtui.services.vers_aliases import load_vers_aliases


def write_aliases(home, content: str) -> None:
    (home / ".vers").mkdir()
    (home / ".vers" / "aliases.json").write_text(content)


def test_aliases_are_read_by_vm_id_from_the_users_home(isolated_home):
    write_aliases(isolated_home, json.dumps({"web": "vm-1", "db": "vm-2", "www": "vm-1", "": "vm-3"}))
    assert load_vers_aliases() == {"vm-1": "web", "vm-2": "db"}


def test_a_missing_or_broken_file_means_no_aliases(isolated_home, caplog):
    assert load_vers_aliases() == {}
    write_aliases(isolated_home, "[1, 2")
    assert load_vers_aliases() == {}
    (isolated_home / ".vers" / "aliases.json").write_text('["web", "vm-1"]')
    assert load_vers_aliases() == {}
    assert "not a JSON object" in caplog.text


async def test_an_alias_is_the_display_name_after_the_name_label():
    server = TodayVers()
    plain, named = server.add_vm(), server.add_vm(name="from-label")
    provider = VersProvider(
        "vers",
        "https://api.vers.sh",
        "k" * 40,
        transport=httpx.MockTransport(server.handle),
        aliases={plain: "web", named: "ignored"},
    )
    by_id = {vm.id: vm for vm in await provider.list_vms()}
    assert by_id[plain].display_name == "web" and by_id[plain].alias == "web"
    assert by_id[named].display_name == "from-label"
    assert (await provider.get_vm(plain)).display_name == "web"
    await provider.aclose()

import pytest
from pydantic import SecretStr

from vmtui.config import ConfigError, load_settings
from vmtui.core.errors import AuthError
from vmtui.providers.swiftor import SwiftorProvider
from vmtui.providers.vers import VersProvider
from vmtui.services.registry import Registry

CONFIG = """
active = "prod"
[profiles.prod]
kind = "vers"
url = "https://api.example.test"
api_key = "k-123"
[profiles.keyless]
kind = "vers"
url = "https://api.other.test"
[profiles.cloud]
kind = "swiftor"
token = "jwt-abc"
[profiles.off]
kind = "vers"
api_key = "x"
enabled = false
"""


@pytest.fixture
def registry(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return Registry(load_settings(path, env={}))


def test_shown_profiles_default_to_active_and_accept_lists(registry):
    assert registry.shown_profiles([]) == ["prod"]
    assert registry.shown_profiles(["prod,cloud", "prod"]) == ["prod", "cloud"]
    with pytest.raises(ConfigError, match="nope"):
        registry.shown_profiles(["nope"])


async def test_vers_and_swiftor_profiles_open_their_providers(registry):
    statuses = []
    vers = await registry.opener("prod")(statuses.append)
    assert isinstance(vers, VersProvider) and vers.name == "prod"
    assert "k-123" not in repr(vers)
    swiftor = await registry.opener("cloud")(statuses.append)
    assert isinstance(swiftor, SwiftorProvider) and swiftor.name == "cloud"
    await vers.aclose()
    await swiftor.aclose()


async def test_missing_key_and_disabled_profile_are_clear_errors(registry):
    with pytest.raises(AuthError, match="profile 'keyless' has no api_key"):
        await registry.opener("keyless")(lambda _: None)
    with pytest.raises(ConfigError, match="disabled"):
        registry.shown_profiles(["off"])


@pytest.mark.root
async def test_local_swiftor_profile_drives_the_engines_swiftor_api(tmp_path):
    import json
    import os
    import signal

    state = tmp_path / "engine"
    path = tmp_path / "config.toml"
    path.write_text(
        f'[poll]\ntimeout = 60\n[profiles.desk]\nkind = "local-swiftor"\nstate_dir = "{state}"\n'
        'email = "ada@localhost"\n'
    )
    provider = await Registry(load_settings(path, env={})).opener("desk")(lambda _status: None)
    try:
        assert isinstance(provider, SwiftorProvider)
        assert await provider.list_vms() == []
        await provider.create_desktop(
            label="mine",
            region="US",
            distribution="ubuntu",
            desktop="xfce",
            cpu=1,
            ram_gb=1,
            password=SecretStr("pw-123456"),
            storage_type="ephemeral",
        )
        (vm,) = await provider.list_vms()
        assert (vm.label, vm.provider) == ("mine", "desk")
        assert provider.desktop_url(vm.id).startswith(f"http://{vm.id}.localhost:")
        await provider.delete_vm(vm.id)
    finally:
        await provider.aclose()
        os.kill(json.loads((state / "endpoint.json").read_text())["pid"], signal.SIGTERM)

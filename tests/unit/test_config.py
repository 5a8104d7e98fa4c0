"""vmtui.config: sources and their precedence, Vers conventions, error messages, redaction."""

import json
import math
import os
import tempfile
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from vmtui import paths
from vmtui.config import (
    REDACTED,
    ConfigError,
    Profile,
    ProfileKind,
    Settings,
    load_settings,
    redacted_dump,
)

SECRET = "plant-3f9c1d-very-unique-secret"

EXAMPLE = """\
active = "local"
[profiles.prod]
kind = "vers"
url = "https://api.vers.sh"
api_key = "vers-key-value"
[profiles.desk]
kind = "swiftor"
url = "https://api.swiftor.io"
token = "swiftor-jwt-value"
[poll]
fast = 0.5
[ui]
ascii = true
"""


def _write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(path: Path, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env=env or {})
    return caught.value


# --- sources and precedence ----------------------------------------------------------------------


def test_missing_file_gives_defaults_and_the_local_profile(tmp_path: Path):
    settings = load_settings(tmp_path / "absent.toml", env={})
    assert settings.config_path == tmp_path / "absent.toml"
    assert settings.active == "local"
    assert list(settings.profiles) == ["local"]
    local = settings.profiles["local"]
    assert local.kind is ProfileKind.LOCAL and local.enabled and local.url is None
    assert local.state_dir == paths.engine_state_dir()
    assert (settings.poll.fast, settings.poll.slow, settings.poll.max_backoff) == (0.5, 4.0, 30.0)
    assert settings.ui.theme == "textual-dark" and settings.ui.ascii is False
    assert settings.ssh.keepalive_interval == 10


def test_default_path_is_under_xdg_config_home(isolated_home: Path):
    default = isolated_home / ".config" / "vmtui" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text("[ui]\ntheme = 'nord'\n")
    settings = load_settings()
    assert settings.config_path == default
    assert settings.ui.theme == "nord"


def test_example_file_is_read(tmp_path: Path):
    settings = load_settings(_write(tmp_path, EXAMPLE), env={})
    assert list(settings.profiles) == ["local", "prod", "desk"]
    prod, desk = settings.profiles["prod"], settings.profiles["desk"]
    assert prod.kind is ProfileKind.VERS and prod.api_key.get_secret_value() == "vers-key-value"
    assert prod.vm_domain == "vm.vers.sh"
    assert desk.kind is ProfileKind.SWIFTOR and desk.token.get_secret_value() == "swiftor-jwt-value"
    assert settings.ui.ascii is True


def test_env_beats_file_beats_defaults_and_nested_values_merge(tmp_path: Path):
    path = _write(tmp_path, "[poll]\nfast = 1.0\nslow = 5.0\n")
    env = {"VMTUI_POLL__FAST": "2.5", "VMTUI_UI__ASCII": "true"}
    settings = load_settings(path, env=env)
    assert settings.poll.fast == 2.5  # env over file
    assert settings.poll.slow == 5.0  # file over default, kept next to the env value
    assert settings.poll.timeout == 10.0  # default
    assert settings.ui.ascii is True


def test_init_args_beat_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VMTUI_CONFIG_FILE", str(_write(tmp_path, "[poll]\nfast = 1.0\nslow = 9.0\n")))
    monkeypatch.setenv("VMTUI_POLL__FAST", "2.0")
    assert Settings().poll.fast == 2.0
    settings = Settings(poll={"fast": 3.0, "slow": 9.0})
    assert settings.poll.fast == 3.0
    assert settings.config_path == tmp_path / "config.toml"


def test_env_names_profiles_and_active(tmp_path: Path):
    path = _write(tmp_path, '[profiles.prod]\nkind = "vers"\n')
    env = {"VMTUI_ACTIVE": "prod", "VMTUI_PROFILES__PROD__API_KEY": SECRET}
    settings = load_settings(path, env=env)
    name, profile = settings.profile()
    assert name == "prod"
    assert profile.api_key.get_secret_value() == SECRET
    assert profile.url == "https://api.vers.sh"


def test_vmtui_config_file_selects_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    chosen = _write(tmp_path, "[ui]\nscrollback = 42\n", name="chosen.toml")
    assert load_settings(env={"VMTUI_CONFIG_FILE": str(chosen)}).ui.scrollback == 42
    monkeypatch.setenv("VMTUI_CONFIG_FILE", str(chosen))
    settings = load_settings()
    assert settings.config_path == chosen and settings.ui.scrollback == 42


# --- Vers conventions ----------------------------------------------------------------------------


def test_vers_api_key_adds_a_vers_profile(tmp_path: Path):
    env = {"VERS_API_KEY": SECRET, "VERS_URL": "https://api.staging.vers.sh/"}
    vers = load_settings(tmp_path / "absent.toml", env=env).profiles["vers"]
    assert vers.kind is ProfileKind.VERS
    assert vers.api_key.get_secret_value() == SECRET
    assert vers.url == "https://api.staging.vers.sh"
    assert vers.vm_domain == "vm.staging.vers.sh"


def test_vers_base_url_wins_over_vers_url_and_url_defaults(tmp_path: Path):
    env = {"VERS_API_KEY": "k", "VERS_BASE_URL": "https://api.a.example", "VERS_URL": "https://api.b.example"}
    assert load_settings(tmp_path / "absent.toml", env=env).profiles["vers"].url == "https://api.a.example"
    plain = load_settings(tmp_path / "absent.toml", env={"VERS_API_KEY": "k"}).profiles["vers"]
    assert plain.url == "https://api.vers.sh"


def test_versrc_supplies_the_key(isolated_home: Path, tmp_path: Path):
    (isolated_home / ".versrc").write_text(
        json.dumps({"apiKey": SECRET, "email": "a@b.c", "sshKeyPath": "/k"})
    )
    settings = load_settings(tmp_path / "absent.toml", env={"HOME": str(isolated_home)})
    assert settings.profiles["vers"].api_key.get_secret_value() == SECRET
    from_environ = load_settings(tmp_path / "absent.toml")
    assert from_environ.profiles["vers"].api_key.get_secret_value() == SECRET


def test_vers_api_key_wins_over_versrc(isolated_home: Path, tmp_path: Path):
    (isolated_home / ".versrc").write_text(json.dumps({"apiKey": "from-versrc"}))
    env = {"HOME": str(isolated_home), "VERS_API_KEY": "from-env"}
    assert (
        load_settings(tmp_path / "absent.toml", env=env).profiles["vers"].api_key.get_secret_value()
        == "from-env"
    )


def test_single_keyless_vers_profile_is_filled(tmp_path: Path):
    path = _write(tmp_path, '[profiles.work]\nkind = "vers"\n')
    settings = load_settings(path, env={"VERS_API_KEY": SECRET, "VERS_URL": "https://api.staging.vers.sh"})
    assert set(settings.profiles) == {"local", "work"}
    work = settings.profiles["work"]
    assert work.api_key.get_secret_value() == SECRET
    assert work.url == "https://api.staging.vers.sh"


def test_vers_profiles_with_keys_or_several_are_left_alone(tmp_path: Path):
    keyed = _write(tmp_path, '[profiles.work]\nkind = "vers"\napi_key = "own"\nurl = "https://api.x.io"\n')
    settings = load_settings(keyed, env={"VERS_API_KEY": SECRET, "VERS_URL": "https://api.other.io"})
    assert set(settings.profiles) == {"local", "work"}
    assert settings.profiles["work"].api_key.get_secret_value() == "own"
    assert settings.profiles["work"].url == "https://api.x.io"
    two = _write(tmp_path, '[profiles.a]\nkind = "vers"\n[profiles.b]\nkind = "vers"\n', name="two.toml")
    settings = load_settings(two, env={"VERS_API_KEY": SECRET})
    assert settings.profiles["a"].api_key is None and settings.profiles["b"].api_key is None
    assert "vers" not in settings.profiles


def test_no_vers_key_means_no_vers_profile(tmp_path: Path):
    settings = load_settings(tmp_path / "absent.toml", env={"VERS_URL": "https://api.vers.sh"})
    assert list(settings.profiles) == ["local"]


def test_malformed_versrc_is_a_clear_error(isolated_home: Path, tmp_path: Path):
    versrc = isolated_home / ".versrc"
    versrc.write_text(f'{{\n  "apiKey": "{SECRET}",\n  oops\n}}')
    error = _error(tmp_path / "absent.toml", env={"HOME": str(isolated_home)})
    assert str(versrc) in str(error) and "line 3" in str(error)
    assert SECRET not in str(error)
    versrc.write_text("[1, 2]")
    assert "JSON object" in str(_error(tmp_path / "absent.toml", env={"HOME": str(isolated_home)}))
    versrc.write_text('{"apiKey": 7}')
    assert "apiKey: must be a string" in str(
        _error(tmp_path / "absent.toml", env={"HOME": str(isolated_home)})
    )


# --- profiles ------------------------------------------------------------------------------------


def test_local_profile_can_be_disabled_but_not_retyped(tmp_path: Path):
    disabled = _write(
        tmp_path,
        'active = "desk"\n[profiles.local]\nenabled = false\n'
        '[profiles.desk]\nkind = "swiftor"\ntoken = "t"\n',
    )
    settings = load_settings(disabled, env={})
    assert settings.profiles["local"].enabled is False
    with pytest.raises(ConfigError, match="'local' is disabled"):
        settings.profile("local")
    assert settings.profile()[0] == "desk"
    retyped = _write(tmp_path, '[profiles.local]\nkind = "vers"\n', name="retyped.toml")
    error = _error(retyped)
    assert error.field == "profiles.local.kind" and error.line == 2


def test_active_must_name_an_enabled_profile(tmp_path: Path):
    error = _error(_write(tmp_path, 'active = "ghost"\n'))
    assert (error.field, error.line) == ("active", 1)
    assert "unknown profile 'ghost'" in str(error)
    error = _error(_write(tmp_path, "[profiles.local]\nenabled = false\n", name="off.toml"))
    assert "'local' is disabled" in str(error)


def test_profile_lookup(tmp_path: Path):
    settings = load_settings(_write(tmp_path, EXAMPLE), env={})
    assert settings.profile("desk")[1].kind is ProfileKind.SWIFTOR
    assert settings.profile() == ("local", settings.profiles["local"])
    with pytest.raises(ConfigError, match=r"unknown profile 'nope' \(defined: desk, local, prod\)"):
        settings.profile("nope")


def test_profile_fields_are_checked_against_the_kind():
    with pytest.raises(ValueError, match="token only applies to swiftor profiles"):
        Profile(kind="vers", token="t")
    with pytest.raises(ValueError, match="must be an http"):
        Profile(kind="vers", url="api.vers.sh")
    assert Profile(kind="swiftor", url="https://api.swiftor.io/").url == "https://api.swiftor.io"
    assert Profile(kind="vers", url="http://127.0.0.1:8080").vm_domain is None


# --- malformed files -----------------------------------------------------------------------------


def test_toml_syntax_error_names_file_line_and_column(tmp_path: Path):
    path = _write(tmp_path, 'active = "local"\n[poll]\nfast = = 1\n')
    error = _error(path)
    assert (error.path, error.line, error.column) == (path, 3, 8)
    assert str(error).startswith(f"{path}, line 3, column 8: invalid TOML: ")


def test_wrong_type_names_field_and_line(tmp_path: Path):
    path = _write(tmp_path, '# comment\n[ui]\nascii = true\n\n[poll]\nslow = 5\nfast = "quick"\n')
    error = _error(path)
    assert (error.field, error.line) == ("poll.fast", 7)
    assert (
        str(error)
        == f"{path}, line 7: poll.fast: Input should be a valid number, unable to parse string as a number"
    )


def test_unknown_kind_names_the_allowed_kinds(tmp_path: Path):
    error = _error(_write(tmp_path, '[profiles.x]\nurl = "https://h.io"\nkind = "aws"\n'))
    assert (error.field, error.line) == ("profiles.x.kind", 3)
    assert "'local', 'vers', 'swiftor' or 'local-swiftor'" in str(error)


def test_unknown_keys_are_rejected(tmp_path: Path):
    error = _error(_write(tmp_path, 'active = "local"\ncolour = "red"\n'))
    assert (error.field, error.line) == ("colour", 2) and "Extra inputs are not permitted" in str(error)
    error = _error(_write(tmp_path, "[poll]\nfsat = 1\n", name="typo.toml"))
    assert (error.field, error.line) == ("poll.fsat", 2)


def test_dotted_and_inline_keys_are_located(tmp_path: Path):
    error = _error(_write(tmp_path, 'ui.ascii = true\npoll.fast = "x"\n'))
    assert (error.field, error.line) == ("poll.fast", 2)
    error = _error(
        _write(tmp_path, '[profiles]\nprod = { kind = "vers", url = "ftp://x" }\n', name="inline.toml")
    )
    assert (error.field, error.line) == ("profiles.prod.url", 2)


def test_bad_profile_name(tmp_path: Path):
    error = _error(_write(tmp_path, '[profiles."my prod"]\nkind = "vers"\n'))
    assert (error.field, error.line) == ("profiles.my prod", 1)
    assert "a profile name is 1-64 letters, digits" in error.problem


def test_several_problems_come_in_one_message(tmp_path: Path):
    error = _error(_write(tmp_path, "[poll]\nfast = 'x'\n[ssh]\nkeepalive_count_max = 0\n"))
    assert "\n" not in str(error)
    assert "line 2: poll.fast" in str(error) and "line 4: ssh.keepalive_count_max" in str(error)


def test_non_utf8_file(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'active = "local"\nname = "\xff"\n')
    error = _error(path)
    assert (error.line, error.problem) == (2, "not valid UTF-8 text")


def test_unreadable_config_path_is_a_config_error(tmp_path: Path):
    assert "cannot read" in str(_error(tmp_path))  # a directory, not a file


def test_bad_env_values_name_the_variable(tmp_path: Path):
    error = _error(tmp_path / "absent.toml", env={"VMTUI_POLL__FAST": "soon"})
    assert error.source == "environment variable VMTUI_POLL__FAST" and error.field == "poll.fast"
    error = _error(tmp_path / "absent.toml", env={"VMTUI_POLL": "{not json"})
    assert error.source == "environment variable VMTUI_POLL"
    error = _error(tmp_path / "absent.toml", env={"VERS_API_KEY": "k", "VERS_BASE_URL": "nope"})
    assert error.source == "from VERS_BASE_URL" and error.field == "profiles.vers.url"


def test_missing_field_of_an_env_only_profile_names_the_variable(tmp_path: Path):
    error = _error(tmp_path / "absent.toml", env={"VMTUI_PROFILES__PROD__API_KEY": SECRET})
    assert error.source == "environment variable VMTUI_PROFILES__PROD__API_KEY"
    assert error.field == "profiles.prod.kind" and "Field required" in str(error)
    assert SECRET not in str(error)


def test_unusable_data_dir_is_a_config_error(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    error = _error(tmp_path / "absent.toml")
    assert str(error).startswith(f"cannot create {blocker}")


# --- secrets -------------------------------------------------------------------------------------


def test_secrets_never_appear_in_errors(tmp_path: Path):
    texts = [
        f'[profiles.p]\nkind = "vers"\napi_key = "{SECRET}"\nurl = "{SECRET}"\n',
        f'[profiles.p]\nkind = "vers"\napi_key = ["{SECRET}"]\n',
        f'[profiles.p]\nkind = "local"\ntoken = "{SECRET}"\n',
        f'[poll]\nfast = "{SECRET}"\n',
        f'active = "x"\n[profiles.p]\nkind = "swiftor"\ntoken = "{SECRET}\n',
    ]
    for number, text in enumerate(texts):
        error = _error(_write(tmp_path, text, name=f"c{number}.toml"))
        assert SECRET not in str(error) and SECRET not in repr(error), text


def test_secrets_never_appear_in_reprs_or_dumps(tmp_path: Path):
    text = EXAMPLE.replace("vers-key-value", SECRET).replace("swiftor-jwt-value", SECRET + "-jwt")
    settings = load_settings(_write(tmp_path, text), env={})
    for rendering in (
        repr(settings),
        str(settings),
        repr(settings.profiles),
        redacted_dump(settings),
        settings.model_dump_json(),
    ):
        assert SECRET not in rendering


def test_redacted_dump_is_valid_toml_with_masked_secrets(tmp_path: Path):
    text = EXAMPLE + '[ui.keymap]\n"vm.ssh" = "s"\n'
    settings = load_settings(_write(tmp_path, text), env={})
    dumped = tomllib.loads(redacted_dump(settings))
    assert dumped["profiles"]["prod"]["api_key"] == REDACTED
    assert dumped["profiles"]["desk"]["token"] == REDACTED
    assert "api_key" not in dumped["profiles"]["desk"] and "token" not in dumped["profiles"]["prod"]
    assert dumped["profiles"]["local"]["state_dir"] == str(paths.engine_state_dir())
    assert dumped["ui"]["keymap"] == {"vm.ssh": "s"}
    assert dumped["poll"] == {"fast": 0.5, "slow": 4.0, "max_backoff": 30.0, "timeout": 10.0}
    assert dumped["active"] == "local"


# --- fuzzing -------------------------------------------------------------------------------------

_KEYS = [
    "active",
    "profiles",
    "poll",
    "ui",
    "ssh",
    "kind",
    "url",
    "api_key",
    "token",
    "fast",
    "slow",
    "enabled",
    "state_dir",
    "keymap",
    "scrollback",
    "ascii",
    "local",
    "prod",
    "vers",
    "x",
]
_SCALARS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats().map(lambda f: "nan" if math.isnan(f) else repr(f)),  # TOML spells them nan, inf, -inf
    st.booleans().map(lambda b: "true" if b else "false"),
    st.text(max_size=20).map(json.dumps),
    st.sampled_from(
        ['"local"', '"vers"', '"swiftor"', '"https://api.vers.sh"', "1979-05-27T07:32:00Z", "[]", "{}"]
    ),
)
_LINES = st.one_of(
    st.tuples(st.lists(st.sampled_from(_KEYS), min_size=1, max_size=3), _SCALARS).map(
        lambda kv: f"{'.'.join(kv[0])} = {kv[1]}"
    ),
    st.lists(st.sampled_from(_KEYS), min_size=1, max_size=3).map(lambda ks: f"[{'.'.join(ks)}]"),
    st.text(max_size=30),
)


def _load_outcome(raw: bytes, env: dict[str, str]) -> str:
    """Load `raw` as the config file; return everything the user could see of the outcome."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "config.toml"
        path.write_bytes(raw)
        try:
            settings = load_settings(path, env={"HOME": directory, **env})
        except ConfigError as error:
            assert "Traceback" not in str(error) and "\n" not in str(error).strip()
            return f"{error} {error!r}"
        assert settings.profiles["local"].kind is ProfileKind.LOCAL
        dumped = redacted_dump(settings)
        tomllib.loads(dumped)
        return f"{dumped} {settings!r} {settings.model_dump_json()}"


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(_LINES, max_size=8))
def test_fuzzed_toml_text_yields_settings_or_config_error(lines: list[str]):
    _load_outcome("\n".join(lines).encode("utf-8", "surrogatepass"), {})


@hypothesis_settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=200))
def test_fuzzed_bytes_yield_settings_or_config_error(raw: bytes):
    _load_outcome(raw, {})


_SECRET_VALUES = st.sampled_from(
    [f'"{SECRET}"', f'["{SECRET}"]', f'{{ k = "{SECRET}" }}', f'"""{SECRET}\n"""', f"'{SECRET}'"]
)


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["vers", "swiftor", "local", "aws", "1"]),
    secret_field=st.sampled_from(["api_key", "token"]),
    secret=_SECRET_VALUES,
    noise=st.lists(_LINES, max_size=3),
)
def test_fuzzed_secrets_never_reach_the_user(kind: str, secret_field: str, secret: str, noise: list[str]):
    text = "\n".join([*noise, "[profiles.p]", f'kind = "{kind}"', f"{secret_field} = {secret}"])
    assert SECRET not in _load_outcome(text.encode(), {})


_ENV_NAMES = st.sampled_from(
    [
        "VMTUI_ACTIVE",
        "VMTUI_POLL",
        "VMTUI_POLL__FAST",
        "VMTUI_UI__KEYMAP",
        "VMTUI_PROFILES",
        "VMTUI_PROFILES__PROD__KIND",
        "VMTUI_PROFILES__LOCAL__ENABLED",
        "VMTUI_SSH__KEEPALIVE_INTERVAL",
        "VERS_API_KEY",
        "VERS_URL",
        "VERS_BASE_URL",
        "VMTUI_UI",
    ]
)


@hypothesis_settings(max_examples=200, deadline=None)
@given(env=st.dictionaries(_ENV_NAMES, st.one_of(st.text(max_size=20), _SCALARS), max_size=4))
def test_fuzzed_env_values_yield_settings_or_config_error(env: dict[str, str]):
    env = {name: value.replace("\x00", "") for name, value in env.items()}
    _load_outcome(b'[profiles.prod]\nkind = "vers"\n', env)
    assert os.environ.get("VMTUI_ACTIVE") is None


def test_local_swiftor_profile_defaults_to_the_engine_and_a_local_user(tmp_path: Path):
    path = _write(tmp_path, '[profiles.desk]\nkind = "local-swiftor"\n')
    _, profile = load_settings(path).profile("desk")
    assert profile.state_dir is not None and profile.state_dir.name == "engine"
    assert profile.email == "local@localhost"
    assert profile.url is None


def test_settings_that_belong_to_other_kinds_are_refused(tmp_path: Path):
    error = _error(_write(tmp_path, '[profiles.desk]\nkind = "local-swiftor"\ntoken = "x"\n'))
    assert "token only applies to swiftor profiles" in str(error)
    error = _error(_write(tmp_path, '[profiles.l]\nkind = "vers"\nemail = "a@b"\n'))
    assert "email only applies to local-swiftor profiles" in str(error)


def test_a_config_file_named_by_the_environment_must_exist(tmp_path: Path):
    missing = tmp_path / "nonexistent.toml"
    env = {"VMTUI_CONFIG_FILE": str(missing), "XDG_DATA_HOME": str(tmp_path), "HOME": str(tmp_path)}
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    assert "no such file (named by VMTUI_CONFIG_FILE)" in str(caught.value)
    assert str(missing) in str(caught.value)

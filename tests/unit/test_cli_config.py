"""`vmtui config` run as a real process: output, redaction, exit codes, no tracebacks."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

SECRET = "plant-cli-8e21b7-unique-secret"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "vmtui", "config", *args],
        capture_output=True,
        check=False,
        text=True,
        env=full_env,
        timeout=60,
    )


def test_path_only(isolated_home: Path, tmp_path: Path):
    result = _run("--path")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"{isolated_home / '.config' / 'vmtui' / 'config.toml'}\n"
    assert not (isolated_home / ".config" / "vmtui").exists()  # asking for the path creates nothing
    other = tmp_path / "other.toml"
    assert _run("--path", env={"VMTUI_CONFIG_FILE": str(other)}).stdout == f"{other}\n"


def test_defaults_without_a_file(isolated_home: Path):
    result = _run()
    assert result.returncode == 0, result.stderr
    first, _, body = result.stdout.partition("\n")
    assert (
        first
        == f"# config file: {isolated_home / '.config' / 'vmtui' / 'config.toml'} (not found; using defaults)"
    )
    resolved = tomllib.loads(body)
    assert resolved["active"] == "local" and list(resolved["profiles"]) == ["local"]


def test_resolved_config_is_redacted(isolated_home: Path, tmp_path: Path):
    config = tmp_path / "config.toml"
    config.write_text(
        f'active = "prod"\n[profiles.prod]\nkind = "vers"\napi_key = "{SECRET}-file"\n'
        f'[profiles.desk]\nkind = "swiftor"\ntoken = "{SECRET}-jwt"\n[poll]\nfast = 1.0\n'
    )
    (isolated_home / ".versrc").write_text(json.dumps({"apiKey": SECRET + "-versrc"}))
    env = {
        "VMTUI_CONFIG_FILE": str(config),
        "VMTUI_POLL__SLOW": "8",
        "VMTUI_PROFILES__DESK__TOKEN": SECRET + "-env",
    }
    result = _run(env=env)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert result.stdout.startswith(f"# config file: {config} (exists)\n")
    resolved = tomllib.loads(result.stdout)
    assert resolved["active"] == "prod"
    assert resolved["profiles"]["prod"]["api_key"] == "********"
    assert resolved["profiles"]["desk"]["token"] == "********"
    assert resolved["poll"]["fast"] == 1.0 and resolved["poll"]["slow"] == 8.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('active = "local"\n[poll]\nfast = = 2\n', "line 3, column 8: invalid TOML: "),
        (
            '[ui]\nascii = true\nscrollback = "lots"\n',
            "line 3: ui.scrollback: Input should be a valid integer",
        ),
        (
            f'[profiles.p]\nkind = "aws"\napi_key = "{SECRET}"\n',
            "line 2: profiles.p.kind: Input should be 'local', 'vers', 'swiftor' or 'local-swiftor'",
        ),
        ("nonsense = 1\n", "line 1: nonsense: Extra inputs are not permitted"),
    ],
)
def test_malformed_config_is_one_line_and_exit_1(tmp_path: Path, text: str, expected: str):
    config = tmp_path / "config.toml"
    config.write_text(text)
    result = _run(env={"VMTUI_CONFIG_FILE": str(config)})
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"vmtui: config error: {config}, {expected}")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert SECRET not in result.stderr


def test_bad_environment_value_is_one_line_and_exit_1():
    result = _run(env={"VMTUI_POLL__FAST": SECRET})
    assert result.returncode == 1
    assert result.stderr == (
        "vmtui: config error: environment variable VMTUI_POLL__FAST: poll.fast: "
        "Input should be a valid number, unable to parse string as a number\n"
    )


def test_broken_versrc_is_one_line_and_exit_1(isolated_home: Path):
    (isolated_home / ".versrc").write_text(json.dumps({"apiKey": SECRET})[:-1] + ",")
    result = _run()
    assert result.returncode == 1
    assert result.stderr.startswith(f"vmtui: config error: {isolated_home / '.versrc'}, line 1")
    assert SECRET not in result.stderr and "Traceback" not in result.stderr

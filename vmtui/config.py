"""vmtui's settings: one TOML file, `VMTUI_*` environment variables, and the Vers conventions.

Where values come from (highest precedence first):

1. explicit keyword arguments to `Settings(...)` (the init arguments);
2. `VMTUI_*` environment variables; nested fields use `__`, e.g. `VMTUI_POLL__FAST=1`,
   `VMTUI_ACTIVE=prod`, `VMTUI_PROFILES__PROD__API_KEY=...`; names are case-insensitive;
3. the TOML file: `$VMTUI_CONFIG_FILE` if set, else `$XDG_CONFIG_HOME/vmtui/config.toml`
   (`paths.config_file()`); a missing file is fine and means "defaults";
4. the defaults below.

Profiles. A profile names one place VMs live: `local` (the built-in engine, `vmtui serve`), a
`vers` account (`url`, `api_key`) or a `swiftor` account (`url`, `token`). The profile named
`local` always exists and always has kind `local`; the file can switch it off with
`[profiles.local] enabled = false`. `active` names the profile used by default for creating VMs
and for CLI commands; it must name an enabled profile. Unset `url`s default per kind
(`https://api.vers.sh`, `https://api.swiftor.io`); an unset Vers `vm_domain` is derived from the
url (`api.X` -> `vm.X`); an unset local `state_dir` is `paths.engine_state_dir()`.

Vers keys the way the official tools find them. The API key is `VERS_API_KEY`, else `apiKey` in
`~/.versrc` (JSON `{"apiKey": ..., "email": ..., "sshKeyPath": ...}`, under `$HOME`); the url is
`VERS_BASE_URL`, else `VERS_URL`. When such a key exists and the resolved configuration (file and
`VMTUI_*` variables) defines no vers profile, a profile named `vers` is added with that key and
url. When it defines exactly one vers profile and that profile has no key, the key (and, if the
profile has no url, the url) is filled in. Two or more vers profiles are left alone.

Errors. Anything wrong (TOML syntax, unknown key, wrong type, unknown kind, bad `~/.versrc`)
raises `ConfigError`, whose one-line message names the file, the line (and column when known),
the field and what is wrong. Secrets are `SecretStr`; no message, repr or dump ever contains one.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import tomli_w
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from vmtui import paths

VERS_DEFAULT_URL = "https://api.vers.sh"
SWIFTOR_DEFAULT_URL = "https://api.swiftor.io"
REDACTED = "********"
ENV_PREFIX = "VMTUI_"


class ConfigError(Exception):
    """A configuration problem, as one line fit for the user. Never contains a secret."""

    def __init__(
        self,
        problem: str,
        *,
        path: Path | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        source: str | None = None,
    ):
        self.problem = problem
        self.path = path
        self.line = line
        self.column = column
        self.field = field
        self.source = source
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = [self.source] if self.source else []
        if self.path is not None:
            where.append(str(self.path))
        if self.line is not None:
            where.append(f"line {self.line}" + (f", column {self.column}" if self.column else ""))
        body = f"{self.field}: {self.problem}" if self.field else self.problem
        return f"{', '.join(where)}: {body}" if where else body


class ProfileKind(StrEnum):
    LOCAL = "local"
    VERS = "vers"
    SWIFTOR = "swiftor"
    LOCAL_SWIFTOR = "local-swiftor"
    """The local engine's Swiftor API (`/swiftor`), as a local user: Swiftor screens with no account."""


_DEFAULT_URLS = {ProfileKind.VERS: VERS_DEFAULT_URL, ProfileKind.SWIFTOR: SWIFTOR_DEFAULT_URL}


class Profile(BaseModel):
    """One place VMs live: the local engine, a Vers account or a Swiftor account."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    kind: ProfileKind
    url: str | None = None
    """API base url; defaults per kind (vers: https://api.vers.sh, swiftor: https://api.swiftor.io)."""
    api_key: SecretStr | None = Field(default=None, repr=False)
    """Vers API key."""
    token: SecretStr | None = Field(default=None, repr=False)
    """Swiftor JWT."""
    insecure_tls: bool = False
    """Skip TLS certificate verification (self-hosted or staging endpoints)."""
    state_dir: Path | None = None
    """Local engine state directory; defaults to paths.engine_state_dir()."""
    vm_domain: str | None = None
    """Vers: domain of the VMs' SSH-over-TLS endpoints; derived from the url (api.X -> vm.X)."""
    email: str | None = None
    """local-swiftor: the local user whose VMs are shown (default local@localhost)."""
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// url with a host")
        return url.strip().rstrip("/")

    @model_validator(mode="after")
    def _fill_kind_defaults(self) -> Profile:
        local_kinds = (ProfileKind.LOCAL, ProfileKind.LOCAL_SWIFTOR)
        applies_to = {
            "api_key": (ProfileKind.VERS,),
            "token": (ProfileKind.SWIFTOR,),
            "vm_domain": (ProfileKind.VERS,),
            "state_dir": local_kinds,
            "email": (ProfileKind.LOCAL_SWIFTOR,),
            "url": (ProfileKind.VERS, ProfileKind.SWIFTOR),
        }
        for name, kinds in applies_to.items():
            if getattr(self, name) is not None and self.kind not in kinds:
                raise ValueError(f"{name} only applies to {' and '.join(kinds)} profiles, not {self.kind}")
        if self.url is None:
            self.url = _DEFAULT_URLS.get(self.kind)
        if self.kind is ProfileKind.VERS and self.vm_domain is None:
            host = urlsplit(self.url or "").hostname or ""
            if host.startswith("api."):
                self.vm_domain = "vm." + host.removeprefix("api.")
        if self.kind in local_kinds and self.state_dir is None:
            self.state_dir = paths.engine_state_dir()
        if self.kind is ProfileKind.LOCAL_SWIFTOR and self.email is None:
            self.email = "local@localhost"
        return self


_PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class PollSettings(BaseModel):
    """How often the UI refreshes VM state (seconds)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    fast: _PositiveSeconds = 0.5
    """Interval while something is changing (booting, branching)."""
    slow: _PositiveSeconds = 4.0
    """Interval when everything is idle."""
    max_backoff: _PositiveSeconds = 30.0
    """Longest wait between retries when the API fails."""
    timeout: _PositiveSeconds = 10.0
    """Per-request timeout."""

    @model_validator(mode="after")
    def _check_order(self) -> PollSettings:
        if not self.fast <= self.slow <= self.max_backoff:
            raise ValueError("expected fast <= slow <= max_backoff")
        return self


class UiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    ascii: bool = False
    """Draw with ASCII only (no box-drawing or emoji)."""
    theme: str = "textual-dark"
    scrollback: int = Field(default=10_000, ge=0)
    """Lines of terminal scrollback kept per session."""
    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id -> key(s), overriding the defaults."""
    checkpoint: Literal["always", "ask", "never"] = "ask"
    """Commit a VM (a `vmtui.checkpoint` commit) before deleting it, so `u` can restore it."""
    checkpoint_keep: int = Field(default=5, ge=1, le=1000)
    """Checkpoints kept per profile; older ones are deleted after each new one."""


class SshSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    keepalive_interval: int = Field(default=10, ge=0)
    """Seconds between keepalives; 0 turns them off."""
    keepalive_count_max: int = Field(default=6, ge=1)
    """Unanswered keepalives before the connection counts as dead."""


def _check_profile_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name):
        raise ValueError(
            "a profile name is 1-64 letters, digits, '_' or '-', starting with a letter or digit"
        )
    return name


ProfileName = Annotated[str, AfterValidator(_check_profile_name)]


@dataclass
class _Origin:
    """The raw inputs of one load: shared by the sources, the validators and the error messages."""

    path: Path
    text: str
    env: Mapping[str, str]
    implicit: dict[tuple[str, ...], str] = field(default_factory=dict)
    """Field location -> the outside source (VERS_API_KEY, ~/.versrc, ...) that supplied it."""


_ORIGIN: ContextVar[_Origin | None] = ContextVar("vmtui_config_origin", default=None)


class _EnvMappingSource(EnvSettingsSource):
    """The `VMTUI_*` source, reading a given mapping instead of `os.environ`."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]):
        super().__init__(settings_cls)
        self.env_vars = {name.lower(): value for name, value in env.items()}


class Settings(BaseSettings):
    """The resolved configuration. Build it with `load_settings()` for friendly errors."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        use_attribute_docstrings=True,
    )

    active: str = "local"
    """Profile used by default for creating VMs and for CLI commands."""
    profiles: dict[ProfileName, Profile] = Field(default_factory=dict)
    poll: PollSettings = Field(default_factory=PollSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    ssh: SshSettings = Field(default_factory=SshSettings)

    _config_path: Path = PrivateAttr(default_factory=paths.config_file)

    def __init__(self, **values: Any):
        with _origin(None, None) as origin:
            super().__init__(**values)
            self._config_path = origin.path

    @property
    def config_path(self) -> Path:
        """The TOML file these settings were read from (it may not exist)."""
        return self._config_path

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        origin = _current_origin()
        return (
            init_settings,
            _EnvMappingSource(settings_cls, origin.env),
            # pydantic-settings' own TOML source; `_read_origin` already read the same file once to
            # turn a broken one into a ConfigError with its line and column.
            TomlConfigSettingsSource(settings_cls, toml_file=origin.path),
        )

    @model_validator(mode="before")
    @classmethod
    def _add_implicit_profiles(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("profiles", {}), dict):
            return data
        profiles = dict(data.get("profiles", {}))
        local = profiles.pop("local", {})
        if isinstance(local, dict):
            local = {"kind": ProfileKind.LOCAL, **local}
        profiles = {"local": local, **profiles}  # listed first, as the default
        _apply_vers_environment(profiles, _current_origin())
        return {**data, "profiles": profiles}

    @model_validator(mode="after")
    def _check_profiles(self) -> Settings:
        if self.profiles["local"].kind is not ProfileKind.LOCAL:
            raise ConfigError('the "local" profile must have kind = "local"', field="profiles.local.kind")
        self.profile(None)
        return self

    def profile(self, name: str | None = None) -> tuple[str, Profile]:
        """The named profile, or the active one; `ConfigError` if it is unknown or disabled."""
        key = self.active if name is None else name
        field = "active" if name is None else "profiles"
        profile = self.profiles.get(key)
        if profile is None:
            known = ", ".join(sorted(self.profiles))
            raise ConfigError(f"unknown profile {key!r} (defined: {known})", field=field)
        if not profile.enabled:
            raise ConfigError(f"profile {key!r} is disabled (enabled = false)", field=field)
        return key, profile


def load_settings(path: Path | None = None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `path` (default `paths.config_file()`) and `env` (default `os.environ`).

    `env` stands in for the whole environment: `VMTUI_*`, `VMTUI_CONFIG_FILE`, `VERS_*` and the
    `HOME` whose `.versrc` is read all come from it. Raises `ConfigError` with one clear line for
    every problem; nothing else escapes.
    """
    env = os.environ if env is None else env
    with _origin(path, env) as origin:
        try:
            return Settings()
        except ValidationError as exc:
            raise _validation_error(exc, origin) from None
        except SettingsError as exc:
            raise _settings_source_error(exc) from None
        except ConfigError as exc:
            if exc.path is not None or exc.source is not None:
                raise
            raise _located(exc.problem, exc.field or "", origin) from None
        except OSError as exc:  # creating the default local state_dir
            raise ConfigError(f"cannot create {exc.filename}: {exc.strerror or exc}") from None


def redacted_dump(settings: Settings) -> str:
    """The settings as TOML text; a set secret shows as `********`, an unset one is left out."""
    return tomli_w.dumps(_plain(settings))


# --- loading -----------------------------------------------------------------------------------


@contextmanager
def _origin(path: Path | None, env: Mapping[str, str] | None) -> Iterator[_Origin]:
    """Make the inputs of this load visible to the sources and validators (nested loads reuse it)."""
    current = _ORIGIN.get()
    if current is not None and path is None and env is None:
        yield current
        return
    origin = _read_origin(path, os.environ if env is None else env)
    token = _ORIGIN.set(origin)
    try:
        yield origin
    finally:
        _ORIGIN.reset(token)


def _current_origin() -> _Origin:
    origin = _ORIGIN.get()
    if origin is None:
        raise RuntimeError("Settings sources used outside a load")
    return origin


def _read_origin(path: Path | None, env: Mapping[str, str]) -> _Origin:
    named = path is None and bool(env.get(paths.CONFIG_FILE_ENV))
    path = paths.config_file(env) if path is None else path
    return _Origin(path=path, text=_read_toml(path, required=named), env=env)


def _read_toml(path: Path, *, required: bool = False) -> str:
    """The file's text once it is known to be valid TOML (the settings source parses it again).
    A missing default file is empty; a file the user named (`VMTUI_CONFIG_FILE`) must exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"no such file (named by {paths.CONFIG_FILE_ENV})", path=path) from None
        return ""
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "not valid UTF-8 text", path=path, line=raw.count(b"\n", 0, exc.start) + 1
        ) from None
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problem, line, column = _split_toml_message(str(exc))
        raise ConfigError(f"invalid TOML: {problem}", path=path, line=line, column=column) from None
    except RecursionError:
        raise ConfigError("invalid TOML: nested too deeply", path=path) from None
    return text


def _split_toml_message(message: str) -> tuple[str, int | None, int | None]:
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match:
        return message[: match.start()], int(match.group(1)), int(match.group(2))
    return re.sub(r"\s*\(at end of document\)$", " at the end of the file", message), None, None


def _apply_vers_environment(profiles: dict[str, Any], origin: _Origin) -> None:
    """Add or complete the one vers profile from VERS_API_KEY / VERS_*URL / ~/.versrc (see module doc)."""
    vers_names = [name for name, value in profiles.items() if _raw_field(value, "kind") == ProfileKind.VERS]
    if len(vers_names) > 1 or any(_raw_field(profiles[name], "api_key") for name in vers_names):
        return
    key, key_source = _vers_key(origin.env)
    if key is None:
        return
    url_source = next((name for name in ("VERS_BASE_URL", "VERS_URL") if origin.env.get(name)), None)
    url = origin.env[url_source] if url_source else None
    if not vers_names:
        name = "vers"
        profiles[name] = {"kind": ProfileKind.VERS, "api_key": key, **({"url": url} if url else {})}
        origin.implicit[("profiles", name)] = " and ".join(filter(None, (key_source, url_source)))
        origin.implicit[("profiles", name, "url")] = url_source or "the default url"
        return
    (name,) = vers_names
    update: dict[str, Any] = {"api_key": key}
    if url and not _raw_field(profiles[name], "url"):
        update["url"] = url
        origin.implicit[("profiles", name, "url")] = url_source or ""
    origin.implicit[("profiles", name, "api_key")] = key_source
    current = profiles[name]
    profiles[name] = (
        current.model_copy(update=update) if isinstance(current, Profile) else {**current, **update}
    )


def _raw_field(profile: Any, name: str) -> Any:
    if isinstance(profile, Profile):
        return getattr(profile, name)
    return profile.get(name) if isinstance(profile, dict) else None


def _vers_key(env: Mapping[str, str]) -> tuple[str | None, str]:
    """The Vers API key and where it came from: VERS_API_KEY, else ~/.versrc's apiKey."""
    if env.get("VERS_API_KEY"):
        return env["VERS_API_KEY"], "VERS_API_KEY"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    versrc = home / ".versrc"
    try:
        raw = versrc.read_bytes()
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=versrc) from None
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"not valid JSON: {exc.msg}", path=versrc, line=exc.lineno, column=exc.colno
        ) from None
    except (ValueError, RecursionError):
        raise ConfigError("not valid JSON", path=versrc) from None
    if not isinstance(document, dict):
        raise ConfigError("expected a JSON object", path=versrc)
    key = document.get("apiKey")
    if key is not None and not isinstance(key, str):
        raise ConfigError("must be a string", path=versrc, field="apiKey")
    return (key or None), str(versrc)


# --- errors ------------------------------------------------------------------------------------


def _validation_error(exc: ValidationError, origin: _Origin) -> ConfigError:
    """One ConfigError for all of pydantic's errors, located, and without the input values."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    located = [
        _located(
            error["msg"].removeprefix("Value error, "),
            ".".join(str(part) for part in error["loc"] if part != "[key]"),  # a dict key's own error
            origin,
        )
        for error in errors
    ]
    first = located[0]
    if len(located) == 1:
        return first
    more = "; ".join(str(error) for error in located[1:])
    return ConfigError(
        f"{first.problem}; also: {more}",
        path=first.path,
        line=first.line,
        column=first.column,
        field=first.field,
        source=first.source,
    )


def _located(problem: str, field_path: str, origin: _Origin) -> ConfigError:
    """A ConfigError pointing at whatever supplied `field_path`: a VMTUI_* variable, a Vers source,
    or a line of the file."""
    loc = tuple(field_path.split(".")) if field_path else ()
    field_name = field_path or None
    env_name = _env_var_for(loc, origin.env)
    if env_name:
        return ConfigError(problem, field=field_name, source=f"environment variable {env_name}")
    for length in range(len(loc), 0, -1):
        implicit = origin.implicit.get(loc[:length])
        if implicit:
            return ConfigError(problem, field=field_name, source=f"from {implicit}")
    line = _find_line(origin.text, loc)
    if line is not None:
        return ConfigError(problem, field=field_name, path=origin.path, line=line)
    env_name = _env_var_under(loc, origin.env)
    if env_name:
        return ConfigError(problem, field=field_name, source=f"environment variable {env_name}")
    return ConfigError(problem, field=field_name, path=origin.path if origin.text else None)


def _env_var_for(loc: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The VMTUI_* variable that set `loc` (or one of its parents, as JSON), if any."""
    by_lower = {name.lower(): name for name in env}
    for length in range(len(loc), 0, -1):
        wanted = (ENV_PREFIX + "__".join(loc[:length])).lower()
        if wanted in by_lower:
            return by_lower[wanted]
    return None


def _env_var_under(loc: Sequence[str], env: Mapping[str, str]) -> str | None:
    """A VMTUI_* variable that set something inside `loc`'s closest parent (e.g. a profile's
    api_key when the error is that profile's missing kind)."""
    for length in range(len(loc) - 1, 0, -1):
        prefix = (ENV_PREFIX + "__".join(loc[:length]) + "__").lower()
        found = sorted(name for name in env if name.lower().startswith(prefix))
        if found:
            return found[0]
    return None


def _find_line(text: str, loc: Sequence[str]) -> int | None:
    """The line of `text` that best matches the field location `loc`: the key itself, else the
    table or dotted key that contains it. A heuristic over TOML's shapes, good for messages."""
    table: tuple[str, ...] = ()
    best_line, best_score = None, 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[\[?([^\[\]]+)\]\]?", line)
        assignment = re.match(r"^([A-Za-z0-9_\-.\"' ]+?)\s*=", line)
        if header:
            table = _split_key(header.group(1))
            key_path = table
        elif assignment:
            key_path = table + _split_key(assignment.group(1))
        else:
            continue
        score = 0
        while score < min(len(key_path), len(loc)) and key_path[score] == loc[score]:
            score += 1
        if score in (len(key_path), len(loc)) and score > best_score:
            best_line, best_score = number, score
    return best_line


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s"\']+)', dotted)
    return tuple(next(p for p in groups if p) if any(groups) else "" for groups in parts)


def _settings_source_error(exc: SettingsError) -> ConfigError:
    match = re.search(r'field "([^"]+)"', str(exc))
    name = (ENV_PREFIX + match.group(1)).upper() if match else ENV_PREFIX + "*"
    return ConfigError(
        "not valid JSON (nested settings take JSON, or use __ for each level)",
        source=f"environment variable {name}",
    )


# --- dumping -----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """`value` as TOML-ready data: models and mappings as tables without unset (None or empty) entries,
    secrets as `REDACTED`, paths and other objects as their text."""
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, BaseModel):
        value = {name: getattr(value, name) for name in type(value).model_fields}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None and v != {}}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, bool | int | float):
        return value
    return str(value)

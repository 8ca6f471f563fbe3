"""ProfileStore: create / clone / rename / delete profiles, pick the active one, allocate ports.

Every change to the set of profiles happens under one lock file in HERMES_HOME, and a new profile
is assembled in a hidden temporary directory and renamed into place, so a failure part-way leaves
nothing behind and two `create`s never get the same port."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes.config import envfile, serving
from hermes.errors import ConfigError, Conflict, HermesError, InvalidRequest, ProfileNotFound
from hermes.fsutil import atomic_write, locked
from hermes.profiles import index, ports
from hermes.profiles.paths import (
    DEFAULT_PROFILE,
    Profile,
    hermes_home,
    is_valid_name,
    validate_name,
)
from hermes.profiles.templates import template_dir

# config.yaml's loader and schema are imported inside the functions that parse a config:
# `profile list` is served from the index and never needs them (see hermes.profiles.index).

PROFILE_DIRS = ("memory", "skills", "workspace", "state", "logs")
# What a clone or an export carries: the profile's character, never its secrets or state.
PORTABLE_FILES = ("config.yaml", "SOUL.md")
PORTABLE_DIRS = ("memory", "skills")
# Non-secret .env settings that describe how the profile is served, carried by a clone (the
# user's own profile). An archive, from anyone, carries far less: see profiles/untrusted.py.
PORTABLE_ENV = (
    "API_SERVER_ENABLED",
    "API_SERVER_HOST",
    "API_SERVER_CORS_ORIGINS",
    "API_SERVER_TOOL_PROGRESS",
    "API_SERVER_MAX_CONCURRENT_RUNS",
)
KEY_PREFIX = "hsk-"


def new_api_key() -> str:
    """A random API_SERVER_KEY: 256 bits, URL-safe, with a prefix secret scanners can spot."""
    import secrets  # lazy: `profile list` never needs it

    return KEY_PREFIX + secrets.token_urlsafe(32)


def portable_env(values: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if k in PORTABLE_ENV}


@dataclass(frozen=True)
class ProfileInfo:
    """What `profile list / show` report: read from the profile's files, never raising."""

    name: str
    path: Path
    port: int
    host: str
    provider: str
    model: str
    description: str
    active: bool
    enabled: bool
    error: str | None = None

    @property
    def url(self) -> str:
        return serving.base_url(self.host, self.port)


@dataclass(frozen=True)
class Created:
    profile: Profile
    port: int
    api_key: str


class ProfileStore:
    def __init__(self, home: Path | None = None) -> None:
        self.home = home if home is not None else hermes_home()
        self.profiles_dir = self.home / "profiles"
        self.active_file = self.home / "active_profile"
        self.lock_path = self.home / "run" / ".profiles.lock"
        self.index_path = self.home / "run" / "profile-index.json"

    # -- lookup --------------------------------------------------------------------------------

    def path(self, name: str) -> Profile:
        return Profile(name, self.profiles_dir / name)

    def names(self) -> list[str]:
        try:
            entries = os.listdir(self.profiles_dir)
        except FileNotFoundError:
            return []
        return sorted(n for n in entries if is_valid_name(n) and (self.profiles_dir / n).is_dir())

    def exists(self, name: str) -> bool:
        return is_valid_name(name) and self.path(name).root.is_dir()

    def get(self, name: str) -> Profile:
        if name == DEFAULT_PROFILE:
            return self.ensure_default()[0]
        if not is_valid_name(name):
            validate_name(name)
        if not self.exists(name):
            hint = ", ".join(self.names()) or "none yet"
            raise ProfileNotFound(
                f"no profile named {name!r} (profiles: {hint}); "
                f"create it with `hermes profile create {name}`",
                param="profile",
            )
        return self.path(name)

    def active_name(self) -> str:
        try:  # a name that is not UTF-8 is refused by get() as any other invalid name
            name = self.active_file.read_bytes().decode("utf-8", "replace").strip()
        except FileNotFoundError:
            return DEFAULT_PROFILE
        return name or DEFAULT_PROFILE

    def resolve(self, explicit: str | None = None) -> Profile:
        """The profile a command acts on: -p, then HERMES_PROFILE, then active_profile, then
        default (created on first use)."""
        name = explicit or os.environ.get("HERMES_PROFILE") or self.active_name()
        return self.get(name)

    def use(self, name: str) -> Profile:
        profile = self.get(name)
        self.home.mkdir(parents=True, exist_ok=True)
        atomic_write(self.active_file, name + "\n")
        return profile

    # -- reading a profile ---------------------------------------------------------------------

    def info(self, profile: Profile, active: str | None = None) -> ProfileInfo:
        """What `profile list` shows of one profile. A broken .env or config.yaml is its
        `error` (one line naming the file), never an exception: one broken profile must not
        break commands about the others."""
        from hermes.config.api_env import apply_env
        from hermes.config.loader import load_config
        from hermes.config.schema import Config

        problems: list[str] = []
        try:
            env = envfile.read(profile.env_path)
        except (ConfigError, OSError) as exc:
            env = _salvage_env(profile.env_path)
            problems.append(_problem(exc))
        try:
            # Parsed once on the way up: the plan and the gateway reuse this parse.
            config = load_config(profile.config_path, cache=profile.config_cache_path)
        except (ConfigError, OSError) as exc:
            config = Config()
            problems.append(_problem(exc))
        # The gateway's own reading of API_SERVER_* (one parser: API_SERVER_ENABLED=1 is the
        # error here that the gateway refuses to start with, not "enabled").
        api, env_problems = apply_env(config.api_server, env)
        problems += [f"{profile.env_path}: {p}" for p in env_problems]
        error = "; ".join(problems) or None
        return ProfileInfo(
            name=profile.name,
            path=profile.root,
            port=api.port,
            host=api.host,
            provider=config.model.provider,
            model=config.model.name,
            description=config.description,
            enabled=api.enabled,
            active=profile.name == (active if active is not None else self.active_name()),
            error=error,
        )

    def infos(self) -> list[ProfileInfo]:
        self.ensure_default()
        active = self.active_name()
        return [dataclasses.replace(i, active=i.name == active) for i in self._indexed()]

    def used_ports(self, exclude: str | None = None) -> dict[int, str]:
        return {i.port: i.name for i in self._indexed() if i.name != exclude}

    def _indexed(self) -> list[ProfileInfo]:
        """Every profile's info, from the index where it is fresh (active is left False)."""
        cached = index.load(self.index_path)
        entries: dict[str, Any] = {}
        out: list[ProfileInfo] = []
        dirty = False
        for name in self.names():
            profile = self.path(name)
            sig = index.signature(profile)
            entry = cached.get(name)
            info = _from_entry(profile, entry) if entry and entry.get("sig") == sig else None
            if info is None:
                info, dirty = self.info(profile, active=""), True
                entry = {"sig": sig, "info": _to_entry(info)}
            entries[name] = entry
            out.append(info)
        if dirty or entries.keys() != cached.keys():
            index.save(self.index_path, entries)
        return out

    # -- changing the set of profiles ----------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with locked(self.lock_path):
            yield

    def ensure_default(self) -> tuple[Profile, bool]:
        """The default profile, created first if missing; True when this call created it."""
        profile = self.path(DEFAULT_PROFILE)
        if profile.root.is_dir():
            return profile, False
        with self._lock():
            if profile.root.is_dir():
                return profile, False
            self._create_locked(DEFAULT_PROFILE, clone_from=None, port=None, description=None)
        return profile, True

    def create(
        self,
        name: str,
        *,
        clone_from: str | None = None,
        port: int | None = None,
        description: str | None = None,
    ) -> Created:
        validate_name(name)
        self.ensure_default()  # the default profile comes first, and so gets the first port
        source = self.get(clone_from) if clone_from else None
        with self._lock():
            if self.exists(name):
                raise Conflict(f"profile {name!r} already exists", param="name")
            return self._create_locked(name, clone_from=source, port=port, description=description)

    def _create_locked(
        self,
        name: str,
        *,
        clone_from: Profile | None,
        port: int | None,
        description: str | None,
        files_from: Path | None = None,
        env_extra: dict[str, str] | None = None,
    ) -> Created:
        port = self._choose_port(port)
        self.profiles_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".new-{name}-", dir=self.profiles_dir))
        try:
            _copy_tree(template_dir(), tmp)
            source_root = clone_from.root if clone_from else files_from
            if source_root is not None:
                _overlay_portable(source_root, tmp)
                scrub_config(tmp / "config.yaml")
            if files_from is not None and (files_from / "workspace").is_dir():
                _copy_tree(files_from / "workspace", tmp / "workspace")
            for sub in PROFILE_DIRS:
                (tmp / sub).mkdir(exist_ok=True)
            if description is None and clone_from is not None:
                description = ""  # a clone is another agent: "Alice's research agent" is not bob
            if description is not None:
                from hermes.config.editing import set_yaml_key

                set_yaml_key(tmp / "config.yaml", "description", description)
            key = new_api_key()
            env = {"API_SERVER_ENABLED": "true"}
            if clone_from is not None:
                env.update(portable_env(envfile.read(clone_from.env_path)))
            if env_extra:  # an archive's, vetted already; filtered again all the same
                from hermes.profiles.untrusted import ARCHIVE_ENV  # lazy: schema, as above

                env.update({k: v for k, v in env_extra.items() if k in ARCHIVE_ENV})
            env.update({"API_SERVER_PORT": str(port), "API_SERVER_KEY": key})
            header = f"# hermes profile {name!r}: secrets and API server settings (mode 0600).\n"
            atomic_write(tmp / ".env", header, mode=envfile.ENV_MODE)
            envfile.update(tmp / ".env", dict(env))
            os.rename(tmp, self.profiles_dir / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return Created(self.path(name), port, key)

    def _choose_port(self, wanted: int | None) -> int:
        if wanted is not None:
            self.check_port(wanted)
            return wanted
        taken = self.used_ports()
        port = ports.FIRST_PORT
        while port in taken or ports.port_in_use(port):
            port += 1
            if port > 65535:
                raise Conflict("no free port left above 8642")
        return port

    def check_port(self, port: int, *, exclude: str | None = None) -> None:
        """Refuse a port another profile has, or that something on this machine listens on."""
        if not ports.valid_port(port):
            raise InvalidRequest(f"port {port} is out of range (1-65535)", param="port")
        taken = self.used_ports(exclude=exclude)
        if port in taken:
            raise Conflict(f"port {port} is already used by profile {taken[port]!r}", param="port")
        current = self.info(self.path(exclude), "").port if exclude else None
        if port != current and ports.port_in_use(port):
            holder = ports.port_holder(port) or "another process"
            raise Conflict(f"port {port} is in use by {holder}", param="port")

    def rename(self, old: str, new: str) -> Profile:
        validate_name(new)
        if old == DEFAULT_PROFILE:
            raise InvalidRequest(
                "the default profile cannot be renamed; clone it instead: "
                f"`hermes profile create {new} --clone-from default`"
            )
        with self._lock():
            source = self.get(old)
            if self.exists(new):
                raise Conflict(f"profile {new!r} already exists", param="name")
            os.rename(source.root, self.path(new).root)
            if self.active_name() == old:
                atomic_write(self.active_file, new + "\n")
        return self.path(new)

    def delete(self, name: str, *, force: bool = False) -> None:
        if name == DEFAULT_PROFILE and not force:
            raise InvalidRequest("refusing to delete the default profile without --force")
        with self._lock():
            profile = self.get(name) if name != DEFAULT_PROFILE else self.path(name)
            if not profile.root.is_dir():
                raise ProfileNotFound(f"no profile named {name!r}", param="profile")
            trash = Path(tempfile.mkdtemp(prefix=f".del-{name}-", dir=self.profiles_dir))
            os.rename(profile.root, trash / name)
            shutil.rmtree(trash, ignore_errors=True)
            if self.active_name() == name:
                with contextlib.suppress(FileNotFoundError):
                    self.active_file.unlink()

    def import_files(
        self, name: str, files: Path, env: dict[str, str], *, port: int | None = None
    ) -> Created:
        """Create profile `name` from an unpacked export whose config.yaml and `env` were vetted
        (archive.import_profile, profiles/untrusted.py)."""
        validate_name(name)
        with self._lock():
            if self.exists(name):
                raise Conflict(f"profile {name!r} already exists; pass --name NEW", param="name")
            return self._create_locked(
                name, clone_from=None, port=port, description=None, files_from=files, env_extra=env
            )


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(
        src,
        dst,
        dirs_exist_ok=True,
        symlinks=False,
        ignore=shutil.ignore_patterns("__pycache__", ".env"),
    )


def _overlay_portable(src: Path, dst: Path) -> None:
    for fname in PORTABLE_FILES:
        if (src / fname).is_file():
            shutil.copyfile(src / fname, dst / fname)
    for dname in PORTABLE_DIRS:
        if (src / dname).is_dir():
            shutil.rmtree(dst / dname, ignore_errors=True)
            shutil.copytree(src / dname, dst / dname, symlinks=True, ignore=_skip_links)


def _skip_links(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if os.path.islink(os.path.join(directory, n))]


def scrub_config(path: Path) -> None:
    """Drop what must not travel: a key written into config.yaml, and the source's port/name."""
    from hermes.config.loader import read_yaml

    data = read_yaml(path)
    api = data.get("api_server")
    if not isinstance(api, dict) or not {"key", "port", "model_name"} & api.keys():
        return
    from hermes.config.editing import unset_yaml_key

    for key in ("key", "port", "model_name"):
        unset_yaml_key(path, f"api_server.{key}")


_ENTRY_FIELDS = ("port", "host", "provider", "model", "description", "enabled", "error")


def _to_entry(info: ProfileInfo) -> dict[str, Any]:
    return {k: getattr(info, k) for k in _ENTRY_FIELDS}


def _from_entry(profile: Profile, entry: dict[str, Any]) -> ProfileInfo | None:
    try:
        data = {k: entry["info"][k] for k in _ENTRY_FIELDS}
        return ProfileInfo(name=profile.name, path=profile.root, active=False, **data)
    except (KeyError, TypeError):
        return None


def _salvage_env(path: Path) -> dict[str, str]:
    """What can still be read of a .env that is not UTF-8 (bad bytes replaced): enough to keep
    the broken profile's port taken and to know whether it is served, so it is reported."""
    try:
        return envfile.parse(path.read_bytes().decode("utf-8", "replace"))
    except OSError:
        return {}


def _problem(exc: Exception) -> str:
    if isinstance(exc, HermesError):
        return exc.message
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


__all__ = ["Created", "HermesError", "ProfileInfo", "ProfileStore"]

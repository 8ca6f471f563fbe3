"""Plan before acting (honcho's way): every gateway's argv, environment, port and log path is
computed here, purely, before anything is spawned."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hermes.config import serving
from hermes.errors import ConfigError, HermesError, InvalidRequest
from hermes.profiles import Profile, ProfileInfo, ProfileStore

if TYPE_CHECKING:
    from hermes.config.home import FrontdoorConfig

# The only variables a gateway inherits from the supervisor: a key set in one place never leaks
# into every profile.
# PYTHONPATH: a gateway must import the hermes (and the packages) the supervisor imported.
BASE_ENV = ("PATH", "HOME", "LANG", "TZ", "TMPDIR", "USER", "LOGNAME", "PYTHONPATH")


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    profile: str
    port: int
    host: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    log_path: Path
    fingerprint: str  # changes when config.yaml or .env does: `reload` restarts only those
    ready_mark: bytes = b"hermes gateway ready"
    start_timeout: float | None = None  # None: the supervisor's policy
    profile_root: Path | None = None  # a profile's gateway (None: the model server)
    error: str | None = None  # the profile's .env or config.yaml is broken: it cannot start
    needs: str | None = None  # another spec's gateway this one is not ready without

    @property
    def url(self) -> str:
        return serving.base_url(self.host, self.port)

    @property
    def health_host(self) -> str:
        """Where the supervisor reaches the gateway: loopback when it listens everywhere."""
        return serving.health_host(self.host)


def base_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k in BASE_ENV or k.startswith("LC_")}


def fingerprint(info: ProfileInfo) -> str:
    digest = hashlib.sha256()
    for name in ("config.yaml", ".env"):
        try:
            digest.update((info.path / name).read_bytes())
        except FileNotFoundError:
            digest.update(b"\0missing")
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the plan needs to know of one chosen profile, read from its files beforehand."""

    info: ProfileInfo
    fingerprint: str
    root: Path  # the profile's directory, symlinks resolved (its cgroup is named after it)
    uses_local_model: bool = False


def spec_for(
    home: Path, candidate: Candidate, environ: Mapping[str, str], supervisor_pid: int
) -> GatewaySpec:
    info = candidate.info
    profile = Profile(info.name, home / "profiles" / info.name)
    # No value of the profile's .env: the gateway reads its own keys from its profile, so no
    # secret sits in /proc/<gateway>/environ for anything on the machine to read.
    env = {
        **base_env(environ),
        "HERMES_HOME": str(home),
        "HERMES_PROFILE": info.name,
        "HERMES_SUPERVISOR_PID": str(supervisor_pid),
        "PYTHONUNBUFFERED": "1",
    }
    if "HERMES_MODEL_PORT" in environ:  # where the shared local model server listens
        env["HERMES_MODEL_PORT"] = environ["HERMES_MODEL_PORT"]
    # -P: the supervisor's working directory is not an import path (nor bound into the view).
    # The address is the one this plan resolved (what `hermes status` shows and the health
    # checks probe), handed over rather than resolved again from files that may have changed
    # since; the key stays in the profile's .env, never in argv or environ, where any process
    # of the machine could read it.
    argv = (
        *(sys.executable, "-P", "-m", "hermes.gateway", "--profile", info.name),
        *("--host", info.host, "--port", str(info.port)),
    )
    return GatewaySpec(
        profile=info.name,
        port=info.port,
        host=info.host,
        argv=argv,
        env=env,
        log_path=profile.logs_dir / "gateway.log",
        fingerprint=candidate.fingerprint,
        profile_root=candidate.root,
        error=info.error,
        needs=MODEL_SERVER if candidate.uses_local_model and info.error is None else None,
    )


def choose(infos: Sequence[ProfileInfo], names: Sequence[str] | None) -> list[ProfileInfo]:
    """Every enabled profile, or exactly the ones named (each once, in the order named). Two
    profiles on one port are refused before anything starts; a broken profile never binds its
    port, so it takes part in no conflict."""
    by_name = {i.name: i for i in infos}
    if names:
        missing = [n for n in names if n not in by_name]
        if missing:
            raise InvalidRequest(f"no profile named {', '.join(map(repr, missing))}")
        chosen = [by_name[n] for n in dict.fromkeys(names)]
    else:
        chosen = [i for i in infos if i.enabled]
    by_port: dict[int, str] = {}
    for info in [i for i in chosen if i.error is None]:
        if info.port in by_port:
            raise ConfigError(
                f"profiles {by_port[info.port]!r} and {info.name!r} both use port {info.port}; "
                f"give one another port with `hermes -p {info.name} config set API_SERVER_PORT …`"
            )
        by_port[info.port] = info.name
    return chosen


def specs(
    home: Path,
    candidates: Sequence[Candidate],
    environ: Mapping[str, str],
    supervisor_pid: int,
    frontdoor: FrontdoorConfig | str | None = None,
) -> list[GatewaySpec]:
    """The plan proper, a pure function of what was read: one spec per candidate, the shared
    model server's when one of them uses the bundled model, and the front door's when
    hermes.yaml enables it (`frontdoor`: its settings, or why hermes.yaml cannot be read). A
    profile on the bundled model is not ready before the model server is: until then its first
    answers would be 502s (what the banner's curl of `make run` used to get)."""
    out = [spec_for(home, c, environ, supervisor_pid) for c in candidates]
    taken = {s.port: s.profile for s in out if s.error is None}
    if any(s.needs == MODEL_SERVER for s in out):
        out.append(model_server_spec(home, environ, supervisor_pid, taken=taken))
        taken[out[-1].port] = "the local model server"
    if frontdoor is not None:
        out.append(frontdoor_spec(home, environ, supervisor_pid, frontdoor, taken=taken))
    return out


def plan(
    store: ProfileStore,
    names: Sequence[str] | None,
    environ: Mapping[str, str],
    supervisor_pid: int,
) -> list[GatewaySpec]:
    """The gateways to run (see `choose`): the profiles' files are read here, once, and the
    rest is `specs`. A profile whose .env or config.yaml is broken gets a spec carrying the
    error: it is reported as unable to start, and the others start."""
    chosen = choose(store.infos(), names)
    frontdoor = home_frontdoor(store.home)
    candidates = [
        Candidate(
            info,
            fingerprint(info),
            info.path.resolve(),
            uses_local_model=info.error is None and uses_local_model(store, info),
        )
        for info in chosen
    ]
    return specs(store.home, candidates, environ, supervisor_pid, frontdoor)


MODEL_SERVER = "@local-model"  # not a valid profile name, so it never collides with one
FRONTDOOR = "@frontdoor"


def home_frontdoor(home: Path) -> FrontdoorConfig | str | None:
    """hermes.yaml's front door settings if it is enabled, None if not, the error if the file
    is broken (the front door then cannot start, and says why; the gateways still do)."""
    from hermes.config.home import load_home

    try:
        config = load_home(home).frontdoor
    except HermesError as exc:
        return exc.message
    return config if config.enabled else None


def frontdoor_spec(
    home: Path,
    environ: Mapping[str, str],
    supervisor_pid: int,
    config: FrontdoorConfig | str,
    *,
    taken: Mapping[int, str],
) -> GatewaySpec:
    """The front door: one more supervised child, reached on its port like a gateway."""
    from hermes.config.home import FrontdoorConfig

    error = config if isinstance(config, str) else None
    chosen = FrontdoorConfig() if isinstance(config, str) else config
    if error is None and chosen.port in taken:
        error = f"frontdoor.port {chosen.port} is also the port of {taken[chosen.port]}"
    env = {
        **base_env(environ),
        "HERMES_HOME": str(home),
        "HERMES_SUPERVISOR_PID": str(supervisor_pid),
        "PYTHONUNBUFFERED": "1",
    }
    argv = (sys.executable, "-P", "-m", "hermes.frontdoor")
    return GatewaySpec(
        profile=FRONTDOOR,
        port=chosen.port,
        host=chosen.host,
        argv=(*argv, "--host", chosen.host, "--port", str(chosen.port)),
        env=env,
        log_path=home / "logs" / "frontdoor.log",
        fingerprint=hashlib.sha256(f"{chosen.host}\0{chosen.port}".encode()).hexdigest()[:16],
        ready_mark=b"hermes frontdoor ready",
        error=error,
    )


def uses_local_model(store: ProfileStore, info: ProfileInfo) -> bool:
    from hermes.config.loader import load_config
    from hermes.providers import choices

    profile = store.path(info.name)
    try:
        # With the cache written here, the gateways about to start need not import PyYAML.
        config = load_config(profile.config_path, cache=profile.config_cache_path)
        return any(c.kind == "local" for c in choices(config))
    except HermesError:
        return False  # its gateway will report the broken config itself


def model_server_spec(
    home: Path,
    environ: Mapping[str, str],
    supervisor_pid: int,
    *,
    taken: Mapping[int, str],
) -> GatewaySpec:
    """One shared model server for every profile using the `local` provider."""
    from hermes.providers import LOCAL_MODEL_PORT

    port = int(environ.get("HERMES_MODEL_PORT") or LOCAL_MODEL_PORT)
    if port in taken:
        raise ConfigError(
            f"the local model server's port {port} is also the port of profile "
            f"{taken[port]!r}; set HERMES_MODEL_PORT to another port"
        )
    env = {
        **base_env(environ),
        "HERMES_HOME": str(home),
        "HERMES_SUPERVISOR_PID": str(supervisor_pid),
        "HERMES_MODEL_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    return GatewaySpec(
        profile=MODEL_SERVER,
        port=port,
        host="127.0.0.1",
        argv=(sys.executable, "-m", "hermes.model_server", "--port", str(port)),
        env=env,
        log_path=home / "logs" / "model-server.log",
        fingerprint="local-model",
        ready_mark=b"hermes model server ready",
        start_timeout=120.0,
    )

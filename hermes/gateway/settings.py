"""What a gateway needs to start: the profile's config, its API server settings (API_SERVER_*
from the environment or .env beating config.yaml's api_server) and the env its provider reads."""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from hermes.config import envfile, serving
from hermes.config.api_env import PREFIX, apply_env
from hermes.config.limits import FileLimits
from hermes.config.loader import load_config
from hermes.config.schema import Config
from hermes.errors import ConfigError
from hermes.profiles.paths import Profile, model_id

MIN_KEY_LENGTH = 16
MIN_DISTINCT_CHARS = 8
# Matched lower-cased without `-`, `_`, `.` and spaces, so `Change-Me` and `YOUR_API_KEY` count.
PLACEHOLDER_KEYS = frozenset(
    {
        "changeme",
        "yourkey",
        "yourapikey",
        "yourkeyhere",
        "yourapikeyhere",
        "apikey",
        "apikeyhere",
        "placeholder",
        "secret",
        "password",
        "test",
        "testkey",
        "skxxx",
    }
)
# Words that mark a key copied from an example, and long enough (seven letters or more) that a
# random key holds one by chance with odds of about one in a billion.
PLACEHOLDER_WORDS = ("changeme", "placeholder", "yourapikey", "replaceme", "example", "password")


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    profile: str
    host: str
    port: int
    key: str | None
    cors_origins: tuple[str, ...]
    model_name: str
    tool_progress: str
    max_concurrent_runs: int
    max_request_bytes: int
    keepalive_seconds: float = 15.0
    allowed_hosts: tuple[str, ...] = ()
    client_tool_clash: str = "refuse"  # see ApiServerConfig.client_tool_clash
    show_reasoning: bool = True
    session_on_disconnect: str = "finish"  # see ApiServerConfig.session_on_disconnect
    chat_on_disconnect: str = "cancel"  # see ApiServerConfig.chat_on_disconnect
    files: FileLimits = field(default_factory=FileLimits)  # images and files, and /v1/files

    @property
    def url(self) -> str:
        return serving.base_url(self.host, self.port)


@dataclass(frozen=True, slots=True)
class Loaded:
    config: Config
    settings: GatewaySettings
    env: dict[str, str]  # what the provider reads its key from


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load(
    profile: Profile,
    environ: Mapping[str, str],
    *,
    host: str | None = None,
    port: int | None = None,
) -> Loaded:
    """Read only this profile's config.yaml and .env. API_SERVER_* in the process environment
    beat .env (so `API_SERVER_PORT=9000 hermes gateway` works); for provider keys .env wins."""
    config = load_config(profile.config_path, cache=profile.config_cache_path)
    file_env = envfile.read(profile.env_path)
    api_env = {**file_env, **{k: v for k, v in environ.items() if k.startswith(PREFIX)}}
    api, problems = apply_env(config.api_server, api_env)
    if problems:
        raise ConfigError(f"profile {profile.name!r}: " + "; ".join(problems))
    if not api.enabled:
        raise ConfigError(
            f"the API server is disabled for profile {profile.name!r}; enable it with "
            f"`hermes -p {profile.name} config set API_SERVER_ENABLED true`"
        )
    settings = GatewaySettings(
        profile=profile.name,
        host=host or api.host,
        port=port if port is not None else api.port,
        key=api.key or None,
        cors_origins=tuple(api.cors_origins),
        model_name=model_id(profile.name, api.model_name),
        tool_progress=api.tool_progress,
        max_concurrent_runs=max(1, api.max_concurrent_runs),
        max_request_bytes=max(1024, api.max_request_bytes),
        keepalive_seconds=float(max(1, api.keepalive_seconds)),
        allowed_hosts=tuple(check_hosts(profile.name, api.allowed_hosts)),
        client_tool_clash=api.client_tool_clash,
        show_reasoning=api.show_reasoning,
        session_on_disconnect=api.session_on_disconnect,
        chat_on_disconnect=api.chat_on_disconnect,
        files=FileLimits.of(api),
    )
    check_exposure(settings)
    return Loaded(config, settings, {**environ, **file_env})


def check_hosts(profile: str, hosts: list[str]) -> list[str]:
    """api_server.allowed_hosts entries are host names (a port is ignored) or `*`: a URL or a
    pattern would silently never match, so it is refused at start."""
    from hermes.gateway.hosts import ANY_HOST, host_of

    for entry in hosts:
        if entry != ANY_HOST and (host_of(entry) is None or "*" in entry):
            raise ConfigError(
                f"profile {profile!r}: api_server.allowed_hosts: {entry!r} is not a host name; "
                "list names such as `agent.example.com` (no scheme, no wildcards), or `*` for any"
            )
    return hosts


def check_exposure(settings: GatewaySettings) -> None:
    """Refuse to listen beyond loopback without a real key."""
    if is_loopback(settings.host):
        return
    key = settings.key or ""
    if not key:
        raise ConfigError(
            f"refusing to listen on {settings.host} without an API key; set one with "
            f"`hermes -p {settings.profile} config set API_SERVER_KEY …`"
        )
    weakness = weak_key(key)
    if weakness is not None:
        raise ConfigError(
            f"refusing to listen on {settings.host} with a weak API key ({weakness}); set a "
            f"random one: `hermes -p {settings.profile} config set API_SERVER_KEY "
            "$(openssl rand -hex 24)`"
        )


def weak_key(key: str) -> str | None:
    """Why `key` cannot guard a gateway others can reach, or None. Keys hermes generates
    (`hsk-` or `hk_` and 43 URL-safe random characters) pass every rule by a wide margin."""
    squashed = "".join(c for c in key.lower() if c not in "-_. ")
    if squashed in PLACEHOLDER_KEYS or any(w in squashed for w in PLACEHOLDER_WORDS):
        return "a placeholder"
    if len(key) < MIN_KEY_LENGTH:
        return f"shorter than {MIN_KEY_LENGTH} characters"
    if any(c.isspace() for c in key):
        return "it contains white space"
    if len(set(key)) < MIN_DISTINCT_CHARS:
        return f"fewer than {MIN_DISTINCT_CHARS} different characters"
    if _patterned(key):
        return "a repeated or sequential pattern"
    return None


def _patterned(key: str) -> bool:
    """A short pattern repeated (`abcdefghabcdefgh`), or mostly steps of -1, 0 or +1
    (`0123456789abcdef`, `aaaabbbbccccdddd`): a random key is neither."""
    if any(key[p:] == key[:-p] for p in range(1, len(key) // 2 + 1)):
        return True
    steps = [abs(ord(b) - ord(a)) <= 1 for a, b in itertools.pairwise(key)]
    return sum(steps) * 3 >= len(steps) * 2

"""One spelling of a gateway's URL and health address, whatever it is bound to: `profile
list/show`, `hermes status` (the supervisor's plan) and the gateway's own ready line agree, and
IPv6 addresses are bracketed (it used to print `http://:::8642/v1`)."""

from __future__ import annotations

import pytest

from hermes.config import serving
from hermes.gateway.settings import load
from hermes.profiles import ProfileStore
from hermes.profiles.settings import set_value
from hermes.supervisor.plan import plan


@pytest.mark.parametrize(
    ("host", "url", "probe"),
    [
        ("127.0.0.1", "http://127.0.0.1:18601/v1", "127.0.0.1"),
        ("0.0.0.0", "http://127.0.0.1:18601/v1", "127.0.0.1"),
        ("::", "http://[::1]:18601/v1", "::1"),
        ("::1", "http://[::1]:18601/v1", "::1"),
        ("fd00::5", "http://[fd00::5]:18601/v1", "fd00::5"),
        ("localhost", "http://localhost:18601/v1", "127.0.0.1"),
    ],
)
def test_every_reader_spells_the_url_one_way(
    store: ProfileStore, host: str, url: str, probe: str
) -> None:
    profile = store.get("default")
    set_value(store, profile, "API_SERVER_HOST", host)
    set_value(store, profile, "API_SERVER_PORT", "18601")
    if host not in ("127.0.0.1", "localhost", "::1"):
        set_value(store, profile, "API_SERVER_KEY", "sk-3f9a0c1b7e2d4f6a8b5c9d0e1f2a3b4c")
    (spec,) = [s for s in plan(store, None, {}, 1) if s.profile == "default"]
    assert store.info(profile).url == url
    assert load(profile, {}).settings.url == url
    assert spec.url == url and spec.health_host == probe
    assert serving.base_url(host, 18601) == url


def test_profile_list_reads_api_server_env_with_the_gateways_parser(store: ProfileStore) -> None:
    """API_SERVER_ENABLED=1 was "enabled" in profile list and the plan while the gateway
    refused it (`expected true/false, got 1`) and went fatal: now the profile shows the error."""
    profile = store.get("default")
    set_value(store, profile, "API_SERVER_PORT", "18602")
    (profile.env_path).write_text(
        profile.env_path.read_text().replace("API_SERVER_ENABLED=true", "API_SERVER_ENABLED=1")
    )
    info = store.info(profile)
    assert info.error is not None and "API_SERVER_ENABLED" in info.error
    assert info.port == 18602
    with pytest.raises(Exception, match="API_SERVER_ENABLED"):
        load(profile, {})

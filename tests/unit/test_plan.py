"""The supervisor's plan as pure functions: which profiles run (`choose`) and what each is
started with (`specs`), from values only, no files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hermes.errors import ConfigError, InvalidRequest
from hermes.profiles import ProfileInfo
from hermes.providers import LOCAL_MODEL_PORT
from hermes.supervisor.plan import MODEL_SERVER, Candidate, choose, specs

HOME = Path("/srv/hermes")


def info(name: str, port: int, *, enabled: bool = True, error: str | None = None) -> ProfileInfo:
    return ProfileInfo(
        name=name,
        path=HOME / "profiles" / name,
        port=port,
        host="127.0.0.1",
        provider="openai",
        model="gpt-4o-mini",
        description="",
        active=False,
        enabled=enabled,
        error=error,
    )


def candidate(i: ProfileInfo, *, local: bool = False) -> Candidate:
    return Candidate(i, f"fp-{i.name}", HOME / "profiles" / i.name, uses_local_model=local)


ALICE, BOB, CAROL = info("alice", 18001), info("bob", 18002), info("carol", 18003, enabled=False)


def test_every_enabled_profile_runs_unless_some_are_named() -> None:
    assert choose([ALICE, BOB, CAROL], None) == [ALICE, BOB]
    assert choose([ALICE, BOB, CAROL], ["carol", "alice", "carol"]) == [CAROL, ALICE]


def test_a_name_that_is_no_profile_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="no profile named 'dave', 'eve'"):
        choose([ALICE], ["alice", "dave", "eve"])


def test_two_profiles_on_one_port_are_refused_before_anything_starts() -> None:
    twin = info("twin", ALICE.port)
    with pytest.raises(ConfigError, match="'alice' and 'twin' both use port 18001"):
        choose([ALICE, twin], None)
    broken = info("twin", ALICE.port, error="/x/.env:1:1: not valid UTF-8")
    assert choose([ALICE, broken], None) == [ALICE, broken]  # a broken one binds nothing


def test_a_spec_hands_over_the_resolved_address_and_no_secret() -> None:
    environ = {
        "PATH": "/usr/bin",
        "LC_ALL": "C.UTF-8",
        "OPENAI_API_KEY": "sk-outer-shell",
        "API_SERVER_KEY": "hsk-from-the-shell",
    }
    (spec,) = specs(HOME, [candidate(ALICE)], environ, 4242)
    assert spec.argv[-6:] == ("--profile", "alice", "--host", "127.0.0.1", "--port", "18001")
    assert dict(spec.env) == {
        "PATH": "/usr/bin",
        "LC_ALL": "C.UTF-8",
        "HERMES_HOME": str(HOME),
        "HERMES_PROFILE": "alice",
        "HERMES_SUPERVISOR_PID": "4242",
        "PYTHONUNBUFFERED": "1",
    }
    assert spec.log_path == HOME / "profiles" / "alice" / "logs" / "gateway.log"
    assert spec.url == "http://127.0.0.1:18001/v1" and spec.needs is None
    assert spec.fingerprint == "fp-alice" and spec.error is None


def test_the_bundled_model_adds_one_shared_server_its_users_wait_for() -> None:
    out = specs(HOME, [candidate(ALICE, local=True), candidate(BOB, local=True)], {}, 1)
    assert [s.profile for s in out] == ["alice", "bob", MODEL_SERVER]
    assert out[0].needs == out[1].needs == MODEL_SERVER
    server = out[2]
    assert server.port == LOCAL_MODEL_PORT and server.env["HERMES_MODEL_PORT"] == str(server.port)
    assert server.start_timeout == 120.0 and server.ready_mark == b"hermes model server ready"
    assert [s.profile for s in specs(HOME, [candidate(ALICE)], {}, 1)] == ["alice"]


def test_the_model_server_may_not_take_a_profiles_port() -> None:
    with pytest.raises(ConfigError, match="port 18001 is also the port of profile 'alice'"):
        specs(HOME, [candidate(ALICE, local=True)], {"HERMES_MODEL_PORT": "18001"}, 1)
    moved = specs(HOME, [candidate(ALICE, local=True)], {"HERMES_MODEL_PORT": "18999"}, 1)
    assert moved[-1].port == 18999 and moved[0].env["HERMES_MODEL_PORT"] == "18999"


def test_an_ipv6_profile_gets_a_bracketed_url_and_a_loopback_probe() -> None:
    v6 = dataclasses.replace(info("v6", 18010), host="::")
    (spec,) = specs(HOME, [candidate(v6)], {}, 1)
    assert spec.url == "http://[::1]:18010/v1" and spec.health_host == "::1"
    assert spec.argv[-4:] == ("--host", "::", "--port", "18010")


def test_the_front_door_is_one_more_child_when_enabled() -> None:
    from hermes.config.home import FrontdoorConfig
    from hermes.supervisor.plan import FRONTDOOR

    door = FrontdoorConfig(enabled=True, port=18640)
    out = specs(HOME, [candidate(ALICE)], {"SECRET": "x"}, 1, door)
    spec = out[-1]
    assert spec.profile == FRONTDOOR and spec.error is None and spec.profile_root is None
    assert spec.argv[-5:] == ("hermes.frontdoor", "--host", "127.0.0.1", "--port", "18640")
    assert spec.url == "http://127.0.0.1:18640/v1" and "SECRET" not in spec.env
    assert spec.ready_mark == b"hermes frontdoor ready"
    moved = specs(HOME, [candidate(ALICE)], {}, 1, FrontdoorConfig(enabled=True, port=18641))
    assert moved[-1].fingerprint != spec.fingerprint  # `reload` restarts it on a new port


def test_the_front_door_cannot_start_on_a_profiles_port_or_a_broken_file() -> None:
    from hermes.config.home import FrontdoorConfig

    clash = specs(HOME, [candidate(ALICE)], {}, 1, FrontdoorConfig(enabled=True, port=18001))
    assert clash[-1].error == "frontdoor.port 18001 is also the port of alice"
    assert clash[0].error is None  # the profile still starts
    broken = specs(HOME, [candidate(ALICE)], {}, 1, "hermes.yaml: frontdoor.port: expected …")
    assert broken[-1].error is not None and broken[-1].error.startswith("hermes.yaml")

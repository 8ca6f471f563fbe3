"""The supervisor's control actions (reload, start, restart, stop, forget) on real profile files,
with scripted processes (tests/unit/machine.py): what each does to a running gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hermes.config import envfile
from hermes.errors import ConfigError, Conflict, NotFound
from hermes.profiles import ProfileStore
from hermes.supervisor.plan import MODEL_SERVER
from hermes.supervisor.process import State
from hermes.supervisor.supervisor import Supervisor
from tests.unit.machine import Machine, Script, until


@pytest.fixture
def machine() -> Machine:
    return Machine()


@pytest.fixture
async def sup(store: ProfileStore, home: Path, machine: Machine) -> AsyncIterator[Supervisor]:
    store.ensure_default()
    envfile.update(home / "profiles" / "default" / ".env", {"API_SERVER_ENABLED": "false"})
    store.create("alice")
    store.create("bob")
    supervisor = Supervisor(store, environ={}, seams=machine.seams)
    # New profiles use the bundled model: its server is supervised too, and they wait for it.
    assert (await supervisor.reload())["started"] == ["alice", "bob", MODEL_SERVER]
    yield supervisor
    await supervisor._stop_all()


def env_of(home: Path, name: str) -> Path:
    return home / "profiles" / name / ".env"


def state(sup: Supervisor, name: str) -> State:
    return sup.gateways[name].state


async def test_reload_restarts_only_the_profile_whose_files_changed(
    sup: Supervisor, home: Path, machine: Machine
) -> None:
    bob = sup.gateways["bob"].pid
    envfile.update(env_of(home, "alice"), {"API_SERVER_PORT": "18555"})
    changes = await sup.reload()
    assert changes["restarted"] == ["alice"] and changes["errors"] == {}
    assert sup.gateways["alice"].spec.port == 18555 and state(sup, "alice") == State.RUNNING
    assert sup.gateways["bob"].pid == bob
    new = machine.launcher.of("alice")[-1]
    assert new.spec.argv[-4:] == ("--host", "127.0.0.1", "--port", "18555")


async def test_reload_with_a_broken_config_keeps_the_running_gateway(
    sup: Supervisor, home: Path, machine: Machine
) -> None:
    running = sup.gateways["alice"].pid
    config = home / "profiles" / "alice" / "config.yaml"
    good = config.read_text()
    config.write_text(good + "agent: {max_iterations: lots}\n")
    changes = await sup.reload()
    assert changes["failed"] == ["alice"] and "max_iterations" in changes["errors"]["alice"]
    status = {g["profile"]: g for g in sup.status()}["alice"]
    assert status["state"] == "running" and status["pid"] == running
    assert "max_iterations" in status["config_error"]
    assert len(machine.launcher.of("alice")) == 1
    config.write_text(good)  # put back as it was: the error goes, nothing restarts
    changes = await sup.reload()
    assert changes["failed"] == [] and changes["restarted"] == []
    assert sup.gateways["alice"].config_error is None and sup.gateways["alice"].pid == running


async def test_reload_to_a_taken_port_keeps_the_running_gateway(
    sup: Supervisor, home: Path, machine: Machine
) -> None:
    machine.launcher.busy[18556] = "another process"
    envfile.update(env_of(home, "alice"), {"API_SERVER_PORT": "18556"})
    changes = await sup.reload()
    assert changes["errors"] == {"alice": "port 18556 is already in use"}
    assert state(sup, "alice") == State.RUNNING and sup.gateways["alice"].spec.port != 18556


async def test_reload_stops_a_profile_that_was_disabled(sup: Supervisor, home: Path) -> None:
    envfile.update(env_of(home, "bob"), {"API_SERVER_ENABLED": "false"})
    gateway = sup.gateways["bob"]
    changes = await sup.reload()
    assert changes["stopped"] == ["bob"] and "bob" not in sup.gateways
    assert gateway.state == State.STOPPED


async def test_start_after_stop_uses_the_port_on_disk_now(
    sup: Supervisor, home: Path, machine: Machine
) -> None:
    await sup.stop("alice")
    assert state(sup, "alice") == State.STOPPED
    envfile.update(env_of(home, "alice"), {"API_SERVER_PORT": "18601"})
    status = await sup.start("alice")
    assert status["state"] == "running" and status["port"] == 18601
    assert status["url"] == "http://127.0.0.1:18601/v1"
    with pytest.raises(Conflict, match="alice is already running"):
        await sup.start("alice")


async def test_restart_with_a_broken_config_refuses_and_keeps_running(
    sup: Supervisor, home: Path, machine: Machine
) -> None:
    running = sup.gateways["alice"].pid
    envfile.update(env_of(home, "alice"), {"API_SERVER_ENABLED": "1"})
    with pytest.raises(ConfigError, match="not restarted, it keeps running"):
        await sup.restart("alice")
    assert state(sup, "alice") == State.RUNNING and sup.gateways["alice"].pid == running
    envfile.update(env_of(home, "alice"), {"API_SERVER_ENABLED": "true"})
    status = await sup.restart("alice")
    assert status["state"] == "running" and status["pid"] != running


async def test_forget_stops_and_drops_a_gateway(sup: Supervisor, machine: Machine) -> None:
    (child,) = machine.launcher.of("bob")
    assert await sup.forget("bob") == {"profile": "bob", "state": "removed", "was_running": True}
    assert child.returncode is not None and "bob" not in sup.gateways
    assert (await sup.forget("bob"))["state"] == "absent"
    with pytest.raises(NotFound):
        await sup.stop("bob")


async def test_a_crashed_gateway_is_restarted_by_the_supervisor(
    sup: Supervisor, machine: Machine
) -> None:
    machine.launcher.of("alice")[0].exit(137)
    await until(lambda: len(machine.launcher.of("alice")) == 2 and state(sup, "alice") == "running")
    assert sup.gateways["alice"].restarts == 1
    assert sup.summary() == "3 running"


async def test_a_profile_on_the_bundled_model_is_starting_until_the_model_server_runs(
    store: ProfileStore, home: Path, machine: Machine
) -> None:
    store.ensure_default()
    envfile.update(env_of(home, "default"), {"API_SERVER_ENABLED": "false"})
    store.create("alice")
    machine.launcher.script(MODEL_SERVER, Script(ready=False))  # loading its weights
    machine.clock.frozen = True  # as long as it takes
    supervisor = Supervisor(store, environ={}, seams=machine.seams)
    reload = asyncio.create_task(supervisor.reload())
    await until(lambda: len(machine.launcher.spawned) == 2)
    for _ in range(500):
        await asyncio.sleep(0)
    assert state(supervisor, "alice") == State.STARTING and not reload.done()
    machine.launcher.of(MODEL_SERVER)[0].ready()
    assert (await reload)["started"] == ["alice", MODEL_SERVER]
    assert state(supervisor, "alice") == State.RUNNING
    alice, server = supervisor.gateways["alice"], supervisor.gateways[MODEL_SERVER]
    assert alice.started_at is not None and server.started_at is not None
    await supervisor._stop_all()


async def test_the_front_door_is_supervised_and_routes_list_running_profiles_only(
    sup: Supervisor, home: Path
) -> None:
    from hermes.config.home import set_home_value
    from hermes.supervisor.plan import FRONTDOOR

    set_home_value(home, "frontdoor.enabled", "true")
    set_home_value(home, "frontdoor.port", "18640")
    assert (await sup.reload())["started"] == [FRONTDOOR]
    reply = sup._status_reply()
    assert reply["frontdoor"]["name"] == "frontdoor" and reply["frontdoor"]["port"] == 18640
    assert FRONTDOOR not in [g["profile"] for g in reply["gateways"]]
    door = sup.gateways[FRONTDOOR]
    assert door.proc is not None and door.proc.pid not in sup.process_groups()
    await sup.stop("bob")
    assert [r["profile"] for r in sup.routes()] == ["alice"]  # no bob, no model server
    set_home_value(home, "frontdoor.enabled", "false")
    assert (await sup.reload())["stopped"] == [FRONTDOOR]
    assert sup._status_reply()["frontdoor"] is None

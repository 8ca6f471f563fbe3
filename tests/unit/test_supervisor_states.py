"""Every transition of a supervised gateway's state machine, driven through scripted seams
(tests/unit/machine.py): no process is started and no real second passes."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from hermes.supervisor.plan import GatewaySpec
from hermes.supervisor.process import TRANSITIONS, Gateway, IllegalTransition, Policy, State
from tests.unit.machine import Machine, Script, until

S = State
POLICY = Policy()


def spec(tmp_path: Path, name: str = "alice", port: int = 18001, **extra: Any) -> GatewaySpec:
    return GatewaySpec(
        profile=name,
        port=port,
        host="127.0.0.1",
        argv=("gateway", name),
        env={},
        log_path=tmp_path / name / "gateway.log",
        fingerprint="f1",
        **extra,
    )


@pytest.fixture
def machine() -> Machine:
    return Machine()


def gateway(tmp_path: Path, machine: Machine, **extra: Any) -> Gateway:
    return Gateway(spec(tmp_path, **extra), POLICY, seams=machine.seams)


async def test_starting_then_running_once_ready_and_healthy(
    tmp_path: Path, machine: Machine
) -> None:
    gw = gateway(tmp_path, machine)
    gw.start()
    await gw.settled.wait()
    assert gw.state == S.RUNNING and list(gw.history) == [S.STOPPED, S.STARTING, S.RUNNING]
    (child,) = machine.launcher.spawned
    assert gw.pid == child.pid and gw.last_error is None
    assert gw.status()["uptime"] == 0.0
    machine.clock.t += 42
    assert gw.status()["uptime"] == 42
    await gw.stop()


async def test_a_ready_line_without_health_is_no_start_and_five_make_it_fatal(
    tmp_path: Path, machine: Machine
) -> None:
    machine.launcher.script("alice", *[Script(healthy=False)] * 5)
    gw = gateway(tmp_path, machine)
    gw.start()
    await gw.settled.wait()
    assert gw.state == S.FATAL
    assert gw.last_error == "5 failed starts in a row: not healthy within 10s"
    assert len(machine.launcher.spawned) == 5
    assert all(c.signals[0] == signal.SIGTERM for c in machine.launcher.spawned)
    assert machine.clock.sleeps == [0.5, 1.0, 2.0, 4.0]  # backoff doubles between tries
    assert list(gw.history)[:5] == [S.STOPPED, S.STARTING, S.STOPPING, S.BACKOFF, S.STARTING]


async def test_exit_before_ready_names_the_code_and_the_last_line(
    tmp_path: Path, machine: Machine
) -> None:
    boom = Script(ready=False, exit_at_once=2, output=[b"hermes gateway: error: port taken\n"])
    machine.launcher.script("alice", boom, Script())
    gw = gateway(tmp_path, machine)
    gw.start()
    await until(lambda: gw.failed_starts == 1)
    assert gw.last_error == "exited with code 2: hermes gateway: error: port taken"
    await until(lambda: gw.state == S.RUNNING)
    assert gw.failed_starts == 0 and gw.last_error is None and gw.restarts == 0
    await gw.stop()


async def test_a_crash_while_running_is_exited_backoff_then_running_again(
    tmp_path: Path, machine: Machine
) -> None:
    gw = gateway(tmp_path, machine)
    gw.start()
    await until(lambda: gw.state == S.RUNNING)
    first = machine.launcher.spawned[0]
    first.exit(1)
    await until(lambda: gw.state == S.BACKOFF)
    assert gw.status()["last_error"] == "exited unexpectedly with code 1"
    await until(lambda: len(machine.launcher.spawned) == 2 and gw.state == S.RUNNING)
    assert gw.restarts == 1 and gw.pid == machine.launcher.spawned[1].pid
    assert list(gw.history)[3:7] == [S.EXITED, S.BACKOFF, S.STARTING, S.RUNNING]
    assert gw.last_error is None  # cleared by the successful start
    await gw.stop()


async def test_backoff_resets_after_a_long_run_and_grows_after_short_ones(
    tmp_path: Path, machine: Machine
) -> None:
    gw = gateway(tmp_path, machine)
    gw.start()
    for _ in range(3):  # three quick crashes: 0.5, 1, 2
        await until(lambda: gw.state == S.RUNNING)
        machine.launcher.spawned[-1].exit(1)
        await until(lambda: gw.state != S.RUNNING)
    await until(lambda: gw.state == S.RUNNING)
    machine.clock.t += POLICY.backoff_reset_after  # this one ran long
    machine.launcher.spawned[-1].exit(1)
    await until(lambda: len(machine.launcher.spawned) == 5 and gw.state == S.RUNNING)
    backoffs = [s for s in machine.clock.sleeps if s != POLICY.group_poll]
    assert backoffs == [0.5, 1.0, 2.0, 0.5]
    await gw.stop()


async def test_three_failed_health_checks_in_a_row_restart_a_hung_gateway(
    tmp_path: Path, machine: Machine
) -> None:
    gw = gateway(tmp_path, machine)
    gw.start()
    await until(lambda: gw.state == S.RUNNING)
    hung = machine.launcher.spawned[0]
    start = machine.clock.t
    hung.healthy = False
    await until(lambda: gw.state == S.BACKOFF)
    assert gw.last_error == "3 failed health checks in a row (hung?)"
    assert hung.signals[0] == signal.SIGTERM and hung.returncode is not None
    assert machine.clock.t - start >= 3 * POLICY.health_interval
    await until(lambda: gw.state == S.RUNNING)
    assert gw.restarts == 1
    await gw.stop()


async def test_one_failed_health_check_is_forgiven(tmp_path: Path, machine: Machine) -> None:
    gw = gateway(tmp_path, machine)
    gw.start()
    await until(lambda: gw.state == S.RUNNING)
    child = machine.launcher.spawned[0]
    child.healthy = False
    t = machine.clock.t
    await until(lambda: machine.clock.t >= t + 2 * POLICY.health_interval)
    child.healthy = True
    t = machine.clock.t
    await until(lambda: machine.clock.t >= t + 5 * POLICY.health_interval)
    assert gw.state == S.RUNNING and child.signals == [] and gw.restarts == 0
    await gw.stop()


async def test_stop_sends_sigterm_to_the_group_and_ends_stopped(
    tmp_path: Path, machine: Machine
) -> None:
    gw = gateway(tmp_path, machine)
    gw.start()
    await until(lambda: gw.state == S.RUNNING)
    await gw.stop()
    (child,) = machine.launcher.spawned
    assert child.signals == [signal.SIGTERM, signal.SIGCONT]
    assert list(gw.history)[-2:] == [S.STOPPING, S.STOPPED] and gw.pid is None
    assert machine.launcher.thawed == ["alice"]


async def test_a_gateway_that_ignores_sigterm_gets_sigkill_after_stop_timeout(
    tmp_path: Path, machine: Machine
) -> None:
    machine.launcher.script("alice", Script(ignores_term=True))
    gw = gateway(tmp_path, machine)
    gw.start()
    await until(lambda: gw.state == S.RUNNING)
    start = machine.clock.t
    await gw.stop()
    (child,) = machine.launcher.spawned
    assert child.signals == [signal.SIGTERM, signal.SIGCONT, signal.SIGKILL]
    assert machine.clock.t - start >= POLICY.stop_timeout and gw.state == S.STOPPED


async def test_stop_during_backoff_ends_stopped_with_no_new_start(
    tmp_path: Path, machine: Machine
) -> None:
    machine.launcher.script("alice", Script(ready=False, exit_at_once=1))
    gw = gateway(tmp_path, machine)
    gw.start()
    await until(lambda: gw.state == S.BACKOFF)
    await gw.stop()
    assert gw.state == S.STOPPED and len(machine.launcher.spawned) == 1


async def test_a_broken_config_is_fatal_at_once_without_a_process(
    tmp_path: Path, machine: Machine
) -> None:
    gw = gateway(tmp_path, machine, error="/p/config.yaml:3: agent.max_iterations: not a number")
    gw.start()
    await gw.settled.wait()
    assert gw.state == S.FATAL and gw.last_error is not None
    assert gw.last_error.endswith("not a number") and machine.launcher.spawned == []
    await gw.stop()
    assert gw.state == S.FATAL  # a stop does not hide why it never ran


async def test_a_taken_port_is_fatal_naming_its_holder(tmp_path: Path, machine: Machine) -> None:
    machine.launcher.busy[18001] = "nginx (pid 77)"
    gw = gateway(tmp_path, machine)
    gw.start()
    await gw.settled.wait()
    assert gw.state == S.FATAL and gw.last_error == "port 18001 is in use by nginx (pid 77)"
    assert machine.launcher.spawned == []


async def test_a_spawn_that_fails_counts_as_a_failed_start(
    tmp_path: Path, machine: Machine
) -> None:
    machine.launcher.refuse = OSError(8, "Exec format error")
    gw = gateway(tmp_path, machine)
    gw.start()
    await gw.settled.wait()
    assert gw.state == S.FATAL
    assert gw.last_error == "5 failed starts in a row: cannot start: [Errno 8] Exec format error"


async def test_a_ready_gate_keeps_it_starting_until_it_opens(
    tmp_path: Path, machine: Machine
) -> None:
    import asyncio

    gate = asyncio.Event()

    async def ready_gate() -> None:
        await gate.wait()

    gw = Gateway(spec(tmp_path), POLICY, ready_gate=ready_gate, seams=machine.seams)
    gw.start()
    await until(lambda: bool(machine.launcher.spawned))
    for _ in range(200):
        await asyncio.sleep(0)
    assert gw.state == S.STARTING and not gw.settled.is_set()
    gate.set()
    await gw.settled.wait()
    # mypy keeps gw.state narrowed to STARTING by the assert above across the await
    # (python/mypy#15196)
    assert gw.state == S.RUNNING  # type: ignore[comparison-overlap]
    await gw.stop()


def test_every_state_has_its_transitions_written_down() -> None:
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[S.FATAL] == frozenset()  # only a new Gateway leaves fatal
    assert S.RUNNING in TRANSITIONS[S.STARTING] and S.RUNNING not in TRANSITIONS[S.BACKOFF]


def test_a_transition_not_written_down_is_refused(tmp_path: Path, machine: Machine) -> None:
    gw = gateway(tmp_path, machine)
    with pytest.raises(IllegalTransition, match="stopped → running"):
        gw._to(S.RUNNING)
    gw._to(S.FATAL)
    with pytest.raises(IllegalTransition, match="fatal → starting"):
        gw._to(S.STARTING)
    assert list(gw.history) == [S.STOPPED, S.FATAL]

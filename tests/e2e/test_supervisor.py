"""The real supervisor with real gateways: health, restarts, fatal states, ports, reload, down,
SIGKILL of the supervisor, status and the environment each gateway gets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import httpx
import psutil
import pytest

from hermes.config import envfile
from tests.e2e.conftest import HERMES
from tests.e2e.gateway_process import free_port, gateway_env
from tests.e2e.supervisor_process import (
    Running,
    add_profile,
    by_profile,
    disable_default,
    hermes,
    supervisor,
    wait_for,
)
from tests.processes import alive


def models_of(port: int, home: Path, name: str) -> list[str]:
    key = envfile.read(home / "profiles" / name / ".env")["API_SERVER_KEY"]
    r = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": f"Bearer {key}"})
    return [m["id"] for m in r.json()["data"]]


def test_two_profiles_up_restart_after_kill_9_and_down(home: Path) -> None:
    disable_default(home)
    ports = {name: add_profile(home, name) for name in ("alice", "bob")}
    with supervisor(home, env={"LEAKY_SECRET": "from-the-shell"}) as sup:
        gateways = sup.settled()
        assert {n: g["state"] for n, g in gateways.items()} == {
            "alice": "running",
            "bob": "running",
        }
        for name, port in ports.items():
            assert gateways[name]["port"] == port and models_of(port, home, name) == [name]
        listed = json.loads(hermes(home, "profile", "list", "--json").stdout)
        assert {p["name"]: p.get("state") for p in listed}["alice"] == "running"

        logged = hermes(home, "logs", "alice", "-n", "20")
        assert "hermes gateway ready" in logged.stdout and "profile=alice" in logged.stdout
        assert "ready:" in hermes(home, "logs", "supervisor").stdout
        # The gateway answered with its keys, yet none is in its environment: it reads them
        # from its profile; the supervisor hands down no secret (and none of its own shell's).
        environ = psutil.Process(gateways["alice"]["pid"]).environ()
        assert "LEAKY_SECRET" not in environ and environ["HERMES_PROFILE"] == "alice"
        assert not {"OPENAI_API_KEY", "API_SERVER_KEY"} & environ.keys()

        before = sup.gateway_pids()
        os.kill(before["alice"], signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(
            lambda: (
                (g := by_profile(home)["alice"])["state"] == "running"
                and g["pid"] != before["alice"]
            ),
            timeout=10,
            interval=0.05,
        )
        assert time.monotonic() - killed_at < 10.0  # about a second; bench_supervisor times it
        after = sup.gateway_pids()
        assert after["bob"] == before["bob"] and by_profile(home)["alice"]["restarts"] == 1
        assert models_of(ports["alice"], home, "alice") == ["alice"]

        result = hermes(home, "down")
        assert result.returncode == 0, result.stderr
        sup.proc.wait(30)
        assert sup.proc.returncode == 0
        time.sleep(0.2)
        assert not [p for p in after.values() if alive(p)]


def test_broken_config_goes_fatal_while_the_other_runs(home: Path) -> None:
    """A broken config.yaml or .env is known before anything starts: that profile is fatal at
    once with the file's error (no process, no retries), the others run."""
    disable_default(home)
    add_profile(home, "good")
    add_profile(home, "broken")
    add_profile(home, "badenv")
    (home / "profiles" / "broken" / "config.yaml").write_text("model: [unclosed\n")
    env = home / "profiles" / "badenv" / ".env"
    env.write_bytes(env.read_bytes() + b"NOTE=\xff\xfe\n")
    with supervisor(home) as sup:
        gateways = wait_for(sup.settled, timeout=60)
        assert gateways["good"]["state"] == "running"
        for name, text in (("broken", "config.yaml:2:1: invalid YAML"), ("badenv", ".env:")):
            assert gateways[name]["state"] == "fatal" and gateways[name]["pid"] is None
            assert gateways[name]["restarts"] == 0 and text in gateways[name]["last_error"]
        assert "not valid UTF-8" in gateways["badenv"]["last_error"]
        shown = hermes(home, "status")
        assert "fatal" in shown.stdout and "config.yaml" in shown.stdout + shown.stderr
        listed = hermes(home, "profile", "list")
        assert listed.returncode == 0 and "good" in listed.stdout
        assert "hermes: profile 'badenv': " in listed.stderr


def test_port_held_by_another_process_is_fatal_naming_it(home: Path) -> None:
    disable_default(home)
    add_profile(home, "alice")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()  # something took the port after the profile was configured
        port = str(squatter.getsockname()[1])
        envfile.update(home / "profiles" / "alice" / ".env", {"API_SERVER_PORT": port})
        with supervisor(home) as sup:
            alice = sup.settled()["alice"]
            assert alice["state"] == "fatal"
            assert f"pid {os.getpid()}" in alice["last_error"]
            assert alice["restarts"] == 0


def test_two_profiles_on_one_port_are_refused(home: Path) -> None:
    disable_default(home)
    port = add_profile(home, "alice")
    add_profile(home, "bob")
    envfile.update(home / "profiles" / "bob" / ".env", {"API_SERVER_PORT": str(port)})
    result = hermes(home, "up")
    assert result.returncode != 0
    assert f"both use port {port}" in result.stderr and "Traceback" not in result.stderr


def test_reload_starts_new_restarts_changed_keeps_others(home: Path) -> None:
    disable_default(home)
    add_profile(home, "alice")
    add_profile(home, "bob")
    with supervisor(home) as sup:
        before = sup.gateway_pids()
        add_profile(home, "carol")
        hermes(home, "-p", "bob", "config", "set", "agent.max_iterations", "5")
        result = hermes(home, "reload")
        assert result.returncode == 0, result.stderr
        assert "started: carol" in result.stdout and "restarted: bob" in result.stdout
        after = wait_for(sup.settled)
        assert after["carol"]["state"] == "running"
        assert after["alice"]["pid"] == before["alice"]
        assert after["bob"]["pid"] != before["bob"] and after["bob"]["state"] == "running"
        hermes(home, "-p", "carol", "config", "set", "API_SERVER_ENABLED", "false")
        assert "stopped: carol" in hermes(home, "reload").stdout
        assert "carol" not in by_profile(home)


def test_reload_with_a_broken_profile_reloads_the_others(home: Path) -> None:
    """`hermes reload` once answered "malformed request" and reloaded nothing when one .env was
    not UTF-8. Now the broken profile is named with its error (exit 1), keeps running on the
    settings it started with, and the others are reloaded."""
    disable_default(home)
    add_profile(home, "alice")
    add_profile(home, "bob")
    with supervisor(home) as sup:
        before = sup.gateway_pids()
        add_profile(home, "carol")
        env = home / "profiles" / "bob" / ".env"
        good = env.read_bytes()
        env.write_bytes(good + b"NOTE=caf\xe9\n")
        result = hermes(home, "reload")
        assert result.returncode == 1, result.stderr
        assert "started: carol" in result.stdout and "failed: bob" in result.stdout
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"hermes: error: profile 'bob': {env}:") and "UTF-8" in line
        after = wait_for(sup.settled)
        assert after["carol"]["state"] == "running" and after["alice"]["pid"] == before["alice"]
        assert after["bob"]["state"] == "running" and after["bob"]["pid"] == before["bob"]
        assert "UTF-8" in after["bob"]["config_error"]
        assert "running (config error)" in hermes(home, "status", env={"COLUMNS": "200"}).stdout
        narrow = hermes(home, "status", env={"COLUMNS": "80"}).stdout
        assert "running*" in narrow and "bob: config error: " in narrow
        assert "(still running on its previous settings)" in " ".join(narrow.split())
        env.write_bytes(good)  # put back: nothing to restart, and the note goes
        assert hermes(home, "reload").stdout.strip() == "nothing changed"
        assert by_profile(home)["bob"]["config_error"] is None


def test_reload_to_a_taken_port_keeps_the_running_gateway(home: Path) -> None:
    """A new port something else listens on: the running gateway is not stopped for a gateway
    that could not start; reload names the port, exit 1."""
    disable_default(home)
    add_profile(home, "dan")
    with socket.socket() as taken, supervisor(home) as sup:
        port = free_port()
        before = sup.gateway_pids()["dan"]
        moved = hermes(home, "-p", "dan", "config", "set", "API_SERVER_PORT", str(port))
        assert moved.returncode == 0, moved.stderr
        taken.bind(("127.0.0.1", port))  # something else takes it before the reload
        taken.listen()
        result = hermes(home, "reload")
        assert result.returncode == 1 and "failed: dan" in result.stdout
        assert f"port {port} is already in use" in result.stderr
        dan = by_profile(home)["dan"]
        assert dan["state"] == "running" and dan["pid"] == before
        assert f"port {port} is already in use" in dan["config_error"]


def test_stop_start_restart_commands(home: Path) -> None:
    disable_default(home)
    add_profile(home, "alice")
    with supervisor(home) as sup:
        pid = sup.gateway_pids()["alice"]
        assert "alice: stopped" in hermes(home, "stop", "alice").stdout
        assert not alive(pid)
        assert by_profile(home)["alice"]["state"] == "stopped"
        assert "alice: running" in hermes(home, "start", "alice").stdout
        new_pid = by_profile(home)["alice"]["pid"]
        assert "alice: running" in hermes(home, "restart", "alice").stdout
        assert by_profile(home)["alice"]["pid"] not in (pid, new_pid)
        missing = hermes(home, "stop", "ghost")
        assert missing.returncode != 0 and "ghost" in missing.stderr


def test_start_and_restart_use_the_config_on_disk_now(home: Path) -> None:
    """stop, change the port, start: the gateway comes back on the new port (it came back on
    the old one, while profile list showed the new); restart with a broken config keeps the
    running gateway and says why."""
    disable_default(home)
    add_profile(home, "alice")
    new_port = free_port()
    with supervisor(home):
        assert "alice: stopped" in hermes(home, "stop", "alice").stdout
        assert (
            hermes(
                home, "-p", "alice", "config", "set", "API_SERVER_PORT", str(new_port)
            ).returncode
            == 0
        )
        assert "alice: running" in hermes(home, "start", "alice").stdout
        alice = by_profile(home)["alice"]
        assert alice["port"] == new_port and alice["url"].endswith(f":{new_port}/v1")
        with urllib.request.urlopen(f"http://127.0.0.1:{new_port}/health", timeout=5) as r:
            assert r.status == 200
        pid = alice["pid"]
        config = home / "profiles" / "alice" / "config.yaml"
        config.write_text(config.read_text() + "\nagent: [not, a, mapping]\n")
        refused = hermes(home, "restart", "alice")
        assert refused.returncode != 0 and "keeps running" in refused.stderr
        assert by_profile(home)["alice"]["state"] == "running"
        assert by_profile(home)["alice"]["pid"] == pid


def test_delete_and_rename_of_a_running_profile_go_through_the_supervisor(home: Path) -> None:
    """A deleted profile's gateway stops with it; a renamed one answers under its new name on
    its port (both kept answering until the next reload)."""
    disable_default(home)
    carol_port = add_profile(home, "carol")
    dan_port = add_profile(home, "dan")
    with supervisor(home):
        deleted = hermes(home, "profile", "delete", "carol", "--yes")
        assert deleted.returncode == 0 and "carol: stopped" in deleted.stdout
        assert "carol" not in by_profile(home)
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{carol_port}/health", timeout=2)
        renamed = hermes(home, "profile", "rename", "dan", "erin")
        assert renamed.returncode == 0 and "erin: running" in renamed.stdout
        gateways = by_profile(home)
        assert "dan" not in gateways and gateways["erin"]["port"] == dan_port
        with urllib.request.urlopen(f"http://127.0.0.1:{dan_port}/health", timeout=5) as r:
            assert json.loads(r.read())["profile"] == "erin"


def test_sigkill_of_the_supervisor_takes_the_gateways_down(home: Path) -> None:
    disable_default(home)
    add_profile(home, "alice")
    add_profile(home, "bob")
    with supervisor(home) as sup:
        pids = list(sup.gateway_pids().values())
        assert len(pids) == 2
        sup.proc.send_signal(signal.SIGKILL)
        sup.proc.wait(10)
        wait_for(
            lambda: not [p for p in pids if alive(p)],
            timeout=3,
        )


def test_status_without_a_supervisor_is_exit_3(home: Path) -> None:
    add_profile(home, "alice")
    result = hermes(home, "status", "--json")
    assert result.returncode == 3
    data = json.loads(result.stdout)
    assert {g["state"] for g in data["gateways"]} == {"stopped"}
    assert hermes(home, "status").returncode == 3
    assert hermes(home, "down").returncode == 3


def test_up_detach_returns_when_ready_and_reports_failures(home: Path) -> None:
    disable_default(home)
    add_profile(home, "alice")
    add_profile(home, "broken")
    (home / "profiles" / "broken" / "config.yaml").write_text("agent: {max_iterations: x}\n")
    result = hermes(home, "up", "--detach", timeout=120)
    try:
        assert result.returncode == 1
        assert "broken" in result.stderr and "alice" in result.stdout
        assert by_profile(home)["alice"]["state"] == "running"
        assert (home / "run" / "supervisor.pid").exists()
        again = hermes(home, "up", "--detach")
        assert again.returncode != 0 and "already running" in again.stderr
    finally:
        pid = int((home / "run" / "supervisor.pid").read_text())
        children = [c.pid for c in psutil.Process(pid).children(recursive=True)]
        assert hermes(home, "down").returncode == 0
        wait_for(lambda: not alive(pid), timeout=30)
        assert not [c for c in children if alive(c)]


def test_systemd_notify_ready_once_every_gateway_is_ready(home: Path, tmp_path: Path) -> None:
    disable_default(home)
    add_profile(home, "alice")
    sock_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(sock_path))
        notify.settimeout(30)
        with supervisor(home, env={"NOTIFY_SOCKET": str(sock_path)}) as sup:
            message = notify.recv(4096).decode()
            assert "READY=1" in message and "STATUS=1 running" in message
            assert by_profile(home)["alice"]["state"] == "running"
            environ = psutil.Process(sup.gateway_pids()["alice"]).environ()
            assert "NOTIFY_SOCKET" not in environ
            sup.proc.send_signal(signal.SIGHUP)  # reload: RELOADING=1 then READY=1 again
            assert "RELOADING=1" in notify.recv(4096).decode()
            assert "READY=1" in notify.recv(4096).decode()


def test_a_hung_gateway_is_restarted_after_3_failed_health_checks(home: Path) -> None:
    disable_default(home)
    add_profile(home, "alice")
    with supervisor(home) as sup:
        for private in (
            home / "run" / "supervisor.sock",
            home / "logs" / "supervisor.log",
            home / "profiles" / "alice" / "logs" / "gateway.log",
        ):
            assert private.stat().st_mode & 0o777 == 0o600, private
        pid = sup.gateway_pids()["alice"]
        os.kill(pid, signal.SIGSTOP)  # alive, holding its port, answering nothing
        alice = wait_for(
            lambda: (
                (g := by_profile(home)["alice"])["pid"] not in (None, pid)
                and g["state"] == "running"
                and g
            ),
            timeout=45,
            interval=0.5,
        )
        assert alice["restarts"] == 1
        assert not alive(pid)
        assert "failed health checks" in hermes(home, "logs", "supervisor").stdout


def _freezer_state(pid: int) -> Path | None:
    """The freezer.state of the v1 freezer cgroup `pid` is in (None without a v1 freezer)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            state = Path("/sys/fs/cgroup/freezer") / path.lstrip("/") / "freezer.state"
            return state if state.exists() else None
    return None


def test_a_gateway_that_froze_itself_is_still_stopped_and_restarted(home: Path) -> None:
    """A gateway owns its cgroups, so code in it could freeze them; a frozen process ignores
    even SIGKILL. The supervisor thaws the gateway's cgroups before it signals them."""
    disable_default(home)
    port = add_profile(home, "alice")
    with supervisor(home) as sup:
        pid = sup.gateway_pids()["alice"]
        state = _freezer_state(pid)
        if state is None or "hermes-gateways" not in str(state):
            pytest.skip("no v1 freezer hierarchy of hermes' own here")
        state.write_text("FROZEN")
        wait_for(lambda: state.read_text().strip() == "FROZEN", timeout=10)
        started = time.monotonic()
        result = hermes(home, "restart", "alice", timeout=60)
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 20
        wait_for(lambda: by_profile(home)["alice"]["state"] == "running", timeout=20)
        assert sup.gateway_pids()["alice"] != pid
        assert models_of(port, home, "alice") == ["alice"]


def test_no_descriptor_of_whoever_started_hermes_reaches_a_gateway(home: Path) -> None:
    """`hermes up` started with a descriptor open (a folder of someone else's): no gateway
    holds it, so none can read through /proc/self/fd what it points at."""
    disable_default(home)
    add_profile(home, "alice")
    elsewhere = home.parent / "not-hermes"
    elsewhere.mkdir()
    fd = os.open(elsewhere, os.O_RDONLY | os.O_DIRECTORY)
    log = open(home / "supervisor-fd.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [HERMES, "up"], env=gateway_env(home), stdout=log, stderr=log, pass_fds=(fd,)
    )
    try:
        running = Running(proc, home)
        wait_for(running.settled, timeout=60)
        gateway = running.gateway_pids()["alice"]
        links = [os.readlink(f"/proc/{gateway}/fd/{n}") for n in os.listdir(f"/proc/{gateway}/fd")]
        assert str(elsewhere) not in links
    finally:
        os.close(fd)
        hermes(home, "down")
        proc.wait(30)
        log.close()

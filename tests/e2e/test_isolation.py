"""Isolation through the real CLI and `hermes up`: three profiles under one supervisor, the fake
upstream scripting the model's tool calls as a hostile prompt would. alice's tools are
sandboxed with the network, bob's without, carol's run unconfined (tools.sandbox.mode: off)
and so show what the gateway itself, confined to its profile, can reach.

Every escape is refused: other profiles' and its own .env, $HERMES_HOME/run and the
supervisor's socket, any process's environment, signals to gateways and the supervisor,
writes outside the workspace, symlinks planted in it, the network when it is off. And normal
work still works."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from hermes.config import envfile
from hermes.sandbox.cgroups import group_name
from tests.e2e.gateway_process import make_profile, run_gateway
from tests.e2e.supervisor_process import (
    Running,
    add_profile,
    by_profile,
    disable_default,
    hermes,
    supervisor,
)
from tests.fakes.openai_upstream import FakeOpenAI

CONNECT = (
    "import socket, sys\n"
    "s = socket.socket(socket.AF_UNIX)\n"
    "try:\n"
    "    s.connect(sys.argv[1])\n"
    '    s.sendall(b\'{"action": "stop", "profile": "bob"}\\n\')\n'
    "    print('answered', s.recv(65536))\n"
    "except OSError as exc:\n"
    "    print('refused', type(exc).__name__)\n"
)


@dataclass
class Machine:
    home: Path
    running: Running
    keys: dict[str, str]  # API_SERVER_KEY per profile
    status: dict[str, dict[str, Any]]

    @property
    def secrets(self) -> list[str]:
        """Every secret value on the machine: no tool result may contain one."""
        found = []
        for name in ("alice", "bob", "carol"):
            env = envfile.read(self.home / "profiles" / name / ".env")
            found += [v for k, v in env.items() if k.endswith("_KEY") and v]
        return found

    def pid(self, name: str) -> int:
        return int(self.status[name]["pid"])

    @property
    def supervisor_pid(self) -> int:
        return int((self.home / "run" / "supervisor.pid").read_text())

    def ask(self, name: str) -> str:
        port = self.status[name]["port"]
        with openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=self.keys[name], max_retries=0
        ) as client:
            reply = client.chat.completions.create(
                model=name, messages=[{"role": "user", "content": "go"}], timeout=120
            )
        return reply.choices[0].message.content or ""


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory, upstream: FakeOpenAI) -> Iterator[Machine]:
    home = tmp_path_factory.mktemp("isolation") / "home"
    disable_default(home)
    add_profile(home, "alice", **{"model.base_url": upstream.base_url})
    add_profile(home, "bob", **{"model.base_url": upstream.base_url})
    add_profile(home, "carol", **{"model.base_url": upstream.base_url})
    hermes(home, "-p", "bob", "config", "set", "tools.sandbox.network", "off")
    hermes(home, "-p", "carol", "config", "set", "tools.sandbox.mode", "off")
    keys = {
        n: envfile.read(home / "profiles" / n / ".env")["API_SERVER_KEY"]
        for n in ("alice", "bob", "carol")
    }
    with supervisor(home) as running:
        status = running.settled()
        assert {n: g["state"] for n, g in status.items()} == dict.fromkeys(keys, "running")
        yield Machine(home, running, keys, status)


def results(up: FakeOpenAI) -> list[str]:
    return [m["content"] for m in up.requests[-1][0]["messages"] if m["role"] == "tool"]


def run_commands(m: Machine, up: FakeOpenAI, name: str, commands: list[str]) -> list[str]:
    """One model turn of `terminal` calls on profile `name`; their results, in order."""
    up.queue_tool_calls([("terminal", {"command": c}) for c in commands])
    up.queue_text("done")
    assert m.ask(name) == "done"
    out = results(up)
    for text in out:
        for secret in m.secrets:
            assert secret not in text, "a secret reached a tool result"
    return out


def still_running(m: Machine) -> None:
    now = by_profile(m.home)
    for name in ("alice", "bob", "carol"):
        assert now[name]["state"] == "running" and now[name]["pid"] == m.pid(name), name


def test_the_sandboxed_shell_reaches_nothing_outside_its_workspace(
    machine: Machine, up: FakeOpenAI
) -> None:
    m, home = machine, machine.home
    soul = (home / "profiles" / "alice" / "SOUL.md").read_text()
    own_env, other_env, run_dir, environ, every_environ, sock, kill, write, links = run_commands(
        m,
        up,
        "alice",
        [
            "cat ../.env",
            f"cat ../../bob/.env {home}/profiles/bob/.env",
            f"ls {home}/run; ls -A {home}/profiles; ls -A {home}",
            f"cat /proc/{m.pid('alice')}/environ /proc/{m.pid('bob')}/environ",
            "cat /proc/*/environ | tr '\\0' '\\n'; cat /proc/*/cmdline | tr '\\0' ' '",
            f"python3 - {home}/run/supervisor.sock <<'EOF'\n{CONNECT}EOF",
            f"kill -9 {m.pid('alice')} {m.pid('bob')} {m.supervisor_pid}; echo rc=$?",
            f"echo x > ../evil; echo x >> {home}/profiles/alice/SOUL.md; touch /etc/e /usr/e",
            f"ln -s ../.env leak; ln -s {home}/profiles/bob/.env bobleak; cat leak bobleak",
        ],
    )
    assert "No such file or directory" in own_env and "exit code 1" in own_env
    assert other_env.count("No such file or directory") == 2
    assert f"{home}/run" in run_dir and "No such file or directory" in run_dir
    assert "bob" not in run_dir and "carol" not in run_dir  # no other profile, not even a name
    assert environ.count("No such file or directory") == 2
    assert "HERMES_PROFILE=alice" in every_environ  # its own processes' only
    # /proc shows alice's PID namespace: her gateway and her commands, nothing of the host.
    assert "hermes.gateway --profile alice" in every_environ
    assert "--profile bob" not in every_environ and "hermes up" not in every_environ
    assert "refused FileNotFoundError" in sock
    assert kill.count("No such process") == 3 and "rc=1" in kill
    assert "Read-only file system" in write and "exit code 1" in write
    assert links.count("No such file or directory") == 2
    assert not (home / "profiles" / "alice" / "evil").exists()
    assert (home / "profiles" / "alice" / "SOUL.md").read_text() == soul
    assert not Path("/etc/e").exists() and not Path("/usr/e").exists()
    still_running(m)

    up.queue_tool_call("read_file", {"path": "leak"})  # the planted link, through the file tool
    up.queue_text("done")
    assert m.ask("alice") == "done"
    assert "outside the workspace" in results(up)[0]


def test_execute_code_is_confined_like_the_shell(machine: Machine, up: FakeOpenAI) -> None:
    m = machine
    code = f"""
import glob, os, signal
seen = [p for p in glob.glob('/proc/[0-9]*')]
leaks = []
for path in glob.glob('/proc/*/environ'):
    try:
        leaks.append(open(path, 'rb').read())
    except OSError:
        pass
print('processes', len(seen))
print('keys', sum(b'API_SERVER_KEY' in e for e in leaks))
for pid in ({m.pid("alice")}, {m.pid("bob")}, {m.supervisor_pid}):
    try:
        os.kill(pid, signal.SIGKILL)
        print('killed', pid)
    except OSError as exc:
        print('refused', type(exc).__name__)
print(os.path.exists({str(m.home / "profiles" / "bob")!r}), os.listdir('..'))
"""
    up.queue_tool_call("execute_code", {"code": code})
    up.queue_text("done")
    assert m.ask("alice") == "done"
    (out,) = results(up)
    assert "keys 0" in out and out.count("refused ProcessLookupError") == 3
    assert "False ['workspace']" in out
    assert int(out.split("processes ")[1].split()[0]) < 10
    still_running(m)


def test_normal_work_still_works(machine: Machine, up: FakeOpenAI) -> None:
    listing, pipe, python, pip, files, job = run_commands(
        machine,
        up,
        "alice",
        [
            "mkdir -p notes && echo hello > notes/a.txt && ls notes",
            "seq 1 5 | awk '{s += $1} END {print s}'",
            "python3 -c 'import sys; print(6 * 7, sys.version_info[0])'",
            "pip --version",
            "printf 'one\\ntwo\\n' > list.txt; wc -l < list.txt",
            "(sleep 0.2; echo from-the-job > job.txt) & wait; cat job.txt",
        ],
    )
    assert listing == "a.txt\n[exit code 0]"
    assert pipe == "15\n[exit code 0]"
    assert python == "42 3\n[exit code 0]"
    assert pip.startswith("pip ") and pip.endswith("[exit code 0]")
    assert files == "2\n[exit code 0]"
    assert job == "from-the-job\n[exit code 0]"
    # The calls of one turn run concurrently: what one wrote is read back in the next turn.
    (kept,) = run_commands(machine, up, "alice", ["cat notes/a.txt"])
    assert kept == "hello\n[exit code 0]"
    up.queue_tool_call("read_file", {"path": "list.txt"})
    up.queue_text("done")
    assert machine.ask("alice") == "done"
    assert "one" in results(up)[0] and "two" in results(up)[0]


def test_network_off_leaves_no_way_out(machine: Machine, up: FakeOpenAI) -> None:
    fetch = (
        'python3 -c "import urllib.request as u, sys; '
        "print(u.urlopen(sys.argv[1] + '/models', timeout=5).status)\" " + up.base_url
    )
    (with_network,) = run_commands(machine, up, "alice", [f"{fetch} 2>&1 | tail -1"])
    (without,) = run_commands(machine, up, "bob", [f"{fetch} 2>&1 | tail -1"])
    assert "200" in with_network or "401" in with_network  # reached the fake upstream
    assert "Connection refused" in without and "200" not in without


def test_an_unconfined_profile_still_cannot_leave_its_gateways_view(
    machine: Machine, up: FakeOpenAI
) -> None:
    """carol runs her tools unconfined, so they see what her gateway sees: her own profile
    (her .env included: that is what mode off means), and nothing else. Her gateway is in a
    PID namespace of its own, holds no capability, and can write only its own cgroups."""
    m, home = machine, machine.home
    sup = m.supervisor_pid
    carol_group = group_name(home / "profiles" / "carol")
    cgroups = "find /sys/fs/cgroup -maxdepth 6 -type d -name hermes-sandbox | head -1"
    up.queue_tool_calls(
        [
            ("terminal", {"command": f"cat {home}/profiles/bob/.env; ls -A {home}/profiles"}),
            ("terminal", {"command": f"ls {home}/run; cat /proc/{sup}/environ"}),
            ("terminal", {"command": f"kill -0 {sup} {m.pid('bob')}; echo rc=$?"}),
            ("terminal", {"command": "ls /proc | grep -c '^[0-9]'; grep CapEff /proc/self/status"}),
            (
                "terminal",
                {"command": f"python3 - {home}/run/supervisor.sock <<'EOF'\n{CONNECT}EOF"},
            ),
            (
                "terminal",
                {
                    "command": f"ls /sys/fs/cgroup/*/; B=$({cgroups}); D=$B/{carol_group} && "
                    f"mkdir -p $D/trap && echo {sup} > $D/trap/cgroup.procs; echo rc=$?"
                },
            ),
            (
                "terminal",
                {
                    "command": "mount -o remount,rw,bind /usr; unshare -Ur true; "
                    "unshare -Urpmf --mount-proc true; unshare -Urm -C true; touch /x"
                },
            ),
        ]
    )
    up.queue_text("done")
    assert m.ask("carol") == "done"
    bob_env, run_dir, kill, procs, sock, cgroup, remount = results(up)
    assert "No such file or directory" in bob_env and "bob" not in bob_env.split("\n", 1)[1]
    assert run_dir.count("No such file or directory") == 2
    assert kill.count("No such process") == 2 and "rc=1" in kill
    count, caps = procs.split("\n")[:2]
    host = sum(p.isdigit() for p in os.listdir("/proc"))
    assert int(count) < min(30, host) and caps.split()[-1] == "0000000000000000"
    assert "refused FileNotFoundError" in sock
    # Of the cgroup tree carol sees her own command cgroups only; the supervisor is no pid of hers.
    assert "No such process" in cgroup and "rc=1" in cgroup
    assert "bob-" not in cgroup and "alice-" not in cgroup
    assert any(w in remount for w in ("permission denied", "must be superuser"))
    # A gateway whose tools are unconfined may make no user namespace: no fresh /proc with
    # writable sysctls, no cgroup hierarchy mounted afresh. And its root is read-only.
    assert remount.count("unshare failed") == 3 and "Read-only file system" in remount
    still_running(m)


def test_a_sandboxed_root_cannot_undo_its_sandbox(machine: Machine, up: FakeOpenAI) -> None:
    """Even as uid 0 inside, a command has no capability and no way to get one back: it can
    neither remount its view writable nor lift a cover, nor make a user namespace."""
    checks = run_commands(
        machine,
        up,
        "alice",
        [
            "grep CapEff /proc/self/status",
            "mount -o remount,rw,bind /usr; touch /usr/hermes-escape",
            "umount /etc/shadow; cat /etc/shadow",
            "unshare -U -r true; unshare -m true",
        ],
    )
    caps, remount, cover, userns = checks
    assert caps.split()[1] == "0000000000000000"
    assert any(w in remount for w in ("permission denied", "must be superuser"))
    assert "Read-only file system" in remount and not Path("/usr/hermes-escape").exists()
    assert "must be superuser" in cover or "not permitted" in cover or "denied" in cover
    assert "root:" not in cover
    assert userns.count("unshare failed") == 2


def test_each_gateway_is_in_cgroups_of_its_own(machine: Machine) -> None:
    """A gateway able to make user namespaces could mount a cgroup hierarchy rooted at its own
    cgroup: so that cgroup is its own, never the supervisor's or another gateway's."""
    m = machine
    seen = {}
    for name in ("alice", "bob", "carol"):
        lines = Path(f"/proc/{m.pid(name)}/cgroup").read_text().splitlines()
        mine = [
            line
            for line in lines
            if f"hermes-gateways/{group_name(m.home / 'profiles' / name)}" in line
        ]
        assert mine, f"{name} is not in a cgroup of its own: {lines}"
        seen[name] = set(mine)
    assert not (seen["alice"] & seen["bob"]) and not (seen["bob"] & seen["carol"])
    supervisor = Path(f"/proc/{m.supervisor_pid}/cgroup").read_text()
    assert "hermes-gateways" not in supervisor


def test_status_and_doctor_show_each_profiles_sandbox(machine: Machine) -> None:
    m = machine
    gateways = by_profile(m.home)
    assert {n: (g["sandbox"], g["confined"]) for n, g in gateways.items()} == {
        "alice": ("bwrap", True),
        "bob": ("bwrap", True),
        "carol": ("off", True),
    }
    text = hermes(m.home, "status").stdout
    assert "carol: tools run unconfined (tools.sandbox.mode: off)" in " ".join(text.split())
    doctor = hermes(m.home, "doctor", "--json")
    assert doctor.returncode == 0
    report = json.loads(doctor.stdout)
    assert report["machine"]["bubblewrap"]["ok"] is True
    tools = {p["name"]: (p["tools"], p["network"]) for p in report["profiles"]}
    assert tools["alice"] == ("sandboxed", "on") and tools["bob"] == ("sandboxed", "off")
    assert tools["carol"][0] == "unconfined"
    assert "unconfined" in (m.home / "profiles" / "carol" / "logs" / "gateway.log").read_text()


def test_without_bubblewrap_the_tools_fail_closed_and_say_how_to_fix_it(
    tmp_path: Path, up: FakeOpenAI
) -> None:
    """A machine without `bwrap` (here: a PATH where none is found): the gateway still serves,
    unconfined and saying so, and terminal / execute_code refuse with the fix, not run open."""
    home = tmp_path / "home"
    make_profile(home, "alice", up.base_url)
    no_bwrap = {"PATH": "/nonexistent"}
    up.queue_tool_calls([("terminal", {"command": "id"}), ("execute_code", {"code": "1"})])
    up.queue_text("done")
    with run_gateway(home, "alice", env=no_bwrap) as gw:
        assert "sandbox=unavailable confined=no" in gw.ready_line
        with openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0) as client:
            reply = client.chat.completions.create(
                model="alice", messages=[{"role": "user", "content": "go"}]
            )
        assert reply.choices[0].message.content == "done"
        log = gw.log()
    for result in results(up):
        assert result.startswith("error: commands run only in a sandbox")
        assert "apt-get install -y bubblewrap" in result and "tools.sandbox.mode: off" in result
    assert "not confined to its profile (bubblewrap is not installed" in log
    assert "terminal and execute_code will refuse to run" in log
    doctor = hermes(home, "doctor", env=no_bwrap)
    assert doctor.returncode == 1 and "refuse to run" in doctor.stdout

"""Start a real gateway process for a test and stop it (and everything it started) afterwards."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hermes.config import envfile
from hermes.procutil import serving_pid
from hermes.profiles import ProfileStore

READY_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Gateway:
    proc: subprocess.Popen[str]
    url: str  # http://127.0.0.1:PORT
    key: str
    profile: str
    log_path: Path
    ready_line: str = ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def serving_pid(self) -> int:
        """The process that serves (bwrap's grandchild when the gateway confines itself), by
        its host pid; the ready line gives its pid in its own PID namespace."""
        found = re.search(r"\bpid=(\d+)", self.ready_line)
        host = serving_pid(self.proc.pid, int(found.group(1))) if found else None
        return host or self.proc.pid

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM to the gateway's process group, as the supervisor stops it; then wait until
        every process of the group is gone (SIGKILL after `timeout`)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while group_alive(self.proc.pid) and time.monotonic() < deadline:
            self.proc.poll()
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)
        return self.proc.returncode


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def make_profile(home: Path, name: str, upstream_url: str, **config: str) -> str:
    """Create profile `name` pointed at a fake upstream; returns its API key. `config` maps
    dotted config keys (with '__' for '.') or UPPER env keys to values."""
    from hermes.profiles.settings import set_value

    store = ProfileStore(home)
    created = store.create(name) if name != "default" else None
    profile = store.get(name)
    settings = {
        "model.provider": "openai",
        "model.base_url": upstream_url,
        "model.name": "fake-model",
        "OPENAI_API_KEY": "sk-upstream-test-key-0001",
    }
    given = {k.replace("__", "."): v for k, v in config.items()}
    # The given keys go last and in their order: `model.provider` may name a `providers` entry
    # only once that entry is set.
    settings = {**{k: v for k, v in settings.items() if k not in given}, **given}
    for key, value in settings.items():
        set_value(store, profile, key, value)
    return created.api_key if created else envfile.read(profile.env_path)["API_SERVER_KEY"]


def gateway_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HERMES_", "OPENAI_", "API_SERVER_"))
    }
    env.update(HERMES_HOME=str(home), **(extra or {}))
    return env


@contextmanager
def run_gateway(
    home: Path,
    profile: str,
    *,
    port: int | None = None,
    args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[Gateway]:
    port = port or free_port()
    key = envfile.read(home / "profiles" / profile / ".env").get("API_SERVER_KEY", "")
    cmd = [sys.executable, "-m", "hermes.gateway", "--profile", profile, "--port", str(port), *args]
    log_path = home / f"gateway-{profile}-{port}.log"
    with open(log_path, "w") as log:  # a file, not a pipe: a full pipe would block the gateway
        proc = subprocess.Popen(
            cmd,
            env=gateway_env(home, env),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,  # its own group: stop() ends everything it started
        )
    gateway = Gateway(proc, f"http://127.0.0.1:{port}", key, profile, log_path)
    try:
        gateway.ready_line = wait_ready(proc, log_path)
        yield gateway
    finally:
        gateway.stop()


@contextmanager
def alice_gateway(home: Path, upstream_url: str, **config: str) -> Iterator[Gateway]:
    """Profile `alice` in `home`, pointed at the fake upstream and served (a module's gateway)."""
    make_profile(home, "alice", upstream_url, **config)
    with run_gateway(home, "alice") as gateway:
        yield gateway


def wait_ready(proc: subprocess.Popen[str], log_path: Path, timeout: float = READY_TIMEOUT) -> str:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = log_path.read_text(errors="replace")
            raise RuntimeError(f"gateway exited with {proc.returncode}: {err}")
        if sel.select(0.1):
            line = proc.stdout.readline()
            if "ready" in line:
                return line.strip()
    proc.kill()
    raise TimeoutError("gateway did not print its ready line in time")

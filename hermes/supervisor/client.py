"""The CLI's side of the control socket: plain http.client over AF_UNIX, so `hermes status`
needs neither aiohttp nor an event loop."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

from hermes.errors import HermesError


class SupervisorNotRunning(HermesError):
    exit_code = 3
    code = "supervisor_not_running"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class ControlClient:
    def __init__(self, home: Path, *, timeout: float = 120.0) -> None:
        self.path = home / "run" / "supervisor.sock"
        self.timeout = timeout

    def request(self, method: str, path: str, *, timeout: float | None = None) -> Any:
        conn = _UnixConnection(self.path, self.timeout if timeout is None else timeout)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            body = response.read()
        except (FileNotFoundError, ConnectionRefusedError):
            raise SupervisorNotRunning(
                "no supervisor is running; start one with `hermes up`"
            ) from None
        except OSError as exc:
            raise HermesError(f"the supervisor did not answer: {exc}") from None
        finally:
            conn.close()
        data = json.loads(body) if body else None
        if response.status >= 400:
            message = (data or {}).get("error", {}).get("message") or response.reason
            error = HermesError(message)
            error.exit_code = 2 if response.status in (400, 404) else 1  # type: ignore[misc]
            raise error
        return data

    def running(self) -> bool:
        try:
            self.request("GET", "/status", timeout=2)
        except HermesError:
            return False
        return True

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/status", timeout=10)
        return result

    def action(self, name: str, profile: str | None = None) -> Any:
        return self.request("POST", f"/{name}" + (f"/{profile}" if profile else ""))

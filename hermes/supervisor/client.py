"""The CLI's side of the control socket (see hermes.supervisor.control): one JSON line each way,
with the standard library only, so `hermes status` needs no event loop."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from hermes.errors import HermesError


class SupervisorNotRunning(HermesError):
    exit_code = 3
    code = "supervisor_not_running"


class SupervisorError(HermesError):
    """An action the supervisor refused; exit code 2 for a bad or unknown profile."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.exit_code = 2 if status in (400, 404) else 1  # type: ignore[misc]


class ControlClient:
    def __init__(self, home: Path, *, timeout: float = 120.0) -> None:
        self.path = home / "run" / "supervisor.sock"
        self.timeout = timeout

    def request(self, action: str, *, timeout: float | None = None, **fields: Any) -> Any:
        message = json.dumps({"action": action, **fields}).encode() + b"\n"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout if timeout is None else timeout)
                sock.connect(str(self.path))
                sock.sendall(message)
                reply = _read_line(sock)
        except (FileNotFoundError, ConnectionRefusedError):
            raise SupervisorNotRunning(
                "no supervisor is running; start one with `hermes up`"
            ) from None
        except OSError as exc:
            raise HermesError(f"the supervisor did not answer: {exc}") from None
        try:
            data = json.loads(reply) if reply else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise HermesError(f"the supervisor's reply is not a control message: {reply[:80]!r}")
        if not data.get("ok"):
            error = data.get("error") or {}
            raise SupervisorError(
                error.get("message") or "the supervisor refused", int(data.get("status", 500))
            )
        return data["result"]

    def running(self) -> bool:
        try:
            self.request("status", timeout=2)
        except HermesError:
            return False
        return True

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("status", timeout=10)
        return result

    def action(self, name: str, profile: str | None = None) -> Any:
        return self.request(name, profile=profile)


def _read_line(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)

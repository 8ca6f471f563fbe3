"""The control endpoint on a Unix socket (mode 0600) under $HERMES_HOME/run/, serving the CLI's
`status / start / stop / restart / reload / down`.

The protocol is one JSON request line, one JSON reply line: {"action": "stop", "profile": "bob"}
→ {"ok": true, "result": …} or {"ok": false, "error": {…}, "status": 404}. A private protocol
between our own CLI and supervisor needs nothing more, and keeps an HTTP stack (and its memory)
out of the supervisor."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from hermes.errors import Forbidden, HermesError, InvalidRequest

log = logging.getLogger("hermes.supervisor")
MAX_REQUEST = 64 * 1024
PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid

# An action gets the request (a JSON object) and returns the reply's result.
Action = Callable[[dict[str, Any]], Awaitable[Any]]


class ControlServer:
    """Serves `actions` by name. `process_groups` names the process groups whose members (the
    gateways and everything their tools start) are refused, whatever their uid."""

    def __init__(
        self,
        actions: Mapping[str, Action],
        path: Path,
        *,
        process_groups: Callable[[], set[int]] = set,
    ) -> None:
        self.actions = actions
        self.path = path
        self.process_groups = process_groups
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.path.unlink()  # stale: the caller already ruled out a live supervisor
        old = os.umask(0o177)  # the socket is born 0600: only this user may control hermes
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, str(self.path), limit=MAX_REQUEST
            )
        finally:
            os.umask(old)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self.path.exists():
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            refused = self._refusal(writer)
            if refused is not None:
                log.warning("control request refused: %s", refused)
                reply = {"ok": False, "status": 403, **Forbidden(refused).to_openai()}
            else:
                reply = await self._dispatch(line)
            writer.write(json.dumps(reply, default=str).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def _refusal(self, writer: asyncio.StreamWriter) -> str | None:
        """Why this peer may not control the supervisor, or None. The socket is 0600 and no
        sandbox has it in its view; the kernel's word on who connected is checked as well:
        the owner only, and never a process a gateway started (its tools, when a profile runs
        them unconfined on a machine with no sandbox)."""
        sock = writer.get_extra_info("socket")
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size)
        except (OSError, AttributeError):
            return "the peer's credentials cannot be read"
        pid, uid, _gid = PEERCRED.unpack(raw)
        if uid != os.geteuid():
            return f"uid {uid} is not this supervisor's owner (uid {os.geteuid()})"
        gateways = self.process_groups()
        if gateways and _descends_from(pid, gateways):
            return f"pid {pid} was started by a gateway; a profile may not control hermes"
        return None

    async def _dispatch(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return {"ok": False, "status": 400, **InvalidRequest("malformed request").to_openai()}
        # Only the request line's own faults are "malformed": a ValueError (a UnicodeDecodeError
        # reading a profile's file, say) raised while acting is the action's failure.
        try:
            name = request.get("action")
            action = self.actions.get(name) if isinstance(name, str) else None
            if action is None:
                raise InvalidRequest(f"unknown action {name!r}")
            return {"ok": True, "result": await action(request)}
        except HermesError as exc:
            return {"ok": False, "status": exc.status, **exc.to_openai()}
        except Exception:
            log.exception("control request failed")
            return {
                "ok": False,
                "status": 500,
                **HermesError("internal error; see supervisor.log").to_openai(),
            }


def _descends_from(pid: int, ancestors: set[int]) -> bool:
    """True if `pid` or one of its ancestors is in `ancestors` (process-group leaders)."""
    seen = 0
    while pid > 1 and seen < 64:
        if pid in ancestors:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            return False
        pid = int(stat.rsplit(b")", 1)[1].split()[1])  # field 4: ppid
        seen += 1
    return False

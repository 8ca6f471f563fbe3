"""The supervisor's control socket answers its owner only, and never a process that one of its
gateways started: the kernel's SO_PEERCRED says who connected."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from hermes.errors import ConfigError
from hermes.supervisor.control import ControlServer


class Actions:
    """Actions that record what they were asked; `reload` raises what a test tells it to."""

    def __init__(self) -> None:
        self.stopped: list[str] = []
        self.reload_fails: Exception | None = None

    async def stop(self, request: dict[str, Any]) -> dict[str, Any]:
        self.stopped.append(str(request.get("profile")))
        return {"profile": request.get("profile")}

    async def reload(self, _: dict[str, Any]) -> dict[str, list[str]]:
        if self.reload_fails is not None:
            raise self.reload_fails
        return {}


async def ask(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(json.dumps(request).encode() + b"\n")
    await writer.drain()
    reply = await reader.readline()
    writer.close()
    return dict(json.loads(reply))


async def serve(tmp_path: Path, groups: set[int]) -> tuple[ControlServer, Actions]:
    fake = Actions()
    server = ControlServer(
        {"stop": fake.stop, "reload": fake.reload},
        tmp_path / "run" / "supervisor.sock",
        process_groups=lambda: groups,
    )
    await server.start()
    return server, fake


async def test_the_owner_is_answered(tmp_path: Path) -> None:
    server, fake = await serve(tmp_path, groups={1_000_000})
    try:
        reply = await ask(server.path, {"action": "stop", "profile": "bob"})
        assert reply == {"ok": True, "result": {"profile": "bob"}} and fake.stopped == ["bob"]
        assert oct(server.path.stat().st_mode & 0o777) == "0o600"
    finally:
        await server.stop()


async def test_a_process_started_by_a_gateway_is_refused(tmp_path: Path) -> None:
    """A child of a gateway's process group (here: a child of this test process, standing in
    for a gateway) asks to stop bob; the supervisor refuses and bob keeps running."""
    server, fake = await serve(tmp_path, groups={os.getpid()})
    try:
        code = (
            "import json, socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);"
            's.sendall(b\'{"action": "stop", "profile": "bob"}\\n\');'
            "print(s.recv(65536).decode())"
        )
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, str(server.path), stdout=asyncio.subprocess.PIPE
        )
        out, _ = await child.communicate()
        reply = json.loads(out)
        assert reply["ok"] is False and reply["status"] == 403
        assert "started by a gateway" in reply["error"]["message"]
        assert fake.stopped == []
    finally:
        await server.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user")
async def test_another_user_is_refused_even_if_the_socket_were_open() -> None:
    open_dir = Path(tempfile.mkdtemp(prefix="hermes-control-"))  # reachable by any user
    open_dir.chmod(0o755)
    server, fake = await serve(open_dir, groups=set())
    try:
        server.path.parent.chmod(0o755)
        server.path.chmod(0o666)  # as if someone loosened it: the peer check still holds
        code = (
            "import os, socket, sys; os.setgid(65534); os.setuid(65534);"
            "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);"
            's.sendall(b\'{"action": "stop", "profile": "bob"}\\n\');'
            "print(s.recv(65536).decode())"
        )
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, str(server.path), stdout=asyncio.subprocess.PIPE
        )
        out, _ = await child.communicate()
        reply = json.loads(out)
        assert reply["status"] == 403 and "not this supervisor's owner" in reply["error"]["message"]
        assert fake.stopped == []
    finally:
        await server.stop()
        shutil.rmtree(open_dir)


def test_peercred_layout_matches_the_kernel() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        from hermes.supervisor.control import PEERCRED

        raw = left.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size)
        assert PEERCRED.unpack(raw) == (os.getpid(), os.getuid(), os.getgid())


async def ask_raw(path: Path, line: bytes) -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(line)
    await writer.drain()
    reply = await reader.readline()
    writer.close()
    return dict(json.loads(reply))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json\n", "malformed request"),
        (b"\xff\xfe\n", "malformed request"),
        (b"[1, 2]\n", "malformed request"),
        (b'"reload"\n', "malformed request"),
        (b'{"action": ["reload"]}\n', "unknown action ['reload']"),
        (b'{"action": "nope"}\n', "unknown action 'nope'"),
    ],
)
async def test_a_bad_request_line_is_a_400_naming_it(
    tmp_path: Path, line: bytes, message: str
) -> None:
    server, _ = await serve(tmp_path, groups=set())
    try:
        reply = await ask_raw(server.path, line)
        assert reply["ok"] is False and reply["status"] == 400
        assert reply["error"]["message"] == message
    finally:
        await server.stop()


async def test_an_action_that_fails_is_its_error_not_a_malformed_request(tmp_path: Path) -> None:
    """A UnicodeDecodeError (a ValueError) raised while reloading once came back as
    "malformed request": a failure of the action is the action's error."""
    server, fake = await serve(tmp_path, groups=set())
    try:
        fake.reload_fails = ConfigError("/x/.env:3:4: not valid UTF-8")
        reply = await ask(server.path, {"action": "reload"})
        assert reply["status"] == 500 and reply["error"]["message"].endswith("not valid UTF-8")
        fake.reload_fails = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        reply = await ask(server.path, {"action": "reload"})
        assert reply["status"] == 500 and "malformed" not in reply["error"]["message"]
        assert reply["error"]["message"] == "internal error; see supervisor.log"
    finally:
        await server.stop()

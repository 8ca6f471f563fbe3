"""The front door's HTTP/1.1 client for its one kind of upstream: hermes gateways, on this
machine, speaking plain HTTP/1.1 with keep-alive. Connections are pooled per gateway.

Why not aiohttp's client: it costs ~170-210 µs of CPU per request on the 2-core bench machine,
this ~45 µs (measured side by side against one upstream), and the front door's whole budget is
a fraction of a millisecond. It does only what a gateway's answers need: a status line and
headers, then a body by Content-Length, chunked, or (no length) until the connection closes.

A request whose connection turns out to have been closed by the gateway while idle (nothing
came back at all) is sent once more on a new connection: the gateway never read it. Pooled
connections are dropped after IDLE seconds unused, well before a gateway closes them (aiohttp
servers after 75 s), which makes that race rare in the first place."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024  # status line and headers of one answer
MAX_IDLE_PER_GATEWAY = 64
IDLE = 20.0
CONNECT_TIMEOUT = 5.0
READ_SIZE = 64 * 1024
NO_BODY = frozenset({204, 304})


class UpstreamFailed(Exception):
    """No answer came (connect refused, or the connection closed before a status line)."""


@dataclass(slots=True)
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    gateway: tuple[str, int]  # host, port
    used: float = field(default_factory=time.monotonic)
    reused: bool = False

    def close(self) -> None:
        self.writer.close()


@dataclass(slots=True)
class Answer:
    """The status and headers of a gateway's answer; its body through `pieces()`."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    length: int | None  # Content-Length; None when chunked or delimited by the close
    chunked: bool
    keep_alive: bool
    conn: Connection
    pool: Pool
    done: bool = False  # the body was read to its end
    finished: bool = False  # the connection was released or closed

    async def pieces(self) -> AsyncIterator[bytes]:
        """The body as it arrives; the connection goes back to the pool once it is all read."""
        reader = self.conn.reader
        try:
            if self.chunked:
                async for data in _chunks(reader):
                    yield data
            elif self.length is not None:
                left = self.length
                while left > 0:
                    data = await reader.read(min(left, READ_SIZE))
                    if not data:
                        raise ConnectionResetError("the gateway closed mid-answer")
                    left -= len(data)
                    yield data
            else:
                self.keep_alive = False  # delimited by the close: nothing to reuse
                while data := await reader.read(READ_SIZE):
                    yield data
            self.done = True
        finally:
            self.finish()

    async def read(self) -> bytes:
        return b"".join([piece async for piece in self.pieces()])

    def finish(self) -> None:
        """Back to the pool if the body was read to its end, else closed (the gateway then
        sees the request abandoned: a client that went away cancels the run there)."""
        if self.finished:
            return
        self.finished = True
        if self.done and self.keep_alive:
            self.pool.release(self.conn)
        else:
            self.conn.close()


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, if any
                pass
            return
        data = await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise ValueError("malformed chunked body")
        yield data


class Pool:
    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[Connection]] = {}

    async def request(
        self,
        host: str,
        port: int,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | None,
    ) -> Answer:
        """Send one request; the answer's head. UpstreamFailed when none can be had."""
        head = _head(method, target, f"{_authority(host)}:{port}", headers, body)
        for _ in range(2):
            conn = self._take(host, port) or await _connect(host, port)
            try:
                conn.writer.write(head if body is None else head + body)
                return await self._answer(conn)
            except asyncio.IncompleteReadError as exc:
                conn.close()
                if not (conn.reused and not exc.partial):
                    raise UpstreamFailed(f"the gateway closed the connection: {exc}") from None
            except (OSError, ValueError, asyncio.LimitOverrunError) as exc:
                conn.close()
                raise UpstreamFailed(str(exc) or type(exc).__name__) from None
            except BaseException:
                conn.close()
                raise
        raise UpstreamFailed("the gateway closed the connection twice")

    async def _answer(self, conn: Connection) -> Answer:
        raw = await conn.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = raw[:-4].decode("latin-1").split("\r\n")
        version, _, rest = status_line.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ValueError(f"not an HTTP answer: {status_line[:60]!r}")
        headers = [(k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in lines)]
        status, length, chunked, keep_alive = int(code), None, False, version == "HTTP/1.1"
        for name, value in headers:
            lowered = name.lower()
            if lowered == "content-length":
                length = int(value)
            elif lowered == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif lowered == "connection":
                keep_alive = keep_alive and "close" not in value.lower()
        if status in NO_BODY or 100 <= status < 200:
            length = 0
        return Answer(status, reason, headers, None if chunked else length, chunked,
                      keep_alive, conn, self)  # fmt: skip

    def _take(self, host: str, port: int) -> Connection | None:
        idle = self._idle.get((host, port))
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if now - conn.used < IDLE and not conn.reader.at_eof():
                conn.reused = True
                return conn
            conn.close()
        return None

    def release(self, conn: Connection) -> None:
        idle = self._idle.setdefault(conn.gateway, [])
        if len(idle) >= MAX_IDLE_PER_GATEWAY:
            conn.close()
            return
        conn.used = time.monotonic()
        idle.append(conn)

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


async def _connect(host: str, port: int) -> Connection:
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEAD)
    except (OSError, TimeoutError) as exc:
        raise UpstreamFailed(f"cannot connect to {host}:{port}: {exc}") from None
    return Connection(reader, writer, (host, port))


def _authority(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _head(
    method: str, target: str, authority: str, headers: Iterable[tuple[str, str]], body: bytes | None
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {authority}"]
    for name, value in headers:
        if "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"header {name} holds a line break")  # never forward a split header
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")

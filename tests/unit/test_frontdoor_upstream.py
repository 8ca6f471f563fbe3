"""The front door's HTTP/1.1 client against scripted servers on 127.0.0.1:0 that write exact
bytes: bodies by length, chunked and until close; keep-alive reuse; a stale pooled connection;
a gateway that closes mid-answer or answers garbage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from hermes.frontdoor.upstream import Pool, UpstreamFailed

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return head + await reader.readexactly(length)


async def serve(script: Script) -> AsyncIterator[int]:
    server = await asyncio.start_server(script, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    try:
        yield port
    finally:
        server.close()


@pytest.fixture
async def pool() -> AsyncIterator[Pool]:
    made = Pool()
    yield made
    made.close()


def answer(body: bytes, *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def test_length_bodies_and_keep_alive_reuse_one_connection(pool: Pool) -> None:
    connections = 0
    seen: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while not reader.at_eof():
            try:
                seen.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                return
            writer.write(answer(b'{"ok": true}', "Content-Type: application/json"))

    async for port in serve(script):
        for _ in range(3):
            got = await pool.request("127.0.0.1", port, "POST", "/v1/x?a=1", [("X-A", "b")], b"{}")
            assert got.status == 200 and await got.read() == b'{"ok": true}'
            assert ("Content-Type", "application/json") in got.headers
    assert connections == 1
    assert seen[0].startswith(b"POST /v1/x?a=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"X-A: b\r\n" in seen[0] and seen[0].endswith(b"Content-Length: 2\r\n\r\n{}")


async def test_chunked_answers_come_piece_by_piece(pool: Pool) -> None:
    release = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"e\r\n: keep-alive\n\n\r\n")
        await release.wait()
        writer.write(b"7;ext=1\r\ndata: 1\r\n0\r\nTrailer: x\r\n\r\n")

    async for port in serve(script):
        got = await pool.request("127.0.0.1", port, "GET", "/", [], None)
        pieces = got.pieces()
        assert await asyncio.wait_for(anext(pieces), 5) == b": keep-alive\n\n"
        release.set()
        assert [p async for p in pieces] == [b"data: 1"]
        assert got.done


async def test_a_body_until_close_and_connection_close_are_not_reused(pool: Pool) -> None:
    connections = 0

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        writer.close()

    async for port in serve(script):
        for _ in range(2):
            got = await pool.request("127.0.0.1", port, "GET", "/", [], None)
            assert await got.read() == b"all of it"
    assert connections == 2


async def test_a_stale_pooled_connection_is_retried_once_on_a_new_one(pool: Pool) -> None:
    served = 0

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await read_request(reader)
        served += 1
        writer.write(answer(b"x"))
        await writer.drain()
        if served == 1:
            await asyncio.sleep(0.05)
            writer.close()  # as a gateway closing an idle keep-alive connection
            return
        await reader.read()

    async for port in serve(script):
        assert await (await pool.request("127.0.0.1", port, "GET", "/", [], None)).read() == b"x"
        await asyncio.sleep(0.2)
        assert await (await pool.request("127.0.0.1", port, "GET", "/", [], None)).read() == b"x"
    assert served == 2


@pytest.mark.parametrize(
    "reply", [b"", b"garbage\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n"]
)
async def test_no_usable_answer_is_upstream_failed(pool: Pool, reply: bytes) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply)
        writer.close()

    async for port in serve(script):
        with pytest.raises(UpstreamFailed):
            await pool.request("127.0.0.1", port, "GET", "/", [], None)


async def test_nothing_listening_is_upstream_failed(pool: Pool) -> None:
    closed = 0
    async for port in serve(lambda r, w: asyncio.sleep(0)):
        closed = port  # the server is gone once the loop ends
    with pytest.raises(UpstreamFailed, match="cannot connect"):
        await pool.request("127.0.0.1", closed, "GET", "/", [], None)


async def test_a_gateway_closing_mid_answer_ends_the_body_with_an_error(pool: Pool) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        writer.close()

    async for port in serve(script):
        got = await pool.request("127.0.0.1", port, "GET", "/", [], None)
        with pytest.raises(ConnectionResetError):
            await got.read()
        assert got.finished and not got.done


async def test_a_header_with_a_line_break_is_never_sent(pool: Pool) -> None:
    with pytest.raises(ValueError, match="line break"):
        await pool.request(
            "127.0.0.1", 9, "GET", "/", [("X-Evil", "a\r\nX-Hermes-User: bob")], None
        )

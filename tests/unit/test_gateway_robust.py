"""What a client sees when its request is odd at the HTTP level (issue 13), in-process through
the gateway's own connection handler: headers in bytes that are not UTF-8, out-of-range query
numbers, compressed and broken bodies, requests aiohttp's parser refuses, and retried bodies
under one Idempotency-Key. Every refusal is a 4xx in the OpenAI error shape naming the field,
never a 500, never a traceback in the log, never aiohttp's plain-text body."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from hermes.profiles import ProfileStore
from tests.unit.test_gateway_app import GatewayClient, client_for
from tests.unit.test_gateway_browsers import Counting

KEY = "Zq8#rT2!vL5@pW9$mN4^bX7&"
AUTH = b"Authorization: Bearer " + KEY.encode()
CHAT = b'{"messages": [{"role": "user", "content": "hi"}]}'
LATIN1 = "éééééééééé".encode("latin-1")  # not UTF-8: aiohttp keeps such bytes as surrogates

Reply = tuple[int, dict[str, str], bytes]


@pytest.fixture
async def keyed(aiohttp_client: Any, store: ProfileStore) -> tuple[GatewayClient, Counting]:
    provider = Counting()
    return await client_for(aiohttp_client, store, provider, API_SERVER_KEY=KEY), provider


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record; the test ends by checking none carries a traceback."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def send(
    client: GatewayClient,
    method: bytes,
    path: bytes,
    headers: list[bytes],
    body: bytes = b"",
    *,
    host: bytes = b"127.0.0.1",
) -> Reply:
    """One request as raw bytes on its own connection; the status, headers and body back."""
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: " + host, b"Connection: close"]
    if body:
        lines.append(b"Content-Length: %d" % len(body))
    return await exchange(client, b"\r\n".join([*lines, *headers]) + b"\r\n\r\n" + body)


async def exchange(client: GatewayClient, request: bytes) -> Reply:
    """`request`, bytes as they are, on a connection of its own; the reply read to its end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(request)
    await writer.drain()
    try:
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, payload


def openai_error(
    reply: Reply, status: int, param: str | None = None, kind: str = "invalid_request_error"
) -> dict[str, Any]:
    """The reply is `status` in the OpenAI error shape (`param` naming the field), with the
    headers every answer carries; its error object back."""
    code, headers, body = reply
    assert code == status, body
    assert headers["content-type"].startswith("application/json")
    assert headers["x-content-type-options"] == "nosniff" and headers["x-request-id"]
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == kind and error["param"] == param
    return dict(error)


def chat_post(headers: list[bytes]) -> tuple[bytes, bytes, list[bytes]]:
    return b"POST", b"/v1/chat/completions", [b"Content-Type: application/json", *headers]


# --- 1. header bytes that are not UTF-8 ---


@pytest.mark.parametrize("header", [b"Authorization: Bearer ", b"X-API-Key: "])
async def test_a_latin1_key_is_401_not_a_500(
    keyed: tuple[GatewayClient, Counting], log: pytest.LogCaptureFixture, header: bytes
) -> None:
    client, _ = keyed
    for _ in range(3):  # every request, not just the first
        reply = await send(client, b"GET", b"/v1/models", [header + LATIN1])
        assert openai_error(reply, 401)["code"] == "invalid_api_key"


async def test_a_utf8_server_key_matches_its_bytes_and_only_those(
    aiohttp_client: Any, store: ProfileStore, log: pytest.LogCaptureFixture
) -> None:
    key = "clé-secrète-ünïcödé-42"
    client = await client_for(aiohttp_client, store, Counting(), API_SERVER_KEY=key)
    ok = await send(client, b"GET", b"/v1/models", [b"Authorization: Bearer " + key.encode()])
    assert ok[0] == 200
    latin = await send(client, b"GET", b"/v1/models", [b"X-API-Key: " + key.encode("latin-1")])
    openai_error(latin, 401)


@pytest.mark.parametrize(
    ("header", "status", "param", "code"),
    [
        (b"Idempotency-Key: " + LATIN1, 400, "Idempotency-Key", "invalid_request"),
        (b"Idempotency-Key: " + b"k" * 256, 400, "Idempotency-Key", "invalid_request"),
        (b"Content-Encoding: " + LATIN1, 415, "Content-Encoding", "unsupported_media_type"),
    ],
)
async def test_odd_bytes_in_the_headers_a_post_reads_are_4xx(
    keyed: tuple[GatewayClient, Counting],
    log: pytest.LogCaptureFixture,
    header: bytes,
    status: int,
    param: str,
    code: str,
) -> None:
    client, provider = keyed
    method, path, headers = chat_post([AUTH, header])
    error = openai_error(await send(client, method, path, headers, CHAT), status, param)
    assert error["code"] == code and param in error["message"]
    assert provider.calls == 0


async def test_odd_bytes_in_host_origin_content_type_and_request_id(
    aiohttp_client: Any, store: ProfileStore, log: pytest.LogCaptureFixture
) -> None:
    client = await client_for(aiohttp_client, store, Counting(), API_SERVER_KEY="")
    host = await send(client, b"GET", b"/v1/models", [], host=LATIN1)
    assert openai_error(host, 403, kind="permission_error")["code"] == "host_not_allowed"
    origin = await send(client, b"GET", b"/v1/models", [b"Origin: http://" + LATIN1])
    assert openai_error(origin, 403, kind="permission_error")["code"] == "origin_not_allowed"
    charset = b"Content-Type: application/json; charset=" + LATIN1
    media = await send(client, b"POST", b"/v1/chat/completions", [charset], CHAT)
    assert openai_error(media, 415)["code"] == "unsupported_media_type"
    # A request id the gateway cannot echo as it came is replaced by one of its own.
    for given in (LATIN1, b"two words"):
        code, headers, _ = await send(client, b"GET", b"/v1/models", [b"X-Request-Id: " + given])
        assert code == 200 and headers["x-request-id"].startswith("req_")
    code, headers, _ = await send(client, b"GET", b"/v1/models", [b"X-Request-Id: abc-123"])
    assert headers["x-request-id"] == "abc-123"


# --- 2. integers in the query ---


@pytest.mark.parametrize(
    ("query", "param"),
    [
        (b"page=99999999999999999999999", "page"),
        (b"page=1000001", "page"),
        (b"page=0", "page"),
        (b"page=-1", "page"),
        (b"page=%D9%A3", "page"),  # an Arabic-Indic digit three: int() would take it
        (b"page=1_0", "page"),
        (b"page=%203", "page"),
        (b"page_size=99999999999999999999999", "page_size"),
        (b"page_size=101", "page_size"),
        (b"page_size=", "page_size"),
    ],
)
async def test_out_of_range_page_numbers_are_400_naming_them(
    keyed: tuple[GatewayClient, Counting], log: pytest.LogCaptureFixture, query: bytes, param: str
) -> None:
    client, _ = keyed
    reply = await send(client, b"GET", b"/api/v1/chat/sessions?username=u&" + query, [AUTH])
    assert param in openai_error(reply, 400, param)["message"]


async def test_the_largest_page_is_served(keyed: tuple[GatewayClient, Counting]) -> None:
    client, _ = keyed
    path = b"/api/v1/chat/sessions?username=u&page=1000000&page_size=100"
    code, _, body = await send(client, b"GET", path, [AUTH])
    assert code == 200 and json.loads(body)["sessions"] == []


async def test_odd_usernames_in_the_query(
    keyed: tuple[GatewayClient, Counting], log: pytest.LogCaptureFixture
) -> None:
    """A percent-escape that is not UTF-8 stays as written (yarl), so nothing odd reaches SQLite;
    a control character is refused."""
    client, _ = keyed
    code, _, body = await send(client, b"GET", b"/api/v1/chat/sessions?username=%ED%A0%80", [AUTH])
    assert code == 200 and json.loads(body)["total"] == 0
    reply = await send(client, b"GET", b"/api/v1/chat/sessions?username=a%00b", [AUTH])
    assert "control" in openai_error(reply, 400, "username")["message"]


# --- 3. Content-Encoding ---


@pytest.mark.parametrize(
    ("encoding", "compress"), [(b"gzip", gzip.compress), (b"deflate", zlib.compress)]
)
async def test_gzip_and_deflate_bodies_are_read(
    keyed: tuple[GatewayClient, Counting], encoding: bytes, compress: Any
) -> None:
    client, provider = keyed
    method, path, headers = chat_post([AUTH, b"Content-Encoding: " + encoding])
    code, _, body = await send(client, method, path, headers, compress(CHAT))
    assert code == 200 and json.loads(body)["choices"][0]["message"]["content"] == "hi"
    assert provider.calls == 1


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate"])
async def test_a_body_that_is_not_what_its_encoding_says_is_400(
    keyed: tuple[GatewayClient, Counting], log: pytest.LogCaptureFixture, encoding: bytes
) -> None:
    client, provider = keyed
    method, path, headers = chat_post([AUTH, b"Content-Encoding: " + encoding])
    reply = await send(client, method, path, headers, CHAT)  # not compressed at all
    assert encoding.decode() in openai_error(reply, 400, "Content-Encoding")["message"]
    # Cut short: zlib finds a truncated deflate stream; a truncated gzip one (which aiohttp
    # does not check) ends as JSON cut short.
    compressed = gzip.compress(CHAT) if encoding == b"gzip" else zlib.compress(CHAT)
    reply = await send(client, method, path, headers, compressed[:20])
    error = openai_error(reply, 400, "Content-Encoding" if encoding == b"deflate" else None)
    assert "deflate" in error["message"] if encoding == b"deflate" else "JSON" in error["message"]
    assert provider.calls == 0


@pytest.mark.parametrize("encoding", [b"br", b"zstd", b"x-gzip", b"gzip, gzip", b"compress"])
async def test_other_encodings_are_415_listing_the_ones_read(
    keyed: tuple[GatewayClient, Counting], log: pytest.LogCaptureFixture, encoding: bytes
) -> None:
    client, provider = keyed
    method, path, headers = chat_post([AUTH, b"Content-Encoding: " + encoding])
    reply = await send(client, method, path, headers, CHAT)
    error = openai_error(reply, 415, "Content-Encoding")
    assert error["code"] == "unsupported_media_type" and "Content-Encoding" in error["message"]
    assert reply[1]["accept-encoding"] == "gzip, deflate" and provider.calls == 0


async def test_a_decompression_bomb_is_413_counted_after_decompression(
    aiohttp_client: Any, store: ProfileStore, log: pytest.LogCaptureFixture
) -> None:
    provider = Counting()
    client = await client_for(
        aiohttp_client, store, provider, API_SERVER_KEY=KEY, API_SERVER_MAX_REQUEST_BYTES="100000"
    )
    text = b"a" * 50_000_000  # 50 MB of text in about 50 KB of gzip
    bomb = gzip.compress(b'{"messages": [{"role": "user", "content": "' + text + b'"}]}')
    assert len(bomb) < 100_000
    method, path, headers = chat_post([AUTH, b"Content-Encoding: gzip"])
    error = openai_error(await send(client, method, path, headers, bomb), 413)
    assert "100000 bytes" in error["message"] and provider.calls == 0


# --- 4. what aiohttp's parser refuses before any middleware ---


@pytest.mark.parametrize(
    ("request_bytes", "status", "words"),
    [
        (b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000, 431, "header"),
        (b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big" + b"g" * 100_000 + b": 1", 431, "header"),
        (b"GET /v1/models?" + b"q" * 100_000 + b" HTTP/1.1\r\nHost: x", 414, "URL"),
        (
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\n"
            + b"\r\n".join(b"X-H%d: v" % i for i in range(200)),
            431,
            "too many headers",
        ),
        (b"GARBAGE", 400, "malformed HTTP request"),
        (b"GET /v1/mod\xe9ls HTTP/1.1\r\nHost: x", 400, "url"),
        (b"GET /v1/models HTTP/9.9\r\nHost: x", 400, "status line"),
        (b"GET /v1/models HTTP/1.1\r\nHost: x\r\nBad Header: v", 400, "header"),
        (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
            b"\r\n\r\nzz\r\nabc\r\n0",
            400,
            "chunk size",
        ),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc", 400, "Length"),
        (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked",
            400,
            "Content-Length",
        ),
    ],
    ids=[
        "long-header-value",
        "long-header-name",
        "long-url",
        "many-headers",
        "bad-method",
        "raw-non-ascii-path",
        "bad-version",
        "bad-header-token",
        "bad-chunk-size",
        "bad-content-length",
        "length-and-chunked",
    ],
)
async def test_what_the_http_parser_refuses_gets_the_openai_shape(
    keyed: tuple[GatewayClient, Counting],
    log: pytest.LogCaptureFixture,
    request_bytes: bytes,
    status: int,
    words: str,
) -> None:
    client, provider = keyed
    reply = await exchange(client, request_bytes + b"\r\n\r\n")
    error = openai_error(reply, status)
    body = reply[2]
    assert words.lower() in error["message"].lower()
    assert b"aaaa" not in body and b"Traceback" not in body
    assert provider.calls == 0
    assert "hermes.access" in {r.name for r in log.records}  # one access-log line, as usual


# --- 5. fields that must be well-formed though the gateway ignores them ---

RESPONSES = b"/v1/responses"
COMPLETIONS = b"/v1/chat/completions"
ACP = b"/api/v1/acp"
SESSION_CHAT = b"/api/v1/chat"
USER = [{"role": "user", "content": "hi"}]


def acp(payload: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "acp_version": "1.0",
        "type": "chat.request",
        "payload": {"message": "hi", **payload},
        "metadata": {"user_id": "ada", **(metadata or {})},
    }


REFUSED: list[tuple[bytes, dict[str, Any], str]] = [
    (RESPONSES, {"input": ""}, "input"),
    (RESPONSES, {"input": "hi", "conversation": "c" * 100_000}, "conversation"),
    (RESPONSES, {"input": "hi", "conversation": {"id": "c" * 257}}, "conversation.id"),
    (RESPONSES, {"input": "hi", "conversation": "line\nbreak"}, "conversation"),
    (RESPONSES, {"input": "hi", "previous_response_id": "r" * 300}, "previous_response_id"),
    (RESPONSES, {"input": "hi", "tools": "x"}, "tools"),
    (RESPONSES, {"input": "hi", "tools": [1]}, "tools[0].type"),
    (RESPONSES, {"input": "hi", "tool_choice": "sometimes"}, "tool_choice"),
    (RESPONSES, {"input": "hi", "max_output_tokens": 2**31}, "max_output_tokens"),
    (COMPLETIONS, {"messages": USER, "n": 5}, "n"),
    (COMPLETIONS, {"messages": USER, "n": 0}, "n"),
    (COMPLETIONS, {"messages": USER, "n": "1"}, "n"),
    (COMPLETIONS, {"messages": USER, "n": True}, "n"),
    (COMPLETIONS, {"messages": USER, "tools": "x"}, "tools"),
    (COMPLETIONS, {"messages": USER, "tools": {"type": "function"}}, "tools"),
    (COMPLETIONS, {"messages": USER, "tools": [{"function": {}}]}, "tools[0].type"),
    (COMPLETIONS, {"messages": USER, "tool_choice": 3}, "tool_choice"),
    (COMPLETIONS, {"messages": USER, "tool_choice": {"function": {}}}, "tool_choice"),
    (COMPLETIONS, {"messages": USER, "max_tokens": 2**31}, "max_tokens"),
    (COMPLETIONS, {"messages": USER, "max_completion_tokens": 2**63}, "max_completion_tokens"),
    (ACP, acp({"context": [1]}), "payload.context"),
    (ACP, acp({"context": 5}), "payload.context"),
    (ACP, acp({}, {"user_id": "u" * 129}), "metadata.user_id"),
    (ACP, acp({}, {"timestamp": 5}), "metadata.timestamp"),
    (ACP, acp({"session_id": "no spaces allowed"}), "payload.session_id"),
    (SESSION_CHAT, {"username": "u" * 129, "message": "hi"}, "username"),
    (SESSION_CHAT, {"username": "a\x00b", "message": "hi"}, "username"),
    (b"/api/v1/chat/new_session", {"username": "tab\there"}, "username"),
]


@pytest.mark.parametrize(("path", "body", "param"), REFUSED)
async def test_malformed_fields_are_400_naming_them(
    keyed: tuple[GatewayClient, Counting],
    log: pytest.LogCaptureFixture,
    path: bytes,
    body: dict[str, Any],
    param: str,
) -> None:
    client, provider = keyed
    headers = [AUTH, b"Content-Type: application/json"]
    reply = await send(client, b"POST", path, headers, json.dumps(body).encode())
    error = openai_error(reply, 400, param)
    assert param.split("[")[0].split(".")[-1] in error["message"]
    assert provider.calls == 0


ACCEPTED: list[tuple[bytes, dict[str, Any]]] = [
    (RESPONSES, {"input": "hi", "conversation": "c" * 256, "tools": [], "tool_choice": "auto"}),
    (RESPONSES, {"input": "hi", "tools": [{"type": "web_search"}], "tool_choice": "none"}),
    (COMPLETIONS, {"messages": USER, "n": 1, "tool_choice": "required", "max_tokens": 2**31 - 1}),
    (
        COMPLETIONS,
        {
            "messages": USER,
            "n": None,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
        },
    ),
    (ACP, acp({"context": {"tz": "Europe/Paris"}}, {"timestamp": "2026-11-22T10:00:00Z"})),
    (ACP, acp({"context": "be brief"})),
]


@pytest.mark.parametrize(("path", "body"), ACCEPTED)
async def test_well_formed_fields_are_still_served(
    keyed: tuple[GatewayClient, Counting], path: bytes, body: dict[str, Any]
) -> None:
    client, provider = keyed
    headers = [AUTH, b"Content-Type: application/json"]
    code, _, answer = await send(client, b"POST", path, headers, json.dumps(body).encode())
    assert code == 200, answer
    assert provider.calls == 1


# --- 6. Idempotency-Key over the parsed body ---


async def test_a_retry_spelled_differently_is_replayed_not_a_conflict(
    keyed: tuple[GatewayClient, Counting],
) -> None:
    client, provider = keyed
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": "retry-1"}
    headers["Content-Type"] = "application/json"
    first = await client.post(COMPLETIONS.decode(), data=CHAT, headers=headers)
    respelled = b'{\n  "messages" : [ {"content":"h\\u0069", "role":"user"} ]\n}\n'
    again = await client.post(COMPLETIONS.decode(), data=respelled, headers=headers)
    assert first.status == again.status == 200 and provider.calls == 1
    assert again.headers["Idempotency-Replayed"] == "true"
    assert await again.read() == await first.read()
    other = b'{"messages": [{"role": "user", "content": "hi!"}]}'
    conflict = await client.post(COMPLETIONS.decode(), data=other, headers=headers)
    assert conflict.status == 409 and provider.calls == 1

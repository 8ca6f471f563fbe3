"""Hypothesis strategies for what an upstream (or a client) may send: JSON that is valid but wrong
everywhere, framed as SSE or NDJSON, with invalid UTF-8 in it, cut into chunks at any byte; and
the stubs that feed it to a provider's decoding code without a network.

JSON is built as text by `to_json`, not by `json.dumps`, so that it can hold what no Python value
round-trips: numbers past a double (`Raw("1e400")`), lone surrogate escapes, and nesting deeper
than the stdlib encoder's recursion limit (`Deep`)."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from hypothesis import settings
from hypothesis import strategies as st

from hermes.messages import Message, ToolCall, ToolCallsReady, UsageReport

T = TypeVar("T")

# Every property file uses this: enough examples to find the shallow bugs on each run, fast on two
# cores; deadline=None because the first example of a run pays for imports and warm-up.
SETTINGS = settings(max_examples=200, deadline=None)


@dataclass(frozen=True)
class Raw:
    """JSON text written as is."""

    text: str


@dataclass(frozen=True)
class Deep:
    """`leaf` inside `depth` arrays (or objects, each with one key "a")."""

    depth: int
    kind: str
    leaf: Any = None


def to_json(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Deep):
        opening, closing = ("[", "]") if value.kind == "[" else ('{"a":', "}")
        return opening * value.depth + to_json(value.leaf) + closing * value.depth
    if isinstance(value, dict):
        items = (json.dumps(str(k)) + ":" + to_json(v) for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


EDGE_INTS = (0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1)
EDGE_STRINGS = ("", " ", "[DONE]", "\x00", "\u2028", "😀", "é", "0", "null", "error", "stop")
RAW = (
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1" * 5000),
    Raw("123456789012345678901234567890"),
    Raw('"\\ud800"'),
    Raw('"\\udfff\\ud800"'),
    Raw('"a\\u0000b"'),
    Raw("-0"),
    Raw("1E-400"),
    Raw("[]"),
    Raw("{}"),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(EDGE_INTS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(EDGE_STRINGS),
    st.sampled_from(RAW),
)
deep = st.builds(
    Deep,
    st.sampled_from((300, 990, 1022, 1030, 5000)),
    st.sampled_from("[{"),
    st.sampled_from((None, 1, "x")),
)


# Strategies are built from named functions, not lambdas, here and in the tests: Hypothesis
# describes a lambda by parsing its source, which cost seconds of the suite's time.
def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.text(max_size=6) | st.sampled_from(("type", "error"))
    return st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3)


json_values: st.SearchStrategy[Any] = st.one_of(
    st.recursive(scalars, _containers, max_leaves=8), deep
)


def _paths(shape: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in `shape`: () for the whole, then each key or index path below it."""
    children = (
        shape.items()
        if isinstance(shape, dict)
        else enumerate(shape)
        if isinstance(shape, list)
        else ()
    )
    return [prefix] + [p for key, child in children for p in _paths(child, (*prefix, key))]


def _change(value: Any, path: tuple[Any, ...], new: Any, drop: bool) -> Any:
    if not path:
        return value if drop else new
    parent = value
    for key in path[:-1]:  # an earlier change may have replaced a parent: then skip this one
        if not isinstance(parent, dict | list) or not _has(parent, key):
            return value
        parent = parent[key]
    key = path[-1]
    if isinstance(parent, dict | list) and _has(parent, key):
        if drop:
            del parent[key]
        else:
            parent[key] = new
    return value


def _has(container: dict[Any, Any] | list[Any], key: Any) -> bool:
    if isinstance(container, dict):
        return key in container
    return isinstance(key, int) and 0 <= key < len(container)


@st.composite
def mutated(draw: st.DrawFn, shape: Any) -> Any:
    """`shape` (a real wire object) with up to four changes at any depth: a field or element
    dropped, or replaced by any JSON value (so also by null, a wrong type, a huge number, deep
    nesting). No change at all is drawn too, so good input is tried as well. A fixed handful of
    draws per example, whatever the size of the shape: that keeps the suite fast."""
    paths = _paths(shape)
    value = copy.deepcopy(shape)
    for _ in range(draw(st.integers(0, 4))):
        path = draw(st.sampled_from(paths))
        drop = draw(st.booleans())
        value = _change(value, path, None if drop else draw(json_values), drop)
    return value


# Good tool-call arguments, as a decoded object. Integers stay within the 64 bits orjson reads
# exactly (past them it reads a float, as every streamed chunk is read).
tool_args = st.dictionaries(
    st.text(max_size=4), st.integers(-(2**63), 2**64 - 1) | st.text(max_size=4), max_size=3
)


# Tool-call argument text a client's history (or a model's earlier answer) may hold: any text,
# any JSON, lone surrogate escapes, nesting past what orjson encodes (254) or the stack allows.
argument_texts = (
    st.text(max_size=20)
    | json_values.map(to_json)
    | st.sampled_from(
        ('{"a": "\\ud800"}', to_json(Deep(300, "{")), to_json(Deep(1010, "[")), "1" * 5000)
    )
)
texts = st.lists(st.text(min_size=1, max_size=8), max_size=4)


def history(arguments: Sequence[str]) -> list[Message]:
    """A conversation whose assistant turn called a tool with each of `arguments`."""
    calls = tuple(ToolCall(f"c{n}", "f", a) for n, a in enumerate(arguments))
    return [
        Message("user", "hi"),
        Message("assistant", None, calls),
        *(Message("tool", "ok", tool_call_id=c.id) for c in calls),
    ]


# Byte sequences that are not UTF-8: a lone continuation byte, truncated sequences, an overlong
# form, an encoded surrogate, a code point past U+10FFFF.
BAD_UTF8 = (
    b"\xff",
    b"\x80",
    b"\xc3",
    b"\xe2\x82",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
)


@st.composite
def corrupted(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with a few invalid UTF-8 sequences or stray CR, LF or NUL bytes put in anywhere."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(out)))
        out[at:at] = draw(st.sampled_from((*BAD_UTF8, b"\r", b"\n", b"\x00")))
    return bytes(out)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """`data` cut at any points: a few cuts (empty chunks included), or, when short, one byte
    per chunk."""
    if len(data) <= 400 and draw(st.integers(0, 9)) == 0:
        return [data[i : i + 1] for i in range(len(data))]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


some_bytes = st.binary(max_size=300) | st.lists(
    st.sampled_from(
        (
            b"data:",
            b"data: ",
            b"event: x",
            b":",
            b"\r",
            b"\n",
            b"\r\n",
            b"{",
            b"}",
            b'"',
            b"[DONE]",
            b"\xef\xbb\xbf",
            *BAD_UTF8,
            b"id: 1",
            b"retry: 5",
        )
    ),
    max_size=40,
).map(b"".join)


def encoded(value: Any) -> bytes:
    """`value` as JSON bytes (see to_json)."""
    return to_json(value).encode()


def replaced(data: bytes) -> str:
    """Bytes as text, invalid UTF-8 replaced."""
    return data.decode(errors="replace")


def sse_body(events: Sequence[tuple[str | None, str]], newline: bytes = b"\n") -> bytes:
    """SSE framing of (event name, data text) pairs, data text without line breaks."""
    out = bytearray()
    for event, data in events:
        if event is not None:
            out += b"event: " + event.encode() + newline
        out += b"data: " + data.encode() + newline + newline
    return bytes(out)


def ndjson_body(objects: Sequence[Any]) -> bytes:
    return b"".join(to_json(o).encode() + b"\n" for o in objects)


@contextmanager
def recursion_limit(limit: int = 1000) -> Iterator[None]:
    """Python's default limit, which a gateway runs with. Hypothesis raises it by thousands while
    a test runs, and so hides every RecursionError that nesting a decoder accepts would cause."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def encodable(events: list[Any]) -> None:
    """What the gateway does with decoded events, which must not fail: encode them with orjson,
    and add up token counts (which are never negative)."""
    for event in events:
        if isinstance(event, UsageReport):
            u = event.usage
            assert u.prompt_tokens >= 0 and u.completion_tokens >= 0
            orjson.dumps([u.prompt_tokens, u.completion_tokens, u.total_tokens])
        elif isinstance(event, ToolCallsReady):
            orjson.dumps([[c.id, c.name, c.arguments] for c in event.calls])
        else:
            orjson.dumps(getattr(event, "text", getattr(event, "reason", "")))


# -- feeding a provider without a network ----------------------------------------------------


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits on anything (the stubs below don't): no event loop
    needed, which keeps hundreds of examples fast. At the default recursion limit."""
    try:
        with recursion_limit():
            coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("the coroutine waited on something")


async def collect(events: AsyncIterator[T]) -> list[T]:
    return [event async for event in events]


class _Content:
    def __init__(self, chunks: Sequence[bytes]) -> None:
        self._chunks = chunks

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


class StubResponse:
    """What the providers' decoding code reads of an aiohttp.ClientResponse."""

    def __init__(
        self,
        chunks: Sequence[bytes] = (),
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        reason: str = "Whatever",
    ) -> None:
        self.content = _Content(chunks)
        self.status = status
        self.headers = dict(headers or {})
        self.reason = reason
        self._body = b"".join(chunks)

    async def read(self) -> bytes:
        return self._body

    def get_encoding(self) -> str:
        return "utf-8"

    async def text(self, encoding: str | None = None, errors: str = "strict") -> str:
        # aiohttp's: strict UTF-8 unless the caller asks otherwise.
        return self._body.decode(encoding or self.get_encoding(), errors)

    async def __aenter__(self) -> StubResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


# What the tests ask of a provider: its decoding code fed from a StubResponse.


def stream_events(provider: Any, chunks: Sequence[bytes]) -> list[Any]:
    """The events of a streamed answer whose body arrives as `chunks`."""
    return run(collect(provider._events(StubResponse(chunks))))


def whole_events(provider: Any, body: bytes) -> list[Any]:
    """The events of a whole (non-streamed) answer."""
    return list(run(provider._whole(StubResponse([body]))))


def status_error(provider: Any, status: int, body: bytes) -> Any:
    """What the provider makes of an error response."""
    return run(provider._status_error(StubResponse([body], status=status)))

"""JSON on the hot path (every request body, every streamed chunk in and out) through orjson:
encoding is 5-10x faster than the stdlib's, and every streamed token is decoded once and encoded
once on its way through the gateway. Output is compact UTF-8, the same text as the stdlib's
`json.dumps(obj, ensure_ascii=False, separators=(",", ":"))`."""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError  # a ValueError, like json.JSONDecodeError


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def canonical(obj: Any) -> bytes:
    """One spelling of a parsed document: keys sorted at every level, no white space. Two bodies
    that differ only in key order, spacing or escapes (`\\u00e9` for `é`) come out the same."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    return orjson.loads(data)

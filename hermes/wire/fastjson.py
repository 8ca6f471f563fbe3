"""JSON on the hot path (every request body, every streamed chunk in and out) through orjson:
encoding is 5-10x faster than the stdlib's, and every streamed token is decoded once and encoded
once on its way through the gateway. Output is compact UTF-8, the same text as the stdlib's
`json.dumps(obj, ensure_ascii=False, separators=(",", ":"))`.

Values decoded from untrusted text (an upstream's answer, a client's history) have helpers of
their own. orjson decodes 1024 levels of nesting but encodes only 254, and the stdlib's parser,
encoder and `repr` give up near Python's recursion limit (1000, less the stack in use), each with
an exception no caller expects: a value that is shown in a message (`preview`), turned back into
text (`dumps_text`), parsed from text to be sent on inside another document (`loads_within`,
`loads_exact`) is first checked to nest at most MAX_DEPTH levels (`within`). `is_count` says
whether a number can be a token count."""

from __future__ import annotations

import json
from typing import Any, Final, TypeGuard

import orjson

JSONDecodeError = orjson.JSONDecodeError  # a ValueError, like json.JSONDecodeError

MAX_DEPTH: Final = 200
# Far above any real answer's token count, and far enough below 2**63 that sums of counts (a
# prompt's parts, a session's turns) still encode as 64-bit integers.
MAX_COUNT: Final = 10**12


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def canonical(obj: Any) -> bytes:
    """One spelling of a parsed document: keys sorted at every level, no white space. Two bodies
    that differ only in key order, spacing or escapes (`\\u00e9` for `é`) come out the same."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    return orjson.loads(data)


def within(value: Any, depth: int = MAX_DEPTH) -> bool:
    """Whether `value` nests at most `depth` arrays and objects (walked level by level, without
    recursion: `[]` is one level deep, `[{"a": 1}]` two)."""
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(depth):
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
        if not level:
            return True
    return not level


def loads_within(data: bytes | bytearray | memoryview | str) -> Any:
    """`loads`, and ValueError for a value nested deeper than MAX_DEPTH. Like `loads`, it reads an
    integer past 64 bits as a float, which orjson can write back."""
    value = loads(data)
    if not within(value):
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    return value


def loads_exact(text: str) -> Any:
    """The stdlib's `json.loads`, integers exact at any size, of text that `loads_within` accepts
    (so no lone surrogates, no NaN, no nesting that overflows the stack); else ValueError."""
    loads_within(text)
    return json.loads(text)


def dumps_text(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False)`, spaced as the stdlib spaces it (tool-call arguments
    keep the text they always had); ValueError for a value nested deeper than MAX_DEPTH."""
    if not within(value):
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    return json.dumps(value, ensure_ascii=False)


def preview(value: Any, limit: int = 200) -> str:
    """The start of a decoded value, for an error message: a string as it is, anything else as
    compact JSON."""
    if isinstance(value, str):
        return value[:limit]
    if not within(value):
        return f"(JSON nested more than {MAX_DEPTH} levels deep)"
    try:
        return dumps(value).decode()[:limit]
    except TypeError:  # not a value orjson decoded (an integer past 64 bits, say)
        return f"(a {type(value).__name__} that is not JSON)"


def is_count(value: Any) -> TypeGuard[int]:
    """Whether a decoded value can be a token count: an integer from 0 to MAX_COUNT."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT

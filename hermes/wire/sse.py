"""Server-sent events: encoding for the gateway, incremental decoding for providers.

Only the parts of the SSE spec an API stream uses: `data`, `event`, comments. `id` and `retry` are
read and dropped because nothing here reconnects."""

from __future__ import annotations

import re
from typing import Any, Final, NamedTuple

from hermes.wire import fastjson

SSE_DONE: Final = b"data: [DONE]\n\n"
SSE_KEEPALIVE: Final = b": keep-alive\n\n"

_BOM: Final = b"\xef\xbb\xbf"
_NEWLINES: Final = re.compile(r"\r\n|\r|\n")
_LINE_BREAK: Final = re.compile(rb"\r\n|\r|\n")


def sse_event(data: dict[str, Any] | str, event: str | None = None) -> bytes:
    """One event, compact JSON for a dict. A multi-line string becomes several `data:` lines, which
    a decoder joins back with newlines."""
    head = b""
    if event is not None:
        if _NEWLINES.search(event):
            raise ValueError("an SSE event name cannot contain a line break")
        head = f"event: {event}\n".encode()
    if not isinstance(data, str):
        # Compact JSON never contains a raw line break: one `data:` line, no splitting.
        return head + b"data: " + fastjson.dumps(data) + b"\n\n"
    lines = "\n".join(f"data: {line}" for line in _NEWLINES.split(data))
    return head + (lines + "\n\n").encode()


class SSEEvent(NamedTuple):
    event: str | None
    data: str


class SSEDecoder:
    """Incremental decoder: feed bytes as they arrive, split anywhere, get whole events back.

    Lines are cut on bytes before decoding, so a UTF-8 character split across two reads is never
    decoded in halves (CR and LF bytes never occur inside a multi-byte sequence)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._data: list[str] = []
        self._event: str | None = None
        self._started = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buf += chunk
        if not self._started:
            if len(self._buf) < len(_BOM) and _BOM.startswith(self._buf):
                return []  # may still be the start of a byte-order mark
            self._started = True
            if self._buf.startswith(_BOM):
                del self._buf[: len(_BOM)]
        events: list[SSEEvent] = []
        for line in self._take_lines():
            event = self._process(line)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[SSEEvent]:
        """End of body. Unlike a browser, dispatch an event left without its closing blank line:
        some servers end the body right after the last `data:` line."""
        events: list[SSEEvent] = []
        tail = bytes(self._buf).rstrip(b"\r")
        self._buf.clear()
        for line in (tail, b""):
            event = self._process(line)
            if event is not None:
                events.append(event)
        return events

    def _take_lines(self) -> list[bytes]:
        # One pass over the buffer: looking for the next CR and the next LF separately rescans
        # all of it for every line when one of the two never comes (quadratic in a big read).
        buf = self._buf
        lines: list[bytes] = []
        pos = 0
        for end in _LINE_BREAK.finditer(buf):
            if end.end() == len(buf) and buf[-1] == 0x0D:
                break  # a CR at the very end may be the first half of CRLF
            lines.append(bytes(buf[pos : end.start()]))
            pos = end.end()
        del buf[:pos]
        return lines

    def _process(self, raw: bytes) -> SSEEvent | None:
        line = raw.decode("utf-8", errors="replace")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value or None
        return None

    def _dispatch(self) -> SSEEvent | None:
        event, self._event = self._event, None
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data = []
        return SSEEvent(event, data)

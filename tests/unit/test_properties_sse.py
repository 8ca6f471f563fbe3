"""Properties of the SSE decoder, for any bytes an upstream may send: it never raises, the chunking
of the body never changes what it decodes, the three line endings are one, and it agrees with a
plain reading of the spec's parsing algorithm."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from hermes.wire.sse import SSEDecoder, SSEEvent, sse_event
from tests.untrusted import SETTINGS, chunked, corrupted, some_bytes


def decode(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    return events + decoder.flush()


def spec(body: bytes) -> list[SSEEvent]:
    """The spec's algorithm (html.spec.whatwg.org, "Interpreting an event stream") over the whole
    body at once, plus what SSEDecoder.flush adds: a last event without its blank line counts."""
    text = body.decode("utf-8", errors="replace").removeprefix("\ufeff")
    events: list[SSEEvent] = []
    data: list[str] = []
    event: str | None = None

    def dispatch() -> None:
        nonlocal data, event
        if data:
            events.append(SSEEvent(event, "\n".join(data)))
        data, event = [], None

    for line in re.split(r"\r\n|\r|\n", text):
        if not line:
            dispatch()
        elif not line.startswith(":"):
            name, colon, value = line.partition(":")
            value = value[1:] if colon and value.startswith(" ") else value
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value or None
    dispatch()
    return events


@SETTINGS
@given(st.data(), some_bytes)
@example(None, b"\xef\xbb")  # half a byte-order mark, then the end
@example(None, b"data: a\r")  # a CR at the very end ends the line
def test_any_bytes_any_chunks_decode_as_the_whole(data: st.DataObject, body: bytes) -> None:
    chunks = [body] if data is None else data.draw(chunked(body))
    assert decode(chunks) == decode([body]) == spec(body)


sse_lines = st.lists(
    st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=12)
    | st.sampled_from(("data: x", "data:", "data", "event: e", "event:", ": c", "", "id: 1")),
    max_size=12,
)


@SETTINGS
@given(sse_lines, st.lists(st.sampled_from(("\n", "\r\n", "\r")), min_size=1))
def test_line_endings_are_equivalent(lines: list[str], endings: list[str]) -> None:
    """LF, CRLF and CR, mixed line by line, decode like LF everywhere."""
    ends = [endings[n % len(endings)] for n in range(len(lines))]
    for n in range(1, len(lines)):
        if ends[n - 1] == "\r" and not lines[n] and ends[n] == "\n":
            ends[n] = "\r\n"  # else the CR and this LF are one CRLF: one line break, not two
    mixed = "".join(line + end for line, end in zip(lines, ends, strict=True))
    plain = "".join(line + "\n" for line in lines)
    assert decode([mixed.encode()]) == decode([plain.encode()])


@SETTINGS
@given(
    st.data(),
    st.lists(st.tuples(st.text(max_size=30), st.none() | st.text(max_size=8)), max_size=6),
)
def test_encoded_events_decode_back(
    data: st.DataObject, sent: list[tuple[str, str | None]]
) -> None:
    """What sse_event writes, cut anywhere and with invalid UTF-8 in no event, reads back: line
    breaks inside data become LF, an empty event name none."""
    sent = [(d, e) for d, e in sent if e is None or not re.search(r"[\r\n]", e)]
    body = b"".join(sse_event(d, e) for d, e in sent)
    expected = [SSEEvent(e or None, "\n".join(re.split(r"\r\n|\r|\n", d))) for d, e in sent]
    assert decode(data.draw(chunked(body))) == expected


@SETTINGS
@given(st.data(), st.text(max_size=40))
def test_invalid_utf8_cut_anywhere_is_replaced_the_same(data: st.DataObject, text: str) -> None:
    """A multi-byte character or an invalid sequence split between two reads is decoded once,
    as a whole, never in halves."""
    body = data.draw(corrupted(b"data: " + text.encode() + b"\n\n"))
    assert decode(data.draw(chunked(body))) == spec(body)


def test_a_long_run_of_line_breaks_is_linear() -> None:
    """Lines are cut in one pass: a long run of bare CRs (or of LFs, where no CR ever comes) in
    one read is not rescanned for every line (1 MB of LFs took 14 s before, 2 s now)."""
    for body in (b"\r" * 100_000 + b"data: x\n\n", b"\n" * 100_000 + b"data: x\n\n"):
        assert decode([body]) == [SSEEvent(None, "x")]

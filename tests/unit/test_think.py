"""The `<think>` splitter: reasoning a local model writes into its text, cut at any chunk
boundary, comes out as reasoning, and nothing else of the text changes."""

from __future__ import annotations

import itertools

from hypothesis import assume, given
from hypothesis import strategies as st

from hermes.messages import ReasoningDelta, TextDelta
from hermes.wire.think import ThinkSplitter, split_think, strip_reasoning


@st.composite
def cuts(draw: st.DrawFn, text: str) -> list[str]:
    """`text` cut into pieces at arbitrary places (empty pieces included)."""
    points = sorted(draw(st.lists(st.integers(0, len(text)), max_size=len(text) + 2)))
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def run(pieces: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    out = [event for piece in pieces for event in splitter.feed(piece)] + splitter.flush()
    assert all(event.text for event in out), "no empty deltas"
    reasoning = "".join(e.text for e in out if isinstance(e, ReasoningDelta))
    return reasoning, "".join(e.text for e in out if isinstance(e, TextDelta))


@given(st.data())
def test_any_split_of_a_think_block_gives_its_reasoning_and_the_text(data: st.DataObject) -> None:
    assert run(data.draw(cuts("<think>a</think>b"))) == ("a", "b")


@given(
    st.data(),
    st.text(min_size=1).filter(lambda t: "</think>" not in t and t.strip() == t),
    st.text().filter(lambda t: t.strip() == t),
    st.sampled_from(["", "\n", "\n\n", "  "]),
)
def test_white_space_around_the_block_is_dropped_at_any_split(
    data: st.DataObject, thought: str, answer: str, gap: str
) -> None:
    assume(thought.strip())
    text = f"{gap}<think>{gap}{thought}{gap}</think>{gap}{answer}"
    assert run(data.draw(cuts(text))) == (thought, answer)


@given(st.data(), st.text())
def test_text_without_a_leading_think_block_passes_unchanged(
    data: st.DataObject, text: str
) -> None:
    assume(not text.lstrip().startswith("<think>"))
    assert run(data.draw(cuts(text))) == ("", text)


def test_a_later_think_tag_is_answer_text() -> None:
    assert split_think("Use <think>tags</think> like this.") == (
        "",
        "Use <think>tags</think> like this.",
    )
    assert split_think("<think>a</think>b <think>c</think>") == ("a", "b <think>c</think>")


def test_an_unclosed_block_is_all_reasoning_and_an_empty_one_nothing() -> None:
    assert split_think("<think>still going") == ("still going", "")
    assert split_think("<think>\n\n</think>\n\nHi") == ("", "Hi")
    assert split_think("<thi") == ("", "<thi")
    assert split_think("  ") == ("", "  ")


def test_reasoning_clients_show_in_content_is_stripped_from_history() -> None:
    shown = (
        '<details type="reasoning" done="true" duration="2">\n<summary>Thought for 2 seconds'
        "</summary>\n&gt; hmm\n</details>\nThe answer is 4."
    )
    assert strip_reasoning(shown) == "The answer is 4."
    assert strip_reasoning("<think>hmm</think>\n\nThe answer is 4.") == "The answer is 4."
    kept = "a <b>bold</b> <details><summary>x</summary>y</details>"
    assert strip_reasoning(kept) == kept

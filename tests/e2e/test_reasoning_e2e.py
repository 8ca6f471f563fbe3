"""Reasoning end to end: real gateways in front of the fake OpenAI-compatible and Anthropic
upstreams, the official openai SDK as the client. Chat shows it as `reasoning_content`, the
Responses API as `reasoning` items, streamed and not; the request's effort reaches the upstream
in its own terms; Anthropic's signed thinking goes back in the agent's own tool turn; and
`api_server.show_reasoning: false` hides it all."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.e2e.gateway_process import Gateway, make_profile, run_gateway
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeOpenAI

THOUGHT = "Two plus three is five."
ANSWER = "It is 5."
ASK: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is 2 + 3?"}]


@dataclass
class Upstream:
    """One fake upstream behind one gateway, scripted the same way whatever its format."""

    name: str
    fake: FakeOpenAI | FakeAnthropic
    gateway: Gateway

    def queue(self, text: str, thought: str) -> None:
        if isinstance(self.fake, FakeAnthropic):
            self.fake.queue_text(text, thinking=thought)
        else:
            self.fake.queue_text(text, reasoning=thought)

    def last_request(self) -> dict[str, Any]:
        body: dict[str, Any] = self.fake.requests[-1][0]
        return body

    def asked_effort(self) -> Any:
        body = self.last_request()
        if isinstance(self.fake, FakeAnthropic):
            return body.get("thinking")
        return body.get("reasoning_effort")


EXPECTED_EFFORT = {
    "openai": "low",
    "anthropic": {"type": "enabled", "budget_tokens": 2048},
}


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic.in_thread() as fake:
        yield fake


@pytest.fixture(scope="module")
def gateways(
    upstream: FakeOpenAI, anthropic_fake: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Upstream]]:
    home = tmp_path_factory.mktemp("reasoning-home")
    make_profile(home, "alice", upstream.base_url)
    make_profile(
        home,
        "bob",
        anthropic_fake.base_url,
        model__provider="anthropic",
        model__name="claude-fake",
        ANTHROPIC_API_KEY="sk-ant-fake-key-0001",
    )
    make_profile(home, "carol", upstream.base_url, API_SERVER_SHOW_REASONING="false")
    with (
        run_gateway(home, "alice") as alice,
        run_gateway(home, "bob") as bob,
        run_gateway(home, "carol") as carol,
    ):
        yield {
            "openai": Upstream("openai", upstream, alice),
            "anthropic": Upstream("anthropic", anthropic_fake, bob),
            "hidden": Upstream("openai", upstream, carol),
        }


@pytest.fixture(params=["openai", "anthropic"])
def via(request: pytest.FixtureRequest, gateways: dict[str, Upstream]) -> Iterator[Upstream]:
    """Each upstream in turn, its script and records cleared; a turn left unused fails."""
    chosen = gateways[request.param]
    chosen.fake.reset()
    yield chosen
    assert chosen.fake.pending == 0, "a scripted turn was never used"


def sdk(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.key, max_retries=0, timeout=30)


def extra(model: Any, key: str) -> Any:
    """A field the SDK's model does not declare (it keeps them)."""
    return (model.model_extra or {}).get(key)


def test_chat_whole_answer(via: Upstream) -> None:
    via.queue(ANSWER, THOUGHT)
    with sdk(via.gateway) as client:
        r = client.chat.completions.create(model="m", messages=ASK, reasoning_effort="low")
    message = r.choices[0].message
    assert message.content == ANSWER and extra(message, "reasoning_content") == THOUGHT
    assert via.asked_effort() == EXPECTED_EFFORT[via.name]


def test_chat_stream(via: Upstream) -> None:
    via.queue(ANSWER, THOUGHT)
    with sdk(via.gateway) as client:
        stream = client.chat.completions.create(
            model="m",
            messages=ASK,
            stream=True,
            reasoning_effort="low",
        )
        deltas = [c.choices[0].delta for c in stream if c.choices]
    reasoning = "".join(extra(d, "reasoning_content") or "" for d in deltas)
    text = "".join(d.content or "" for d in deltas)
    assert (reasoning, text) == (THOUGHT, ANSWER)
    assert via.asked_effort() == EXPECTED_EFFORT[via.name]


def test_responses_whole_answer(via: Upstream) -> None:
    via.queue(ANSWER, THOUGHT)
    with sdk(via.gateway) as client:
        r = client.responses.create(model="m", input="What is 2 + 3?", reasoning={"effort": "low"})
    assert [item.type for item in r.output] == ["reasoning", "message"]
    item = r.output[0]
    assert item.type == "reasoning" and [s.text for s in item.summary] == [THOUGHT]
    assert r.output_text == ANSWER
    assert via.asked_effort() == EXPECTED_EFFORT[via.name]


def test_responses_stream(via: Upstream) -> None:
    via.queue(ANSWER, THOUGHT)
    with (
        sdk(via.gateway) as client,
        client.responses.stream(
            model="m", input="What is 2 + 3?", reasoning={"effort": "low"}
        ) as stream,
    ):
        events = list(stream)
        final = stream.get_final_response()
    deltas = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert deltas == THOUGHT
    kinds = [e.type for e in events]
    assert kinds.index("response.reasoning_summary_text.done") < kinds.index(
        "response.output_text.delta"
    )
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output_text == ANSWER


def test_anthropic_thinking_goes_back_signed_in_the_agents_tool_turn(
    gateways: dict[str, Upstream],
) -> None:
    bob = gateways["anthropic"]
    fake = bob.fake
    assert isinstance(fake, FakeAnthropic)
    fake.reset()
    fake.queue_tool_call("terminal", {"command": "echo 5"}, thinking="I will use the shell.")
    fake.queue_text(ANSWER, thinking="The shell said 5.")
    with sdk(bob.gateway) as client:
        r = client.responses.create(model="m", input="What is 2 + 3?", reasoning={"effort": "low"})
    assert [item.type for item in r.output] == ["reasoning", "mcp_call", "reasoning", "message"]
    assert r.output_text == ANSWER
    # The fake refuses a tool turn without its own signed thinking block: it got it back.
    tool_turn = fake.requests[1][0]["messages"][-2]["content"]
    assert tool_turn[0]["type"] == "thinking"
    assert tool_turn[0]["signature"] == fake.signature("I will use the shell.")


def test_a_follow_up_turn_on_openai_sends_no_reasoning_back(gateways: dict[str, Upstream]) -> None:
    alice = gateways["openai"]
    alice.fake.reset()
    alice.queue(ANSWER, THOUGHT)
    alice.queue("It is 9.", "Four more.")
    with sdk(alice.gateway) as client:
        first = client.responses.create(model="m", input="What is 2 + 3?")
        second = client.responses.create(
            model="m", input="And plus 4?", previous_response_id=first.id
        )
    assert second.output_text == "It is 9."
    sent = alice.last_request()["messages"]
    assert any(m["role"] == "assistant" and m["content"] == ANSWER for m in sent)
    assert THOUGHT not in str(sent)


HiddenCheck = Callable[[openai.OpenAI], str]


def chat_whole(client: openai.OpenAI) -> str:
    r = client.chat.completions.create(model="m", messages=ASK)
    assert extra(r.choices[0].message, "reasoning_content") is None
    return r.choices[0].message.content or ""


def chat_stream(client: openai.OpenAI) -> str:
    chunks = client.chat.completions.create(model="m", messages=ASK, stream=True)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert all(extra(d, "reasoning_content") is None for d in deltas)
    return "".join(d.content or "" for d in deltas)


def responses_whole(client: openai.OpenAI) -> str:
    r = client.responses.create(model="m", input="What is 2 + 3?")
    assert [item.type for item in r.output] == ["message"]
    return r.output_text


def responses_stream(client: openai.OpenAI) -> str:
    with client.responses.stream(model="m", input="What is 2 + 3?") as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert not [k for k in kinds if "reasoning" in k]
    return final.output_text


@pytest.mark.parametrize("ask", [chat_whole, chat_stream, responses_whole, responses_stream])
def test_show_reasoning_false_hides_it(gateways: dict[str, Upstream], ask: HiddenCheck) -> None:
    carol = gateways["hidden"]
    carol.fake.reset()
    carol.queue(ANSWER, THOUGHT)
    with sdk(carol.gateway) as client:
        assert ask(client) == ANSWER
    assert carol.fake.pending == 0

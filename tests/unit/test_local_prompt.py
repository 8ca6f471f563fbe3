"""What the bundled local model is sent: from the gateway a compact prompt and no tools; from the
model server a plain transcript with example turns, stop sequences and sampling defaults. No model
is loaded: the gateway gets a recording provider, LocalModel a fake llama.cpp."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from hermes.agent.prompt import COMPACT_PERSONA, COMPACT_STYLE, build_compact_prompt
from hermes.gateway.app import create_app
from hermes.gateway.settings import load
from hermes.messages import Finish, Message, StreamEvent, TextDelta
from hermes.model_server import template
from hermes.model_server.model import LocalModel
from hermes.profiles import ProfileStore
from hermes.profiles.settings import set_value
from hermes.providers.base import ModelParams

TEMPLATE_PERSONA = "You are Hermes, a capable, candid assistant running on the user's own machine."


class Recording:
    label = "test:recording"

    def __init__(self) -> None:
        self.calls: list[tuple[list[Message], list[Mapping[str, Any]], ModelParams]] = []

    async def stream(self, messages: Sequence[Message], **kw: Any) -> AsyncIterator[StreamEvent]:
        self.calls.append((list(messages), list(kw.get("tools", ())), kw["params"]))
        yield TextDelta("Hello! How can I help you?")
        yield Finish("stop")

    async def close(self) -> None:
        pass


async def _hello(aiohttp_client: Any, store: ProfileStore, **settings: str) -> Recording:
    profile = store.get("default")
    for key, value in {"API_SERVER_KEY": "", **settings}.items():
        set_value(store, profile, key, value)
    loaded = load(profile, {})
    provider = Recording()
    app = create_app(profile, loaded.config, loaded.settings, provider=provider, environ={})
    client: TestClient[web.Request, web.Application] = await aiohttp_client(app)
    body = {"messages": [{"role": "user", "content": "Hello!"}]}  # the banner's curl
    r = await client.post("/v1/chat/completions", json=body)
    assert r.status == 200, await r.text()
    return provider


async def test_the_local_provider_gets_a_compact_prompt_and_no_tools(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    (store.get("default").memory_dir / "MEMORY.md").write_text("- the user's cat is Ada\n")
    provider = await _hello(aiohttp_client, store)  # the template's provider: local
    ((messages, tools, params),) = provider.calls
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[0].content == f"{TEMPLATE_PERSONA} {COMPACT_STYLE}"
    assert tools == []
    assert params.max_tokens is None  # the model server's default applies


async def test_other_providers_keep_the_agent_prompt_and_tools(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    provider = await _hello(
        aiohttp_client, store, **{"model.provider": "openai", "OPENAI_API_KEY": "sk-test"}
    )
    ((messages, tools, _),) = provider.calls
    core = messages[0].content or ""
    assert core.startswith("# Who you are") and "## Tools" in core
    assert {t["function"]["name"] for t in tools} >= {"terminal", "read_file"}


def test_compact_persona_is_soul_first_sentence_when_short(store: ProfileStore) -> None:
    profile = store.get("default")
    assert build_compact_prompt(profile) == f"{TEMPLATE_PERSONA} {COMPACT_STYLE}"
    profile.soul_path.write_text("# Me\n\nYou are Zed, a terse butler. Never use tools.\n")
    assert build_compact_prompt(profile) == f"You are Zed, a terse butler. {COMPACT_STYLE}"
    profile.soul_path.write_text("You are " + "very " * 60 + "long.\n")
    assert build_compact_prompt(profile) == f"{COMPACT_PERSONA} {COMPACT_STYLE}"
    profile.soul_path.unlink()
    assert build_compact_prompt(profile) == f"{COMPACT_PERSONA} {COMPACT_STYLE}"


def test_the_transcript_has_persona_examples_and_an_open_assistant_turn() -> None:
    text = template.render(
        [
            Message("system", "You are Zed."),
            Message("user", "Hi"),
            Message("assistant", "Hello."),
            Message("system", "Be brief."),  # a client's own instruction, kept
            Message("user", " What is 2+2? "),
        ]
    )
    assert text.startswith("You are Zed.\nBe brief.\n\nUser: Hi there!\nAssistant: Hello!")
    for question, answer in template.EXAMPLES:
        assert f"User: {question}\nAssistant: {answer}\n\n" in text
    assert text.endswith("User: Hi\nAssistant: Hello.\n\nUser: What is 2+2?\nAssistant:")
    assert 4 <= len(template.EXAMPLES) <= 10
    assert template.render([Message("user", "x")]).startswith(template.DEFAULT_PERSONA)


class FakeLlama:
    def __init__(self, pieces: Sequence[str]) -> None:
        self.pieces = pieces
        self.prompt = ""
        self.options: dict[str, Any] = {}

    def create_completion(self, prompt: str, **options: Any) -> Any:
        self.prompt, self.options = prompt, options
        for i, text in enumerate(self.pieces):
            last = i == len(self.pieces) - 1
            yield {"choices": [{"text": text, "finish_reason": "stop" if last else None}]}

    def tokenize(self, data: bytes, add_bos: bool) -> list[int]:
        return list(range(len(data.split())))


def _model(llm: FakeLlama) -> LocalModel:
    model = LocalModel.__new__(LocalModel)  # no llama.cpp: the fake stands in for it
    model.llm = llm  # type: ignore[assignment]
    model.lock = threading.Lock()
    return model


def test_the_model_server_samples_short_stopping_replies() -> None:
    llm = FakeLlama([" Hello!", " How can I help?", ""])
    pieces = list(
        _model(llm).generate(
            [Message("user", "Hello!")], max_tokens=None, temperature=None, top_p=None, stop=()
        )
    )
    assert "".join(p.text for p in pieces) == "Hello! How can I help?"
    assert pieces[-2].finish == "stop" and pieces[-1].completion_tokens == 2
    assert llm.prompt.endswith("User: Hello!\nAssistant:")
    o = llm.options
    assert 128 <= o["max_tokens"] <= 200 and o["max_tokens"] == template.MAX_TOKENS
    assert o["stop"][:2] == ["\n\n", "\nUser:"]
    assert o["repeat_penalty"] > 1.0 and o["temperature"] == template.TEMPERATURE
    assert o["stream"] is True


def test_a_request_s_own_settings_win() -> None:
    llm = FakeLlama(["ok"])
    list(
        _model(llm).generate(
            [Message("user", "x")], max_tokens=24, temperature=0.0, top_p=0.5, stop=("END",)
        )
    )
    o = llm.options
    assert (o["max_tokens"], o["temperature"], o["top_p"]) == (24, 0.0, 0.5)
    assert o["stop"] == [*template.STOP, "END"]

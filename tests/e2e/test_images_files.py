"""Images and files through real gateway processes, with the official openai SDK as the client:
an image reaches each provider's fake in that provider's own wire format (the fakes refuse a
wrong shape as the real APIs do), a text-only model refuses images, files arrive as text, and
/v1/files works through `client.files.*`."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.e2e.gateway_process import Gateway, make_profile, run_gateway
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.base import ScriptedServer
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.openai_upstream import FakeOpenAI
from tests.media import PNG_B64, PNG_URL, data_url, pdf

QUESTION: Any = [
    {"type": "text", "text": "What is in this picture?"},
    {"type": "image_url", "image_url": {"url": PNG_URL}},
]


def sdk(gw: Gateway) -> OpenAI:
    return OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=30)


def _openai_image(body: dict[str, Any]) -> Any:
    return body["messages"][-1]["content"]


def _anthropic_image(body: dict[str, Any]) -> Any:
    return body["messages"][-1]["content"]


def _gemini_image(body: dict[str, Any]) -> Any:
    return body["contents"][-1]["parts"]


def _ollama_image(body: dict[str, Any]) -> Any:
    message = body["messages"][-1]
    return message["content"], message["images"]


# provider type, fake, model, extra settings, how to find the image, what it must be
Fake = tuple[type[ScriptedServer], dict[str, Any]]
PROVIDERS: list[tuple[str, Fake, str, dict[str, str], Callable[..., Any], Any]] = [
    (
        "openai",
        (FakeOpenAI, {}),
        "gpt-4o",
        {},
        _openai_image,
        [
            {"type": "image_url", "image_url": {"url": PNG_URL}},
            {"type": "text", "text": "What is in this picture?"},
        ],
    ),
    (
        "anthropic",
        (FakeAnthropic, {}),
        "claude-3-5-sonnet-latest",
        {"ANTHROPIC_API_KEY": "sk-ant-test-0001"},
        _anthropic_image,
        [
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
            },
            {"type": "text", "text": "What is in this picture?"},
        ],
    ),
    (
        "gemini",
        (FakeGemini, {}),
        "gemini-2.0-flash",
        {"GEMINI_API_KEY": "gm-test-key-0001"},
        _gemini_image,
        [
            {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
            {"text": "What is in this picture?"},
        ],
    ),
    (
        "ollama",
        (FakeOllama, {"models": ("llava:7b",)}),
        "llava:7b",
        {},
        _ollama_image,
        ("What is in this picture?", [PNG_B64]),
    ),
]


@pytest.mark.parametrize(
    ("kind", "fake", "model", "extra", "find", "expected"),
    PROVIDERS,
    ids=[p[0] for p in PROVIDERS],
)
def test_an_image_reaches_each_provider_in_its_own_wire_format(
    tmp_path: Path,
    kind: str,
    fake: Fake,
    model: str,
    extra: dict[str, str],
    find: Callable[[dict[str, Any]], Any],
    expected: Any,
) -> None:
    cls, kwargs = fake
    with cls.in_thread(**kwargs) as up:
        settings = {"model.provider": kind, "model.name": model, **extra}
        make_profile(tmp_path, "alice", up.base_url, **settings)
        up.queue_text("A red square.")  # type: ignore[attr-defined]
        with run_gateway(tmp_path, "alice") as gw:
            answer = sdk(gw).chat.completions.create(
                model="alice", messages=[{"role": "user", "content": QUESTION}]
            )
        assert answer.choices[0].message.content == "A red square."
        body = up.requests[-1][0] if kind != "gemini" else up.requests[-1].body
        assert find(body) == expected


def test_ollama_refuses_an_image_link_it_cannot_fetch(tmp_path: Path) -> None:
    with FakeOllama.in_thread(models=("llava:7b",)) as up:
        make_profile(
            tmp_path, "alice", up.base_url, model__provider="ollama", model__name="llava:7b"
        )
        link: Any = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
        with run_gateway(tmp_path, "alice") as gw, pytest.raises(openai.BadRequestError) as e:
            sdk(gw).chat.completions.create(
                model="alice", messages=[{"role": "user", "content": [link]}]
            )
        assert "data: URL" in str(e.value) and not up.requests


@pytest.fixture(scope="module")
def upstream_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeOpenAI, Gateway]]:
    home = tmp_path_factory.mktemp("home")
    with FakeOpenAI.in_thread() as up:
        make_profile(home, "alice", up.base_url, model__name="gpt-4o")
        with run_gateway(home, "alice") as gw:
            yield up, gw


@pytest.fixture
def fresh(upstream_gw: tuple[FakeOpenAI, Gateway]) -> Iterator[tuple[FakeOpenAI, Gateway]]:
    up, gw = upstream_gw
    up.reset()
    yield up, gw
    assert up.pending == 0


def test_an_image_for_a_text_only_model_is_a_400(tmp_path: Path) -> None:
    with FakeOpenAI.in_thread() as up:
        make_profile(tmp_path, "alice", up.base_url, model__name="gpt-3.5-turbo")
        with run_gateway(tmp_path, "alice") as gw, pytest.raises(openai.BadRequestError) as e:
            sdk(gw).chat.completions.create(
                model="alice", messages=[{"role": "user", "content": QUESTION}]
            )
        assert e.value.code == "image_not_supported"
        assert e.value.param == "messages[0].content[1]" and not up.requests


def _user_text(up: FakeOpenAI) -> str:
    content = up.requests[-1][0]["messages"][-1]["content"]
    return content if isinstance(content, str) else ""


def test_a_pdf_and_a_text_file_as_responses_input_file(fresh: tuple[FakeOpenAI, Gateway]) -> None:
    up, gw = fresh
    client = sdk(gw)
    up.queue_text("Revenue rose.")
    up.queue_text("Buy milk.")
    report = pdf("Revenue rose 12 percent in the third quarter")
    first = client.responses.create(
        model="alice",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Summarise."},
                    {
                        "type": "input_file",
                        "filename": "q3.pdf",
                        "file_data": data_url(report, "application/pdf"),
                    },
                ],
            }
        ],
    )
    assert first.output_text == "Revenue rose."
    text = _user_text(up)
    assert "Revenue rose 12 percent in the third quarter" in text
    assert "[file uploads/q3.pdf (application/pdf" in text
    second = client.responses.create(
        model="alice",
        previous_response_id=first.id,
        input=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "input_file",
                        "filename": "todo.txt",
                        "file_data": data_url(b"- buy milk\n", "text/plain"),
                    }
                ],
            }
        ],
    )
    assert second.output_text == "Buy milk."
    assert "- buy milk" in _user_text(up)
    # the stored history kept the first file's text for the second turn
    history = " ".join(str(m.get("content")) for m in up.requests[-1][0]["messages"])
    assert "third quarter" in history


def test_files_api_through_the_sdk_and_a_file_id_in_chat(
    fresh: tuple[FakeOpenAI, Gateway],
) -> None:
    up, gw = fresh
    client = sdk(gw)
    made = client.files.create(
        file=("notes.md", io.BytesIO(b"The meeting moved to Thursday."), "text/markdown"),
        purpose="user_data",
    )
    assert made.id.startswith("file-") and made.bytes == 30 and made.filename == "notes.md"
    assert made.id in [f.id for f in client.files.list()]
    assert client.files.retrieve(made.id).filename == "notes.md"
    assert client.files.content(made.id).read() == b"The meeting moved to Thursday."
    up.queue_text("Thursday.")
    answer = client.chat.completions.create(
        model="alice",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "When is the meeting?"},
                    {"type": "file", "file": {"file_id": made.id}},
                ],
            }
        ],
    )
    assert answer.choices[0].message.content == "Thursday."
    assert "The meeting moved to Thursday." in _user_text(up)
    deleted = client.files.delete(made.id)
    assert deleted.deleted and deleted.id == made.id
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(made.id)
    image = client.files.create(
        file=("pixel.png", io.BytesIO(base64.b64decode(PNG_B64)), "image/png"), purpose="vision"
    )
    up.queue_text("A pixel.")
    by_id: Any = [{"role": "user", "content": [{"type": "input_image", "file_id": image.id}]}]
    client.responses.create(model="alice", input=by_id)
    assert up.requests[-1][0]["messages"][-1]["content"] == [
        {"type": "image_url", "image_url": {"url": PNG_URL}}
    ]

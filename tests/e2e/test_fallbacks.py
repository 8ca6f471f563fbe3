"""model.fallbacks through the real gateway: a primary failing before its first token hands the
turn to the fallback (and the answer says who answered); one failing mid-answer does not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.gateway_process import make_profile, run_gateway
from tests.fakes.openai_upstream import FakeOpenAI


@pytest.fixture
def two() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    with FakeOpenAI.in_thread() as primary, FakeOpenAI.in_thread() as backup:
        yield primary, backup


def profile_with_fallback(home: Path, primary: FakeOpenAI, backup: FakeOpenAI) -> None:
    entries = (
        f"[{{name: main, provider: openai, model: m1, base_url: '{primary.base_url}'}}, "
        f"{{name: spare, provider: openai, model: m2, base_url: '{backup.base_url}'}}]"
    )
    make_profile(
        home,
        "alice",
        primary.base_url,
        providers=entries,
        model__provider="main",
        model__fallbacks="[spare]",
    )


BODY = {"messages": [{"role": "user", "content": "hi"}]}


def test_primary_503_the_fallback_answers_and_is_named(
    tmp_path: Path, two: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    primary, backup = two
    profile_with_fallback(tmp_path, primary, backup)
    for _ in range(3):  # the first try and its two retries
        primary.queue_error(503, "down")
    backup.queue_text("from the spare")
    with run_gateway(tmp_path, "alice") as gw:
        r = httpx.post(
            f"{gw.base_url}/chat/completions", headers=gw.headers(), json=BODY, timeout=30
        )
        log = gw.log()
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "from the spare"
    assert r.headers["x-hermes-provider"] == "spare:m2"
    assert backup.requests[0][0]["model"] == "m2" and len(primary.requests) == 3
    assert "answered by fallback spare:m2" in log


def test_streaming_names_the_answering_provider(
    tmp_path: Path, two: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    primary, backup = two
    profile_with_fallback(tmp_path, primary, backup)
    primary.queue_text("from the main one")
    with run_gateway(tmp_path, "alice") as gw:
        r = httpx.post(
            f"{gw.base_url}/chat/completions",
            headers=gw.headers(),
            json={**BODY, "stream": True},
            timeout=30,
        )
    assert r.headers["x-hermes-provider"] == "main:m1" and "from" in r.text
    assert not backup.requests


def test_failure_after_the_first_token_is_an_error_not_a_spliced_answer(
    tmp_path: Path, two: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    primary, backup = two
    profile_with_fallback(tmp_path, primary, backup)
    primary.queue_broken_chunk()
    with run_gateway(tmp_path, "alice") as gw:
        r = httpx.post(
            f"{gw.base_url}/chat/completions",
            headers=gw.headers(),
            json={**BODY, "stream": True},
            timeout=30,
        )
    assert '"content":"partial"' in r.text and '"error"' in r.text
    assert r.text.rstrip().endswith("data: [DONE]")
    assert not backup.requests  # never asked: its words would be spliced onto "partial"


def test_non_retryable_errors_do_not_fall_back(
    tmp_path: Path, two: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    primary, backup = two
    profile_with_fallback(tmp_path, primary, backup)
    primary.queue_error(400, "bad request")
    with run_gateway(tmp_path, "alice") as gw:
        r = httpx.post(
            f"{gw.base_url}/chat/completions", headers=gw.headers(), json=BODY, timeout=30
        )
    assert r.status_code == 502 and not backup.requests

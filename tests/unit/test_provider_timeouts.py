"""`model.timeout` and `model.request_timeout` mean what they say, for every HTTP provider, for
streamed and whole answers alike: silence (before the first byte or between reads) longer than
model.timeout is a 504 after about that long, a request that keeps trickling keep-alive filler
is a 504 after model.request_timeout, and neither is tried again on the same provider."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hermes.errors import UpstreamTimeout
from hermes.messages import Message, TextDelta
from hermes.providers.anthropic import AnthropicProvider
from hermes.providers.fallback import FallbackProvider
from hermes.providers.gemini import GeminiProvider
from hermes.providers.http import HttpProvider
from hermes.providers.ollama import OllamaProvider
from hermes.providers.openai import OpenAIProvider
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.base import ScriptedServer
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.openai_upstream import FakeOpenAI

HELLO = [Message("user", "say hello")]
Build = Callable[..., HttpProvider]

PROVIDERS: dict[str, tuple[type[ScriptedServer], Build]] = {
    "openai": (
        FakeOpenAI,
        lambda up, **t: OpenAIProvider(model="m", base_url=up.base_url, api_key="sk-t", **t),
    ),
    "anthropic": (
        FakeAnthropic,
        lambda up, **t: AnthropicProvider(model="m", base_url=up.base_url, api_key="sk-a", **t),
    ),
    "gemini": (
        FakeGemini,
        lambda up, **t: GeminiProvider(
            model="gemini-2.5-flash", base_url=up.base_url, api_key="AIza-k", **t
        ),
    ),
    "ollama": (
        FakeOllama,
        lambda up, **t: OllamaProvider(model="fake-model", base_url=up.base_url, **t),
    ),
}


@pytest.fixture(params=sorted(PROVIDERS))
async def upstream(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, Build]]:
    fake_class, build = PROVIDERS[request.param]
    async with fake_class() as fake:
        yield fake, build


async def timed_failure(provider: HttpProvider, incremental: bool) -> tuple[UpstreamTimeout, float]:
    started = time.monotonic()
    try:
        with pytest.raises(UpstreamTimeout) as caught:
            async for _ in provider.stream(HELLO, incremental=incremental):
                pass
    finally:
        await provider.close()
    return caught.value, time.monotonic() - started


@pytest.mark.parametrize("incremental", [True, False], ids=["streamed", "whole"])
async def test_silence_is_a_504_after_model_timeout_and_not_retried(
    upstream: tuple[Any, Build], incremental: bool
) -> None:
    """Before: a whole answer waited 5 x model.timeout per try, and three tries (76 s for
    model.timeout 5); now the first silence of model.timeout ends the request."""
    up, build = upstream
    up.queue_stall(30)
    error, elapsed = await timed_failure(build(up, timeout=1), incremental)
    assert error.status == 504 and "model.timeout" in error.message
    assert 0.9 < elapsed < 2.5
    assert len(up.requests) == 1  # not retried on the same provider
    assert error.retryable  # a fallback provider may still take over


@pytest.mark.parametrize("incremental", [True, False], ids=["streamed", "whole"])
async def test_a_request_that_only_trickles_is_a_504_after_model_request_timeout(
    upstream: tuple[Any, Build], incremental: bool
) -> None:
    """Keep-alive filler every 0.2 s never lets model.timeout fire; model.request_timeout
    bounds the request as a whole (before: it was held forever)."""
    up, build = upstream
    up.queue_trickle(30, every=0.2)
    error, elapsed = await timed_failure(build(up, timeout=1, request_timeout=2), incremental)
    assert error.status == 504 and "model.request_timeout" in error.message
    assert 1.9 < elapsed < 3.5
    assert len(up.requests) == 1
    await up.wait_disconnects(1)  # the upstream request was given up, not left running


async def test_a_stall_mid_stream_is_a_504_after_model_timeout(
    upstream: tuple[Any, Build],
) -> None:
    up, build = upstream
    up.queue_stall(30, mid_stream=True)
    error, elapsed = await timed_failure(build(up, timeout=1), True)
    assert error.status == 504 and "mid-answer" in error.message
    assert 0.9 < elapsed < 2.5 and len(up.requests) == 1


async def test_connecting_is_bounded_by_model_timeout_too() -> None:
    """A connect timeout longer than model.timeout is cut to it."""
    provider = OpenAIProvider(
        model="m", base_url="http://127.0.0.1:9/v1", timeout=2, connect_timeout=10
    )
    assert provider._timeout.connect == 2 and provider._timeout.sock_connect == 2
    assert provider._timeout.sock_read == 2 and provider._timeout.total == 600
    await provider.close()


async def test_a_silent_provider_hands_over_to_its_fallback_after_model_timeout() -> None:
    """With fallbacks, each provider gets one try of model.timeout: here about 1 s in all."""
    async with FakeOpenAI() as primary, FakeOpenAI() as spare:
        primary.queue_stall(30)
        spare.queue_text("from the spare")
        chain = FallbackProvider(
            [
                OpenAIProvider(model="m", base_url=primary.base_url, api_key="k", timeout=1),
                OpenAIProvider(model="m", base_url=spare.base_url, api_key="k", timeout=1),
            ]
        )
        started = time.monotonic()
        try:
            events = [e async for e in chain.stream(HELLO, incremental=False)]
        finally:
            await chain.close()
        elapsed = time.monotonic() - started
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "from the spare"
    assert 0.9 < elapsed < 2.5 and len(primary.requests) == len(spare.requests) == 1

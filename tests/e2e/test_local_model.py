"""The bundled local model through `hermes up`: a fresh profile (provider `local`) answers with
no API key. Slow (it loads a real model); it runs in CI, where `make install` installs it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from hermes.config import envfile
from tests.e2e.gateway_process import free_port
from tests.e2e.supervisor_process import by_profile, supervisor, wait_for

pytest.importorskip("llama_cpp", reason="the local extra is not installed")


def test_a_fresh_profile_answers_from_the_local_model(home: Path) -> None:
    from hermes.profiles import ProfileStore
    from hermes.profiles.settings import set_value

    store = ProfileStore(home)
    profile = store.get("default")  # straight from the template: provider local, no key
    set_value(store, profile, "API_SERVER_PORT", str(free_port()))
    set_value(store, profile, "model.max_tokens", "24")  # short answers and summaries: fast
    set_value(store, profile, "agent.summary_max_tokens", "48")
    env = envfile.read(profile.env_path)
    port, key = env["API_SERVER_PORT"], env["API_SERVER_KEY"]
    with supervisor(home, env={"HERMES_MODEL_PORT": str(free_port())}) as sup:
        states = wait_for(sup.settled, timeout=180)
        assert states["default"]["state"] == "running", states
        assert states["@local-model"]["state"] == "running", states
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        headers = {"Authorization": f"Bearer {key}"}
        body = {
            "model": "hermes-agent",
            "max_tokens": 24,
            "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
        }
        r = httpx.post(url, headers=headers, json=body, timeout=300)
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"].strip()
        assert r.headers["x-hermes-provider"].startswith("local:")
        chunks = 0
        with httpx.stream(
            "POST", url, headers=headers, json={**body, "stream": True}, timeout=300
        ) as streamed:
            for line in streamed.iter_lines():
                if (
                    line.startswith("data: {")
                    and '"content":"' in line
                    and '"content":""' not in line
                ):
                    chunks += 1
        assert chunks >= 3

        # A session outgrows the model server's 4,096-token window within five turns of ~700
        # tokens (the compact prompt and no tools leave the notes nearly all of it): older turns
        # are condensed (by the same small model) and every turn still gets an answer.
        chat = f"http://127.0.0.1:{port}/api/v1/chat"
        sid = None
        for turn in range(5):
            message = f"Note {turn}: " + "the quick brown fox jumps over the lazy dog. " * 70
            payload = {"username": "u", "message": message, "stream": False}
            r = httpx.post(chat, headers=headers, json={**payload, "session_id": sid}, timeout=300)
            assert r.status_code == 200, r.text
            sid = r.json()["session_id"]
        read = httpx.get(
            f"{chat}/sessions/{sid}", params={"username": "u"}, headers=headers, timeout=30
        ).json()
        assert read["message_count"] == 10
    log = (profile.logs_dir / "gateway.log").read_text()
    assert "context compacted" in log  # the window was outgrown, and handled


def test_hello_from_a_fresh_profile_is_a_short_reply_that_stops(home: Path) -> None:
    """The `make run` banner's curl, as a first run sends it (no max_tokens, no temperature): a
    short reply that ends by itself, not the token cap's worth of markup. The 3 s target is
    scripts/bench_local_replies.py's; this bound only catches a reply that runs to the cap."""
    from hermes.profiles import ProfileStore
    from hermes.profiles.settings import set_value

    store = ProfileStore(home)
    profile = store.get("default")
    set_value(store, profile, "API_SERVER_PORT", str(free_port()))
    env = envfile.read(profile.env_path)
    with supervisor(home, env={"HERMES_MODEL_PORT": str(free_port())}):
        # The profile is `starting` until the model server is ready too: the moment it shows
        # `running`, so does the model server, and the first request is answered (it was a
        # 502 for the first seconds, what the banner's curl got).
        states = wait_for(
            lambda: (s := by_profile(home)).get("default", {}).get("state") == "running" and s,
            timeout=180,
            interval=0.02,
        )
        assert states["@local-model"]["state"] == "running", states
        start = time.monotonic()
        r = httpx.post(
            f"http://127.0.0.1:{env['API_SERVER_PORT']}/v1/chat/completions",
            headers={"Authorization": f"Bearer {env['API_SERVER_KEY']}"},
            json={"model": "hermes-agent", "messages": [{"role": "user", "content": "Hello!"}]},
            timeout=300,
        )
        took = time.monotonic() - start
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    reply = choice["message"]["content"]
    assert choice["finish_reason"] == "stop", reply
    assert 0 < len(reply.strip()) < 400 and reply.count("<") < 3, reply
    assert took < 30, f"{took:.1f} s for {reply!r}"

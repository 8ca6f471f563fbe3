"""The agent's tools through the real gateway, driven by the scripted fake upstream: files,
code, memory, skills and web tools, each profile confined to its own things."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import openai
from aiohttp import web

from tests.e2e.gateway_process import Gateway, make_profile, run_gateway
from tests.fakes.openai_upstream import FakeOpenAI


def ask(gw: Gateway, text: str = "go") -> str:
    with openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=60) as c:
        reply = c.chat.completions.create(model="x", messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content or ""


def tool_results(up: FakeOpenAI, request: int = -1) -> list[str]:
    return [m["content"] for m in up.requests[request][0]["messages"] if m["role"] == "tool"]


def system_prompt(up: FakeOpenAI, request: int = -1) -> str:
    content: str = up.requests[request][0]["messages"][0]["content"]
    return content


def offered(up: FakeOpenAI, request: int = 0) -> set[str]:
    return {t["function"]["name"] for t in up.requests[request][0].get("tools", [])}


def test_write_read_patch_and_run_a_file(tmp_path: Path, up: FakeOpenAI) -> None:
    home = tmp_path / "home"
    make_profile(home, "alice", up.base_url)
    up.queue_tool_call("write_file", {"path": "src/hello.py", "content": "print('hello')\n"})
    up.queue_tool_call("read_file", {"path": "src/hello.py"})
    up.queue_tool_call("patch", {"path": "src/hello.py", "old": "hello", "new": "patched"})
    up.queue_tool_call("execute_code", {"code": "import runpy; runpy.run_path('src/hello.py')"})
    up.queue_text("It prints patched.")
    with run_gateway(home, "alice") as gw:
        assert ask(gw) == "It prints patched."
        log = gw.log()
    results = tool_results(up)
    assert "wrote" in results[0]
    assert "print('hello')" in results[1]
    assert "patched" not in results[1] and results[2]
    assert "patched" in results[3] and "[exit code 0]" in results[3]
    workspace = home / "profiles" / "alice" / "workspace"
    assert (workspace / "src" / "hello.py").read_text() == "print('patched')\n"
    assert "write_file" in log and "execute_code" in log
    assert "print('patched')" not in log  # the log records calls, never contents


def test_escapes_are_refused_as_results(tmp_path: Path, up: FakeOpenAI) -> None:
    home = tmp_path / "home"
    make_profile(home, "alice", up.base_url)
    secret = home / "profiles" / "alice" / ".env"
    up.queue_tool_calls(
        [
            ("read_file", {"path": "../.env"}),
            ("read_file", {"path": str(secret)}),
            ("terminal", {"command": "env"}),
        ]
    )
    up.queue_text("I could not.")
    with run_gateway(home, "alice") as gw:
        assert ask(gw) == "I could not."
    dotdot, absolute, env = tool_results(up)
    assert "outside the workspace" in dotdot and "outside the workspace" in absolute
    assert "API_SERVER_KEY" not in env and "OPENAI_API_KEY" not in env


def test_memory_reaches_the_next_prompt_and_stays_in_its_profile(
    tmp_path: Path, up: FakeOpenAI
) -> None:
    home = tmp_path / "home"
    make_profile(home, "alice", up.base_url)
    make_profile(home, "bob", up.base_url)
    up.queue_tool_call("memory", {"action": "add", "content": "Alice's cat is called Ada"})
    up.queue_text("Noted.")
    up.queue_text("Your cat is Ada.")
    with run_gateway(home, "alice") as gw:
        assert ask(gw, "remember my cat Ada") == "Noted."
        assert "cat is called Ada" not in system_prompt(up, 0)
        ask(gw, "what is my cat called?")
        assert "cat is called Ada" in system_prompt(up)
    up.queue_text("I don't know.")
    with run_gateway(home, "bob") as gw:
        ask(gw, "what is my cat called?")
        assert "Ada" not in system_prompt(up)


def test_a_created_skill_joins_the_skills_index(tmp_path: Path, up: FakeOpenAI) -> None:
    home = tmp_path / "home"
    make_profile(home, "alice", up.base_url)
    up.queue_tool_call(
        "skill_create",
        {
            "name": "brew-tea",
            "description": "How to brew tea",
            "content": "1. Boil water.\n2. Steep 3 minutes.\n",
        },
    )
    up.queue_text("Saved.")
    up.queue_tool_call("skill_view", {"name": "brew-tea"})
    up.queue_text("Boil, then steep.")
    with run_gateway(home, "alice") as gw:
        ask(gw, "save a tea skill")
        ask(gw, "how do I brew tea?")
    assert "brew-tea: How to brew tea" in system_prompt(up)
    assert "Steep 3 minutes" in tool_results(up)[-1]


def test_disabled_tools_are_neither_offered_nor_runnable(tmp_path: Path, up: FakeOpenAI) -> None:
    home = tmp_path / "home"
    make_profile(home, "alice", up.base_url, tools__enabled="[terminal, read_file]")
    up.queue_tool_call("write_file", {"path": "x.txt", "content": "x"})
    up.queue_text("Could not write.")
    with run_gateway(home, "alice") as gw:
        ask(gw)
    assert offered(up) == {"terminal", "read_file"}
    assert tool_results(up)[0].startswith("error") and "write_file" in tool_results(up)[0]
    assert not (home / "profiles" / "alice" / "workspace" / "x.txt").exists()


class LocalWeb:
    """A fake SearxNG and a page server on 127.0.0.1, in a thread."""

    def __init__(self) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0

    def __enter__(self) -> LocalWeb:
        import asyncio

        async def search(request: web.Request) -> web.Response:
            q = request.query["q"]
            return web.json_response(
                {
                    "results": [
                        {
                            "title": f"About {q}",
                            "url": f"http://127.0.0.1:{self.port}/page",
                            "content": f"All about {q}.",
                        }
                    ]
                }
            )

        async def page(request: web.Request) -> web.Response:
            html = (
                "<html><head><title>Tea</title><script>var x=1;</script></head>"
                "<body><nav>menu</nav><p>Green tea wants 80 degree water.</p></body></html>"
            )
            return web.Response(text=html, content_type="text/html")

        async def start() -> None:
            app = web.Application()
            app.router.add_get("/search", search)
            app.router.add_get("/page", page)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.port = self.runner.addresses[0][1]

        self.thread.start()
        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        import asyncio

        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_web_search_and_fetch_against_local_servers(tmp_path: Path, up: FakeOpenAI) -> None:
    with LocalWeb() as site:
        home = tmp_path / "home"
        make_profile(
            home,
            "alice",
            up.base_url,
            tools__web_search__searxng_url=f"http://127.0.0.1:{site.port}",
        )
        make_profile(home, "open", up.base_url, tools__web_fetch__allow_private="true")
        page = f"http://127.0.0.1:{site.port}/page"
        up.queue_tool_calls([("web_search", {"query": "green tea"}), ("web_fetch", {"url": page})])
        up.queue_text("Refused the fetch.")
        with run_gateway(home, "alice") as gw:
            ask(gw)
        found, refused = tool_results(up)
        assert "About green tea" in found and page in found
        assert "refusing" in refused and "allow_private" in refused
        up.queue_tool_call("web_fetch", {"url": page})
        up.queue_text("80 degrees.")
        with run_gateway(home, "open") as gw:
            assert ask(gw) == "80 degrees."
        text = tool_results(up)[0]
        assert "Green tea wants 80 degree water." in text and "var x" not in text


def test_progress_markers_name_each_tool(tmp_path: Path, up: FakeOpenAI) -> None:
    home = tmp_path / "home"
    make_profile(home, "alice", up.base_url)
    up.queue_tool_calls(
        [
            ("write_file", {"path": "notes.txt", "content": "n"}),
            ("read_file", {"path": "notes.txt"}),
            ("memory", {"action": "list"}),
            ("execute_code", {"code": "print(1)"}),
        ]
    )
    up.queue_text("done")
    with (
        run_gateway(home, "alice") as gw,
        openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0) as c,
    ):
        stream = c.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "go"}], stream=True
        )
        text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    for marker in ("`✍️ notes.txt`", "`📖 notes.txt`", "`🧠 memory list`", "`🐍 python`"):
        assert marker in text, (marker, text)
    assert json.dumps(text)  # the stream is valid text end to end

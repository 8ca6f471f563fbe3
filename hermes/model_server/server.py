"""`hermes model serve` / `python -m hermes.model_server`: the local model behind
/v1/chat/completions (streaming or not), /v1/models and /health, on loopback. Generation runs in
a worker thread; its pieces cross into the event loop through a queue, so streams flow as tokens
are produced."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from aiohttp import web

from hermes.errors import HermesError
from hermes.messages import Usage
from hermes.model_server.model import MODEL_ID, LocalModel, Piece, model_path
from hermes.procutil import die_with_supervisor, make_undumpable, stop_requested
from hermes.profiles.paths import hermes_home
from hermes.wire.openai_chat import chunk, completion_response, models_response, usage_chunk
from hermes.wire.openai_chat_request import ChatRequest, parse_chat_request
from hermes.wire.sse import SSE_DONE, sse_event

DEFAULT_PORT = 8639  # = hermes.providers.LOCAL_MODEL_PORT (8640 is the front door's)
MODEL = web.AppKey("model", LocalModel)


def create_app(model: LocalModel) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[MODEL] = model
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/chat/completions", chat)
        app.router.add_get(f"{prefix}/models", models)
    app.router.add_get("/health", health)
    return app


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "model": MODEL_ID})


async def models(request: web.Request) -> web.Response:
    return web.json_response(models_response([MODEL_ID], created=0, owned_by="hermes-local"))


async def chat(request: web.Request) -> web.StreamResponse:
    try:
        req = parse_chat_request(await request.json())
    except (HermesError, ValueError) as exc:
        message = exc.message if isinstance(exc, HermesError) else "malformed JSON"
        return web.json_response(HermesError(message).to_openai(), status=400)
    pieces = _pieces(request.app[MODEL], req)
    cid, created = "chatcmpl-local" + os.urandom(6).hex(), int(time.time())
    if not req.stream:
        text: list[str] = []
        finish, last = "stop", None
        async for piece in pieces:
            text.append(piece.text)
            finish = piece.finish or finish
            last = piece
        total = Usage(last.prompt_tokens, last.completion_tokens) if last else None
        return web.json_response(
            completion_response(cid, created, MODEL_ID, "".join(text), finish, total)
        )
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    await response.write(
        sse_event(chunk(cid, created, MODEL_ID, {"role": "assistant", "content": ""}))
    )
    finish = "stop"
    async for piece in pieces:
        if piece.text:
            await response.write(sse_event(chunk(cid, created, MODEL_ID, {"content": piece.text})))
        finish = piece.finish or finish
        if piece.prompt_tokens and req.include_usage:
            counted = Usage(piece.prompt_tokens, piece.completion_tokens)
            await response.write(sse_event(chunk(cid, created, MODEL_ID, {}, finish)))
            await response.write(sse_event(usage_chunk(cid, created, MODEL_ID, counted)))
            await response.write(SSE_DONE)
            return response
    await response.write(sse_event(chunk(cid, created, MODEL_ID, {}, finish)))
    await response.write(SSE_DONE)
    return response


async def _pieces(model: LocalModel, req: ChatRequest) -> AsyncIterator[Piece]:
    """The model's output as it is produced, from a worker thread."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Piece | BaseException | None] = asyncio.Queue()
    stop = False

    def work() -> None:
        try:
            gen: Iterator[Piece] = model.generate(
                req.messages,
                max_tokens=req.max_tokens,
                temperature=req.temperature,
                top_p=req.top_p,
                stop=req.stop,
            )
            for piece in gen:
                if stop:
                    break
                loop.call_soon_threadsafe(queue.put_nowait, piece)
            loop.call_soon_threadsafe(queue.put_nowait, None)
        except BaseException as exc:  # handed to the event loop
            loop.call_soon_threadsafe(queue.put_nowait, exc)

    worker = loop.run_in_executor(None, work)
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop = True  # a client that went away stops the generation at the next token
        await asyncio.shield(worker)


async def _serve(model: LocalModel, host: str, port: int) -> int:
    runner = web.AppRunner(create_app(model), access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    stopping = stop_requested()
    print(
        f"hermes model server ready: http://{host}:{port}/v1 model={MODEL_ID} pid={os.getpid()}",
        flush=True,
    )
    await stopping.wait()
    await runner.cleanup()
    return 0


def serve(host: str = "127.0.0.1", port: int | None = None, home: Path | None = None) -> int:
    die_with_supervisor(os.environ.get("HERMES_SUPERVISOR_PID"))
    make_undumpable()
    port = port or int(os.environ.get("HERMES_MODEL_PORT") or DEFAULT_PORT)
    model = LocalModel(model_path(home or hermes_home()), threads=os.cpu_count() or 2)
    import uvloop

    return uvloop.run(_serve(model, host, port))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m hermes.model_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        return serve(args.host, args.port)
    except HermesError as exc:
        sys.stderr.write(f"hermes model server: error: {exc.message}\n")
        return exc.exit_code
    except OSError as exc:
        sys.stderr.write(f"hermes model server: error: {exc}\n")
        return 1

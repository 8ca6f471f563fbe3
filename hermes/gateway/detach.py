"""A run that may outlive the request that started it (api_server.session_on_disconnect).

The request's handler is cancelled when its client goes away; a run inside it would die with it.
`detached` runs the events in a task of their own, with what the run holds (its run slot, its
session's lock) handed over in an exit stack that closes when the run ends. The request follows
the events while it lasts; when it goes away, `finish` lets the run go on to its end (a session
turn is then recorded as if the client had stayed), `cancel` stops it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("hermes.gateway")
_END = object()
# The event loop keeps only weak references to tasks: a run whose client left is kept here.
_RUNNING: set[asyncio.Task[None]] = set()


@dataclass(frozen=True, slots=True)
class _Failed:
    error: Exception


def detached(
    events: AsyncIterator[T], held: contextlib.AsyncExitStack, *, finish: bool, label: str
) -> AsyncIterator[T]:
    """`events`, run by their own task; `held` is closed when they end (or fail)."""
    queue: asyncio.Queue[object] = asyncio.Queue()
    following = True

    async def run() -> None:
        try:
            async with held:
                async for event in events:
                    queue.put_nowait(event)
        except Exception as exc:
            queue.put_nowait(_Failed(exc))
            if not following:
                log.warning("%s failed after its client left: %s", label, exc)
        else:
            queue.put_nowait(_END)
            if not following:
                log.info("%s finished after its client left", label)

    task = asyncio.ensure_future(run())
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)

    async def follow() -> AsyncIterator[T]:
        nonlocal following
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                yield item  # type: ignore[misc]
        finally:
            following = False
            if not finish:
                task.cancel()

    return follow()

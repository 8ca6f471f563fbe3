"""Responses background mode: runs that outlive the request that started them.

A background run is a task of the gateway's, not of a connection: it writes each stream event to
the run store (stores/runs.py) as it goes and wakes whoever follows it live. A client that comes
back gets the run's state (`GET /v1/responses/{id}`), or its events after the sequence number it
saw (`?stream=true&starting_after=N`), replayed from the store and then followed to the end;
`POST /v1/responses/{id}/cancel` cancels the task, which cancels the upstream request and the
tools it runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hermes.errors import HermesError, TooManyRequests
from hermes.stores.runs import TERMINAL, Run, RunStore

log = logging.getLogger("hermes.gateway")
RESTARTED = "the gateway stopped while this response was running; it did not finish"


class Ladder(Protocol):
    """What a run's events look like (gateway/responses.py's ResponsesStream)."""

    def snapshot(self, status: str) -> dict[str, Any]: ...


@dataclass
class LiveRun:
    id: str
    owner: str
    stream: Ladder
    events: list[dict[str, Any]] = field(default_factory=list)
    status: str = "in_progress"
    final: dict[str, Any] | None = None  # the response object once the run ended
    task: asyncio.Task[None] | None = None
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def response(self) -> dict[str, Any]:
        return self.final if self.final is not None else self.stream.snapshot(self.status)


class BackgroundRuns:
    def __init__(self, store: RunStore, limit: int) -> None:
        self.store = store
        self.limit = limit
        self.live: dict[str, LiveRun] = {}
        self.stopping = False  # the gateway is stopping: a run cancelled now did not finish

    def check_room(self) -> None:
        if len(self.live) >= self.limit:
            raise TooManyRequests(
                f"{len(self.live)} background responses already running "
                "(api_server.max_background_runs); retry when one has finished",
                retry_after=5,
            )

    def spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        task.add_done_callback(_log_crash)
        return task

    async def register(self, live: LiveRun) -> None:
        self.live[live.id] = live
        await self.store.create(Run(live.id, live.owner, live.status, live.response()))

    async def emit(self, live: LiveRun, events: list[dict[str, Any]]) -> None:
        """Record `events` (store first: a follower that reads the store never misses one)."""
        if not events:
            return
        await self.store.append(live.id, events)
        async with live.changed:
            live.events.extend(events)
            live.changed.notify_all()

    async def end(self, live: LiveRun, status: str, response: dict[str, Any]) -> None:
        await self.store.update(live.id, status, response)
        async with live.changed:
            live.status, live.final = status, response
            live.changed.notify_all()
        self.live.pop(live.id, None)

    async def get(self, run_id: str, owner: str) -> dict[str, Any] | None:
        live = self.live.get(run_id)
        if live is not None and owner in ("", live.owner):
            return live.response()
        run = await self.store.get(run_id, owner)
        return None if run is None else run.response

    async def follow(self, run_id: str, owner: str, after: int) -> AsyncIterator[dict[str, Any]]:
        """Every event after sequence number `after`: from the store, then live to the end."""
        live = self.live.get(run_id)
        if live is not None and owner not in ("", live.owner):
            return
        seen = after
        for event in await self.store.events(run_id, after):
            seen = event["sequence_number"]
            yield event
        while live is not None:
            async with live.changed:
                fresh = [e for e in live.events if e["sequence_number"] > seen]
                if not fresh:
                    if live.final is not None:
                        return
                    await live.changed.wait()
                    continue
            for event in fresh:
                seen = event["sequence_number"]
                yield event

    async def cancel(self, run_id: str, owner: str) -> dict[str, Any] | None:
        """Cancel a running background response; its state after (a finished one as it is)."""
        live = self.live.get(run_id)
        if live is not None and owner in ("", live.owner) and live.task is not None:
            live.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({live.task}, timeout=10)
        return await self.get(run_id, owner)

    async def recover(self) -> None:
        """At start: runs a previous process left unfinished are failed, and old ones forgotten."""
        failed = await self.store.fail_unfinished(RESTARTED)
        if failed:
            log.warning(
                "%d background response(s) were cut off by a restart: marked failed", failed
            )

    async def stop(self) -> None:
        """Cancel the runs still going (the gateway is stopping); each records its end."""
        self.stopping = True
        tasks = [live.task for live in self.live.values() if live.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)


async def run_in_background(
    runs: BackgroundRuns,
    live: LiveRun,
    steps: AsyncIterator[list[dict[str, Any]]],
    failed: Callable[[str, HermesError | None], list[dict[str, Any]]],
    final: Callable[[], tuple[str, dict[str, Any]]],
) -> None:
    """Drive one run: record the events of each step, then its end (completed, failed, or
    cancelled when its task is cancelled)."""
    try:
        async for events in steps:
            await runs.emit(live, events)
        status, response = final()
    except asyncio.CancelledError:
        status, response = "cancelled", live.stream.snapshot("cancelled")
        if runs.stopping:  # not the client's cancel: the gateway is going away under the run
            status = "failed"
            response = {
                **live.stream.snapshot("failed"),
                "error": {"code": "server_error", "message": RESTARTED},
            }
    except Exception as exc:
        error = exc if isinstance(exc, HermesError) else None
        message = error.message if error else "internal error; see the gateway log"
        if error is None:
            log.exception("background response %s failed", live.id)
        events = failed(message, error)
        await runs.emit(live, events)
        status, response = "failed", events[-1]["response"]
    assert status in TERMINAL
    await asyncio.shield(runs.end(live, status, response))


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task crashed", exc_info=task.exception())

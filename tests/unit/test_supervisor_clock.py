"""The real clock's bounded wait: a stop (a cancellation) that comes in the same moment as
what it waits for is never lost. Python 3.11's asyncio.wait_for can swallow it; a gateway that
printed its ready line just as `hermes down` came then went on running, and the supervisor
waited for it forever."""

from __future__ import annotations

import asyncio

import pytest

from hermes.supervisor.launch import MonotonicClock


async def test_a_cancellation_with_the_result_in_the_same_moment_is_not_lost() -> None:
    clock = MonotonicClock()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(clock.within(ready, 10))
    await asyncio.sleep(0)
    ready.set_result(1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_within_returns_the_result_or_times_out() -> None:
    clock = MonotonicClock()
    assert await clock.within(asyncio.sleep(0, "done"), 1) == (True, "done")
    never: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    assert await clock.within(never, 0.01) == (False, None)
    assert never.cancelled()

"""How the worker's background loops wait: after an error, between turns, and for each other at the stop.

The worker runs four loops (fetching jobs, saving results, renewing locks, checking for stalled jobs), and
each survives any error the same way: it reports it, pauses a little longer each time (0.1 s doubling up
to 2 s), and tries again. These helpers are that shared timing, kept apart from the loops themselves so
that ``worker.py``, ``fetching.py`` and ``results.py`` all use the one rule.
"""

from __future__ import annotations

import asyncio
import contextlib

RETRY_PAUSE_MIN = 0.1
RETRY_PAUSE_MAX = 2.0


def next_pause(pause: float) -> float:
    """The pause after one more failure in a row: 0.1 s after the first, doubling up to 2 s."""
    return min(RETRY_PAUSE_MAX, pause * 2 or RETRY_PAUSE_MIN)


async def nap(seconds: float, stop: asyncio.Event) -> bool:
    """Sleeps up to ``seconds``, less if ``stop`` is set meanwhile; True when ``stop`` is set."""
    if seconds > 0 and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def settle(task: asyncio.Task[None], timeout: float) -> None:
    """Waits for a loop to notice the stop; cancels it only if it does not within ``timeout``.

    In-flight Redis calls are better left to end on their own: a cancelled read can leave redis-py
    waiting on a dead socket."""
    done, _ = await asyncio.wait([task], timeout=timeout)
    if not done:
        task.cancel()
        await asyncio.wait([task], timeout=1)

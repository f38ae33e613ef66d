from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from board import Worker


async def until(check: Callable[[], Any], timeout: float = 10, interval: float = 0.01) -> Any:
    """Polls ``check`` (sync or async) until it returns something truthy, or fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


@asynccontextmanager
async def running(worker: Worker):
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        await worker.close()
        await task

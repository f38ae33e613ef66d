"""Waiting helpers shared by the test modules: poll a condition against a deadline, never sleep blind."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


def wait_for(check: Callable[[], Any], timeout: float = 10, what: str = "condition", interval: float = 0.02) -> Any:
    """Calls ``check`` until it returns something truthy, and returns that; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {result!r})")
        time.sleep(interval)


async def until(check: Callable[[], Any], timeout: float = 10, what: str = "condition", interval: float = 0.01) -> Any:
    """The same inside an event loop; ``check`` may be sync or return an awaitable."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {result!r})")
        await asyncio.sleep(interval)

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from board import Worker
from tests.support import until as until


@asynccontextmanager
async def running(worker: Worker):
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        await worker.close()
        await task

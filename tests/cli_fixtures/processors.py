"""Processors for ``board worker tests.cli_fixtures.processors:...``.

``process`` sleeps ``data["sleep"]`` seconds (0 if absent) and returns the job's ``n`` and the worker's pid,
so a test can tell which process ran a job and hold a job active for as long as it needs.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from board import Job

NOT_A_FUNCTION = 42


async def process(job: Job) -> dict[str, Any]:
    data = job.data if isinstance(job.data, dict) else {}
    await asyncio.sleep(float(data.get("sleep", 0)))
    return {"n": data.get("n"), "pid": os.getpid()}

"""A processor for ``board worker tests.cli_fixtures.loops:loop_of``: it returns the module of the event
loop that runs it (``uvloop`` for uvloop's, ``asyncio.unix_events`` for asyncio's own), so a test can tell
which loop the worker really ran the job on."""

from __future__ import annotations

import asyncio

from board import Job


async def loop_of(job: Job) -> str:
    return type(asyncio.get_running_loop()).__module__

"""The welcome-email processor of the signup example. Run it from the repository root::

    board worker examples.fastapi_signup.worker:send_welcome --queue email --concurrency 10

It "sends" the mail by logging it: swap ``deliver`` for your mail service's client. An exception means
"try again" (the job's ``attempts`` and ``backoff`` decide when); ``UnrecoverableError`` means "don't".
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from board import Job, UnrecoverableError

log = logging.getLogger(__name__)


async def deliver(to: str, subject: str, body: str) -> str:
    """Stands in for the mail service; returns its message id."""
    await asyncio.sleep(0.05)
    log.info("welcome email sent to %s: %s", to, subject)
    return f"<{uuid.uuid4().hex}@mail.example.com>"


async def send_welcome(job: Job) -> dict[str, Any]:
    data = job.data if isinstance(job.data, dict) else {}
    to, name = data.get("to"), data.get("name")
    if not isinstance(to, str) or not isinstance(name, str):
        # Retrying cannot fix bad data: fail at once, with the reason on the board.
        raise UnrecoverableError(f"welcome-email needs 'to' and 'name', got {sorted(data)}")
    await job.log(f"rendering the welcome email for {to} (attempt {job.attempts_made + 1})")
    subject = f"Welcome, {name}!"
    body = f"Hello {name},\n\nthanks for signing up.\n"
    await job.update_progress(50)
    message_id = await deliver(to, subject, body)
    await job.log(f"sent as {message_id}")
    await job.update_progress(100)
    return {"to": to, "message_id": message_id}  # stored as the job's return value, shown on the board

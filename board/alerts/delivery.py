"""Delivering alerts: to webhooks (a JSON POST, or Slack's ``{"text": ...}``) and to Python callables.

A webhook gets ``timeout`` seconds per attempt and ``retries`` more attempts, 1 s, 2 s, 4 s ... apart,
on a connection error, a timeout or a 5xx/429 answer; another 4xx is final (the request itself is
wrong). Every delivery ends with a ``Delivery`` record saying how it went: nothing raises.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from .rules import Webhook

log = logging.getLogger("board.alerts")
MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class Alert:
    """One alert, as it is sent: ``state`` is "firing" or "resolved"."""

    rule: str
    when: str
    queue: str
    state: str
    value: float
    threshold: float
    since_ms: int
    at_ms: int
    message: str
    job_ids: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        data = asdict(self)
        data["job_ids"] = list(self.job_ids)
        return data


@dataclass(frozen=True)
class Delivery:
    target: str
    rule: str
    queue: str
    state: str
    at_ms: int
    ok: bool
    attempts: int
    detail: str


AlertCallable = Callable[[Alert], Awaitable[None] | None]


def _slack_escaped(text: str, limit: int = 2000) -> str:
    """Slack's escaping: queue names and job ids come from Redis, where anyone may have written
    ``<!channel>`` or a disguised ``<https://...|link>``."""
    text = text if len(text) <= limit else text[:limit] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(alert: Alert) -> str:
    mark = ":rotating_light:" if alert.state == "firing" else ":white_check_mark:"
    rule, queue, message = (_slack_escaped(t) for t in (alert.rule, alert.queue, alert.message))
    return f"{mark} *{rule}* ({queue}) {alert.state}: {message}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A webhook's headers (a token, say) must not follow a redirect to another host.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def send_webhook(
    hook: Webhook, alert: Alert, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> Delivery:
    payload = {"text": slack_text(alert)} if hook.slack else alert.body()
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "board-alerts", **dict(hook.headers)}
    detail = ""
    for attempt in range(1, hook.retries + 2):
        try:
            status = await asyncio.to_thread(_post, hook.url, body, headers, hook.timeout)
        except (OSError, ValueError) as exc:
            detail = f"no answer: {exc}"
        else:
            if 200 <= status < 300:
                return _record(hook.name, alert, True, attempt, f"answered {status}")
            detail = f"answered {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
            if 300 <= status < 500 and status != 429:
                return _record(hook.name, alert, False, attempt, detail)
        if attempt <= hook.retries:
            await sleep(min(MAX_BACKOFF, 2.0 ** (attempt - 1)))
    log.warning("alert %r for %s not delivered to webhook %r: %s", alert.rule, alert.queue, hook.name, detail)
    return _record(hook.name, alert, False, hook.retries + 1, detail)


async def call_target(name: str, fn: AlertCallable, alert: Alert) -> Delivery:
    try:
        result = fn(alert)
        if inspect.isawaitable(result):
            await result
    except Exception as exc:
        log.exception("alert %r: callable %s raised", alert.rule, name)
        return _record(name, alert, False, 1, f"raised {type(exc).__name__}: {exc}")
    return _record(name, alert, True, 1, "called")


def _record(target: str, alert: Alert, ok: bool, attempts: int, detail: str) -> Delivery:
    return Delivery(target, alert.rule, alert.queue, alert.state, int(time.time() * 1000), ok, attempts, detail)


__all__ = ["Alert", "AlertCallable", "Delivery", "call_target", "send_webhook", "slack_text"]

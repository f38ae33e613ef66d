"""Webhooks get a real POST: JSON or Slack's body, retried on a 5xx, not on a 4xx; callables get the alert."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from board.alerts import Alert, Webhook
from board.alerts.delivery import call_target, send_webhook

ALERT = Alert("backlog", "waiting_above", "email", "firing", 1500, 1000, 1, 2, "1,500 waiting, above 1,000")


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.headers: list[dict[str, str]] = []
        self.answers: list[int] = []

    def url(self, server: ThreadingHTTPServer) -> str:
        return f"http://127.0.0.1:{server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            got.bodies.append(json.loads(self.rfile.read(length)))
            got.headers.append(dict(self.headers))
            self.send_response(got.answers.pop(0) if got.answers else 204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield got, got.url(server)
    server.shutdown()
    server.server_close()


async def no_sleep(_: float) -> None:
    return None


async def test_json_body_and_headers(receiver: tuple[Receiver, str]) -> None:
    got, url = receiver
    delivery = await send_webhook(Webhook("ops", url, headers=(("X-Token", "t"),)), ALERT)
    assert delivery.ok and delivery.attempts == 1 and delivery.detail == "answered 204"
    assert got.bodies == [ALERT.body()] and got.bodies[0]["queue"] == "email"
    assert got.headers[0]["X-Token"] == "t" and got.headers[0]["Content-Type"] == "application/json"


async def test_slack_body(receiver: tuple[Receiver, str]) -> None:
    got, url = receiver
    await send_webhook(Webhook("slack", url, slack=True), ALERT)
    assert list(got.bodies[0]) == ["text"] and "*backlog* (email) firing" in got.bodies[0]["text"]


async def test_retries_on_5xx_and_429_with_growing_pauses(receiver: tuple[Receiver, str]) -> None:
    got, url = receiver
    got.answers = [503, 429, 200]
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    delivery = await send_webhook(Webhook("ops", url, retries=3), ALERT, sleep=sleep)
    assert delivery.ok and delivery.attempts == 3 and pauses == [1, 2] and len(got.bodies) == 3


async def test_a_4xx_is_final_and_exhausted_retries_say_why(receiver: tuple[Receiver, str]) -> None:
    got, url = receiver
    got.answers = [400]
    refused = await send_webhook(Webhook("ops", url, retries=3), ALERT, sleep=no_sleep)
    assert not refused.ok and refused.attempts == 1 and refused.detail == "answered 400"
    got.answers = [500, 500]
    failed = await send_webhook(Webhook("ops", url, retries=1), ALERT, sleep=no_sleep)
    assert not failed.ok and failed.attempts == 2 and failed.detail == "answered 500"


async def test_nobody_listening_is_a_failed_delivery_not_an_error() -> None:
    delivery = await send_webhook(Webhook("ops", "http://127.0.0.1:9/x", retries=1, timeout=1), ALERT, sleep=no_sleep)
    assert not delivery.ok and delivery.attempts == 2 and delivery.detail.startswith("no answer")


async def test_callables_sync_async_and_raising() -> None:
    seen: list[Alert] = []

    async def later(alert: Alert) -> None:
        seen.append(alert)

    def broken(alert: Alert) -> None:
        raise RuntimeError("down")

    assert (await call_target("sync", seen.append, ALERT)).ok
    assert (await call_target("async", later, ALERT)).ok
    failed = await call_target("broken", broken, ALERT)
    assert not failed.ok and failed.detail == "raised RuntimeError: down"
    assert seen == [ALERT, ALERT]


async def test_slack_text_escapes_what_redis_holds(receiver: tuple[Receiver, str]) -> None:
    got, url = receiver
    crafted = Alert(
        "dead jobs", "retries_exhausted", "<!channel>", "firing", 1, 0, 1, 2, "<https://evil.example|Open> & more"
    )
    await send_webhook(Webhook("slack", url, slack=True), crafted)
    text = got.bodies[0]["text"]
    assert "<!channel>" not in text and "<https://" not in text
    assert "(&lt;!channel&gt;)" in text and "&lt;https://evil.example|Open&gt; &amp; more" in text


async def test_a_redirect_is_not_followed_with_the_headers(receiver: tuple[Receiver, str]) -> None:
    got, url = receiver
    got.answers = [302]
    delivery = await send_webhook(Webhook("ops", url, retries=2, headers=(("X-Token", "t"),)), ALERT, sleep=no_sleep)
    assert not delivery.ok and delivery.attempts == 1 and "redirects are not followed" in delivery.detail
    assert len(got.bodies) == 1

"""The board's alert loop: its rules from create_board's arguments (a dict, an AlertConfig or a TOML file,
checked at once), started with the app and stopped with it (alone, inside the app's own lifespan, or
under a host app that runs the board's), firing a webhook to a real HTTP server while pages answer."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from board import SyncQueue, create_board
from board.alerts import Alert, AlertConfig, ConfigError, Rule, load_config
from board.web.alert_loop import AlertLoop, alert_config

from .conftest import JSON, SECRET, ClientFactory, wait_for


class Receiver:
    """A webhook endpoint on loopback: what it was sent, and how long it takes to answer."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.delay = 0.0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(receiver.delay)
                receiver.bodies.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver()
    got.thread.start()
    yield got
    got.server.shutdown()
    got.server.server_close()


def backlog(url: str, queue: str, **rule: Any) -> dict[str, Any]:
    """Alert as soon as one job waits in ``queue``, to the webhook at ``url``."""
    return {
        "webhooks": [{"name": "ops", "url": url, "retries": 0}],
        "rules": [{"name": "backlog", "when": "waiting_above", "queues": [queue], "threshold": 0, **rule}],
    }


def stop_alerts(client: TestClient, app: Starlette) -> None:
    """Stops the loop before the fixture closes the board's Redis client, so no round runs without it."""
    assert client.portal is not None
    client.portal.call(app.state.board.alerts.stop)


# The configuration ----------------------------------------------------------------------------------------------


def test_the_rules_come_as_a_dict_a_config_or_a_toml_file(tmp_path: Path) -> None:
    data = {"rules": [{"name": "idle", "when": "no_workers", "minutes": 5}]}
    config = load_config(data)
    path = tmp_path / "alerts.toml"
    path.write_text('[[rules]]\nname = "idle"\nwhen = "no_workers"\nminutes = 5\n', encoding="utf-8")
    assert alert_config(data) == alert_config(config) == alert_config(path) == alert_config(str(path)) == config
    assert config.rules == (Rule("idle", "no_workers", minutes=5),)
    assert alert_config(None) is None
    with pytest.raises(TypeError, match="expected an AlertConfig, a dict or the path"):
        alert_config(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alerts": {"rules": [{"name": "x", "when": "waiting_above"}]}}, "rule 'x': waiting_above needs a threshold"),
        ({"alerts": "/no/such/alerts.toml"}, "cannot read /no/such/alerts.toml"),
        ({"alerts": {}, "alert_interval": 0}, "alert_interval: must be at least 1 second"),
        ({"alerts": {}, "alert_interval": float("nan")}, "alert_interval: expected a number of seconds"),
        ({"alert_callables": {"log": print}}, "alert_callables: give the rules too"),
        ({"alerts": {}, "alert_callables": {"log": "print"}}, "alert_callables: expected names mapped to functions"),
        (
            {
                "alerts": {"webhooks": [{"name": "ops", "url": "http://127.0.0.1:1/"}]},
                "alert_callables": {"ops": print},
            },
            "ops is also the name of a webhook",
        ),
    ],
)
def test_a_mistake_stops_create_board(redis_url: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        create_board(redis_url, queues=["email"], secret_key=SECRET, **options)
    if message.startswith(("rule", "cannot read")):
        assert isinstance(refused.value, ConfigError)


def test_without_rules_nothing_runs(make_client: ClientFactory) -> None:
    for alerts in (None, {"webhooks": [{"name": "ops", "url": "http://127.0.0.1:1/"}]}):
        client = make_client(["email"], alerts=alerts)
        loop: AlertLoop = client.app.state.board.alerts  # type: ignore[attr-defined]
        assert loop.runner is None and not loop.running
        assert (loop.config is None) == (alerts is None)


# Running with the app -----------------------------------------------------------------------------------------


def test_the_loop_starts_with_the_app_fires_a_webhook_and_stops_with_it(
    make_client: ClientFactory, receiver: Receiver, sq: SyncQueue, qname: str
) -> None:
    sq.add("waiting", {})
    seen: list[Alert] = []
    client = make_client([qname], alerts=backlog(receiver.url, qname), alert_callables={"test": seen.append})
    board = client.app.state.board  # type: ignore[attr-defined]
    assert board.alerts.running
    wait_for(lambda: receiver.bodies, 10, "the webhook to be called")
    (body,) = receiver.bodies
    assert (body["rule"], body["queue"], body["state"], body["value"]) == ("backlog", qname, "firing", 1)
    assert [(a.rule, a.queue, a.state) for a in seen] == [("backlog", qname, "firing")]
    # What it did is on the alerts page: the episode firing, and both deliveries.
    page = wait_for(lambda: len((p := client.get("/alerts", headers=JSON).json())["deliveries"]) == 2 and p)
    assert page["running"] is True
    assert {(d["target"], d["ok"], d["attempts"]) for d in page["deliveries"]} == {("ops", True, 1), ("test", True, 1)}
    (rule,) = page["rules"]
    assert [(e["queue"], e["phase"], e["value"]) for e in rule["episodes"]] == [(qname, "firing", 1)]

    task = board.alerts.runner._task
    stop_alerts(client, client.app)  # type: ignore[arg-type]
    assert not board.alerts.running and task.done()


def test_two_board_processes_alert_once(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    sq.add("waiting", {})
    seen: list[Alert] = []
    rules = {"rules": backlog("http://127.0.0.1:1/", qname)["rules"]}
    boards = [make_client([qname], alerts=rules, alert_callables={"memo": seen.append}, alert_interval=1)]
    boards.append(make_client([qname], alerts=rules, alert_callables={"memo": seen.append}, alert_interval=1))
    assert all(client.app.state.board.alerts.running for client in boards)  # type: ignore[attr-defined]
    wait_for(lambda: seen, 10, "the alert")
    # Both loops go on every second; the one holding the lock evaluates, the other waits its turn.
    time.sleep(2.5)
    assert [(a.rule, a.state) for a in seen] == [("backlog", "firing")]
    for client in boards:
        stop_alerts(client, client.app)  # type: ignore[arg-type]


def test_shutting_the_app_down_stops_the_loop(redis_url: str, receiver: Receiver, qname: str) -> None:
    app = create_board(redis_url, queues=[qname], secret_key=SECRET, alerts=backlog(receiver.url, qname))
    runner = app.state.board.alerts.runner
    with TestClient(app):
        assert app.state.board.alerts.running
        task = runner._task
        assert task is not None and not task.done()
    # The lifespan ended with the client, at once (the first round may still have been under way): the
    # loop's task is over, nothing left pending.
    assert not app.state.board.alerts.running and task.done() and runner._task is None


def test_a_slow_webhook_never_holds_a_page_up(
    make_client: ClientFactory, receiver: Receiver, sq: SyncQueue, qname: str
) -> None:
    receiver.delay = 2.0
    sq.add("waiting", {})
    client = make_client([qname], alerts=backlog(receiver.url, qname, minutes=0))
    started = time.monotonic()
    # The first round started with the app and is now waiting on the webhook; pages answer meanwhile.
    for url in ("/", f"/queues/{qname}", "/alerts"):
        assert client.get(url).status_code == 200
    assert time.monotonic() - started < 1.5 and receiver.bodies == []
    wait_for(lambda: receiver.bodies, 10, "the slow webhook")
    stop_alerts(client, client.app)  # type: ignore[arg-type]


def test_the_loop_runs_inside_the_apps_own_lifespan() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def own(app: Any) -> AsyncIterator[dict[str, str]]:
        events.append("own started")
        yield {"from": "own"}
        events.append("own stopped")

    class Runner:
        async def stop(self) -> None:
            events.append("loop stopped")

        def start(self) -> None:
            events.append("loop started")

    loop = AlertLoop(AlertConfig(), Runner())  # type: ignore[arg-type]

    async def run() -> None:
        async with loop.lifespan(own)(None) as state:
            assert state == {"from": "own"} and loop.running
            events.append("serving")

    asyncio.run(run())
    assert events == ["loop started", "own started", "serving", "own stopped", "loop stopped"]
    assert not loop.running


def test_a_mounted_board_alerts_when_the_host_runs_its_lifespan(
    redis_url: str, receiver: Receiver, sq: SyncQueue, qname: str
) -> None:
    sq.add("waiting", {})
    board_app = create_board(redis_url, queues=[qname], secret_key=SECRET, alerts=backlog(receiver.url, qname))
    host = Starlette(routes=[Mount("/admin/queues", app=board_app)], lifespan=board_app.router.lifespan_context)
    with TestClient(host) as client:
        wait_for(lambda: receiver.bodies, 10, "the webhook to be called")
        assert client.get("/admin/queues/alerts", headers=JSON).json()["running"] is True
        stop_alerts(client, board_app)
        assert client.portal is not None
        client.portal.call(board_app.state.board.adapter.close)


def test_a_mounted_board_whose_lifespan_never_ran_says_so(redis_url: str, qname: str) -> None:
    board_app = create_board(redis_url, queues=[qname], secret_key=SECRET, alerts=backlog("http://127.0.0.1:1/", qname))
    with TestClient(Starlette(routes=[Mount("/board", app=board_app)])) as client:
        page = client.get("/board/alerts")
        assert page.status_code == 200 and "not running in this board process" in page.text
        assert client.get("/board/alerts", headers=JSON).json()["running"] is False
        assert client.portal is not None
        client.portal.call(board_app.state.board.adapter.close)

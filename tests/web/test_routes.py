"""The route table (board/web/routes.py): one name per route, the job routes with a suffix before the job page
that takes the rest of the path (so ids holding '/' reach every job route), the auth backend's own routes
served under the board, and static files behind the same authentication as the pages."""

from __future__ import annotations

import redis
from starlette.routing import Route

from board import BasicAuth, FormLogin, SyncQueue, create_board
from board.web.routes import JOB, SCHEDULER, routes

from .conftest import AS, JSON, SECRET, USERS, ClientFactory


def test_each_route_has_its_own_name(redis_url: str) -> None:
    # The board builds every URL from a route's name: two routes of one name would send links astray.
    board = create_board(redis_url, queues=["q"], secret_key=SECRET).state.board
    names = [route.name for route in routes(board) if isinstance(route, Route)]
    assert len(names) == len(set(names)) and "job" in names


def test_the_job_page_comes_after_every_job_route_with_a_suffix(redis_url: str) -> None:
    board = create_board(redis_url, queues=["q"], secret_key=SECRET).state.board
    table = [route for route in routes(board) if isinstance(route, Route)]
    names = [route.name for route in table]
    suffixed = [route.name for route in table if route.path.startswith(JOB + "/")]
    assert {"edit_form", "raw", "retry_job", "promote_job", "remove_job"} <= set(suffixed)
    assert all(names.index(name) < names.index("job") for name in suffixed)


def test_the_scheduler_page_comes_after_its_routes_with_a_suffix(redis_url: str) -> None:
    board = create_board(redis_url, queues=["q"], secret_key=SECRET).state.board
    table = [route for route in routes(board) if isinstance(route, Route)]
    names = [route.name for route in table]
    suffixed = [route.name for route in table if route.path.startswith(SCHEDULER + "/")]
    assert set(suffixed) == {"run_scheduler", "update_scheduler", "remove_scheduler"}
    assert all(names.index(name) < names.index("scheduler") for name in suffixed)


def test_an_id_holding_slashes_reaches_every_scheduler_route(
    make_client: ClientFactory, sq: SyncQueue, qname: str
) -> None:
    made = sq.upsert_job_scheduler("reports/daily", cron="0 3 * * *")
    client = make_client([qname])
    base = f"/queues/{qname}/schedulers/reports/daily"
    assert client.get(base, headers=JSON).json()["id"] == "reports/daily"
    ran = client.post(f"{base}/run", json={}, headers=JSON)
    assert ran.status_code == 200 and sq.get_job_state(str(made.next_job_id)) == "waiting"
    removed = client.post(f"{base}/remove", json={"confirm": True}, headers=JSON)
    assert removed.status_code == 200 and sq.get_job_scheduler("reports/daily") is None


def test_an_id_holding_slashes_reaches_every_job_route(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    job = sq.add("later", {"n": 1}, job_id="order/42", delay=600)
    client = make_client([qname])
    base = f"/queues/{qname}/jobs/order/42"
    assert client.get(base, headers=JSON).json()["id"] == job.id
    assert client.get(f"{base}/raw/data").json() == {"n": 1}
    assert client.get(f"{base}/edit", headers=JSON).json() == {"queue": qname, "id": job.id}
    promoted = client.post(f"{base}/promote", json={}, headers=JSON)
    assert promoted.status_code == 200 and promoted.json()["message"] == "Job order/42 promoted: it runs now."
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == [job.id]


def test_the_auth_backends_routes_are_served_under_the_board(make_client: ClientFactory, qname: str) -> None:
    client = make_client([qname], auth=FormLogin(USERS, SECRET), client={"follow_redirects": False})
    assert client.get("/login").status_code == 200
    assert client.get("/logout").status_code == 405  # a form posts to it
    assert make_client([qname], auth=BasicAuth(USERS)).get("/login", headers=AS["admin"]).status_code == 404


# Static files -------------------------------------------------------------------------------------------------


def test_static_files_need_auth(make_client: ClientFactory, qname: str) -> None:
    client = make_client([qname], auth=BasicAuth(USERS))
    for path in ("/static/board.css", "/static/board.js", "/static/vendor/htmx-2.0.11.min.js"):
        assert client.get(path).status_code == 401, path
        allowed = client.get(path, headers=AS["viewer"])
        assert allowed.status_code == 200 and len(allowed.content) > 0, path
    assert client.get("/static/board.css", headers=AS["viewer"]).headers["content-type"].startswith("text/css")
    assert client.get("/static/nothing.css", headers=AS["viewer"]).status_code == 404

    form = make_client([qname], auth=FormLogin(USERS, SECRET), client={"follow_redirects": False})
    response = form.get("/static/board.css")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")

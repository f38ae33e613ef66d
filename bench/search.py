"""The search benchmark: finding a text in a big queue, and what Redis's other clients see meanwhile.

    python bench/search.py [--jobs 1000000] [--budget 0.5]

Starts its own Redis (no persistence) on a free loopback port and fills queue ``big`` with ``--jobs``
completed jobs (as ``bench/board.py`` does: their data names ``user<i>@example.com``). Then, in one run:

* time to the first result of a text that the newest job holds (the common case: a recent job);
* time to the first result and to the end for a text only the oldest job holds (the worst case: every
  job is read), stepping with the cursor as the board does, one budget per request;
* the same through the board itself (``/queues/big/search``, served in this process: the guard, the
  adapter, the check against masked values, the rows' previews and the HTML), stepping as htmx does: the
  first page, then each step its sentinel row asks for, then at a page's cap the "Search further" link;
* meanwhile, a second client sends PING in a loop: its latency p50/p99/max is what any other client
  (a worker, a producer) sees while the search runs, next to the same figure with no search.
"""

from __future__ import annotations

import argparse
import html
import multiprocessing
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench.board import BIG, fill_big  # noqa: E402
from board import create_board  # noqa: E402
from board.engine.search import SearchCursor  # noqa: E402
from board.engine.sync_queue import SyncQueue  # noqa: E402
from board.redis_server import RedisServer  # noqa: E402
from board.web import search as web_search  # noqa: E402
from board.web.users import User  # noqa: E402

# A step's rows, the next step's URL (htmx), and the link to the next page.
ROW = re.compile(r'<td class="mono"><a href="[^"]*/jobs/([^"]+)">')
NEXT_STEP = re.compile(r'<tbody class="search-more" hx-get="([^"]+)"')
NEXT_PAGE = re.compile(r'<a class="btn" href="([^"]+)">Search further</a>')


def _ping_loop(url: str, stop: Any, out: Any) -> None:
    client = redis.Redis.from_url(url)
    samples: list[float] = []
    while not stop.is_set():
        start = time.perf_counter()
        client.ping()
        samples.append(time.perf_counter() - start)
        time.sleep(0.001)
    out.put(samples)


class Pinger:
    """PINGs Redis back to back from a process of its own (so that this one's work does not delay it),
    keeping each round trip's time."""

    def __init__(self, url: str) -> None:
        self.stop = multiprocessing.Event()
        self.out: Any = multiprocessing.Queue()
        self.process = multiprocessing.Process(target=_ping_loop, args=(url, self.stop, self.out), daemon=True)
        self.samples: list[float] = []

    def start(self) -> None:
        self.process.start()
        time.sleep(0.2)

    def finish(self) -> str:
        self.stop.set()
        self.samples = self.out.get(timeout=30)
        self.process.join()
        ms = sorted(s * 1000 for s in self.samples)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        return f"p50 {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms, max {ms[-1]:.2f} ms ({len(ms):,} pings)"


def pinging(url: str, seconds: float) -> str:
    pinger = Pinger(url)
    pinger.start()
    time.sleep(seconds)
    return pinger.finish()


def search_all(queue: SyncQueue, text: str, budget: float) -> tuple[float, float, int, int, int]:
    """Seconds to the first match and to the end, requests, jobs looked at, matches."""
    start = time.perf_counter()
    first = 0.0
    cursor: SearchCursor | None = None
    requests = looked = matches = 0
    while True:
        page = queue.search_jobs(text, states=["completed"], cursor=cursor, budget=budget)
        requests += 1
        looked += page.looked
        matches += len(page.matches)
        if page.matches and not first:
            first = time.perf_counter() - start
        if page.cursor is None:
            return first, time.perf_counter() - start, requests, looked, matches
        cursor = page.cursor


def board_search(url: str, text: str, budget: float, *, pages: int = 0) -> tuple[float, float, int, int]:
    """Through the board: seconds to the first row and to the end (or to the end of ``pages`` pages),
    requests, rows."""
    from starlette.testclient import TestClient

    web_search.BUDGET_S = budget
    app = create_board(url, queues=[BIG], auth=lambda request: User("bench", "viewer"), secret_key="b" * 32)
    with TestClient(app) as client:
        # Warm: the templates compiled, the connection open, the scripts loaded, as on a board serving.
        client.get(f"/queues/{BIG}/search?" + urlencode({"text": "warm-up", "states": "waiting"}))
        start = time.perf_counter()
        first = 0.0
        requests = rows = 0
        next_url: str | None = f"/queues/{BIG}/search?" + urlencode({"text": text, "states": "completed"})
        headers: dict[str, str] = {}
        while next_url is not None:
            page = client.get(next_url, headers=headers)
            assert page.status_code == 200, page.text[:500]
            requests += 1
            found = len(ROW.findall(page.text))
            rows += found
            if found and not first:
                first = time.perf_counter() - start
            step, further = NEXT_STEP.search(page.text), NEXT_PAGE.search(page.text)
            headers = {"HX-Request": "true"} if step else {}
            if not step and further and pages and (pages := pages - 1) == 0:
                break
            link = step or further
            next_url = html.unescape(link.group(1)) if link else None
        total = time.perf_counter() - start
        assert client.portal is not None
        client.portal.call(app.state.board.adapter.close)
    return first, total, requests, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--budget", type=float, default=0.5, help="seconds per search request")
    args = parser.parse_args()
    server = RedisServer().start()
    try:
        fill_s = fill_big(server.url, args.jobs, "lua")
        print(f"queue '{BIG}': {args.jobs:,} completed jobs written in {fill_s:.1f} s")
        print(f"other client, no search:       {pinging(server.url, 2.0)}")
        with SyncQueue(BIG, server.url) as queue:
            start = time.perf_counter()
            newest = queue.search_jobs(f"user{args.jobs}@", states=["completed"], limit=1, budget=args.budget)
            print(
                f"newest job's text: first result in {(time.perf_counter() - start) * 1000:.1f} ms "
                f"({newest.looked:,} jobs looked at)"
            )
            pinger = Pinger(server.url)
            pinger.start()
            first, total, requests, looked, matches = search_all(queue, '"user1@', args.budget)
            during = pinger.finish()
            print(
                f"oldest job's text: first result in {first:.2f} s, end in {total:.2f} s, {requests} requests "
                f"of {args.budget:g} s, {looked:,} jobs looked at ({looked / total:,.0f}/s), {matches} match(es)"
            )
            print(f"other client, during the search: {during}")
        pinger = Pinger(server.url)
        pinger.start()
        first, total, requests, rows = board_search(server.url, '"user1@', args.budget)
        during = pinger.finish()
        print(
            f"through the board: first result in {first:.2f} s, end in {total:.2f} s, {requests} requests, "
            f"{rows} row(s)"
        )
        print(f"other client, during the board's search: {during}")
        first, total, requests, rows = board_search(server.url, "0@example", args.budget, pages=1)
        print(
            f"through the board, a text one job in ten holds: first result in {first * 1000:.0f} ms, "
            f"a full page of {rows} rows in {total:.2f} s ({requests} requests)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()

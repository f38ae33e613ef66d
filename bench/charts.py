"""The charts benchmark: what drawing the throughput charts costs the board, with no Redis in the way.

    python bench/charts.py [--queues 200] [--rounds 5]

Times, for ``--queues`` queues (best of ``--rounds``):

* a queue page's charts of a day (1,440 points of each kind): the geometry and the text alternatives
  (``board.web.charts.build_queue_charts``), then the same rendered to SVG by the templates;
* the overview's sparklines of an hour (60 points of each kind), built and rendered.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from board.adapters import MinuteCounts, Throughput  # noqa: E402
from board.web.charts import DAY, HOUR, build_queue_charts, build_spark  # noqa: E402
from board.web.render import Renderer  # noqa: E402

MINUTE_MS = 60_000


def throughputs(queues: int, minutes: int, seed: int = 7) -> list[Throughput]:
    """Busy queues: a count every minute of the window, up to a few thousand a minute."""
    rng = random.Random(seed)
    now = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS
    made = []
    for i in range(queues):
        done = [rng.randrange(0, 5000) for _ in range(minutes)]
        failed = [rng.randrange(0, 50) for _ in range(minutes)]
        made.append(
            Throughput(
                f"queue-{i}",
                MinuteCounts(sum(done) * 3, done, now, DAY),
                MinuteCounts(sum(failed) * 3, failed, now, DAY),
            )
        )
    return made


def best(rounds: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of ``rounds`` runs, in seconds, and what the last one returned."""
    times, out = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        out = work()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--queues", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    env = Renderer(title="bench", poll_interval=0).templates.env
    pages = env.from_string(
        '{% from "_charts.html" import queue_charts %}{% for c in all %}{{ queue_charts(c) }}{% endfor %}'
    )
    cards = env.from_string(
        '{% from "_charts.html" import sparkline %}{% for s in all %}{{ sparkline(s, "/q") }}{% endfor %}'
    )

    day = throughputs(args.queues, DAY)
    built_s, charts = best(args.rounds, lambda: [build_queue_charts(t) for t in day])
    render_s, svg = best(args.rounds, lambda: pages.render(all=charts))
    print(
        f"day charts, {args.queues} queues x 1,440 points x 2 kinds: built in {built_s * 1000:.0f} ms "
        f"({built_s / args.queues * 1000:.2f} ms a queue), rendered to SVG in {render_s * 1000:.0f} ms "
        f"({len(svg) / args.queues / 1024:.0f} KB of HTML a queue page)"
    )
    hour = throughputs(args.queues, HOUR)
    spark_s, sparks = best(args.rounds, lambda: [build_spark(t) for t in hour])
    cards_s, html = best(args.rounds, lambda: cards.render(all=sparks))
    print(
        f"overview sparklines, {args.queues} queues x 60 points x 2 kinds: built in {spark_s * 1000:.1f} ms, "
        f"rendered in {cards_s * 1000:.1f} ms ({len(html) / 1024:.0f} KB of HTML)"
    )


if __name__ == "__main__":
    main()

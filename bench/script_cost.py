"""What a script call costs inside Redis, and how much of it is the script's prologue.

    python bench/script_cost.py [--n 20000]

Starts its own Redis on a free loopback port and sends ``--n`` calls of add_job.lua, pipelined so that
Redis is the only thing being timed, and reads Redis's own time per call (``INFO commandstats``,
``usec_per_call`` of EVALSHA). Then the same with the script cut after its prologue (the helpers and
tables every call defines, and the queue's key table), and an empty script given the same keys: the
differences are what the prologue and the add itself cost.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from board.engine import ops  # noqa: E402
from board.engine.keys import QueueKeys  # noqa: E402
from board.engine.options import build_add  # noqa: E402
from board.engine.scripts import _read, script  # noqa: E402
from board.redis_server import RedisServer  # noqa: E402

PIPELINE = 500


def usec_per_call(client: redis.Redis, source: str, keys: Sequence[str], args: Sequence[Any], n: int) -> float:
    sha = client.script_load(source)
    client.config_resetstat()
    for first in range(0, n, PIPELINE):
        pipe = client.pipeline(transaction=False)
        for _ in range(min(PIPELINE, n - first)):
            pipe.evalsha(sha, len(keys), *keys, *args)
        pipe.execute()
    return float(client.info("commandstats")["cmdstat_evalsha"]["usec_per_call"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="calls per figure")
    args = parser.parse_args()
    keys = QueueKeys("bull", "cost")
    spec = build_add("bench", {"i": 1}, {}, int(time.time() * 1000), frozenset())
    call = ops._add_call(keys, spec)
    add = script("add_job").source
    prologue = add[: add.index(_read("_queue"))] + _read("_queue") + "\nreturn 1"
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        rows = [
            ("add_job.lua, whole", usec_per_call(client, add, call.keys, call.args, args.n)),
            ("its prologue alone", usec_per_call(client, prologue, call.keys, call.args, args.n)),
            ("an empty script, same keys", usec_per_call(client, "return 1", call.keys, call.args, args.n)),
        ]
        client.close()
    print(f"Redis time per call, {args.n:,} calls pipelined {PIPELINE} at a time (INFO commandstats)")
    for label, usec in rows:
        print(f"{label:30} {usec:8.2f} us")


if __name__ == "__main__":
    main()

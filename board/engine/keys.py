"""Every Redis key name the engine uses, in one place.

BullMQ's layout: ``<prefix>:<queue>:<suffix>`` for queue keys, ``<prefix>:<queue>:<jobId>`` for a job
hash and ``<prefix>:<queue>:<jobId>:<sub>`` for its sub-keys. The Lua scripts receive the queue's key
base (``<prefix>:<queue>:``) and build job keys from it with the same suffixes as ``JOB_SUFFIXES``.

On a Redis Cluster every key of a queue must be in one hash slot, as Lua scripts reach only their own
node's keys: the prefix or the queue name carries a hash tag (``{bull}``, ``{email}``), which
``check_cluster_queue`` requires; queues that share a slot (one tagged prefix) may share a flow.

Job ids and queue-level names share one namespace, so an id that comes from a caller goes through
``check_job_id`` before it is used to build a key.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property

from redis.crc import key_slot

JOB_SUFFIXES = ("lock", "logs", "dependencies", "processed", "failed", "unsuccessful")
# The queue keys every Lua script receives as KEYS, in this order (see lua/_lib.lua). BullMQ's other
# queue keys (repeat, metrics:*, de:<id>) are built with QueueKeys.key() where they are used.
SCRIPT_KEY_SUFFIXES = (
    "wait",
    "active",
    "paused",
    "delayed",
    "prioritized",
    "pc",
    "marker",
    "waiting-children",
    "completed",
    "failed",
    "stalled",
    "stalled-check",
    "id",
    "meta",
    "events",
    "limiter",
)
# Every other queue-level key BullMQ 6 writes under the key base (classes/queue-keys.js and its scripts):
# "priority" is the sorted set of BullMQ versions before 5.
_OTHER_QUEUE_KEYS = ("repeat", "metrics", "de", "dn", "priority")
QUEUE_KEY_NAMES = frozenset(SCRIPT_KEY_SUFFIXES + _OTHER_QUEUE_KEYS)
# Families of queue-level keys whose names hold ':' themselves: metrics:<kind>[:data], de:<id>, dn:<id>.
QUEUE_KEY_FAMILIES = frozenset({"metrics", "de", "dn"})


def check_job_id(job_id: object, what: str = "job id") -> str:
    """``job_id`` as a string when it can only name a job of the queue; ``ValueError`` otherwise.

    Accepted: ids with no ':' that are not a queue-level key name (``meta``, ``wait``, ...), and a
    scheduler's runs, ``repeat:<key>:<millis>``, the only ids with ':' BullMQ writes itself. Anything else
    could reach a job's sub-keys (``1:lock``), a queue-level family (``metrics:...``, ``de:...``) or the
    keys of a queue whose name holds ':' (``eu:1`` in queue ``billing`` is job 1 of ``billing:eu``).
    """
    if isinstance(job_id, int) and not isinstance(job_id, bool):
        job_id = str(job_id)
    if not isinstance(job_id, str) or not job_id:
        raise ValueError(f"{what}: expected a non-empty string, got {job_id!r}")
    parts = job_id.split(":")
    if len(parts) == 1:
        if job_id in QUEUE_KEY_NAMES:
            raise ValueError(f"{what}: {job_id!r} is the name of one of the queue's own keys, not a job id")
        return job_id
    if len(parts) != 3:
        raise ValueError(
            f"{what}: {job_id!r} is not a job id (an id holds no ':' or exactly two, as repeat:<key>:<millis>)"
        )
    if parts[0] in QUEUE_KEY_FAMILIES:
        raise ValueError(f"{what}: {job_id!r} names one of the queue's own {parts[0]}:* keys, not a job id")
    # The only ids with ':' that BullMQ writes itself are a scheduler's runs. Any other three-part id could
    # name a key of a queue whose name holds ':' (queue "a:b" is under <prefix>:a:b:), which another
    # program may have written even though BullMQ refuses such names.
    if parts[0] != "repeat" or not parts[1] or not parts[2].isdigit():
        raise ValueError(f"{what}: {job_id!r} is not a job id (the only ids with ':' are repeat:<key>:<millis>)")
    return job_id


def is_job_id(job_id: object) -> bool:
    """Whether ``check_job_id`` accepts ``job_id``."""
    try:
        check_job_id(job_id)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class QueueKeys:
    prefix: str
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"queue name: expected a non-empty string, got {self.name!r}")
        if ":" in self.name:
            # As BullMQ: a ':' would let one queue's keys be read as another queue's jobs.
            raise ValueError(f"queue name: must not contain ':' (got {self.name!r})")
        if ":" in self.prefix and not (self.prefix.startswith("{") and self.prefix.endswith("}")):
            # A colon would make the queue name ambiguous when keys are discovered by SCAN.
            raise ValueError(f"prefix: must not contain ':' (got {self.prefix!r})")

    @property
    def base(self) -> str:
        return f"{self.prefix}:{self.name}:"

    @cached_property
    def slot(self) -> int:
        """The Redis Cluster hash slot of the key base (that of every key of the queue when
        ``hash_tag(base)`` exists)."""
        return int(key_slot(self.base.encode("utf-8", "surrogateescape")))

    @cached_property
    def script_keys(self) -> tuple[str, ...]:
        return tuple(self.base + suffix for suffix in SCRIPT_KEY_SUFFIXES)

    def key(self, suffix: str) -> str:
        return self.base + suffix

    @property
    def wait(self) -> str:
        return self.base + "wait"

    @property
    def active(self) -> str:
        return self.base + "active"

    @property
    def paused(self) -> str:
        return self.base + "paused"

    @property
    def delayed(self) -> str:
        return self.base + "delayed"

    @property
    def prioritized(self) -> str:
        return self.base + "prioritized"

    @property
    def pc(self) -> str:
        return self.base + "pc"

    @property
    def marker(self) -> str:
        return self.base + "marker"

    @property
    def waiting_children(self) -> str:
        return self.base + "waiting-children"

    @property
    def completed(self) -> str:
        return self.base + "completed"

    @property
    def failed(self) -> str:
        return self.base + "failed"

    @property
    def stalled(self) -> str:
        return self.base + "stalled"

    @property
    def stalled_check(self) -> str:
        return self.base + "stalled-check"

    @property
    def id(self) -> str:
        return self.base + "id"

    @property
    def meta(self) -> str:
        return self.base + "meta"

    @property
    def events(self) -> str:
        return self.base + "events"

    @property
    def limiter(self) -> str:
        return self.base + "limiter"

    @property
    def repeat(self) -> str:
        return self.base + "repeat"

    def metrics(self, kind: str) -> str:
        """BullMQ's per-minute counters of ``completed`` or ``failed`` jobs (a hash; ``:data`` its list)."""
        if kind not in ("completed", "failed"):
            raise ValueError(f"kind: expected 'completed' or 'failed', got {kind!r}")
        return self.base + "metrics:" + kind

    def job(self, job_id: str) -> str:
        return self.base + job_id

    def lock(self, job_id: str) -> str:
        return f"{self.base}{job_id}:lock"

    def logs(self, job_id: str) -> str:
        return f"{self.base}{job_id}:logs"

    def dependencies(self, job_id: str) -> str:
        return f"{self.base}{job_id}:dependencies"

    def processed(self, job_id: str) -> str:
        return f"{self.base}{job_id}:processed"

    @property
    def queue_key(self) -> str:
        """The ``<prefix>:<queue>`` form that BullMQ stores in a child's ``parent.queueKey``."""
        return f"{self.prefix}:{self.name}"

    def client_name(self, worker_name: str | None = None) -> str:
        """The CLIENT SETNAME value BullMQ gives worker connections, so ``getWorkers`` finds ours."""
        encoded = base64.b64encode(self.name.encode()).decode()
        name = f"{self.prefix}:{encoded}"
        return f"{name}:w:{worker_name}" if worker_name else name


def hash_tag(key: str) -> str | None:
    """The part of ``key`` Redis Cluster hashes, by Redis's rule: between the first ``{`` and the first
    ``}`` after it, when not empty; None when the whole key is hashed."""
    start = key.find("{")
    if start < 0:
        return None
    end = key.find("}", start + 1)
    if end <= start + 1:
        return None
    return key[start + 1 : end]


def check_cluster_queue(prefix: str, name: str) -> QueueKeys:
    """The queue's keys, when they all share one hash slot; ``ValueError`` saying how to fix it when its
    keys would spread over a cluster's slots (a script could then not reach them: Redis refuses a
    script's key that another node serves)."""
    keys = QueueKeys(prefix, name)
    if hash_tag(keys.base) is None:
        raise ValueError(
            f"queue {name!r} under prefix {prefix!r} would spread its keys over the cluster's hash slots: "
            f"use prefix '{{{prefix}}}' (every queue of the prefix in one slot) or name the queue "
            f"'{{{name}}}' (each queue its own slot; BullMQ reads both)"
        )
    return keys


def same_slot(a: QueueKeys, b: QueueKeys) -> bool:
    """Whether two queues' keys are in one hash slot (so one script may touch both on a cluster)."""
    return a.slot == b.slot


def queue_name_from_meta_key(key: str, prefix: str) -> str | None:
    """``bull:email:meta`` -> ``email``; None when the key is not the meta key of a queue we can serve
    (``bull:billing:eu:meta`` is not: a queue name never holds ':')."""
    head, tail = f"{prefix}:", ":meta"
    if key.startswith(head) and key.endswith(tail) and len(key) > len(head) + len(tail):
        name = key[len(head) : -len(tail)]
        return None if ":" in name else name
    return None

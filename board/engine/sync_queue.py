"""``SyncQueue``: the blocking twin of ``Queue``, for WSGI apps (Django, Flask) and scripts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Unpack

import redis

from . import ops
from .connection import Connection, SyncRunner, is_ours, sync_client
from .errors import OutcomeUnknown, RedisRefused, RedisUnavailable
from .job import SyncJob
from .keys import QueueKeys, check_job_id
from .options import JobOptions, backoff_types_option, build_add, to_ms


class SyncQueue:
    """The same queue API as ``Queue``, without ``await``."""

    def __init__(
        self,
        name: str,
        connection: Connection | None = None,
        *,
        prefix: str = "bull",
        backoff_types: Iterable[str] | None = None,
    ) -> None:
        self.keys = QueueKeys(prefix, name)
        self.name = name
        self.prefix = prefix
        self.backoff_types = backoff_types_option(backoff_types)
        # A client of ours (the worker's) is used as it is; any other is copied with our reply decoding.
        self.client = (
            connection if isinstance(connection, redis.Redis) and is_ours(connection) else sync_client(connection)
        )
        self._runner = SyncRunner(self.client)

    def __enter__(self) -> SyncQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def _job(self, job_id: str, fields: Mapping[str, str], known: Mapping[str, Any] | None = None) -> SyncJob:
        return SyncJob(self, job_id, fields, known)

    # Adding
    def add(self, name: str, data: Any = None, **options: Unpack[JobOptions]) -> SyncJob:
        spec = build_add(name, data, options, ops.now_ms(), self.backoff_types)
        try:
            job_id, created = self._runner.run(ops.add(self.keys, spec))
        except OutcomeUnknown as exc:
            raise ops.add_outcome_unknown(exc, [spec]) from exc.__cause__
        if created:
            return self._job(job_id, ops.spec_fields(spec), spec.known_fields())
        existing = self.get_job(job_id)
        return existing if existing is not None else self._job(job_id, ops.spec_fields(spec), spec.known_fields())

    def add_bulk(self, jobs: Sequence[Mapping[str, Any]]) -> list[SyncJob]:
        now = ops.now_ms()
        specs = [build_add(*ops.split_bulk_entry(entry), now, self.backoff_types) for entry in jobs]
        try:
            results = self._runner.run(ops.add_bulk(self.keys, specs))
        except OutcomeUnknown as exc:
            raise ops.add_outcome_unknown(exc, specs) from exc.__cause__
        # Custom ids that existed already: read those jobs back, all in one more round trip.
        existing_ids = [job_id for job_id, created in results if not created]
        try:
            found = self._runner.run(ops.get_jobs_by_id(self.keys, existing_ids))
        except (RedisUnavailable, RedisRefused):
            # The adds are done: raising now would invite a retry that adds the new jobs twice. The
            # existing jobs are then described by what this call asked for, not by what is stored.
            found = [None] * len(existing_ids)
        existing = {job_id: fields for job_id, fields in zip(existing_ids, found, strict=True) if fields}
        out = []
        for spec, (job_id, created) in zip(specs, results, strict=True):
            fields = None if created else existing.get(job_id)
            if fields is None:
                out.append(self._job(job_id, ops.spec_fields(spec), spec.known_fields()))
            else:
                out.append(self._job(job_id, fields))
        return out

    # Reading
    def get_job(self, job_id: str) -> SyncJob | None:
        job_id = check_job_id(job_id)
        fields = self._runner.run(ops.get_job(self.keys, job_id))
        return None if fields is None else self._job(job_id, fields)

    def get_jobs(
        self, states: str | Iterable[str] | None = None, start: int = 0, end: int = -1, asc: bool = False
    ) -> list[SyncJob]:
        names = ops.STATES if states is None else [states] if isinstance(states, str) else list(states)
        rows = self._runner.run(ops.get_jobs(self.keys, names, start, end, asc))
        return [self._job(job_id, fields) for job_id, fields, _ in rows]

    def get_job_counts(self, *states: str) -> dict[str, int]:
        return self._runner.run(ops.get_counts(self.keys, states))

    def get_job_state(self, job_id: str) -> str:
        return self._runner.run(ops.get_state(self.keys, check_job_id(job_id)))

    def get_job_logs(self, job_id: str, start: int = 0, end: int = -1) -> tuple[list[str], int]:
        return self._runner.run(ops.get_logs(self.keys, check_job_id(job_id), start, end))

    def get_workers(self) -> list[dict[str, str]]:
        rows = self._runner.run(ops.client_list())
        return ops.parse_workers(rows, self.keys)

    # Queue-wide actions
    def pause(self) -> bool:
        return self._runner.run(ops.set_paused(self.keys, True))

    def resume(self) -> bool:
        return self._runner.run(ops.set_paused(self.keys, False))

    def is_paused(self) -> bool:
        return self._runner.run(ops.is_paused(self.keys))

    def clean(self, grace: float | timedelta, limit: int = 0, state: str = "completed") -> list[str]:
        removed, _ = self._runner.run(ops.clean(self.keys, to_ms(grace, "grace"), limit, state))
        return removed

    def clean_count(self, grace: float | timedelta, limit: int = 0, state: str = "completed") -> int:
        _, count = self._runner.run(ops.clean(self.keys, to_ms(grace, "grace"), limit, state, False))
        return count

    def drain(self, delayed: bool = False) -> None:
        self._runner.run(ops.drain(self.keys, delayed))

    def obliterate(self, force: bool = False) -> None:
        self._runner.run(ops.obliterate(self.keys, force))

    def remove(self, job_id: str) -> bool:
        return self._runner.run(ops.remove(self.keys, check_job_id(job_id)))

    def retry_jobs(self, state: str = "failed", count: int = 0) -> int:
        return self._runner.run(ops.retry_jobs(self.keys, state, count, None))

    def promote_jobs(self, count: int = 0) -> int:
        return self._runner.run(ops.promote_jobs(self.keys, count))

    def set_global_concurrency(self, concurrency: int | None) -> None:
        self._runner.run(ops.set_meta(self.keys, {"concurrency": concurrency}))

    def set_global_rate_limit(self, max_jobs: int | None, duration: float | timedelta = 0) -> None:
        self._runner.run(ops.set_rate_limit(self.keys, max_jobs, duration))

    # One job, by id
    def retry_job(self, job_id: str, state: str = "failed", *, reset_attempts: bool = False) -> None:
        self._runner.run(ops.retry_job(self.keys, check_job_id(job_id), state, reset_attempts))

    def promote_job(self, job_id: str) -> None:
        self._runner.run(ops.promote_job(self.keys, check_job_id(job_id)))

    def change_job_priority(self, job_id: str, priority: int, *, lifo: bool = False) -> None:
        self._runner.run(ops.change_priority(self.keys, check_job_id(job_id), priority, lifo))

    def change_job_delay(self, job_id: str, delay: float | timedelta) -> None:
        self._runner.run(ops.change_delay(self.keys, check_job_id(job_id), ops.delay_ms(delay)))

    def update_job_data(self, job_id: str, data: Any) -> None:
        self._runner.run(ops.update_data(self.keys, check_job_id(job_id), data))

    def update_job_progress(self, job_id: str, progress: Any) -> None:
        self._runner.run(ops.update_progress(self.keys, check_job_id(job_id), progress))

    def add_job_log(self, job_id: str, line: str, *, keep: int = 0) -> int:
        return self._runner.run(ops.add_log(self.keys, check_job_id(job_id), line, keep))

    def __repr__(self) -> str:
        return f"<SyncQueue {self.keys.queue_key}>"

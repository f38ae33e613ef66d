"""``Queue``: the producer and operator side of a queue, over asyncio."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Unpack

import redis.asyncio as aredis

from . import ops
from .connection import Connection, async_client, close_client, is_ours, runner_for
from .errors import OutcomeUnknown, RedisRefused, RedisUnavailable
from .job import Job
from .keys import QueueKeys, check_job_id
from .options import JobOptions, backoff_types_option, build_add, to_ms


class Queue:
    """A BullMQ-format queue. ``connection`` is a redis URL or a redis client (its settings are used).

    ``backoff_types``: the custom backoff types that adds may name, besides ``fixed`` and
    ``exponential`` (the names the queue's workers get in ``backoff_strategies``); any other type is
    refused at add time, so that a misspelled one cannot silently remove a job's retries.
    """

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
            connection if isinstance(connection, aredis.Redis) and is_ours(connection) else async_client(connection)
        )
        self._runner = runner_for(self.client)

    async def __aenter__(self) -> Queue:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await close_client(self.client)

    def _job(self, job_id: str, fields: Mapping[str, str], known: Mapping[str, Any] | None = None) -> Job:
        return Job(self, job_id, fields, known)

    # Adding
    async def add(self, name: str, data: Any = None, **options: Unpack[JobOptions]) -> Job:
        spec = build_add(name, data, options, ops.now_ms(), self.backoff_types)
        try:
            job_id, created = await self._runner.run(ops.add(self.keys, spec))
        except OutcomeUnknown as exc:
            raise ops.add_outcome_unknown(exc, [spec]) from exc.__cause__
        if created:
            return self._job(job_id, ops.spec_fields(spec), spec.known_fields())
        existing = await self.get_job(job_id)
        return existing if existing is not None else self._job(job_id, ops.spec_fields(spec), spec.known_fields())

    async def add_bulk(self, jobs: Sequence[Mapping[str, Any]]) -> list[Job]:
        now = ops.now_ms()
        specs = [build_add(*ops.split_bulk_entry(entry), now, self.backoff_types) for entry in jobs]
        try:
            results = await self._runner.run(ops.add_bulk(self.keys, specs))
        except OutcomeUnknown as exc:
            raise ops.add_outcome_unknown(exc, specs) from exc.__cause__
        # Custom ids that existed already: read those jobs back, all in one more round trip.
        existing_ids = [job_id for job_id, created in results if not created]
        try:
            found = await self._runner.run(ops.get_jobs_by_id(self.keys, existing_ids))
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
    async def get_job(self, job_id: str) -> Job | None:
        job_id = check_job_id(job_id)
        fields = await self._runner.run(ops.get_job(self.keys, job_id))
        return None if fields is None else self._job(job_id, fields)

    async def get_jobs(
        self, states: str | Iterable[str] | None = None, start: int = 0, end: int = -1, asc: bool = False
    ) -> list[Job]:
        names = ops.STATES if states is None else [states] if isinstance(states, str) else list(states)
        rows = await self._runner.run(ops.get_jobs(self.keys, names, start, end, asc))
        return [self._job(job_id, fields) for job_id, fields, _ in rows]

    async def get_job_counts(self, *states: str) -> dict[str, int]:
        return await self._runner.run(ops.get_counts(self.keys, states))

    async def get_job_state(self, job_id: str) -> str:
        return await self._runner.run(ops.get_state(self.keys, check_job_id(job_id)))

    async def get_job_logs(self, job_id: str, start: int = 0, end: int = -1) -> tuple[list[str], int]:
        return await self._runner.run(ops.get_logs(self.keys, check_job_id(job_id), start, end))

    async def get_workers(self) -> list[dict[str, str]]:
        rows = await self._runner.run(ops.client_list())
        return ops.parse_workers(rows, self.keys)

    # Queue-wide actions
    async def pause(self) -> bool:
        return await self._runner.run(ops.set_paused(self.keys, True))

    async def resume(self) -> bool:
        return await self._runner.run(ops.set_paused(self.keys, False))

    async def is_paused(self) -> bool:
        return await self._runner.run(ops.is_paused(self.keys))

    async def clean(self, grace: float | timedelta, limit: int = 0, state: str = "completed") -> list[str]:
        """Removes up to ``limit`` jobs (0 = all) of ``state`` finished or added more than ``grace``
        ago, in bounded batches; returns their ids."""
        removed, _ = await self._runner.run(ops.clean(self.keys, to_ms(grace, "grace"), limit, state))
        return removed

    async def clean_count(self, grace: float | timedelta, limit: int = 0, state: str = "completed") -> int:
        """As ``clean``, returning only how many were removed: memory stays bounded however many."""
        _, count = await self._runner.run(ops.clean(self.keys, to_ms(grace, "grace"), limit, state, False))
        return count

    async def drain(self, delayed: bool = False) -> None:
        await self._runner.run(ops.drain(self.keys, delayed))

    async def obliterate(self, force: bool = False) -> None:
        await self._runner.run(ops.obliterate(self.keys, force))

    async def remove(self, job_id: str) -> bool:
        return await self._runner.run(ops.remove(self.keys, check_job_id(job_id)))

    async def retry_jobs(self, state: str = "failed", count: int = 0) -> int:
        return await self._runner.run(ops.retry_jobs(self.keys, state, count, None))

    async def promote_jobs(self, count: int = 0) -> int:
        return await self._runner.run(ops.promote_jobs(self.keys, count))

    async def set_global_concurrency(self, concurrency: int | None) -> None:
        await self._runner.run(ops.set_meta(self.keys, {"concurrency": concurrency}))

    async def set_global_rate_limit(self, max_jobs: int | None, duration: float | timedelta = 0) -> None:
        await self._runner.run(ops.set_rate_limit(self.keys, max_jobs, duration))

    # One job, by id
    async def retry_job(self, job_id: str, state: str = "failed", *, reset_attempts: bool = False) -> None:
        await self._runner.run(ops.retry_job(self.keys, check_job_id(job_id), state, reset_attempts))

    async def promote_job(self, job_id: str) -> None:
        await self._runner.run(ops.promote_job(self.keys, check_job_id(job_id)))

    async def change_job_priority(self, job_id: str, priority: int, *, lifo: bool = False) -> None:
        await self._runner.run(ops.change_priority(self.keys, check_job_id(job_id), priority, lifo))

    async def change_job_delay(self, job_id: str, delay: float | timedelta) -> None:
        await self._runner.run(ops.change_delay(self.keys, check_job_id(job_id), ops.delay_ms(delay)))

    async def update_job_data(self, job_id: str, data: Any) -> None:
        await self._runner.run(ops.update_data(self.keys, check_job_id(job_id), data))

    async def update_job_progress(self, job_id: str, progress: Any) -> None:
        await self._runner.run(ops.update_progress(self.keys, check_job_id(job_id), progress))

    async def add_job_log(self, job_id: str, line: str, *, keep: int = 0) -> int:
        return await self._runner.run(ops.add_log(self.keys, check_job_id(job_id), line, keep))

    def __repr__(self) -> str:
        return f"<Queue {self.keys.queue_key}>"

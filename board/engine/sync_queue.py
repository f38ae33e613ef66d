"""``SyncQueue``: the blocking twin of ``Queue``, for WSGI apps (Django, Flask) and scripts."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Unpack

from . import metrics, ops, scheduler_options, schedulers, search
from .connection import Connection
from .errors import OutcomeUnknown, RedisRefused, RedisUnavailable
from .job import SyncJob
from .keys import QueueKeys, check_cluster_queue, check_job_id
from .options import JobOptions, backoff_types_option, build_add, to_ms
from .routing import is_sync_cluster, sync_engine_client, sync_runner_for
from .schedulers import JobScheduler


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
        self.client = sync_engine_client(connection)
        if is_sync_cluster(self.client):
            try:
                check_cluster_queue(prefix, name)
            except ValueError:
                if self.client is not connection:
                    self.client.close()
                raise
        self._runner = sync_runner_for(self.client)

    def __enter__(self) -> SyncQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def _job(self, job_id: str, fields: Mapping[str, str], known: Mapping[str, Any] | None = None) -> SyncJob:
        return SyncJob(self, job_id, fields, known)

    # Adding
    def add(
        self, name: str, data: Any = None, *, repeat: Mapping[str, Any] | None = None, **options: Unpack[JobOptions]
    ) -> SyncJob:
        if repeat is not None:
            now = ops.now_ms()
            upsert = scheduler_options.repeat_spec(name, data, repeat, options, now, self.backoff_types)
            done = self._runner.run(schedulers.upsert(self.keys, upsert, now))
            return self._job(done.job_id, done.job_fields)
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

    # Job schedulers
    def upsert_job_scheduler(
        self,
        scheduler_id: str,
        *,
        cron: str | None = None,
        every: float | timedelta | None = None,
        tz: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
        offset: float | timedelta | None = None,
        name: str | None = None,
        data: Any = None,
        options: JobOptions | None = None,
    ) -> JobScheduler:
        now = ops.now_ms()
        spec = scheduler_options.upsert_spec(
            scheduler_id, now, self.backoff_types, cron=cron, every=every, tz=tz, start=start, end=end,
            limit=limit, offset=offset, name=name, data=data, options=options,
        )  # fmt: skip
        return self._runner.run(schedulers.upsert(self.keys, spec, now)).scheduler

    def get_job_scheduler(self, scheduler_id: str) -> JobScheduler | None:
        return self._runner.run(schedulers.get(self.keys, schedulers.scheduler_ref(scheduler_id)))

    def get_job_schedulers(self, start: int = 0, end: int = -1, *, asc: bool = True) -> list[JobScheduler]:
        return self._runner.run(schedulers.get_page(self.keys, start, end, asc))

    def count_job_schedulers(self) -> int:
        return self._runner.run(schedulers.count(self.keys))

    def remove_job_scheduler(self, scheduler_id: str) -> bool:
        return self._runner.run(schedulers.remove(self.keys, schedulers.scheduler_ref(scheduler_id)))

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
        rows = self._runner.run(ops.client_list(self.keys))
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

    def remove(self, job_id: str, *, remove_children: bool = True) -> bool:
        """Removes the job from whatever state it is in and, unless ``remove_children`` is false, its
        children in any queue (pending, done or failed); False when there is no such job. A parent whose
        last pending child this was runs next. ``JobLockedError`` while a worker runs the job (or a pending
        child); ``JobStateError`` for a job scheduler's next run (remove the scheduler instead). A tree of
        more than a thousand jobs goes in bounded steps, children first, once none of its pending jobs is
        running: a worker that takes one meanwhile stops the removal there, with ``JobLockedError``."""
        return bool(self.remove_count(job_id, remove_children=remove_children))

    def remove_count(self, job_id: str, *, remove_children: bool = True) -> int:
        """As ``remove``, returning how many jobs went: the job and its children (0: no such job)."""
        return self._runner.run(ops.remove(self.keys, check_job_id(job_id), remove_children))

    def get_deduplication_job_id(self, dedup_id: str) -> str | None:
        """The id of the job that holds deduplication id ``dedup_id`` (adds with it are dropped), or None."""
        return self._runner.run(ops.get_deduplication_job_id(self.keys, dedup_id))

    def remove_deduplication_key(self, dedup_id: str) -> bool:
        """Frees deduplication id ``dedup_id`` at once, so that the next add with it is a new job."""
        return self._runner.run(ops.remove_deduplication_key(self.keys, dedup_id))

    def retry_jobs(self, state: str = "failed", count: int = 0, *, send_back_to: Collection[str] | None = None) -> int:
        """Moves ``count`` (0: all) jobs of ``state`` back to waiting; a dead letter goes back to the queue it
        came from when ``send_back_to`` names it (None: any queue), else stays failed here. Returns how many
        were moved."""
        return self._runner.run(ops.retry_jobs(self.keys, state, count, None, send_back_to=send_back_to))

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

    # A flow parent's children
    def get_children_values(self, job_id: str) -> dict[str, Any]:
        return self._runner.run(ops.children_values(self.keys, check_job_id(job_id)))

    def get_ignored_children_failures(self, job_id: str) -> dict[str, str]:
        return self._runner.run(ops.ignored_children_failures(self.keys, check_job_id(job_id)))

    def get_dependencies_count(self, job_id: str) -> dict[str, int]:
        return self._runner.run(ops.dependencies_count(self.keys, check_job_id(job_id)))

    def get_metrics(self, kind: str, start: int = 0, end: int = -1) -> metrics.Metrics:
        """BullMQ's ``getMetrics``: the running total of ``kind`` ("completed" or "failed") jobs and the
        per-minute counts ``start``..``end`` (newest first) that workers with metrics on keep."""
        return self._runner.run(metrics.get_metrics(self.keys, kind, start, end))

    def search_jobs(
        self,
        text: str,
        *,
        states: Sequence[str] = (),
        fields: Sequence[str] = search.SEARCH_FIELDS,
        cursor: search.SearchCursor | None = None,
        limit: int = 50,
        budget: float = 0.5,
    ) -> search.SearchResult:
        """Looks for ``text`` (case-insensitive) in the ids, names, data or failed reasons of the jobs
        of ``states`` (all when empty), in bounded steps, until ``limit`` matches or ``budget``
        seconds; go on from the result's ``cursor`` (None once every state was searched)."""
        op = search.search(self.keys, text, states=states, fields=fields, cursor=cursor, limit=limit, budget_s=budget)
        return self._runner.run(op)

    def __repr__(self) -> str:
        return f"<SyncQueue {self.keys.queue_key}>"

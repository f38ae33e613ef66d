"""Every route of the board, in one table: pages, actions, the auth backend's own routes, static files.

Job ids (and scheduler ids) may hold '/': their routes take the rest of the path, so those with a suffix
(``/edit``, ``/raw/{field}``, the actions) come before the job's (the scheduler's) page itself.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from . import (
    actions,
    adding,
    alerts,
    audit,
    bulk,
    probes,
    queue_actions,
    queue_groups,
    schedulers,
    search,
    settings,
    views,
)
from .board import Board
from .render import asset_dir
from .users import User

__all__ = ["routes"]

QUEUE = "/queues/{queue}"
JOB = "/queues/{queue}/jobs/{job_id:path}"
SCHEDULER = "/queues/{queue}/schedulers/{scheduler_id:path}"


def routes(board: Board) -> list[BaseRoute]:
    post = ["POST"]
    return [
        Route("/", views.overview, name="overview"),
        Route("/healthz", views.health, name="health", methods=["GET", "HEAD"]),
        Route("/readyz", probes.readyz, name="readyz", methods=["GET", "HEAD"]),
        Route("/metrics", probes.metrics, name="metrics"),
        Route("/redis", views.redis_page, name="redis"),
        Route("/find", views.find, name="find"),
        Route("/alerts", alerts.alerts_page, name="alerts"),
        Route("/audit", audit.audit_page, name="audit"),
        Route("/settings", settings.settings_page, name="settings"),
        Route("/settings", settings.save_settings, methods=post, name="save_settings"),
        Route(QUEUE, views.queue_page, name="queue"),
        Route(f"{QUEUE}/search", search.search, name="search"),
        Route(f"{QUEUE}/add", views.add_form, name="add_form"),
        Route(f"{QUEUE}/limits", views.limits_form, name="limits_form"),
        Route(f"{JOB}/edit", views.edit_form, name="edit_form"),
        Route(f"{JOB}/raw/{{field}}", views.raw_field, name="raw"),
        Route(f"{JOB}/retry", actions.retry_job, methods=post, name="retry_job"),
        Route(f"{JOB}/promote", actions.promote_job, methods=post, name="promote_job"),
        Route(f"{JOB}/remove", actions.remove_job, methods=post, name="remove_job"),
        Route(f"{JOB}/data", actions.update_data, methods=post, name="update_data"),
        Route(f"{JOB}/priority", actions.change_priority, methods=post, name="change_priority"),
        Route(f"{JOB}/duplicate", actions.duplicate_job, methods=post, name="duplicate_job"),
        Route(f"{JOB}/reschedule", actions.reschedule_job, methods=post, name="reschedule_job"),
        Route(f"{JOB}/remove-children", actions.remove_children, methods=post, name="remove_children"),
        Route(f"{QUEUE}/add", adding.add_job, methods=post, name="add_job"),
        Route(f"{QUEUE}/bulk", bulk.bulk, methods=post, name="bulk"),
        Route(f"{QUEUE}/retry", queue_actions.retry_all, methods=post, name="retry_all"),
        Route(f"{QUEUE}/promote", queue_actions.promote_all, methods=post, name="promote_all"),
        Route(f"{QUEUE}/clean", queue_actions.clean, methods=post, name="clean"),
        Route(f"{QUEUE}/pause", queue_actions.pause, methods=post, name="pause"),
        Route(f"{QUEUE}/resume", queue_actions.resume, methods=post, name="resume"),
        Route(f"{QUEUE}/empty", queue_actions.empty, methods=post, name="empty"),
        Route(f"{QUEUE}/obliterate", queue_actions.obliterate, methods=post, name="obliterate"),
        Route(f"{QUEUE}/concurrency", queue_actions.set_concurrency, methods=post, name="set_concurrency"),
        Route(f"{QUEUE}/rate-limit", queue_actions.set_rate_limit, methods=post, name="set_rate_limit"),
        # Last of the job routes: its id takes the rest of the path.
        Route(JOB, views.job_page, name="job"),
        Route("/groups/pause", queue_groups.pause_queues, methods=post, name="pause_queues"),
        Route("/groups/resume", queue_groups.resume_queues, methods=post, name="resume_queues"),
        Route("/groups/retry", queue_groups.retry_queues, methods=post, name="retry_queues"),
        Route("/schedulers", schedulers.all_schedulers, name="all_schedulers"),
        Route(f"{QUEUE}/schedulers", schedulers.queue_schedulers, name="schedulers"),
        Route(f"{SCHEDULER}/run", schedulers.run_scheduler, methods=post, name="run_scheduler"),
        Route(f"{SCHEDULER}/update", schedulers.update_scheduler, methods=post, name="update_scheduler"),
        Route(f"{SCHEDULER}/remove", schedulers.remove_scheduler, methods=post, name="remove_scheduler"),
        Route(SCHEDULER, schedulers.scheduler_page, name="scheduler"),
        *board.auth.routes,
        Mount("/static", app=_GuardedStatic(StaticFiles(directory=str(asset_dir("static"))), board), name="static"),
    ]


class _GuardedStatic:
    """Static files behind the same authentication as the pages."""

    def __init__(self, app: ASGIApp, board: Board) -> None:
        self.app = app
        self.board = board

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # Answer as the board itself would, so that a login redirect points at the board's page.
            root = str(scope.get("root_path", ""))
            request = Request({**scope, "root_path": root.removesuffix("/static")}, receive)
            user = await self.board.identify(request)
            if not isinstance(user, User):
                await user(scope, receive, send)
                return
        await self.app(scope, receive, send)

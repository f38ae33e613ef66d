"""The pages: overview, queue, job, raw payload, Redis, find, add/edit forms. Each answers HTML, its htmx
fragment, or JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from ..adapters import COUNTED, TABS, ChildCounts, Field, FlowNode, JobDetail, JobSummary, TooLarge, Unavailable
from ..adapters.options import form_options
from ..adapters.payload import loads_bounded
from . import json_tree, preferences, server_info
from .board import Board
from .charts import build_spark, queue_charts
from .editing import masked_for_edit
from .guard import guarded
from .i18n import _
from .job_rows import JobRows, RowActions
from .polls import SEEN_HEADER, overview_figures, queue_digest, shown_digest, unchanged
from .queue_groups import groups, totals
from .queue_table import QueueTable
from .render import is_fragment, limit_values, pretty, query, wants_json
from .users import User

PER_PAGE = (10, 25, 50, 100)
# Far past any real queue, and well inside what Redis takes as a list index.
MAX_PAGE = 10**9
# Data larger than this is not put in a form (nor read from Redis for one).
MAX_EDIT_BYTES = 1024 * 1024
SORTS = ("name", *COUNTED)
LOGS_PER_PAGE = 50
# A filtered page of logs reads this many lines (still within the adapter's byte bound): more ground per page.
LOGS_FILTER_SPAN = 500
LOGS_Q_MAX = 200


def int_param(request: Request, name: str, default: int, low: int = 1, high: int = MAX_PAGE) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if len(raw) > 20:
        raise ValueError(f"{name}: expected a whole number between {low} and {high:,}, got {raw[:20]!r}...")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name}: must be between {low} and {high:,}, got {value}")
    return value


def _format_preview(board: Board, user: User, job: JobSummary) -> str:
    """A complete preview is whole JSON: formatters see it parsed, as on the job page."""
    text = job.data_preview
    if len(text.encode("utf-8", "surrogateescape")) == job.data_size:
        try:
            value = loads_bounded(text)
        except ValueError:
            pass
        else:
            shown = board.formatters.apply("data", value, user)
            return json.dumps(shown, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(board.formatters.apply("data", text, user))


def _format_summary(board: Board, user: User, job: JobSummary) -> JobSummary:
    job.name = str(board.formatters.apply("name", job.name, user))
    job.data_preview = _format_preview(board, user, job)
    if job.failed_reason:
        job.failed_reason = str(board.formatters.apply("failed_reason", job.failed_reason, user))
    job.progress = board.formatters.apply("progress", job.progress, user)
    # A problem may quote what was stored (a field that is not a number, say): it is text like a reason.
    job.problems = {k: str(board.formatters.apply("failed_reason", v, user)) for k, v in job.problems.items()}
    return job


def _format_field(board: Board, user: User, name: str, value: Field) -> Field:
    if value.is_json:
        shown = board.formatters.apply(name, value.value, user)
        return Field(pretty(shown), value.size, False, shown, True)
    return Field(str(board.formatters.apply(name, value.text, user)), value.size, value.truncated)


def _format_detail(board: Board, user: User, job: JobDetail) -> JobDetail:
    _format_summary(board, user, job)
    job.data = _format_field(board, user, "data", job.data)
    if job.returnvalue is not None:
        job.returnvalue = _format_field(board, user, "returnvalue", job.returnvalue)
    job.opts = board.formatters.apply("opts", job.opts, user)
    job.logs = [str(board.formatters.apply("logs", line, user)) for line in job.logs]
    job.stacktrace = [str(board.formatters.apply("failed_reason", s, user)) for s in job.stacktrace]
    if job.deferred_failure:
        job.deferred_failure = str(board.formatters.apply("failed_reason", job.deferred_failure, user))
    return job


def _hide_unseen(job: JobDetail, seen: set[str]) -> None:
    """A flow may span queues, and a dead letter names its origin: never name a queue the user cannot see
    (nor one the board does not serve), nor a job in it."""
    if job.parent_id is not None and job.parent_queue not in seen:
        job.parent_queue = job.parent_id = None
        job.parent_hidden = True
    if job.parent_hidden:
        # BullMQ keeps the parent in the options too ({"parent": {"id", "queue"}}).
        job.opts.pop("parent", None)
    shown = [child for child in job.children if child.queue in seen]
    job.children_hidden = len(job.children) - len(shown)
    job.children = shown
    if job.flow is not None:
        _hide_flow(job.flow, seen)
    if _hide_origin(job, seen):
        if isinstance(job.opts.get("deadLetter"), dict):
            job.opts["deadLetter"] = {k: v for k, v in job.opts["deadLetter"].items() if k not in ("queue", "jobId")}
        # The custom id the job was added with in the queue it came from.
        job.opts.pop("jobId", None)


def _hide_origin(job: JobSummary, seen: set[str]) -> bool:
    """Whether the job is a dead letter from a queue the user cannot see, now said without its name."""
    origin = job.dead_letter
    if origin is None or origin.queue is None or origin.queue in seen:
        return False
    origin.queue = origin.job_id = None
    origin.hidden = True
    return True


def _hide_flow(root: FlowNode, seen: set[str]) -> None:
    """Jobs of the flow in queues the user cannot see are said to exist, nothing more: no queue, id, name,
    state or children, except the one child leading down to the job shown (the page is about it)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.queue not in seen:
            node.queue = node.id = None
            node.name = node.state = ""
            node.hidden = True
            node.counts = ChildCounts()
            node.children = [child for child in node.children if _leads_to_current(child)]
        stack.extend(node.children)


def _leads_to_current(node: FlowNode) -> bool:
    stack = [node]
    while stack:
        here = stack.pop()
        if here.current:
            return True
        stack.extend(here.children)
    return False


def _sort_key(sort: str) -> Any:
    if sort == "name":
        return lambda q: q.name
    return lambda q: (-q.counts.get(sort, 0), q.name)


def _matches(board: Board, name: str, needle: str) -> bool:
    return needle in name.lower() or needle in board.queue_config.label(name).lower()


@guarded("viewer", nav=False)
async def overview(request: Request, board: Board, user: User) -> Response:
    sort = request.query_params.get("sort", "name")
    if sort not in SORTS:
        known = ", ".join(SORTS)
        return board.error(request, 400, _("sort: expected one of %(known)s, got %(got)r", known=known, got=sort), user)
    has = request.query_params.get("has", "")
    if has and has not in COUNTED:
        known = ", ".join(COUNTED)
        return board.error(request, 400, _("has: expected one of %(known)s, got %(got)r", known=known, got=has), user)
    needle = request.query_params.get("filter", "").strip().lower()
    grouped = request.query_params.get("group", "1") != "0"
    as_json, whole = wants_json(request), not wants_json(request) and not is_fragment(request)
    visible = await board.visible_queues(user)
    names = [q for q in visible if _matches(board, q, needle)] if needle else visible
    # A whole page's navigation lists every queue the user may see: one read of them all serves both.
    read = visible if whole else names
    infos, through = await overview_figures(board.adapter, read, sparks=not as_json)
    if whole:
        request.state.nav = board.navigation_of(infos)
        if len(names) < len(visible):
            wanted = set(names)
            infos = [q for q in infos if q.name in wanted]
    if has:
        infos = [q for q in infos if q.counts.get(has, 0) > 0]
    queues = sorted(infos, key=_sort_key(sort))
    sums = totals(queues)
    data = {"queues": queues, "totals": sums}
    if as_json:
        return board.renderer.page(request, "overview.html", {}, data=data)
    shown = {q.name for q in queues}
    through = [t for t in through if t.queue in shown]
    seen = shown_digest(request, user, queues, through)
    if unchanged(request, seen):
        # What the page shows is still what it would show: htmx swaps nothing on 204.
        return Response(status_code=204)
    table = QueueTable(
        queue_path=board.queue_path(request),
        config=board.queue_config,
        read_only=board.read_only,
        sparks={t.queue: build_spark(t) for t in through},
    )
    found = groups(queues, board.group_delimiter if grouped else None)
    context = board.context(request, user, queues=queues, groups=found, sort=sort, filter=needle, grouped=grouped)
    context.update(has=has, totals=sums, table=table, seen=seen, seen_header=SEEN_HEADER)
    return board.renderer.page(request, "overview.html", context, data=data, block="queues")


@guarded("viewer")
async def queue_page(request: Request, board: Board, user: User) -> Response:
    name = request.path_params["queue"]
    # Without a tab or page size in the query, the user's own settings choose them.
    prefs = preferences.of(request)
    state = request.query_params.get("state", prefs.tab)
    if state not in TABS:
        return board.error(request, 400, f"state: expected one of {', '.join(TABS)}, got {state!r}", user)
    try:
        page = int_param(request, "page", 1)
        per_page = int_param(request, "per_page", prefs.per_page)
    except ValueError as exc:
        return board.error(request, 400, str(exc), user)
    if per_page not in PER_PAGE:
        return board.error(request, 400, f"per_page: expected one of {PER_PAGE}, got {per_page}", user)
    result, charts = await asyncio.gather(
        board.adapter.page(name, state, page, per_page), queue_charts(board.adapter, name)
    )
    seen = set(await board.visible_queues(user))
    for job in result.jobs:
        _format_summary(board, user, job)
        _hide_origin(job, seen)
    context = board.context(request, user, result=result, queue=result.queue, state=state, per_pages=PER_PAGE)
    context["charts"] = charts
    if not wants_json(request):
        shown = queue_digest(request, user, result, charts, context["csrf_token"])
        if unchanged(request, shown):
            # What the page shows is still what it would show: htmx swaps nothing on 204.
            return Response(status_code=204)
        context.update(seen=shown, seen_header=SEEN_HEADER)
        can_act = not board.queue_read_only(name) and user.can("operator")
        actions = RowActions(board, request, name, admin=can_act and user.can("admin")) if can_act else None
        context["job_rows"] = JobRows(board, request, name, state=state, prefs=prefs, actions=actions)
    context["query"] = lambda **changes: query(request, **changes)
    return board.renderer.page(request, "queue.html", context, data=result, block="live")


@guarded("viewer")
async def job_page(request: Request, board: Board, user: User) -> Response:
    name, job_id = request.path_params["queue"], request.path_params["job_id"]
    logs_q = request.query_params.get("logs_q", "").strip()
    try:
        logs_page = int_param(request, "logs_page", 1)
    except ValueError as exc:
        return board.error(request, 400, str(exc), user)
    if len(logs_q) > LOGS_Q_MAX:
        message = _("logs_q: at most %(max)s characters, got %(n)s", max=LOGS_Q_MAX, n=f"{len(logs_q):,}")
        return board.error(request, 400, message, user)
    span = LOGS_FILTER_SPAN if logs_q else LOGS_PER_PAGE
    job = await board.adapter.job(name, job_id, logs_start=(logs_page - 1) * span, logs_count=span)
    if job is None:
        return board.error(request, 404, _("There is no job %(id)r in queue %(queue)r.", id=job_id, queue=name), user)
    _hide_unseen(job, set(await board.visible_queues(user)))
    _format_detail(board, user, job)
    logs_read = len(job.logs)
    if logs_q:
        # After the formatters: a filter never matches what they masked, so it cannot probe for a secret.
        needle = logs_q.casefold()
        job.logs = [line for line in job.logs if needle in line.casefold()]
    context = board.context(
        request,
        user,
        job=job,
        queue_name=name,
        logs_page=logs_page,
        logs_pages=max(1, -(-job.logs_total // span)),
        logs_q=logs_q,
        logs_read=logs_read,
        allow_completed_retries=board.allow_completed_retries,
    )
    context["trees"] = {"data": _tree(job.data), "returnvalue": _tree(job.returnvalue)}
    context["query"] = lambda **changes: query(request, **changes)
    return board.renderer.page(request, "job.html", context, data=job, block="live")


def _tree(field: Field | None) -> json_tree.Tree | None:
    return json_tree.build(field.value) if field is not None and field.is_json else None


@guarded("viewer")
async def raw_field(request: Request, board: Board, user: User) -> Response:
    name, job_id, field = request.path_params["queue"], request.path_params["job_id"], request.path_params["field"]
    if field not in ("data", "returnvalue"):
        return board.error(request, 404, f"No raw view of {field!r}: only data and returnvalue.", user)
    text = await board.adapter.raw_field(name, job_id, field)
    if text is None:
        return board.error(request, 404, f"Job {job_id!r} in queue {name!r} has no {field}.", user)
    try:
        value = loads_bounded(text)
    except ValueError:
        shown = board.formatters.apply(field, text, user)
        return _streamed(str(shown).encode("utf-8", "surrogateescape"), "text/plain; charset=utf-8")
    shown = board.formatters.apply(field, value, user)
    body = json.dumps(shown, ensure_ascii=False, separators=(",", ":"), default=str)
    return _streamed(body.encode("utf-8", "surrogateescape"), "application/json")


def _streamed(body: bytes, media_type: str, chunk: int = 64 * 1024) -> Response:
    """A large payload goes out in pieces, so the server never holds a second copy of it for the socket."""
    if len(body) <= chunk:
        return Response(body, media_type=media_type)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), chunk):
            yield body[start : start + chunk]

    return StreamingResponse(pieces(), media_type=media_type, headers={"Content-Length": str(len(body))})


@guarded("viewer")
async def redis_page(request: Request, board: Board, user: User) -> Response:
    nodes = await board.adapter.server_info()
    context = board.context(request, user, **server_info.page(nodes))
    return board.renderer.page(request, "redis.html", context, data=server_info.answer(nodes))


@guarded("viewer")
async def find(request: Request, board: Board, user: User) -> Response:
    job_id = request.query_params.get("id", "").strip()
    if not job_id:
        return board.error(request, 400, "id: give the id of the job to find.", user)
    queues = await board.visible_queues(user)
    wanted = request.query_params.get("queue")
    if wanted:
        queues = [q for q in queues if q == wanted]
    found = await board.adapter.find(job_id, queues)
    data = {"id": job_id, "queues": found}
    if len(found) == 1 and not wants_json(request):
        url = board.url(request, "job", queue=found[0], job_id=job_id)
        return RedirectResponse(url, status_code=303)
    status = 200 if found else 404
    context = board.context(request, user, job_id=job_id, found=found)
    return board.renderer.page(request, "find.html", context, data=data, status=status)


@guarded("operator")
async def add_form(request: Request, board: Board, user: User) -> Response:
    name = request.path_params["queue"]
    refusal = _read_only(request, board, user, name)
    if refusal:
        return refusal
    values = {"name": "", "data": "{}", "options": "{}"}
    source = request.query_params.get("from")
    if source:
        copied = await _copied(request, board, user, name, source)
        if isinstance(copied, Response):
            return copied
        values = copied
    context = board.context(request, user, queue_name=name, values=values, errors={}, source=source)
    return board.renderer.page(request, "add.html", context, data={"queue": name, **(values if source else {})})


def _read_only(request: Request, board: Board, user: User, queue: str) -> Response | None:
    """The refusal of a form whose action the board or the queue's settings would refuse, or None."""
    if board.read_only:
        return board.error(request, 403, _("This board is read-only."), user)
    if board.queue_read_only(queue):
        return board.error(request, 403, _("Queue %(queue)s is read-only on this board.", queue=repr(queue)), user)
    return None


async def _copied(request: Request, board: Board, user: User, name: str, source: str) -> dict[str, str] | Response:
    """The add form's fields prefilled from job ``source`` (secrets masked, as the edit form shows them),
    or the page that says why it cannot be copied."""
    if {"data", "name"} & set(board.formatters.custom):
        # A custom formatter decides what of the job may be shown; the form would show all of it.
        return board.error(request, 409, _("This board shows jobs through a custom formatter: copy them by API."), user)
    job = await board.adapter.job(name, source, logs_start=0, logs_count=0)
    if job is None:
        return board.error(request, 404, _("There is no job %(id)r in queue %(queue)r.", id=source, queue=name), user)
    try:
        raw = await board.adapter.raw_field(name, source, "data", max_bytes=MAX_EDIT_BYTES)
        form = masked_for_edit(raw or "null", board.formatters)
    except (TooLarge, ValueError) as exc:
        return board.error(
            request, 409, _("Job %(id)r cannot be copied into the form: %(why)s.", id=source, why=exc), user
        )
    options = form_options(board.formatters.apply("opts", job.opts, user))
    return {"name": job.name, "data": form.text, "options": pretty(options), "from": source}


@guarded("admin")
async def limits_form(request: Request, board: Board, user: User) -> Response:
    name = request.path_params["queue"]
    refusal = _read_only(request, board, user, name)
    if refusal:
        return refusal
    (info,) = await board.adapter.overview([name])
    current = limit_values(info)
    context = board.context(request, user, queue_name=name, values=current, current=current, errors={})
    return board.renderer.page(request, "limits.html", context, data={"queue": name, **current})


@guarded("operator")
async def edit_form(request: Request, board: Board, user: User) -> Response:
    name, job_id = request.path_params["queue"], request.path_params["job_id"]
    refusal = _read_only(request, board, user, name)
    if refusal:
        return refusal
    if "data" in board.formatters.custom:
        # A custom formatter decides what of the data may be shown; the form would show all of it.
        return board.error(request, 409, "This board shows job data through a custom formatter: edit it by API.", user)
    raw = await board.adapter.raw_field(name, job_id, "data", max_bytes=MAX_EDIT_BYTES)
    if raw is None:
        return board.error(request, 404, f"There is no job {job_id!r} in queue {name!r}.", user)
    try:
        form = masked_for_edit(raw, board.formatters)
    except ValueError as exc:
        return board.error(request, 409, f"The data of job {job_id!r} cannot be edited here: {exc}.", user)
    values = {"data": form.text, "version": form.version}
    context = board.context(request, user, queue_name=name, job_id=job_id, values=values, errors={})
    return board.renderer.page(request, "edit.html", context, data={"queue": name, "id": job_id})


async def health(request: Request) -> Response:
    """For load balancers and container health checks: no login, and nothing said beyond up or down."""
    board: Board = request.app.state.board
    try:
        await board.adapter.ping()
    except Unavailable as exc:
        return JSONResponse({"status": "unavailable", "checks": {"redis": str(exc)}}, status_code=503)
    return JSONResponse({"status": "ok", "checks": {"redis": "ok"}})

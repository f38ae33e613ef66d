"""Queues in groups: the groups of the overview (by the board's delimiter) with their totals, and the
actions on a whole group or on every queue at once (pause, resume, retry failed).

A group or all-queues action touches only the queues the user may see and that are not read-only: the
guard checks one queue per route, so these actions choose their queues themselves. Each queue is done
through the adapter's own action, a few at a time, and the answer counts what was done, what was skipped
and what failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..adapters import COUNTED, ActionResult, AdapterError, QueueInfo
from .board import Board
from .csrf import FIELD as CSRF_FIELD
from .forms import back, flag
from .guard import guarded
from .i18n import _
from .recorder import note
from .render import wants_json
from .users import User

__all__ = ["Group", "group_of", "groups", "pause_queues", "resume_queues", "retry_queues", "totals"]

# Queues acted on at once: enough to be quick, few enough not to crowd Redis out for the workers.
CONCURRENCY = 8
# Failed queues named in a message; the JSON answer names them all.
NAMED_FAILURES = 5


@dataclass
class Group:
    """A group of the overview: its name ("" for the queues outside every group), queues and totals."""

    name: str
    queues: list[QueueInfo] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        return totals(self.queues)


def group_of(queue: str, delimiter: str | None) -> str:
    """The group a queue belongs to: its name up to the first delimiter ("" when there is none)."""
    if not delimiter or delimiter not in queue:
        return ""
    return queue.split(delimiter, 1)[0]


def groups(queues: list[QueueInfo], delimiter: str | None) -> list[Group]:
    """The queues in groups, in their order; the queues outside every group first, then by group name."""
    found: dict[str, Group] = {}
    for q in queues:
        head = group_of(q.name, delimiter)
        found.setdefault(head, Group(head)).queues.append(q)
    return sorted(found.values(), key=lambda g: (g.name != "", g.name))


def totals(queues: Iterable[QueueInfo]) -> dict[str, int]:
    """Jobs per state across the queues."""
    counts = [q.counts for q in queues]
    return {state: sum(c.get(state, 0) for c in counts) for state in COUNTED}


@dataclass
class Outcome:
    """What a group action did: queues changed, already so (nothing to do), skipped, failed (with why)."""

    done: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    jobs: int = 0


Act = Callable[[str], Awaitable[ActionResult]]


async def _run(names: list[str], act: Act, outcome: Outcome) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str) -> None:
        async with gate:
            try:
                result = await act(name)
            except AdapterError as exc:
                outcome.failed[name] = str(exc)
                return
        (outcome.done if result.count else outcome.unchanged).append(name)
        outcome.jobs += result.count

    await asyncio.gather(*(one(name) for name in names))
    outcome.done.sort()
    outcome.unchanged.sort()


def _message(action: str, outcome: Outcome, scope: str) -> str:
    n = len(outcome.done)
    if action == "retry":
        parts = [_("%(jobs)s failed job(s) of %(n)s queue(s) moved back to waiting", jobs=outcome.jobs, n=n)]
    elif action == "pause":
        parts = [_("paused %(n)s queue(s)", n=n)]
    else:
        parts = [_("resumed %(n)s queue(s)", n=n)]
    if outcome.unchanged:
        parts.append(_("%(n)s had nothing to do", n=len(outcome.unchanged)))
    if outcome.skipped:
        parts.append(_("%(n)s skipped (read-only or retries not allowed)", n=len(outcome.skipped)))
    if outcome.failed:
        named = ", ".join(sorted(outcome.failed)[:NAMED_FAILURES])
        parts.append(_("%(n)s failed: %(names)s", n=len(outcome.failed), names=named))
    return _("%(scope)s: %(parts)s.", scope=scope, parts="; ".join(parts))


async def _chosen(request: Request, board: Board, user: User) -> tuple[str | None, list[str]] | Response:
    """The group asked for (None: every queue) and the queues of it the user may see; or the refusal."""
    raw = request.state.body.get("group")
    group = raw.strip() if isinstance(raw, str) and raw.strip() else None
    if raw is not None and not isinstance(raw, str):
        return board.error(request, 400, _("group: expected the name of a group, got %(raw)r", raw=raw), user)
    if group is not None and not board.group_delimiter:
        return board.error(request, 400, _("group: this board does not group its queues."), user)
    names = await board.visible_queues(user)
    if group is not None:
        names = [q for q in names if group_of(q, board.group_delimiter) == group]
        if not names:
            return board.error(request, 404, _("group: there is no group named %(group)r.", group=group), user)
    return group, names


def _confirm(request: Request, board: Board, user: User, question: str) -> Response | None:
    """None once confirmed; else the confirmation page (or 400 for a script)."""
    if flag(request.state.body, "confirm"):
        return None
    if wants_json(request):
        refusal = _("%(question)s Send confirm=true to go ahead.", question=question)
        note(request, refusal)
        return JSONResponse({"error": refusal}, status_code=400)
    fields = {k: v for k, v in request.state.body.items() if k not in ("confirm", CSRF_FIELD)}
    cancel = board.url(request, "overview")
    context = board.context(request, user, question=question, action=board.here(request), fields=fields, cancel=cancel)
    return board.renderer.page(request, "confirm.html", context)


async def _act_on_queues(request: Request, board: Board, user: User, action: str) -> Response:
    chosen = await _chosen(request, board, user)
    if isinstance(chosen, Response):
        return chosen
    group, names = chosen
    scope = _("Group %(group)s", group=group) if group is not None else _("All queues")
    questions = {
        "pause": _("Pause every queue of %(scope)s?", scope=scope),
        "resume": _("Resume every queue of %(scope)s?", scope=scope),
        "retry": _("Move every failed job of %(scope)s back to waiting?", scope=scope),
    }
    asking = _confirm(request, board, user, questions[action])
    if asking:
        return asking
    # Dead letters go back only to queues the user may change; the rest stay failed where they are.
    takers = await board.writable_queues(user, retries=True)
    outcome = Outcome()
    allowed: list[str] = []
    for name in names:
        refused = board.queue_read_only(name) or (action == "retry" and not board.allows_retries(name, "failed"))
        (outcome.skipped if refused else allowed).append(name)
    acts: dict[str, Act] = {
        "pause": board.adapter.pause,
        "resume": board.adapter.resume,
        "retry": lambda name: board.adapter.retry_all(name, "failed", send_back_to=takers),
    }
    await _run(allowed, acts[action], outcome)
    message = _message(action, outcome, scope)
    note(request, message)
    if wants_json(request):
        return JSONResponse(
            {
                "ok": not outcome.failed,
                "message": message,
                "count": len(outcome.done),
                "jobs": outcome.jobs,
                "done": outcome.done,
                "unchanged": outcome.unchanged,
                "skipped": outcome.skipped,
                "failed": outcome.failed,
            }
        )
    response = RedirectResponse(back(request, board.url(request, "overview")), status_code=303)
    board.flash(request, response, "error" if outcome.failed else "ok", message)
    return response


@guarded("admin", action=True)
async def pause_queues(request: Request, board: Board, user: User) -> Response:
    return await _act_on_queues(request, board, user, "pause")


@guarded("admin", action=True)
async def resume_queues(request: Request, board: Board, user: User) -> Response:
    return await _act_on_queues(request, board, user, "resume")


@guarded("admin", action=True)
async def retry_queues(request: Request, board: Board, user: User) -> Response:
    return await _act_on_queues(request, board, user, "retry")

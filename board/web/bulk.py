"""Actions on the jobs chosen in a list: retry, promote or remove each, and say what became of them.

The queue page's table is one form: a checkbox per row (``ids``) and the buttons above it. A script posts
``{"action": "retry", "ids": [...]}``. Each job is acted on by itself, so one that moved on meanwhile
(retried by someone else, taken by a worker) is counted and said, never an error for the rest.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..adapters import RETRYABLE, TABS, ActionResult
from ..adapters.base import BULK_ACTIONS, MAX_BULK_IDS, BulkResult
from .board import Board
from .forms import confirm, done, queue_url
from .guard import ROLE_NAMES, guarded
from .i18n import _, ngettext
from .recorder import note
from .render import wants_json
from .users import User

__all__ = ["bulk", "said"]


async def _ids(request: Request, body: dict[str, Any]) -> list[str]:
    """The chosen job ids, each once, in the order given; ValueError naming the field."""
    chosen = body.get("ids", body.get("job_ids"))
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        # A form sends one ``ids`` field per checked row: the body kept one of them, the parsed form has all.
        chosen = (await request.form()).getlist("ids")
    elif isinstance(chosen, str):
        chosen = chosen.split(",")
    elif chosen is None:
        chosen = []
    if not isinstance(chosen, list):
        raise ValueError(_("ids: expected a list of job ids"))
    if not all(isinstance(i, str | int) and not isinstance(i, bool) for i in chosen):
        raise ValueError(_("ids: expected a list of job ids"))
    ids = list(dict.fromkeys(str(i).strip() for i in chosen if str(i).strip()))
    if not ids:
        raise ValueError(_("ids: choose at least one job"))
    if len(ids) > MAX_BULK_IDS:
        raise ValueError(
            _("ids: at most %(max)s jobs at once, got %(count)s", max=f"{MAX_BULK_IDS:,}", count=f"{len(ids):,}")
        )
    return ids


def said(result: BulkResult, retry_states: list[str], tab: str = "") -> str:
    """ "Retried 8 jobs; 2 were no longer failed." (chosen on the failed tab, or only failed jobs may be
    retried)."""
    n = len(result.done)
    heads = {
        "retry": ngettext("Retried %(num)s job", "Retried %(num)s jobs", n),
        "promote": ngettext("Promoted %(num)s job", "Promoted %(num)s jobs", n),
        "remove": ngettext("Removed %(num)s job", "Removed %(num)s jobs", n),
    }
    parts = [heads[result.action]]
    for why, ids in result.skipped.items():
        k = len(ids)
        if why == "gone":
            parts.append(ngettext("%(num)s was gone", "%(num)s were gone", k))
        elif why == "state" and result.action == "promote":
            parts.append(ngettext("%(num)s was no longer delayed", "%(num)s were no longer delayed", k))
        elif why == "state" and tab == "completed":
            parts.append(ngettext("%(num)s was no longer completed", "%(num)s were no longer completed", k))
        elif why == "state" and (tab == "failed" or retry_states == ["failed"]):
            parts.append(ngettext("%(num)s was no longer failed", "%(num)s were no longer failed", k))
        elif why == "state":
            parts.append(
                ngettext("%(num)s was neither failed nor completed", "%(num)s were neither failed nor completed", k)
            )
        elif result.action == "remove":
            parts.append(
                ngettext(
                    "%(num)s was held by a worker or is a scheduler's next run",
                    "%(num)s were held by a worker or are a scheduler's next run",
                    k,
                )
            )
        else:
            parts.append(
                ngettext("%(num)s came from a queue not shown to you", "%(num)s came from queues not shown to you", k)
            )
    return "; ".join(parts) + "."


@guarded("operator", action=True)
async def bulk(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    body = request.state.body
    action = body.get("action")
    if action not in BULK_ACTIONS:
        shown = str(action)[:40] if action is not None else _("nothing")
        message = _("action: expected one of %(known)s, got %(got)s", known=", ".join(BULK_ACTIONS), got=shown)
        return board.error(request, 400, message, user)
    try:
        ids = await _ids(request, body)
    except ValueError as exc:
        return board.error(request, 400, str(exc), user)
    # The audit log keeps the selection under this name.
    body["job_ids"] = ids
    if action == "remove" and not user.can("admin"):
        return board.error(
            request, 403, _("This needs %(role)s; you are %(you)s.", role=_(ROLE_NAMES["admin"]), you=user.role), user
        )
    retry_states = [s for s in RETRYABLE if board.allows_retries(queue, s)]
    if action == "retry" and not retry_states:
        return board.error(request, 403, _("Retries are turned off for queue %(queue)s.", queue=queue), user)
    tab = body.get("state") if body.get("state") in TABS else ""
    if tab == "failed":
        # Chosen among failed jobs: one that completed meanwhile is not run again unasked.
        retry_states = ["failed"]
    question = None
    if action == "remove":
        question = ngettext(
            "Remove %(num)s job from %(queue)s, with its logs (and its children)?",
            "Remove %(num)s jobs from %(queue)s, with their logs (and their children)?",
            len(ids),
            queue=queue,
        )
    elif action == "retry" and tab == "completed":
        question = ngettext("Run %(num)s completed job again?", "Run %(num)s completed jobs again?", len(ids))
    elif action == "retry" and "completed" in retry_states:
        # Chosen anywhere else (the latest tab, a script), completed jobs may be among them.
        question = ngettext(
            "Retry %(num)s job? If it completed, it runs again.",
            "Retry %(num)s jobs? Those that completed run again.",
            len(ids),
        )
    if question is not None:
        fields: dict[str, str | list[str]] = {"action": str(action), "ids": ids, "state": str(tab)}
        if body.get("next"):
            fields["next"] = str(body["next"])
        asking = confirm(
            request, board, user, question, cancel=queue_url(request, queue, str(tab) or None), fields=fields
        )
        if asking:
            return asking
    writable = await board.writable_queues(user, retries=action == "retry")
    result = await board.adapter.bulk_jobs(queue, action, ids, retry_states=retry_states, writable=writable)
    message = said(result, retry_states, str(tab))
    if wants_json(request):
        note(request, message)
        data = {
            "ok": True,
            "message": message,
            "count": len(result.done),
            "done": result.done,
            "skipped": result.skipped,
        }
        return JSONResponse(data)
    return done(request, board, ActionResult(message, len(result.done)), queue_url(request, queue, str(tab) or None))

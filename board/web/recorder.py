"""Writing the audit log: every action taken through the board, with who, from where, on what, and how it went.

The guard records each action (every handler it wraps with ``action=True``) once its answer is known, and
the login form records sign-ins and sign-outs. The words of the outcome are what the user was told:
refusals (``Board.error``) and results (``forms.done``) ``note`` them on the request as they answer, so the
entry says exactly what the page or the JSON said. Recording never changes the answer: an entry that
cannot be written is logged and the action's response goes out as it was.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..adapters import QueueAdapter
from ..adapters.audit import AuditEntry
from .users import User

__all__ = ["ACTIONS", "action_name", "address", "entry_for", "note", "record", "record_action", "record_sign"]

log = logging.getLogger("board.web")

# The names actions are recorded under (the guard adds each route it wraps as an action), for the audit
# page's filter; the login form's own are there from the start.
ACTIONS: set[str] = {"login", "logout"}
# Fields of an action's form worth keeping beside its outcome. Never job data, options or templates: they
# may hold secrets, and the outcome already says what changed.
KEPT_FIELDS = (
    "action",
    "group",
    "delay",
    "unit",
    "at",
    "state",
    "grace",
    "limit",
    "delayed",
    "force",
    "priority",
    "concurrency",
    "max",
    "duration",
    "cron",
    "tz",
    "every",
    "end",
)
MAX_FIELD = 200
MAX_SELECTED = 1000


def note(request: Request, message: str, job_id: str | None = None) -> None:
    """What the user is told about this request (the last word wins), and a job it made or moved to."""
    request.state.audit_note = message
    if job_id:
        request.state.audit_job = job_id


def address(request: Request) -> str:
    """The client's address as the server saw it: behind a proxy, the one the server's proxy settings give
    (``board serve --proxy-headers`` takes it from X-Forwarded-For when the proxy is trusted)."""
    return request.client.host if request.client is not None else ""


def _selected(body: dict[str, Any]) -> list[str]:
    """A bulk selection (``job_ids``: a list, or ids separated by commas), for actions that take one."""
    chosen = body.get("job_ids")
    if isinstance(chosen, str):
        chosen = chosen.split(",")
    if not isinstance(chosen, list):
        return []
    return [str(i).strip() for i in chosen[:MAX_SELECTED] if isinstance(i, str | int) and str(i).strip()]


def _job_ids(request: Request, body: dict[str, Any]) -> tuple[str, ...]:
    ids = [request.path_params.get("job_id"), getattr(request.state, "audit_job", None), *_selected(body)]
    return tuple(dict.fromkeys(str(i) for i in ids if i))


def _details(request: Request, body: dict[str, Any], status: int) -> dict[str, Any]:
    details: dict[str, Any] = {"status": status}
    scheduler = request.path_params.get("scheduler_id")
    if scheduler:
        details["scheduler"] = scheduler
    for name in KEPT_FIELDS:
        value = body.get(name)
        if isinstance(value, bool | int | float) or (isinstance(value, str) and value.strip()):
            details[name] = value[:MAX_FIELD] if isinstance(value, str) else value
    return details


def action_name(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "name", "") or request.url.path)


def entry_for(request: Request, user: User, status: int) -> AuditEntry | None:
    """The entry for an action answered with ``status``; None when nothing was done nor refused (a page
    asking to confirm a destructive action first)."""
    said = getattr(request.state, "audit_note", None)
    ok = status < 400
    if ok and said is None:
        return None
    body = getattr(request.state, "body", None)
    body = body if isinstance(body, dict) else {}
    return AuditEntry(
        user=user.name,
        role=user.role,
        address=address(request),
        action=action_name(request),
        queue=str(request.path_params.get("queue") or ""),
        job_ids=_job_ids(request, body),
        ok=ok,
        outcome=str(said) if said is not None else f"HTTP {status}",
        at_ms=int(time.time() * 1000),
        details=_details(request, body, status),
    )


async def record(adapter: QueueAdapter, entry: AuditEntry) -> None:
    """Writes ``entry``; a failure is logged, never raised: the action's own answer stands."""
    try:
        await adapter.record_audit(entry)
    except Exception as exc:
        log.warning(
            "board: could not write to the audit log (%s by %s on %r: %s): %s",
            entry.action,
            entry.user,
            entry.queue,
            "done" if entry.ok else "refused",
            exc,
        )


async def record_action(adapter: QueueAdapter, request: Request, user: User, response: Response | None) -> None:
    """Records the action this request asked for; ``response`` None: it failed with an unexpected error."""
    if response is None:
        note(request, "Failed: the board met an unexpected error (the details are in its log).")
    entry = entry_for(request, user, response.status_code if response is not None else 500)
    if entry is not None:
        await record(adapter, entry)


async def record_sign(
    adapter: QueueAdapter, request: Request, name: str, role: str, action: str, outcome: str, status: int
) -> None:
    """Records a sign-in or sign-out (``action`` "login" or "logout") by ``name``: a refused sign-in names
    whoever the form was filled in for, with no role."""
    entry = AuditEntry(
        user=name[:MAX_FIELD],
        role=role,
        address=address(request),
        action=action,
        ok=status < 400,
        outcome=outcome,
        at_ms=int(time.time() * 1000),
        details={"status": status},
    )
    await record(adapter, entry)

"""The audit page: every action taken through the board, newest first, filtered by user, queue and action,
a page at a time with a link to older entries; as HTML, or JSON (``?format=json`` or ``Accept:
application/json``) with the same filters and paging. Admins only; an admin limited to some queues sees
the entries of those queues (and the board-wide ones: sign-ins and sign-outs).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..adapters.audit import AuditEntry
from .board import Board
from .guard import guarded
from .i18n import _
from .recorder import ACTIONS
from .render import query, to_json
from .users import User
from .views import PER_PAGE, int_param

__all__ = ["audit_page"]

FILTERS = ("user", "queue", "action")
MAX_FILTER = 200
# A Redis stream entry id, as the log's pages hand them out.
ENTRY_ID = re.compile(r"\d{1,20}-\d{1,20}")


class _Seen:
    """The queues a user sees, by their own rule (patterns or a function), as a container: entries of a
    queue the board no longer serves stay visible to whoever may see that name."""

    def __init__(self, user: User) -> None:
        self.user = user

    def __contains__(self, queue: object) -> bool:
        return isinstance(queue, str) and self.user.sees(queue)


def _filters(request: Request) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in FILTERS:
        value = request.query_params.get(name, "").strip()
        if len(value) > MAX_FILTER:
            raise ValueError(_("%(field)s: at most %(n)s characters", field=name, n=MAX_FILTER))
        found[name] = value or None
    return found


def _entry(entry: AuditEntry) -> dict[str, Any]:
    data = entry.to_json()
    data["status"] = entry.details.get("status")
    return data


@guarded("admin")
async def audit_page(request: Request, board: Board, user: User) -> Response:
    shape = request.query_params.get("format", "")
    if shape not in ("", "html", "json"):
        return board.error(request, 400, _("format: expected html or json, got %(got)s", got=repr(shape[:20])), user)
    before = request.query_params.get("before") or None
    if before is not None and not ENTRY_ID.fullmatch(before):
        message = _("before: expected an entry id such as 1735689600000-0, got %(got)s", got=repr(before[:40]))
        return board.error(request, 400, message, user)
    try:
        filters = _filters(request)
        per_page = int_param(request, "per_page", 50)
    except ValueError as exc:
        return board.error(request, 400, str(exc), user)
    if per_page not in PER_PAGE:
        message = _("per_page: expected one of %(choices)s, got %(got)s", choices=PER_PAGE, got=per_page)
        return board.error(request, 400, message, user)
    queues = _Seen(user) if user.queues is not None else None
    page = await board.adapter.audit_page(before=before, queues=queues, limit=per_page, **filters)
    data = {
        "entries": [_entry(entry) for entry in page.entries],
        "next": page.next_id,
        "filters": filters,
        "per_page": per_page,
    }
    if shape == "json":
        return JSONResponse(to_json(data))
    older = query(request, before=page.next_id) if page.next_id else None
    newest = query(request, before=None) if before else None
    context = board.context(
        request,
        user,
        entries=page.entries,
        filters=filters,
        older=older,
        newest=newest,
        actions=sorted(ACTIONS),
        per_page=per_page,
        per_pages=PER_PAGE,
    )
    # Links that filter by a value of an entry start again from the newest entries.
    context["narrow"] = lambda **changes: query(request, **{"before": None, **changes})
    context["json_url"] = query(request, format="json")
    return board.renderer.page(request, "audit.html", context, data=data)

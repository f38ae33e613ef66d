"""A queue page's rows of jobs, written in Python once per page.

A page holds up to 100 jobs, each with its badges, three times, its progress and previews, and its buttons
following its state (retry, promote, reschedule, priority, duplicate, edit, remove its children, remove).
As template code they cost more than the page's read of Redis; here their words and URLs are worked out
once, and each row only puts in its own values. Each button posts the table's one form to its job's own
action (``formaction``), so the page holds one CSRF token, not one per row. Every value is escaped, as a
template does (``_text``).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from markupsafe import Markup
from starlette.requests import Request

from ..adapters import ChildCounts, JobSummary
from .board import Board
from .i18n import _, state_label
from .preferences import Preferences
from .render import duration, escaped_text, moment_tag, path_part, progress_tag, size, truncate_text

__all__ = ["JobRows", "RowActions", "child_counts"]

# What Board.url puts where a job's id goes, in the paths worked out once (a '{' is percent-encoded).
ID = "%7Bid%7D"
# Data larger than this is not put in a form (views.MAX_EDIT_BYTES).
MAX_EDIT_BYTES = 1024 * 1024
ROUTES = ("retry_job", "promote_job", "reschedule_job", "change_priority", "duplicate_job", "remove_children")


def child_counts(counts: ChildCounts) -> str:
    """A flow parent's children in words: "3 done, 2 pending", as ``_flow.html``'s macro says them."""
    parts = []
    if counts.done:
        parts.append(_("%(n)s done", n=f"{counts.done:,}"))
    if counts.pending:
        parts.append(_("%(n)s pending", n=f"{counts.pending:,}"))
    if counts.failed:
        parts.append(_("%(n)s failed", n=f"{counts.failed:,}"))
    if counts.ignored:
        parts.append(_("%(n)s failed, ignored", n=f"{counts.ignored:,}"))
    return escaped_text(", ".join(parts))


class RowActions:
    """``row(job, n)``: the buttons of the ``n``-th job of a page of ``queue``; ``admin``: the user may remove."""

    def __init__(self, board: Board, request: Request, queue: str, *, admin: bool) -> None:
        self.board = board
        self.queue = queue
        self.admin = admin
        url = board.url
        self.paths = {name: url(request, name, queue=queue, job_id="{id}") for name in ROUTES}
        self.paths["remove"] = url(request, "remove_job", queue=queue, job_id="{id}")
        self.paths["edit"] = url(request, "edit_form", queue=queue, job_id="{id}")
        self.paths["add"] = url(request, "add_form", queue=queue)
        custom = board.formatters.custom
        self.copyable = "data" not in custom and "name" not in custom
        self.editable_data = "data" not in custom
        self.retries = {state: board.allows_retries(queue, state) for state in ("failed", "completed")}
        self.words = {
            key: escaped_text(text)
            for key, text in {
                "retry": _("Retry"),
                "promote": _("Promote"),
                "reschedule": _("Reschedule…"),
                "due": _("Due in"),
                "unit": _("unit"),
                "at": _("or at (UTC)"),
                "set": _("Set"),
                "priority_menu": _("Priority…"),
                "priority": _("Priority"),
                "duplicate": _("Duplicate"),
                "edit": _("Edit"),
                "children": _("Remove unprocessed children"),
                "remove": _("Remove"),
            }.items()
        }

    def _button(self, path: str, job_id: str, label: str, cls: str = "btn-small", confirm: str | None = None) -> str:
        asks = f' data-confirm="{escaped_text(confirm)}"' if confirm else ""
        return f'<button class="{cls}" formaction="{self.paths[path].replace(ID, job_id)}"{asks}>{label}</button>'

    def row(self, job: JobSummary, n: int) -> Markup:
        words, state = self.words, job.state
        at = path_part(job.id)
        shown_id = escaped_text(job.id)
        out = []
        origin = job.dead_letter
        if (
            state in ("failed", "completed")
            and self.retries[state]
            and not (origin and (origin.hidden or not origin.queue))
        ):
            asks = _("Run completed job %(id)s again?", id=job.id) if state == "completed" else None
            out.append(self._button("retry_job", at, words["retry"], confirm=asks))
        if state == "delayed":
            out.append(self._button("promote_job", at, words["promote"]))
            out.append(
                f'<details class="inline-form row-pop" id="reschedule-{n}"><summary class="btn btn-small">'
                f'{words["reschedule"]}</summary><div class="pop">'
                f'<label>{words["due"]} <input name="delay.{shown_id}" type="number" min="0" step="any" size="5">'
                f'</label><select name="unit.{shown_id}" aria-label="{words["unit"]}"><option value="s">s</option>'
                '<option value="min" selected>min</option><option value="h">h</option><option value="ms">ms</option>'
                f'</select><label>{words["at"]} <input name="at.{shown_id}" type="datetime-local"></label>'
                f"{self._button('reschedule_job', at, words['set'])}</div></details>"
            )
        if state in ("waiting", "prioritized"):
            out.append(
                f'<details class="inline-form row-pop" id="priority-{n}"><summary class="btn btn-small">'
                f'{words["priority_menu"]}</summary><div class="pop">'
                f'<label>{words["priority"]} <input name="priority.{shown_id}" type="number" min="0" max="2097151"'
                f' value="{escaped_text(job.priority)}" size="6"></label>'
                f"{self._button('change_priority', at, words['set'])}</div></details>"
            )
        editable = not job.problems.get("data") and job.data_size <= MAX_EDIT_BYTES
        if state in ("failed", "completed"):
            if editable and self.copyable:
                # As a template's urlencode filter writes it: '/' stays as it is in a query.
                source = quote(job.id, safe="/")
                out.append(
                    f'<a class="btn btn-small" href="{self.paths["add"]}?from={source}">{words["duplicate"]}</a>'
                )
            else:
                out.append(self._button("duplicate_job", at, words["duplicate"]))
        if state == "failed" and editable and self.editable_data:
            out.append(f'<a class="btn btn-small" href="{self.paths["edit"].replace(ID, at)}">{words["edit"]}</a>')
        if self.admin and job.children_counts and job.children_counts.pending:
            asks = _("Remove the %(n)s children job %(id)s still waits for?", n=job.children_counts.pending, id=job.id)
            out.append(self._button("remove_children", at, words["children"], "btn-small btn-danger", asks))
        if self.admin and state != "active":
            asks = _("Remove job %(id)s and its logs?", id=job.id)
            out.append(self._button("remove", at, words["remove"], "btn-small btn-danger", asks))
        return Markup("".join(out))


class JobRows:
    """``rows(jobs)``: the body of a queue page's table of jobs, in the user's language and time settings."""

    def __init__(
        self,
        board: Board,
        request: Request,
        queue: str,
        *,
        state: str,
        prefs: Preferences | None,
        actions: RowActions | None,
    ) -> None:
        self.board = board
        self.request = request
        self.queue = queue
        self.state = state
        self.prefs = prefs
        self.actions = actions
        self.job_path = board.url(request, "job", queue=queue, job_id="{id}")
        self.words = {
            key: escaped_text(text)
            for key, text in {
                "select": _("Select job"),
                "malformed": _("malformed"),
                "dedup": _("deduplication id"),
                "scheduler_title": _("made by this job scheduler"),
                "scheduler": _("scheduler"),
                "dead_letter": _("a dead letter"),
                "hidden": _("from a queue you cannot see"),
                "unknown": _("from an unknown queue"),
                "children": _("children of this flow parent"),
            }.items()
        }

    def rows(self, jobs: Sequence[JobSummary]) -> Markup:
        return Markup("\n".join([self.row(job, n) for n, job in enumerate(jobs, 1)]))

    def row(self, job: JobSummary, n: int) -> str:
        words, prefs = self.words, self.prefs
        shown_id = escaped_text(job.id)
        cells = []
        if self.actions is not None:
            cells.append(
                f'<td class="pick"><input type="checkbox" name="ids" value="{shown_id}"'
                f' aria-label="{words["select"]} {shown_id}"></td>'
            )
        cells.append(f'<td class="mono"><a href="{self.job_path.replace(ID, path_part(job.id))}">{shown_id}</a></td>')
        cells.append(f'<td class="name">{self._name(job)}')
        if self.actions is not None:
            cells.append(f'<div class="row-actions">{self.actions.row(job, n)}</div>')
        cells.append("</td>")
        state = escaped_text(job.state)
        cells.append(f'<td><span class="badge state-{state}">{escaped_text(state_label(job.state))}</span></td>')
        started = job.run_at_ms if self.state == "delayed" else job.processed_ms
        for ms in (job.added_ms, started, job.finished_ms):
            cells.append(f'<td class="time">{moment_tag(ms, prefs)}</td>')
        cells.append(
            f'<td class="duration">{duration(job.wait_ms)}</td><td class="duration">{duration(job.run_ms)}</td>'
        )
        cells.append(f'<td class="right">{job.attempts_made}/{job.attempts_allowed}</td><td>{progress_tag(job)}</td>')
        cells.append(f'<td class="data">{self._data(job)}</td>')
        return f"<tr>{''.join(cells)}</tr>"

    def _name(self, job: JobSummary) -> str:
        words = self.words
        out = escaped_text(job.name)
        if job.problems:
            said = "".join(f"{escaped_text(f)}: {escaped_text(problem)}; " for f, problem in job.problems.items())
            out += f' <span class="badge badge-error" title="{said}">{words["malformed"]}</span>'
        if job.priority:
            out += f' <span class="badge badge-muted">p{escaped_text(job.priority)}</span>'
        if job.deduplication_id:
            dedup = escaped_text(truncate_text(job.deduplication_id, 40, True, "…"))
            title = words["dedup"]
            out += f' <span class="badge badge-muted" title="{title}">dedup <span class="mono">{dedup}</span></span>'
        if job.scheduler_id:
            url = self.board.url(self.request, "scheduler", queue=self.queue, scheduler_id=job.scheduler_id)
            made = escaped_text(truncate_text(job.scheduler_id, 40, True, "…"))
            out += (
                f' <a class="badge badge-muted" href="{url}" title="{words["scheduler_title"]}">'
                f'{words["scheduler"]} <span class="mono">{made}</span></a>'
            )
        origin = job.dead_letter
        if origin:
            if origin.hidden:
                said = words["hidden"]
            elif origin.queue:
                said = escaped_text(_("from %(queue)s", queue=origin.queue))
            else:
                said = words["unknown"]
            out += f' <span class="badge badge-error" title="{words["dead_letter"]}">{said}</span>'
        if job.children_counts:
            out += (
                f' <span class="badge state-waiting-children" title="{words["children"]}">'
                f"{child_counts(job.children_counts)}</span>"
            )
        return out

    @staticmethod
    def _data(job: JobSummary) -> str:
        out = f'<div class="preview mono" title="{escaped_text(size(job.data_size))}">'
        if job.data_preview:
            out += escaped_text(truncate_text(job.data_preview, 120, True, "…"))
        elif job.data_size:
            too_large = escaped_text(_("%(size)s, too large to preview", size=size(job.data_size)))
            out += f'<span class="muted">{too_large}</span>'
        out += "</div>"
        if job.failed_reason:
            out += f'<div class="preview muted">{escaped_text(truncate_text(job.failed_reason, 120))}</div>'
        return out

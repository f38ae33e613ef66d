"""The overview's table of queues: one row a queue, its counts under one header of state names.

The rows are written here rather than in a template: the overview repeats them for every queue (a
thousand on a large board) on every poll, and a template's per-value machinery would cost more than the
read of every queue's figures. Every value from Redis or the settings is escaped here, as a template does.
The table's frame (header, group titles, totals) stays in ``overview.html``. A row's and a cell's end tags are
left out (HTML closes them at the next one), and a cell's look comes from its column (``board.css``): a row's bytes
are multiplied by the number of queues on every poll.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from markupsafe import Markup

from ..adapters import COUNTED, QueueInfo
from .charts import Spark
from .i18n import _, ngettext
from .queue_config import QueueConfigs
from .render import escaped_text, interval, path_part, remaining

__all__ = ["QueueTable", "Words"]


@lru_cache(maxsize=20_000)
def _fixed(queue_path: str, queue: str, display_name: str | None) -> tuple[str, str, str, tuple[str, ...]]:
    """What a queue's row holds whatever its figures: its name escaped, its URL, the start of its head (its
    link, and its own name beside a display name) and the start of each count's link. Worked out once, not
    on every poll."""
    name = escaped_text(queue)
    url = queue_path + path_part(queue)
    head = f'<a href="{url}">{escaped_text(display_name) if display_name else name}</a>'
    if display_name:
        head += f' <span class="mono muted queue-name">{name}</span>'
    return name, url, head, tuple(f'<td><a href="{url}?state={state}">' for state in COUNTED)


@dataclass(frozen=True)
class Words:
    """What a row says, in the request's language, looked up once for the whole table."""

    paused: str
    limited_title: str
    unreadable: str
    read_only: str
    no_metrics: str
    metrics_error: str
    last_hour: str

    @classmethod
    def now(cls) -> Words:
        return cls(
            paused=escaped_text(_("paused")),
            limited_title=escaped_text(_("workers take no job until the limiter's window closes")),
            unreadable=escaped_text(_("unreadable")),
            read_only=escaped_text(_("read-only")),
            no_metrics=escaped_text(_("No metrics")),
            metrics_error=escaped_text(_("Metrics could not be read.")),
            last_hour=escaped_text(_("last hour")),
        )


class QueueTable:
    """Writes the rows of queues for one page: ``rows(queues)`` is the body of a table."""

    def __init__(
        self,
        *,
        queue_path: str,
        config: QueueConfigs,
        read_only: bool,
        sparks: Mapping[str, Spark],
    ) -> None:
        self.queue_path = queue_path
        self.config = config
        self.read_only = read_only
        self.sparks = sparks
        self.words = Words.now()

    def rows(self, queues: Sequence[QueueInfo]) -> Markup:
        return Markup("".join([self.row(q) for q in queues]))

    def row(self, q: QueueInfo) -> str:
        words = self.words
        conf = self.config(q.name)
        name, url, head, cells_at = _fixed(self.queue_path, q.name, conf.display_name)
        if q.paused:
            head += f' <span class="badge badge-paused">{words.paused}</span>'
        if q.rate_limited_for_ms:
            left = escaped_text(_("rate limited, %(left)s left", left=remaining(q.rate_limited_for_ms)))
            head += f' <span class="badge badge-warn" title="{words.limited_title}">{left}</span>'
        if q.error:
            head += f' <span class="badge badge-error" title="{escaped_text(q.error)}">{words.unreadable}</span>'
        if conf.read_only and not self.read_only:
            head += f' <span class="badge badge-muted">{words.read_only}</span>'
        if conf.description:
            head += f'<p class="queue-desc muted">{escaped_text(conf.description)}</p>'
        limits = self._limits(q, url)
        if limits:
            head += f'<p class="queue-limits muted">{limits}</p>'
        counts = q.counts
        # A count links to its tab; none for nothing to see (its look: board.css, "td:not(:has(a))").
        cells = "".join(
            [
                f"{at}{n:,}</a>" if (n := counts.get(state, 0)) else "<td>0"
                for state, at in zip(COUNTED, cells_at, strict=True)
            ]
        )
        return f'<tr data-queue="{name}"><th>{head}{cells}<td>{len(q.workers):,}{self._spark(q.name, url)}'

    @staticmethod
    def _limits(q: QueueInfo, url: str) -> str:
        parts = []
        if q.global_concurrency:
            parts.append(f"<span>{escaped_text(_('concurrency %(n)s', n=f'{q.global_concurrency:,}'))}</span>")
        if q.rate_limit_max:
            said = _(
                "at most %(n)s per %(window)s", n=f"{q.rate_limit_max:,}", window=interval(q.rate_limit_duration_ms)
            )
            parts.append(f"<span>{escaped_text(said)}</span>")
        if q.schedulers:
            said = ngettext("%(num)s scheduler", "%(num)s schedulers", q.schedulers)
            parts.append(f'<a href="{url}/schedulers">{escaped_text(said)}</a>')
        return "".join(parts)

    def _spark(self, queue: str, url: str) -> str:
        s = self.sparks.get(queue)
        words = self.words
        if s is None:
            return "<td>"
        if s.error:
            return f"<td>{words.metrics_error}"
        if not s.enabled:
            return f"<td>{words.no_metrics}"
        box = s.box
        done = escaped_text(_("%(n)s completed", n=f"{s.completed_total:,}"))
        failed = escaped_text(_("%(n)s failed", n=f"{s.failed_total:,}"))
        return (
            f'<td><a class="spark" href="{url}#throughput">'
            f'<svg class="spark-svg" viewBox="0 0 {box.width} {box.height}" role="img"'
            f' aria-label="{escaped_text(s.label)}"'
            ' focusable="false" preserveAspectRatio="none">'
            f'<path class="spark-area" d="{s.completed_area}"/><path class="spark-completed" d="{s.completed}"/>'
            f'<path class="spark-failed" d="{s.failed}"/></svg>'
            f'<span class="spark-text" aria-hidden="true"><span class="spark-done">{done}</span> · '
            f'<span class="spark-fail">{failed}</span> <span class="muted">{words.last_hour}</span></span></a>'
        )

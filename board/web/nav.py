"""The queue navigation's list of every whole page, written in Python: one line a queue, up to
``NAV_LIMIT`` of them on each page, where a template's per-value machinery would cost more than the
read of the marks, and with no more bytes than it needs. Every value is escaped, as a template does."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from markupsafe import Markup

from .i18n import _
from .queue_config import QueueConfigs
from .render import escaped_text, path_part

if TYPE_CHECKING:
    from .board import Navigation

__all__ = ["nav_items"]


@lru_cache(maxsize=20_000)
def _line(queues_path: str, queue: str, label: str) -> tuple[str, str]:
    """The start of a queue's line, up to its link's attributes, and the rest of its link: worked out once."""
    name, shown = escaped_text(queue), escaped_text(label)
    found = name if label == queue else f"{name} {shown}"
    return f'<li data-q="{found}"><a href="{queues_path}{path_part(queue)}"', f">{shown}</a>"


def nav_items(nav: Navigation, *, queues_path: str, current: str | None, labels: QueueConfigs) -> Markup:
    """The ``<li>`` of each queue: its name (and display name, which the filter matches too) in ``data-q``,
    its link, and its marks."""
    paused = escaped_text(_("paused"))
    limited_title, limited = escaped_text(_("rate limited")), escaped_text(_("limited"))
    lines = []
    for q in nav.queues:
        start, link = _line(queues_path, q.name, labels.label(q.name))
        here = ' class="current" aria-current="page"' if q.name == current else ""
        marks = f'<span class="mk mk-paused" title="{paused}">{paused}</span>' if q.paused else ""
        if q.rate_limited:
            marks += f'<span class="mk mk-limited" title="{limited_title}">{limited}</span>'
        # No end tag: the next <li> (or the list's end) closes it.
        lines.append(f"{start}{here}{link}{marks}")
    return Markup("".join(lines))

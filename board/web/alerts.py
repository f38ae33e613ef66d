"""The alerts page: the rules, each rule's episodes under way, and the last deliveries; HTML or JSON.

A user limited to some queues sees only what concerns them: the rules that watch one of their queues
(named with those queues alone), and the episodes and deliveries of their queues. Webhooks are named,
never shown: their URLs often carry a token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from ..adapters.base import AlertEpisode, AlertState
from ..alerts import Delivery, Rule
from ..alerts.rules import THRESHOLDED
from .board import Board
from .guard import guarded
from .i18n import N_, _
from .users import User

__all__ = ["RuleView", "alerts_page"]

# Deliveries read for the page; a user limited to some queues sees those of theirs among them.
DELIVERIES_READ = 200
DELIVERIES_SHOWN = 50

WHEN = {
    "waiting_above": N_("jobs waiting: more than %(threshold)s"),
    "failures_per_minute_above": N_("failures a minute: more than %(threshold)s"),
    "oldest_waiting_above": N_("the next job's wait: more than %(threshold)s s"),
    "no_workers": N_("no worker connected"),
    "retries_exhausted": N_("a job used up its retries"),
}


@dataclass
class RuleView:
    """A rule as this user may see it: ``queues`` empty means every queue."""

    name: str
    when: str
    condition: str
    queues: list[str]
    threshold: float | None
    minutes: float
    episodes: list[AlertEpisode] = field(default_factory=list)


def _view(rule: Rule, user: User, seen: list[str] | None) -> RuleView | None:
    """The rule for this user; None when it watches none of the queues a limited user sees."""
    if seen is None:
        queues = list(rule.queues)
    else:
        queues = [queue for queue in seen if rule.watches(queue)]
        if not queues:
            return None
    threshold = rule.threshold if rule.when in THRESHOLDED else None
    condition = _(WHEN[rule.when], threshold=format(rule.threshold, ",g"))
    return RuleView(rule.name, rule.when, condition, queues, threshold, rule.minutes)


def _views(board: Board, user: User, state: AlertState, seen: list[str] | None) -> list[RuleView]:
    config = board.alerts.config
    views = [view for rule in (config.rules if config else ()) if (view := _view(rule, user, seen)) is not None]
    by_name = {view.name: view for view in views}
    for episode in state.episodes:
        view = by_name.get(episode.rule)
        if view is not None and user.sees(episode.queue):
            view.episodes.append(episode)
    return views


def _deliveries(user: User, state: AlertState) -> list[Delivery]:
    return [d for d in state.deliveries if user.sees(d.queue)][:DELIVERIES_SHOWN]


@guarded("viewer")
async def alerts_page(request: Request, board: Board, user: User) -> Response:
    loop = board.alerts
    state = await board.adapter.alert_state(DELIVERIES_READ) if loop.config is not None else AlertState()
    seen = await board.visible_queues(user) if user.queues is not None else None
    rules = _views(board, user, state, seen)
    deliveries = _deliveries(user, state)
    data = {
        "configured": loop.config is not None,
        "running": loop.running,
        "rules": rules,
        "deliveries": deliveries,
    }
    context = board.context(request, user, **data)
    return board.renderer.page(request, "alerts.html", context, data=data, block="live")

"""The board's alert loop: its rules from ``create_board``'s arguments, run beside the app for as long as
the app runs.

The loop starts with the app (Starlette's lifespan) and stops with it, in every process of the board;
its rounds run in one process at a time, the one holding the runner's lock in Redis. A round is a task
of its own on the server's event loop, reading the queues in a few round trips and sending webhooks
from threads: no page ever waits for it. A board mounted in another app runs its lifespan only when the
host app runs it (``lifespan=board_app.router.lifespan_context``); the alerts page says when the loop
is not running in the process that answers.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeAlias

from ..adapters import QueueAdapter
from ..alerts import AlertConfig, load_config, load_file
from ..alerts.delivery import AlertCallable
from ..alerts.runner import AlertRunner

__all__ = ["AlertLoop", "Alerts", "Lifespan", "alert_config", "alert_loop"]

log = logging.getLogger("board.web")

Alerts: TypeAlias = AlertConfig | Mapping[str, Any] | str | os.PathLike[str] | None
Lifespan: TypeAlias = Callable[[Any], AbstractAsyncContextManager[Any]]


def alert_config(alerts: Alerts) -> AlertConfig | None:
    """The rules ``alerts`` gives: an ``AlertConfig``, the same as a dict (``{"rules": [...], "webhooks":
    [...]}``), or the path of a TOML file. ``board.alerts.ConfigError`` (a ValueError) names a mistake."""
    if alerts is None or isinstance(alerts, AlertConfig):
        return alerts
    if isinstance(alerts, str | os.PathLike):
        return load_file(os.fspath(alerts))
    if isinstance(alerts, Mapping):
        return load_config(alerts)
    raise TypeError(f"alerts: expected an AlertConfig, a dict or the path of a TOML file, not {type(alerts).__name__}")


class AlertLoop:
    """The alert rules of a board (``config``, None when none are configured) and the runner evaluating
    them (None when there is nothing to evaluate)."""

    def __init__(self, config: AlertConfig | None = None, runner: AlertRunner | None = None) -> None:
        self.config = config
        self.runner = runner
        self.running = False

    def start(self) -> None:
        if self.runner is not None and not self.running:
            self.runner.start()
            self.running = True

    async def stop(self) -> None:
        if self.runner is not None and self.running:
            self.running = False
            await self.runner.stop()

    def lifespan(self, inner: Lifespan | None = None) -> Lifespan:
        """A Starlette lifespan that runs the loop around ``inner`` (the app's own lifespan, if it has one)."""

        @asynccontextmanager
        async def run(app: Any) -> AsyncIterator[Any]:
            self.start()
            try:
                if inner is None:
                    yield None
                else:
                    async with inner(app) as state:
                        yield state
            finally:
                await self.stop()

        return run


def alert_loop(
    adapter: QueueAdapter,
    alerts: Alerts,
    callables: Mapping[str, AlertCallable] | None,
    interval: float,
) -> AlertLoop:
    """The loop for ``create_board``'s ``alerts``, ``alert_callables`` and ``alert_interval``, checked."""
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not math.isfinite(interval):
        raise ValueError(f"alert_interval: expected a number of seconds, got {interval!r}")
    if interval < 1:
        raise ValueError(f"alert_interval: must be at least 1 second, got {interval:g}")
    config = alert_config(alerts)
    targets = dict(callables or {})
    for name, target in targets.items():
        if not isinstance(name, str) or not name or not callable(target):
            raise ValueError(f"alert_callables: expected names mapped to functions of an Alert, got {name!r}")
    if config is None:
        if targets:
            raise ValueError("alert_callables: give the rules too (alerts=...): the callables get the alerts they fire")
        return AlertLoop()
    clash = sorted({hook.name for hook in config.webhooks} & set(targets))
    if clash:
        raise ValueError(f"alert_callables: {', '.join(clash)} is also the name of a webhook; deliveries would mix")
    if not config.rules:
        log.warning("board: the alert configuration holds no rules: nothing will be alerted")
        return AlertLoop(config)
    return AlertLoop(config, adapter.alert_runner(config, callables=targets, interval=float(interval)))

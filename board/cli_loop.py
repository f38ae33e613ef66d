"""The event loop that ``board worker`` and ``board serve`` run on: ``--loop auto|asyncio|uvloop``.

``auto`` takes uvloop when it is installed (the ``uvloop`` extra), else asyncio's own loop. uvloop runs
the same asyncio code on libuv, with less Python work per socket read and write, which is most of what a
busy worker does between its Redis calls. Asking for uvloop where it is not installed is a usage error,
never a quiet fall back to the slower loop.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable

LOOP_CHOICES = ("auto", "asyncio", "uvloop")


def uvloop_installed() -> bool:
    try:
        importlib.import_module("uvloop")
    except ImportError:
        return False
    return True


def event_loop(text: str) -> str:
    """The loop ``text`` (one of ``LOOP_CHOICES``) names: ``asyncio`` or ``uvloop``."""
    choice = text.strip().lower()
    if choice not in LOOP_CHOICES:
        raise ValueError(f"expected one of {', '.join(LOOP_CHOICES)}, got {text!r}")
    if choice == "auto":
        return "uvloop" if uvloop_installed() else "asyncio"
    if choice == "uvloop" and not uvloop_installed():
        raise ValueError("uvloop is not installed: pip install 'board-queues[uvloop]', or pass auto or asyncio")
    return choice


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new loop of ``name`` (as ``event_loop`` returns it)."""
    if name == "uvloop":
        factory: Callable[[], asyncio.AbstractEventLoop] = importlib.import_module("uvloop").new_event_loop
        return factory
    return asyncio.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: what ``loop`` is, whatever made it."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"

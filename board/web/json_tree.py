"""A JSON value as a foldable tree for the job page: a flat list of rows that a template turns into nested
``<details>`` without recursing, so a value nested a hundred levels deep costs no stack.

The tree is built from the value the page already shows, after the formatters ran: what they masked stays
masked. It is bounded by a node budget; past it, each container still open ends in a "more" row saying how
many of its entries are left out (the text view and the raw link have them all).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

# Enough for what a person reads on a page; a node is one key or item, at any depth.
NODE_BUDGET = 2000
# Containers this deep or deeper start folded, and so do big ones at any depth (the root stays open).
OPEN_DEPTH = 2
BIG = 20
# A value with this many nodes or fewer reads as well as text, which is then the view shown first.
SMALL = 12

RowKind = Literal["open", "close", "leaf", "more"]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the tree.

    ``open``: a container starts (``type`` "object" or "array", ``size`` its entries, ``folded`` whether it
    starts closed); ``close``: the last one opened ends; ``leaf``: a scalar or an empty container, ``text``
    its JSON; ``more``: ``size`` entries of the enclosing container are left out. ``key`` is the object key
    or the array index, None for the root.
    """

    kind: RowKind
    key: str | int | None = None
    type: str = ""
    text: str = ""
    size: int = 0
    folded: bool = False


@dataclass(slots=True)
class Tree:
    rows: list[Row] = field(default_factory=list)
    nodes: int = 0
    # Whether the budget ran out before the whole value was walked.
    cut: bool = False

    @property
    def small(self) -> bool:
        return self.nodes <= SMALL and not self.cut


def _entries(value: Any) -> list[tuple[str | int, Any]]:
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    return list(enumerate(value))


def _is_container(value: Any) -> bool:
    return isinstance(value, dict | list | tuple)


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    # A custom formatter may hand back any object; it is shown as the text view shows it.
    return "string"


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class _Walk:
    """The walk with its budget; each open container keeps an iterator over its entries and their count."""

    def __init__(self, budget: int, open_depth: int, big: int) -> None:
        self.tree = Tree()
        self.budget = budget
        self.open_depth = open_depth
        self.big = big
        self.stack: list[tuple[Iterator[tuple[str | int, Any]], int]] = []

    def node(self, key: str | int | None, value: Any) -> None:
        self.tree.nodes += 1
        entries = _entries(value) if _is_container(value) else []
        if not entries:
            self.tree.rows.append(Row("leaf", key, _type(value), _text(value)))
            return
        depth = len(self.stack)
        folded = depth > 0 and (depth >= self.open_depth or len(entries) > self.big)
        self.tree.rows.append(Row("open", key, _type(value), size=len(entries), folded=folded))
        self.stack.append((iter(entries), len(entries)))

    def run(self, value: Any) -> Tree:
        self.node(None, value)
        # How many entries of each open container were shown, to say how many were not.
        shown: list[int] = [0] * len(self.stack)
        while self.stack:
            entries, _ = self.stack[-1]
            entry = next(entries, None)
            if entry is None:
                self.stack.pop()
                shown.pop()
                self.tree.rows.append(Row("close"))
                continue
            if self.tree.nodes >= self.budget:
                self.tree.cut = True
                self._close_all(shown)
                break
            shown[-1] += 1
            before = len(self.stack)
            self.node(*entry)
            shown.extend([0] * (len(self.stack) - before))
        return self.tree

    def _close_all(self, shown: list[int]) -> None:
        while self.stack:
            _, total = self.stack.pop()
            left = total - shown.pop()
            if left > 0:
                self.tree.rows.append(Row("more", size=left))
            self.tree.rows.append(Row("close"))


def build(value: Any, *, budget: int = NODE_BUDGET, open_depth: int = OPEN_DEPTH, big: int = BIG) -> Tree | None:
    """The tree of ``value``; None for a scalar or an empty container, which its text says in full."""
    if not _is_container(value) or not value:
        return None
    return _Walk(budget, open_depth, big).run(value)

"""The JSON tree of the job page (board/web/json_tree.py) and its template: rows that nest, folds, the node
budget, any depth without recursion, and keys and values escaped. The page around it is in test_views.py."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest

from board.web.json_tree import BIG, NODE_BUDGET, OPEN_DEPTH, Row, Tree, build
from board.web.render import Renderer


def balanced(tree: Tree) -> bool:
    depth = 0
    for row in tree.rows:
        depth += {"open": 1, "close": -1}.get(row.kind, 0)
        if depth < 0:
            return False
    return depth == 0


def render(tree: Tree) -> str:
    env = Renderer(title="t", poll_interval=0).templates.env
    return str(env.get_template("_json_tree.html").module.json_tree(tree, "tree-x"))  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", [1, "text", None, True, [], {}, 2.5])
def test_scalars_and_empty_containers_have_no_tree(value: Any) -> None:
    assert build(value) is None


def test_rows_follow_the_value() -> None:
    tree = build({"a": 1, "b": [True, None, {"c": "x"}], "d": {}})
    assert tree is not None and balanced(tree) and not tree.cut
    assert tree.rows == [
        Row("open", None, "object", size=3),
        Row("leaf", "a", "number", "1"),
        Row("open", "b", "array", size=3),
        Row("leaf", 0, "boolean", "true"),
        Row("leaf", 1, "null", "null"),
        Row("open", 2, "object", size=1, folded=True),
        Row("leaf", "c", "string", '"x"'),
        Row("close"),
        Row("close"),
        Row("leaf", "d", "object", "{}"),
        Row("close"),
    ]
    # Every key and item, the root included.
    assert tree.nodes == 8


def test_deep_and_big_containers_start_folded() -> None:
    value: dict[str, Any] = {"big": list(range(BIG + 1)), "small": list(range(BIG))}
    node: dict[str, Any] = value
    for level in range(OPEN_DEPTH + 2):
        node[f"level{level}"] = {"x": 1}
        node = node[f"level{level}"]
    tree = build(value)
    assert tree is not None
    folded = {row.key: row.folded for row in tree.rows if row.kind == "open"}
    assert folded[None] is False  # the root is always open
    assert folded["big"] is True and folded["small"] is False
    # The root is depth 0: its children are depth 1, and containers from OPEN_DEPTH down start closed.
    assert [folded[f"level{n}"] for n in range(OPEN_DEPTH + 2)] == [n + 1 >= OPEN_DEPTH for n in range(OPEN_DEPTH + 2)]


def test_a_big_root_stays_open() -> None:
    tree = build(list(range(BIG * 3)))
    assert tree is not None and tree.rows[0].folded is False


def test_the_budget_bounds_the_tree_and_says_what_is_left_out() -> None:
    value = {"first": list(range(10)), "second": {"x": list(range(10)), "y": 1}, "third": 3}
    tree = build(value, budget=8)
    assert tree is not None and tree.cut and balanced(tree)
    assert tree.nodes == 8
    # root, "first" and its items 0..5 are the 8 nodes; then each open container says how much it left out.
    assert [row.key for row in tree.rows if row.kind == "leaf"] == [0, 1, 2, 3, 4, 5]
    more = [row.size for row in tree.rows if row.kind == "more"]
    assert more == [4, 2]  # 4 items of "first"; "second" and "third" of the root
    assert tree.small is False


def test_the_default_budget_holds_a_large_value() -> None:
    tree = build({"rows": [{"id": i, "tags": ["a", "b"]} for i in range(5000)]})
    assert tree is not None and tree.cut and balanced(tree)
    assert tree.nodes == NODE_BUDGET
    assert len(tree.rows) < 3 * NODE_BUDGET


def test_any_depth_without_recursion() -> None:
    value: Any = "bottom"
    for _ in range(5000):
        value = [value]
    tree = build(value, budget=10_000)
    assert tree is not None and balanced(tree) and not tree.cut
    assert tree.rows[5000] == Row("leaf", 0, "string", '"bottom"')


def test_small_values_prefer_text() -> None:
    small, large = build({"answer": 42}), build({"n": list(range(20))})
    assert small is not None and small.small
    assert large is not None and not large.small


def test_what_a_custom_formatter_returns_is_shown() -> None:
    when = datetime.datetime(2026, 1, 2, 3, 4, 5)
    tree = build({"when": when, "pair": (1, 2), 7: "seven"})
    assert tree is not None and balanced(tree)
    leaves = {row.key: (row.type, row.text) for row in tree.rows if row.kind == "leaf"}
    assert leaves["when"] == ("string", '"2026-01-02 03:04:05"')
    assert leaves["7"] == ("string", '"seven"')  # keys are strings, as in JSON
    assert [row.key for row in tree.rows if row.kind == "open"] == [None, "pair"]


def test_the_template_nests_and_escapes() -> None:
    hostile = '<script>alert("k")</script>'
    tree = build({hostile: "<img src=x onerror=alert(1)>", "list": [1, 2], "more": {"deep": {"x": 1}}})
    assert tree is not None
    page = render(tree)
    assert "<script>" not in page and "<img" not in page
    assert '<span class="jt-key">&lt;script&gt;alert(&#34;k&#34;)&lt;/script&gt;</span>' in page
    assert '<span class="jt-string">&#34;&lt;img src=x onerror=alert(1)&gt;&#34;</span>' in page
    assert page.startswith('<ul class="json-tree" id="tree-x">')
    assert page.count("<details") == page.count("</details>") == 4
    # The root and "list", "more" are open; "deep" (depth 2) starts folded.
    assert len(re.findall(r"<details open>", page)) == 3
    assert '<summary><span class="jt-key">list</span><span class="jt-array">2 items</span></summary>' in page
    assert '<span class="jt-object">1 key</span>' in page


def test_the_template_says_what_the_budget_left_out() -> None:
    tree = build({"n": list(range(50))}, budget=10)
    assert tree is not None
    page = render(tree)
    assert '<li class="jt-more">and 42 more, in the text view</li>' in page
    assert page.count("<ul") == page.count("</ul>")

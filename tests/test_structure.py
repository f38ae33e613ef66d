"""How the package's modules import each other: one way, layer by layer.

The web layer reaches queues only through the adapters (``board/web`` never imports ``board/engine``), and
no two modules import each other, except through imports made for type hints alone.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "board"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _type_only(tree: ast.Module) -> set[int]:
    """Line numbers of the imports inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            for child in node.body:
                lines.update(n.lineno for n in ast.walk(child) if isinstance(n, ast.Import | ast.ImportFrom))
    return lines


def imports_of(name: str) -> set[str]:
    """The package's modules that module ``name`` imports at run time."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.lineno not in skip:
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.add(full if full in MODULES else target)
        elif isinstance(node, ast.Import) and node.lineno not in skip:
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def _cycles() -> list[list[str]]:
    """Groups of modules that import each other, directly or round a loop (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in GRAPH[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in GRAPH:
        if node not in index:
            visit(node)
    return groups


def test_the_graph_is_read() -> None:
    # A reader that found nothing would pass every check below.
    assert "board.web.routes" in GRAPH["board.web.app"]
    assert "board.engine.keys" in GRAPH["board.engine.queue"]
    assert "board.engine.queue" not in GRAPH["board.engine.job"]  # a type-only import


def test_no_module_imports_itself_round_a_loop() -> None:
    assert _cycles() == []


def test_the_web_layer_never_imports_the_engine() -> None:
    reaching = {
        (name, target)
        for name, targets in GRAPH.items()
        if name.startswith("board.web")
        for target in targets
        if target.startswith("board.engine")
    }
    assert reaching == set()


def test_the_engine_knows_nothing_of_the_web_or_the_adapters() -> None:
    for name, targets in GRAPH.items():
        if name.startswith("board.engine"):
            assert not {t for t in targets if t.startswith(("board.web", "board.adapters"))}, name


def _architecture_section() -> str:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Architecture")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def test_the_readme_architecture_names_every_module_and_only_real_ones() -> None:
    section = _architecture_section()
    named = set(re.findall(r"`([a-z0-9_]+\.py)`", section))
    actual = {path.name for path in PACKAGE.rglob("*.py") if path.name not in ("__init__.py", "__main__.py")}
    assert named - actual == set(), "named in the README but not in board/"
    assert actual - named == set(), "in board/ but not in the README's architecture section"
    for room in ("board/engine", "board/adapters", "board/web"):
        assert f"`{room}`" in section or f"`{room}/`" in section, room
    for script in re.findall(r"`([a-z_]+\.lua)`", section):
        assert (PACKAGE / "engine" / "lua" / script).is_file(), script


# Tests mirror the modules, as in Starlette (tests/test_routing.py tests starlette/routing.py): the behaviour of
# board/web/<module>.py is tested in tests/web/test_<module>.py, where a reader looks for it first.
WEB = PACKAGE / "web"
WEB_TESTS = PACKAGE.parent / "tests" / "web"
# Modules of board/web with no test module of their own, each with its reason.
WEB_MODULES_UNTESTED = {
    "__init__": "the package's docstring, and nothing else",
}
# Suites of tests/web named for one concern across every module rather than for a module; each says at its top,
# in a docstring that begins "Across modules", what it covers.
WEB_CROSS_CUTTING = {
    "test_bad_input": "input a user can send, and data another program can write, never make a 500",
    "test_isolation": "a user limited to some queues never reaches another's keys, through any route",
    "test_node_queue": "the board over a queue Node.js BullMQ wrote",
    "test_outage": "Redis going away, and fields too large to read",
    "test_translations": "the board in German: every marked message translated, and no English left in its pages",
}


def test_every_web_module_has_its_test_module() -> None:
    modules = {path.stem for path in WEB.glob("*.py")}
    assert "guard" in modules  # a glob that found nothing would pass the check below
    assert set(WEB_MODULES_UNTESTED) <= modules, "an exception names a module that is gone"
    missing = sorted(
        f"tests/web/test_{module}.py"
        for module in modules - set(WEB_MODULES_UNTESTED)
        if not (WEB_TESTS / f"test_{module}.py").is_file()
    )
    assert missing == [], "modules of board/web with no test module of their own"


def test_every_web_test_module_is_named_for_a_module_or_a_concern_across_them() -> None:
    modules = {path.stem for path in WEB.glob("*.py")} - set(WEB_MODULES_UNTESTED)
    strays = sorted(
        path.name
        for path in WEB_TESTS.glob("test_*.py")
        if path.stem.removeprefix("test_") not in modules and path.stem not in WEB_CROSS_CUTTING
    )
    assert strays == [], "named after no module of board/web: rename after the module tested, or list as cross-cutting"
    for suite in WEB_CROSS_CUTTING:
        docstring = ast.get_docstring(ast.parse((WEB_TESTS / f"{suite}.py").read_text(encoding="utf-8"))) or ""
        assert docstring.startswith("Across modules"), f"{suite}.py: say at its top what it covers across modules"

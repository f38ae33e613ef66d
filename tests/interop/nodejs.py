"""Where the Node.js side of the interop tests lives, and the skip when it is not installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

INTEROP = Path(__file__).resolve().parent
HELPER = INTEROP / "node_helper.js"
NODE = shutil.which("node")


def require_node(what: str) -> str:
    """The path of ``node``; skips the calling module, saying why, when Node or BullMQ is missing."""
    if NODE is None:
        pytest.skip(f"{what}: `node` is not on PATH", allow_module_level=True)
    if not (INTEROP / "node_modules" / "bullmq" / "package.json").is_file():
        pytest.skip(
            f"{what}: tests/interop/node_modules/bullmq is missing (run `npm ci` in tests/interop)",
            allow_module_level=True,
        )
    return NODE

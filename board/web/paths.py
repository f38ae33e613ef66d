"""Where a request is inside the board, and which paths are safe to send a browser back to."""

from __future__ import annotations

import re
from urllib.parse import unquote

from starlette.requests import Request

__all__ = ["mount_path", "path_in_mount", "safe_next"]


def mount_path(request: Request) -> str:
    """Where the board is mounted, without a trailing slash ("" at the root).

    Meant to be called at the board's own level (its middleware, or a route on its own router), where
    ``root_path`` is the board's mount path and not that of some sub-mount inside it.
    """
    return str(request.scope.get("root_path", "")).rstrip("/")


def path_in_mount(request: Request) -> str:
    path: str = request.scope["path"]
    root = mount_path(request)
    if root and path.startswith(root):
        path = path[len(root) :]
    return path or "/"


# Control characters and spaces are dropped by browsers inside URLs, and a backslash counts as "/", so each
# could turn "/x" into "//host"; a dot segment could climb out of the mount.
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def safe_next(value: str | None, root: str = "") -> str | None:
    """``value`` if it is a path under ``root`` (the board's mount path) with no way out of it, else None."""
    if not value or not value.startswith("/") or value.startswith("//") or _UNSAFE.search(value):
        return None
    path = value.split("?", 1)[0].split("#", 1)[0]
    if any(segment in (".", "..") for segment in unquote(path).split("/")):
        return None
    if root and not (path == root or path.startswith(root + "/")):
        return None
    return value

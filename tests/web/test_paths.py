"""Where a request is inside the board, and which paths are safe to send a browser back to
(board/web/paths.py), as pure functions: ``safe_next`` must let nothing take a browser off the board."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from board.web.paths import mount_path, path_in_mount, safe_next


def request(path: str, root_path: str = "") -> Request:
    scope = {"type": "http", "method": "GET", "path": path, "root_path": root_path, "headers": [], "query_string": b""}
    return Request(scope)


# Where the board is -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("root_path", "mount"),
    [("", ""), ("/", ""), ("/admin/queues", "/admin/queues"), ("/admin/queues/", "/admin/queues")],
)
def test_mount_path_has_no_trailing_slash(root_path: str, mount: str) -> None:
    assert mount_path(request(root_path.rstrip("/") + "/queues", root_path)) == mount


@pytest.mark.parametrize(
    ("path", "root_path", "inside"),
    [
        ("/queues/email", "", "/queues/email"),
        ("/", "", "/"),
        ("/admin/queues/queues/email", "/admin/queues", "/queues/email"),
        ("/admin/queues/queues/email", "/admin/queues/", "/queues/email"),
        ("/admin/queues", "/admin/queues", "/"),
        ("/admin/queues/", "/admin/queues", "/"),
        # A path outside the mount is left as it is.
        ("/queues/email", "/admin/queues", "/queues/email"),
    ],
)
def test_path_in_mount(path: str, root_path: str, inside: str) -> None:
    assert path_in_mount(request(path, root_path)) == inside


# Where a browser may be sent back to --------------------------------------------------------------------------

SAFE = [
    "/",
    "/queues/email",
    "/queues/email?state=failed&page=2",
    "/queues/email#jobs",
    "/queues/email/jobs/order%2F42",
    "/queues/e%20mail",
    "/queues/..tmp",  # a name that starts with dots is not a dot segment
    "/queues/email?next=/../elsewhere",  # nor is anything in the query
]

UNSAFE = [
    None,
    "",
    "queues/email",  # relative
    "https://evil.example/",
    "http://evil.example",
    "javascript:alert(1)",
    "//evil.example",
    "//evil.example/queues",
    "/\\evil.example",  # a browser reads the backslash as "/"
    "/\\/evil.example",
    "\\\\evil.example",
    # Browsers drop tabs, newlines and the like inside a URL: "/\t/x" is "//x".
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "/ /evil.example",
    "/\x00/evil.example",
    "/\x7f/evil.example",
    # Dot segments climb out, encoded or not.
    "/..",
    "/../elsewhere",
    "/queues/../../elsewhere",
    "/queues/./email",
    "/queues/%2e%2e/%2e%2e/elsewhere",
    "/queues/%2E%2E/elsewhere",
    "/%2e/queues",
]


@pytest.mark.parametrize("value", SAFE)
def test_a_path_of_the_board_is_kept_as_it_is(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize("value", UNSAFE)
def test_anything_that_could_leave_the_board_is_refused(value: str | None) -> None:
    assert safe_next(value) is None
    assert safe_next(value, "/admin/queues") is None


@pytest.mark.parametrize(
    "value",
    [
        "/admin/queues",
        "/admin/queues/",
        "/admin/queues/queues/email?state=failed",
        "/admin/queues?x=1",
        "/admin/queues#top",
    ],
)
def test_under_a_mount_a_path_inside_it_is_kept(value: str) -> None:
    assert safe_next(value, "/admin/queues") == value


@pytest.mark.parametrize(
    "value",
    [
        "/",
        "/admin",
        "/admin/",
        "/admin/queue",
        "/admin/queuesX",
        "/admin/queues-other/jobs",
        "/elsewhere/admin/queues",
        "//admin/queues",
        "/admin/queues/../../elsewhere",
        "/admin/queues/%2e%2e/elsewhere",
    ],
)
def test_under_a_mount_every_path_outside_it_is_refused(value: str) -> None:
    assert safe_next(value, "/admin/queues") is None

"""What an adapter raises when the store refuses a read or an action: one tree, no HTTP in it.

Every message is fit to show an operator as it is. The web layer maps each class to a status in one
place (``board.web.board.STATUS_OF``).
"""

from __future__ import annotations


class AdapterError(Exception):
    """A read or an action that could not be done; the base of every adapter error."""


class NotFound(AdapterError):
    """No such job (or queue) in the store."""


class Conflict(AdapterError):
    """The job or queue is not in a state that allows the action (a locked job, an unpaused queue,
    a job that changed since it was read, a job hash another program wrote badly)."""


class Invalid(AdapterError):
    """An argument the engine refused; ``field`` names the form field it came from, when one did."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TooLarge(AdapterError):
    """A value larger than the caller agreed to read."""


class Unavailable(AdapterError):
    """The store did not answer, refused the call, or its answer was lost: try again later."""


__all__ = ["AdapterError", "Conflict", "Invalid", "NotFound", "TooLarge", "Unavailable"]

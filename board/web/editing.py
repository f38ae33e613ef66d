"""The edit-data form: secrets are never sent to the browser, and saving keeps them unless retyped.

The form shows the job's data with secret-looking values masked. On save, a value still equal to the
mask at a secret key is replaced by the stored value, so an operator who fixes a typo in an address does
not wipe the API key beside it. The form carries a digest of the data it showed: if the job's data has
changed since, saving is refused rather than writing over someone else's change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ..adapters.payload import loads_bounded
from .formatters import Formatters, redact_value
from .render import pretty

__all__ = ["EditConflict", "EditForm", "apply_edit", "masked_for_edit", "version_of"]


class EditConflict(Exception):
    """The job's data changed after the form was opened."""


@dataclass(frozen=True)
class EditForm:
    text: str
    version: str


def version_of(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def masked_for_edit(raw: str, formatters: Formatters) -> EditForm:
    """The form's text for stored data ``raw``; ValueError when it is not JSON the form could save back."""
    try:
        value = loads_bounded(raw)
    except ValueError as exc:
        raise ValueError(f"it is not valid JSON ({exc})") from None
    shown = redact_value(value, formatters.words) if formatters.redact else value
    return EditForm(pretty(shown), version_of(raw))


def apply_edit(submitted: Any, stored_raw: str, version: str | None, formatters: Formatters) -> Any:
    """The data to write: ``submitted`` with masked secrets given back their stored values.

    Raises EditConflict when ``version`` (from the form) is not that of ``stored_raw`` any more.
    """
    if version is not None and version != version_of(stored_raw):
        raise EditConflict("the job's data changed since the form was opened: reload it and edit again")
    try:
        stored = loads_bounded(stored_raw)
    except ValueError:
        return submitted
    return formatters.restore_masked(submitted, stored)

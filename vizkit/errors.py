"""Errors that reach a person: each names the bad value and says what to do."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class VizkitError(Exception):
    """Base class of every error vizkit shows to a user (CLI exit 1, app st.error)."""


class BadArgumentError(VizkitError):
    """A value out of its valid range or form (CLI exit 2); the message says what is valid."""


class UnknownNameError(BadArgumentError):
    """A dataset, model, metric, layer, run or visualizer name that is not known (CLI exit 2)."""

    def __init__(self, kind: str, name: str, valid: Iterable[str], hint: str = ""):
        valid = sorted(set(valid))
        close = difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
        msg = f"Unknown {kind} {name!r}."
        if close:
            msg += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        shown = valid if len(valid) <= 30 else valid[:30] + [f"... ({len(valid) - 30} more)"]
        if shown:
            msg += f" Valid {kind}{'es' if kind.endswith('s') else 's'}: " + ", ".join(shown) + "."
        if hint:
            msg += " " + hint
        super().__init__(msg)
        self.kind, self.name, self.valid, self.suggestions = kind, name, valid, close


class DuplicateNameError(VizkitError):
    """Two plugins registered the same name for one kind."""


class DatasetMissingError(VizkitError):
    """A dataset's files are not on this machine (the message says how to get them)."""


class ImageDecodeError(VizkitError):
    """Bytes that are not a readable image (corrupt, unsupported or too large)."""


class WeightsUnavailableError(VizkitError):
    """Pretrained weights could not be found locally nor downloaded."""


class StoreError(VizkitError):
    """The store file is missing, foreign, from another schema version, or busy."""


class StoreBusyError(StoreError):
    """Another process held the store's lock for longer than the wait allowed."""


class ResultMissingError(VizkitError):
    """A precomputed result is not in the store (the message names the command that makes it)."""


class StoreEmptyError(ResultMissingError):
    """The store file exists but holds no results yet (a fresh or interrupted creation)."""

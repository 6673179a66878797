"""What an index plugin registers: a way to find the nearest stored vectors fast.

An :class:`Index` is built once per (features, metric) by ``vizkit index`` (or by
``vizkit precompute``), which writes its files into a folder that the store adopts, and is
opened by every process that searches. Searches through an approximate index are re-ranked
exactly, and each stored index carries its recall measured against exact search.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from vizkit.api.metrics import Metric


class Searcher(Protocol):
    """An opened index: ``search(queries [q, d] float32, k)`` returns candidate row indices
    ``[q, k]`` best first and their scores (exact for an exact index; an approximate index's
    scores are only used to order its candidates before vizkit re-ranks them)."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class Index:
    """A kind of index contributed by a plugin.

    ``serves(metric)`` says whether it can answer for that metric (vizkit falls back to
    exact search with a note otherwise). ``build(features, metric, folder, options)`` writes
    the index's files into ``folder`` from the ``[n, d]`` float32 features (memory-mapped)
    and returns its parameters (JSON-able: what ``open`` needs, e.g. ``nprobe``).
    ``open(features, metric, folder, params)`` returns a :class:`Searcher`; it should
    memory-map its files so that processes share them. ``exact`` is True when its results
    equal exact search.
    """

    name: str
    description: str
    exact: bool
    serves: Callable[[Metric], bool]
    build: Callable[[np.ndarray, Metric, Path, dict], dict]
    open: Callable[[np.ndarray, Metric, Path, dict], Searcher]

"""What a metric plugin registers: a distance or similarity between vectors."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the type is imported only for annotations: `import vizkit` stays light
    import torch

Scorer = Callable[["torch.Tensor"], "torch.Tensor"]
Finalizer = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]


@dataclass(frozen=True)
class Metric:
    """A distance or similarity between float32 vectors, vectorised over batches.

    ``pairwise(a, b)`` returns the ``[len(a), len(b)]`` matrix of values.
    ``higher_is_more_similar`` says which way ranks: True for similarities (cosine, dot),
    False for distances (euclidean). ``prepare``, when given, takes the database matrix
    once and returns a function ``queries -> [n_queries, n_database]`` values that is
    faster than calling ``pairwise`` every time (e.g. cosine normalises the database once).
    Its values need only rank like the metric when ``finalize(selected, queries)`` is given
    to turn the selected values into the metric's (euclidean ranks by ``|x|^2 - 2 q.x``
    and finalizes with ``sqrt(. + |q|^2)``): that saves passes over large blocks.
    ``normalized_dot`` says the metric *is* the dot product of the L2-normalised vectors
    (cosine): an index may then keep a unit-length copy of the database once, on disk,
    instead of normalising it in every process or for every query.
    """

    name: str
    higher_is_more_similar: bool
    pairwise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    description: str = ""
    prepare: Callable[[torch.Tensor], Scorer] | None = field(default=None, compare=False)
    finalize: Finalizer | None = field(default=None, compare=False)
    normalized_dot: bool = False

    def scorer(self, database: torch.Tensor) -> Scorer:
        """Return ``queries -> values against database``, prepared once for repeated queries."""
        if self.prepare is not None:
            return self.prepare(database)
        return lambda queries: self.pairwise(queries, database)

    def exact(self, database: torch.Tensor) -> Scorer:
        """Return ``queries -> exact metric values against database``."""
        scorer = self.scorer(database)
        if self.finalize is None:
            return scorer
        return lambda q: self.finalize(scorer(q), q)

"""What an explainer plugin registers: a way to say which pixels of a query made it similar
to a result. ``vizkit faithfulness`` scores every explainer that applies by deletion and
insertion curves — removing (or revealing) the query's pixels in the order its relevance
ranks them and re-embedding — so a user sees how far each kind of map can be trusted.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

# explain(model, layer, metric, queries, results) -> relevance [B, H, W] over the queries' input
Explain = Callable[[Any, str, str, "torch.Tensor", "torch.Tensor"], "np.ndarray"]


def _always(model: Any, layer: str, metric: str) -> str | None:
    return None


@dataclass(frozen=True)
class Explainer:
    """A kind of similarity explanation contributed by a plugin.

    ``explain(model, layer, metric, queries, results)`` gets the :class:`vizkit.LoadedModel`,
    the layer whose pooled features are compared, the metric's name (``cosine`` or
    ``dot``) and a batch of pairs: the queries and their results as preprocessed input
    tensors ``[B, C, H, W]`` (on the CPU, row i of each a pair); it returns each query's
    relevance as a float array ``[B, H, W]`` at the input's size — higher for pixels that
    add more to the pair's similarity. ``applies(model, layer,
    metric)`` returns None when the explainer can explain that configuration, else one
    sentence saying why not (the faithfulness report shows it). ``random`` marks the
    baseline every method must beat.
    """

    name: str
    description: str
    explain: Explain
    applies: Callable[[Any, str, str], str | None] = _always
    random: bool = False

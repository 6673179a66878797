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

# explain(model, layer, metric, query, result) -> relevance [H, W] over the query's input
Explain = Callable[[Any, str, str, "torch.Tensor", "torch.Tensor"], "np.ndarray"]


def _always(model: Any, layer: str, metric: str) -> str | None:
    return None


@dataclass(frozen=True)
class Explainer:
    """A kind of similarity explanation contributed by a plugin.

    ``explain(model, layer, metric, query, result)`` gets the :class:`vizkit.LoadedModel`,
    the layer whose pooled features are compared, the metric's name (``cosine`` or
    ``dot``) and the query and result as preprocessed input tensors ``[1, C, H, W]`` (on
    the CPU); it returns the query's relevance as a float array ``[H, W]`` at the input's
    size — higher for pixels that add more to the similarity. ``applies(model, layer,
    metric)`` returns None when the explainer can explain that configuration, else one
    sentence saying why not (the faithfulness report shows it). ``random`` marks the
    baseline every method must beat.
    """

    name: str
    description: str
    explain: Explain
    applies: Callable[[Any, str, str], str | None] = _always
    random: bool = False

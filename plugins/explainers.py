"""The built-in similarity explainers that ``vizkit faithfulness`` scores:

- ``decomposition``: vizkit's exact map — the score split over the layer's positions
  (the similarity page's map), upsampled bilinearly to the input;
- ``gradient-x-input``: the score's gradient with respect to the query's pixels times the
  pixels, summed over colour channels;
- ``bilrp``: BiLRP's query-side relevance (Eberle et al., TPAMI 2020) through zennit: LRP
  of the query's embedding with the result's embedding as the initial relevance, so that
  the pixels' relevance sums to the score (epsilon rule for layers, z+ for convolutions,
  flat for the first; batch norms merged into their convolutions). It needs no affine head:
  it explains layers where the decomposition is not defined;
- ``random``: a random map (noise on a 7 x 7 grid, upsampled like the maps), seeded by the
  pixels — the baseline every method must beat.
"""
from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np

from vizkit import hookimpl
from vizkit.api.explainers import Explainer

if TYPE_CHECKING:  # torch is imported when an explainer runs: the light app never does
    import torch


_last_results: list = []  # (model, layer, the results tensor, its version, their embedding)


def _result_embedding(model, layer: str, result: torch.Tensor) -> torch.Tensor:
    """The results' embedding; the explainers of one batch get the same tensor, which is
    embedded once (kept until the next batch)."""
    import torch

    if _last_results:
        m, lay, tensor, version, embedded = _last_results[0]
        if m is model and lay == layer and tensor is result and version == result._version:
            return embedded
    with torch.no_grad():
        embedded = model.pooled_with_grad(result, layer).detach()
    _last_results[:] = [(model, layer, result, result._version, embedded)]
    return embedded


_decomposers: dict[tuple[int, str], object] = {}


def _decomposer(model, layer: str):
    from vizkit.compute.similarity import Decomposer

    key = (id(model), layer)
    if key not in _decomposers:
        _decomposers.clear()  # one model at a time
        _decomposers[key] = Decomposer(model, layer)
    return _decomposers[key]


def decomposition(model, layer: str, metric: str, queries: torch.Tensor,
                  results: torch.Tensor) -> np.ndarray:
    """The exact map of each query's side, at the input's size."""
    import torch
    import torch.nn.functional as F

    from vizkit.compute.pairmaps import query_maps

    spatial = _decomposer(model, layer).spatial_features(torch.cat([queries, results]))
    b = len(queries)
    cells = torch.from_numpy(np.stack([query_maps(spatial[i], [spatial[b + i]], metric)[0].query
                                       for i in range(b)])).float()[:, None]
    return F.interpolate(cells, size=queries.shape[-2:], mode="bilinear",
                         align_corners=False)[:, 0].numpy()


def decomposition_applies(model, layer: str, metric: str) -> str | None:
    from vizkit.compute.pairmaps import NotDecomposableError

    try:
        _decomposer(model, layer)
    except NotDecomposableError as e:
        return str(e)
    return None


def gradient_x_input(model, layer: str, metric: str, queries: torch.Tensor,
                     results: torch.Tensor) -> np.ndarray:
    """d score / d pixel x pixel, summed over channels (the pairs are independent: the
    model is in eval mode, so one backward pass of the summed scores serves them all)."""
    import torch

    from vizkit.compute.faithfulness import similarity

    r = _result_embedding(model, layer, results)
    x = queries.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        score = similarity(model.pooled_with_grad(x, layer), r, metric).sum()
        (grad,) = torch.autograd.grad(score, x)
    return (grad * x.detach()).sum(dim=1).cpu().numpy()


def bilrp(model, layer: str, metric: str, queries: torch.Tensor,
          results: torch.Tensor) -> np.ndarray:
    """LRP of <e(query), target> where target makes the relevance sum to the score: the
    result's embedding (dot), divided by both norms (cosine). The relevance the layer's
    output starts with is each position's exact share of the score (its activation times
    the target, over the number of positions): zennit's rules carry it to the pixels."""
    import torch
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import EpsilonPlusFlat

    from vizkit.runtime.loaded import pool

    r = _result_embedding(model, layer, results)
    relus = [m for m in model.module.modules() if isinstance(m, torch.nn.ReLU) and m.inplace]
    for m in relus:  # zennit's hooks need the layers' outputs intact
        m.inplace = False
    try:
        composite = EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()])
        x = queries.detach().clone().to(model.device).requires_grad_(True)
        with composite.context(model.module), torch.enable_grad():
            out = model.pooled_with_grad(x, layer, pooled=False)
            start = out.detach().float()
            # the query's embedding from the same forward (the rules change the backward
            # pass only; the merged batch norms compute the same outputs)
            e = pool(start)
            target = r / (e.norm(dim=1, keepdim=True) * r.norm(dim=1, keepdim=True)
                          ).clamp_min(1e-12) if metric == "cosine" else r
            if start.ndim == 4:  # [B, C, H, W]
                start = start * target[:, :, None, None] / (start.shape[2] * start.shape[3])
            elif start.ndim == 3:  # tokens [B, L, C]
                start = start * target[:, None, :] / start.shape[1]
            else:
                start = start * target
            (relevance,) = torch.autograd.grad(out, x, grad_outputs=start.to(out.dtype))
    finally:
        for m in relus:
            m.inplace = True
    return relevance.sum(dim=1).detach().cpu().numpy()


RANDOM_GRID = 7  # cells per side of the random map: as coarse as a last stage's map


def random_order(model, layer: str, metric: str, queries: torch.Tensor,
                 results: torch.Tensor) -> np.ndarray:
    """A random map as smooth as the maps it is compared with — noise on a 7 x 7 grid,
    upsampled bilinearly (scattered single pixels would be deleted as salt and pepper, a
    far stronger perturbation than any map's regions) — seeded by each query's pixels: the
    same query, the same order."""
    import torch
    import torch.nn.functional as F

    cells = np.stack([np.random.default_rng(zlib.crc32(q.detach().cpu().numpy().tobytes()))
                      .random((RANDOM_GRID, RANDOM_GRID)) for q in queries])
    return F.interpolate(torch.from_numpy(cells).float()[:, None], size=queries.shape[-2:],
                         mode="bilinear", align_corners=False)[:, 0].numpy()


@hookimpl
def register_explainers(register):
    """Register the decomposition, gradient x input, BiLRP and the random baseline."""
    register(Explainer("decomposition", "vizkit's exact map of the score over the layer's "
                       "positions, upsampled", decomposition, decomposition_applies))
    register(Explainer("gradient-x-input", "the score's gradient times the pixels",
                       gradient_x_input))
    register(Explainer("bilrp", "BiLRP (zennit): LRP of the query's embedding toward the "
                       "result's; relevance sums to the score", bilrp))
    register(Explainer("random", "a random pixel order: the baseline", random_order,
                       random=True))

"""Built-in metrics: cosine, dot, euclidean, squared euclidean, minkowski (p = 1, 3).

The functions take and return torch tensors and import torch when first called, so that
registering them (every ``vizkit`` start, every app page) does not: a precomputed cosine
search runs on numpy alone (:mod:`vizkit.compute.indexes`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from vizkit import hookimpl
from vizkit.api.metrics import Metric

if TYPE_CHECKING:
    import torch


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    return F.normalize(a, dim=1, eps=1e-12) @ F.normalize(b, dim=1, eps=1e-12).T


def _prepare_cosine(database: torch.Tensor):
    import torch.nn.functional as F

    normed = F.normalize(database, dim=1, eps=1e-12)
    return lambda q: F.normalize(q, dim=1, eps=1e-12) @ normed.T


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a @ b.T


def _sqeuclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _sq_from_norms(a, (b * b).sum(1), b)


def _sq_from_norms(q: torch.Tensor, db_sq: torch.Tensor, db: torch.Tensor) -> torch.Tensor:
    # |q|^2 + |x|^2 - 2 q.x in float32, clamped at 0 (rounding can make it slightly negative)
    d = (q * q).sum(1, keepdim=True) + db_sq[None, :] - 2.0 * (q @ db.T)
    return d.clamp_min_(0.0)


def _prepare_sq_rank(database: torch.Tensor):
    # |x|^2 - 2 q.x in one fused pass ranks like the squared distance (|q|^2 is constant).
    import torch

    db_sq = (database * database).sum(1)[None, :]
    return lambda q: torch.addmm(db_sq, q, database.T, alpha=-2.0)


def _finalize_sq(partial: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return (partial + (q * q).sum(1, keepdim=True)).clamp_min_(0.0)


def _minkowski(p: float):
    def distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.cdist(a, b, p=p)
    return distance


METRICS = (
    Metric("cosine", True, _cosine, "Cosine similarity (1 = same direction).",
           prepare=_prepare_cosine, normalized_dot=True),
    Metric("dot", True, _dot, "Dot product (unnormalised similarity)."),
    Metric("euclidean", False, lambda a, b: _sqeuclidean(a, b).sqrt_(),
           "Euclidean (L2) distance.", prepare=_prepare_sq_rank,
           finalize=lambda v, q: _finalize_sq(v, q).sqrt_()),
    Metric("sqeuclidean", False, _sqeuclidean, "Squared euclidean distance.",
           prepare=_prepare_sq_rank, finalize=_finalize_sq),
    Metric("manhattan", False, _minkowski(1.0), "Minkowski distance with p = 1 (city block)."),
    Metric("minkowski3", False, _minkowski(3.0), "Minkowski distance with p = 3."),
)


@hookimpl
def register_metrics(register):
    """Register the built-in metrics."""
    for metric in METRICS:
        register(metric)

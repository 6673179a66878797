"""Typed rows for what a store holds. Pages and the CLI use these fields; only
:mod:`vizkit.read.catalog` knows how they are stored (``name#fingerprint`` keys, JSON
parameters, ``run:epoch`` labels)."""
from __future__ import annotations

from dataclasses import dataclass, field

from vizkit.identity import CheckpointId

UNLABELLED = "(unlabelled)"


@dataclass(frozen=True)
class DatasetRef:
    """A stored dataset: its key in the store, the name a user types, its fingerprint."""

    key: str
    name: str
    fingerprint: str


@dataclass(frozen=True)
class FeaturesRow:
    """Pooled features of one layer over one dataset under one model's weights."""

    result_key: str
    dataset: DatasetRef
    model: str
    weights: str  # pretrained | random | file
    weights_fp: str
    layer: str
    n: int
    dim: int
    input_size: int | None = None
    checkpoint: str | None = None  # "run:epoch" when the weights are a vizkit checkpoint
    run: str | None = None
    epoch: int | None = None
    preprocess: dict = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        """How the model is named in pickers: ``model @ run:epoch`` or
        ``model (weights, fingerprint)``."""
        if self.checkpoint:
            return f"{self.model} @ {self.checkpoint}"
        return f"{self.model} ({self.weights}, {self.weights_fp[:6]})"


@dataclass(frozen=True)
class NeighborsRow:
    """Stored top-``k`` lists of every image of a features result under a metric."""

    result_key: str
    source_key: str
    metric: str
    k: int


@dataclass(frozen=True)
class SeriesRef:
    """The layouts of one run's checkpoints on one aligned map: which run, layer, dataset."""

    run: str
    layer: str
    dataset: DatasetRef

    @property
    def label(self) -> str:
        return f"{self.run} / {self.layer} / {self.dataset.name}"


@dataclass(frozen=True)
class LayoutRow:
    """A stored 2-D layout of a features result (``features``), made by ``method``; part
    of a training ``series`` (aligned to the previous checkpoint's, or ``aligned=False``
    computed on its own) or a single layout (``series`` None)."""

    result_key: str
    features: FeaturesRow
    method: str
    seed: int
    aligned: bool
    series: SeriesRef | None

    @property
    def epoch(self) -> int | None:
        return self.features.epoch


@dataclass(frozen=True)
class ClustersRow:
    """k-means clusters of a features result's images."""

    result_key: str
    source_key: str
    k: int


@dataclass(frozen=True)
class PredictionsRow:
    """A classifier's predicted class per image of a dataset, under one model's weights."""

    result_key: str
    dataset: DatasetRef
    model: str
    weights: str
    weights_fp: str
    checkpoint: str | None = None
    run: str | None = None
    epoch: int | None = None

    @property
    def label(self) -> str:
        if self.checkpoint:
            return f"{self.model} @ {self.checkpoint}"
        return f"{self.model} ({self.weights}, {self.weights_fp[:6]})"


@dataclass(frozen=True)
class MapsRow:
    """Precomputed similarity maps of some queries of a features result against their
    top-``k`` under ``metric`` (the maps themselves split ``map_metric``)."""

    result_key: str
    source_key: str
    metric: str
    map_metric: str
    k: int
    n: int


@dataclass(frozen=True)
class FindingsRow:
    """A finding measured over a features result's images: its metric, results per query,
    and the summary the job stored — ``finding`` "object": object_share, area_share, ci95,
    n_queries, per_class; "parts": parts ({name: ratio, ci95, n}), radius, n_queries."""

    result_key: str
    source_key: str
    finding: str
    metric: str
    k: int
    summary: dict = field(compare=False)


@dataclass(frozen=True)
class DissectionRow:
    """A layer's channels dissected over a dataset's object regions: per channel its best
    concept and IoU (``params["channels"]``), and the detector count per concept."""

    result_key: str
    dataset: DatasetRef
    weights_fp: str
    layer: str
    params: dict = field(compare=False)


@dataclass(frozen=True)
class CheckpointRow:
    """One epoch of a training run: its file (resolved against the store's folder), the
    file's SHA-256, the weights' fingerprint and the metrics measured at it."""

    run: str
    epoch: int
    file: str
    sha256: str
    weights_fp: str
    metrics: dict = field(compare=False)

    @property
    def label(self) -> str:
        return CheckpointId(self.run, self.epoch).label


@dataclass(frozen=True)
class RunRow:
    """A training run: its model, dataset, configuration and stored epochs."""

    run: str
    model: str
    dataset: DatasetRef
    config: dict = field(compare=False)
    epochs: tuple[int, ...] = ()


@dataclass(frozen=True)
class IndexRow:
    """A stored nearest-neighbour index of a features result under a metric: its kind,
    whether it is exact, its parameters and its recall measured against exact search."""

    result_key: str
    source_key: str
    metric: str
    kind: str
    exact: bool
    params: dict = field(compare=False)

    @property
    def recall(self) -> float | None:
        return self.params.get("recall")

    @property
    def label(self) -> str:
        """``faiss-ivf (recall@50 0.981 on 500 queries)`` or ``exact``."""
        if self.exact or self.recall is None:
            return self.kind
        return (f"{self.kind} (recall@{self.params.get('recall_k')} {self.recall:.3f} "
                f"measured on {self.params.get('recall_queries')} queries, re-ranked exactly)")


@dataclass(frozen=True)
class AtlasRow:
    """An image atlas of a stored layout: ``levels`` zoom levels of tiles ``cells`` cells
    wide, each cell ``cell_px`` pixels at its own level, over ``n`` images."""

    result_key: str
    layout_key: str
    levels: int
    cells: int
    cell_px: int
    n: int
    world: float = 256.0

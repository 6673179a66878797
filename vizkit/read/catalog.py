"""The read side's entry point: a :class:`Reader` per store, holding the catalog of finished
results as typed rows (re-read when the store file changes) and caching the immutable
things pages ask for again and again (image tables, feature matrices, thumbnails).

This module is the one place that decodes how results are stored: ``name#fingerprint``
dataset keys, JSON parameters, ``run:epoch`` checkpoint labels (joined to the checkpoints
table by the weights' fingerprint), a layout series written as a string by older versions.
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vizkit.errors import ResultMissingError, StoreError
from vizkit.identity import CheckpointId, DatasetId
from vizkit.read.rows import (
    UNLABELLED,
    AtlasRow,
    CheckpointRow,
    ClustersRow,
    DatasetRef,
    DissectionRow,
    FeaturesRow,
    FindingsRow,
    IndexRow,
    LayoutRow,
    MapsRow,
    NeighborsRow,
    PredictionsRow,
    RunRow,
    SeriesRef,
)
from vizkit.store import Store, shards

REFRESH_S = 1.0  # how often, at most, the store file is checked for new results
MATRICES_KEPT = 8
THUMBNAILS_KEPT = 20_000
THUMBNAILS_PRELOADED = 200_000  # a dataset this small has its thumbnails read once


@dataclass(frozen=True)
class ImageTable:
    """A stored dataset's images: ``table`` (idx, image_id, label, split), its class names,
    and each image's class name (``(unlabelled)`` for -1)."""

    dataset: DatasetRef
    table: pd.DataFrame = field(compare=False)
    classes: list[str] = field(compare=False)

    @property
    def labels(self) -> np.ndarray:
        return self.table["label"].to_numpy()

    @property
    def class_names(self) -> np.ndarray:
        names = np.array(list(self.classes) + [UNLABELLED], dtype=object)
        labels = self.labels
        return names[np.where((labels >= 0) & (labels < len(self.classes)), labels, -1)]

    def class_name(self, label: int) -> str:
        return self.classes[label] if 0 <= label < len(self.classes) else UNLABELLED

    def caption(self, idx: int) -> str:
        """``<image id> · <class>`` of image ``idx``."""
        row = self.table.iloc[idx]
        return f"{row['image_id']} · {self.class_name(int(row['label']))}"


@dataclass
class Catalog:
    """Every finished result of a store, as typed rows, at one moment."""

    datasets: dict[str, DatasetRef] = field(default_factory=dict)
    classes: dict[str, list[str]] = field(default_factory=dict)
    features: dict[str, FeaturesRow] = field(default_factory=dict)
    neighbors: list[NeighborsRow] = field(default_factory=list)
    layouts: list[LayoutRow] = field(default_factory=list)
    clusters: list[ClustersRow] = field(default_factory=list)
    predictions: list[PredictionsRow] = field(default_factory=list)
    maps: list[MapsRow] = field(default_factory=list)
    findings: list[FindingsRow] = field(default_factory=list)
    dissections: list[DissectionRow] = field(default_factory=list)
    indexes: list[IndexRow] = field(default_factory=list)
    atlases: list[AtlasRow] = field(default_factory=list)
    files: dict[str, dict[str, shards.Shard]] = field(default_factory=dict)  # key -> name -> file
    runs: dict[str, RunRow] = field(default_factory=dict)
    checkpoints: dict[tuple[str, int], CheckpointRow] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def dataset_ref(key: str, datasets: dict[str, DatasetRef] | None = None) -> DatasetRef:
    """The :class:`DatasetRef` of a stored dataset key (``name#fingerprint``)."""
    key = key if isinstance(key, str) else ""
    if datasets and key in datasets:
        return datasets[key]
    ident = DatasetId.parse(key)
    return DatasetRef(key, ident.name, ident.fingerprint)


def _params(text) -> dict:
    try:
        return json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}


def _text(value) -> str | None:
    """A nullable text column's value (pandas gives NaN for NULL)."""
    return value if isinstance(value, str) and value else None


def load_catalog(store: Store) -> Catalog:
    """Read the store's catalog tables (one connection) into typed rows."""
    tables = store.snapshot()
    if not tables:
        return Catalog()
    cat = Catalog(counts=tables["counts"])
    for r in tables["shards"].to_dict("records"):
        cat.files.setdefault(r["result_key"], {})[r["name"]] = shards.shard_of(store.path, r)
    for r in tables["datasets"].to_dict("records"):
        cat.datasets[r["dataset_key"]] = DatasetRef(r["dataset_key"], r["name"],
                                                    r["fingerprint"])
        cat.classes[r["dataset_key"]] = json.loads(r["classes"] or "[]")
    by_fp: dict[str, CheckpointRow] = {}
    for r in tables["checkpoints"].to_dict("records"):
        row = CheckpointRow(r["run"], int(r["epoch"]), str(store.file(r["path"])),
                            r["sha256"], r["weights_fp"], _params(r["metrics"]))
        cat.checkpoints[(row.run, row.epoch)] = row
        by_fp[row.weights_fp] = row
    for r in tables["runs"].to_dict("records"):
        epochs = tuple(e for run, e in cat.checkpoints if run == r["run"])
        cat.runs[r["run"]] = RunRow(r["run"], r["model"], dataset_ref(r["dataset_key"],
                                                                      cat.datasets),
                                    _params(r["config"]), epochs)
    results = tables["results"].to_dict("records")
    for r in results:
        if r["kind"] == "features":
            cat.features[r["result_key"]] = _features_row(r, cat.datasets, cat.checkpoints,
                                                          by_fp)
    for r in results:
        kind, params = r["kind"], _params(r["params"])
        if kind == "neighbors":
            cat.neighbors.append(NeighborsRow(r["result_key"], r["source_key"], r["metric"],
                                              int(r["k"])))
        elif kind == "projections" and r["source_key"] in cat.features:
            cat.layouts.append(_layout_row(r, params, cat.features[r["source_key"]],
                                           cat.datasets))
        elif kind == "clusters":
            cat.clusters.append(ClustersRow(r["result_key"], r["source_key"],
                                            int(params.get("k", 0))))
        elif kind == "predictions":
            ck = _checkpoint_of(_text(r["checkpoint"]), r["weights_fp"], cat.checkpoints,
                                by_fp)
            cat.predictions.append(PredictionsRow(
                r["result_key"], dataset_ref(r["dataset_key"], cat.datasets), r["model"],
                r["weights"], r["weights_fp"], _text(r["checkpoint"]),
                ck.run if ck else None, ck.epoch if ck else None))
        elif kind == "index":
            cat.indexes.append(IndexRow(r["result_key"], r["source_key"], r["metric"],
                                        params.get("index", "?"), bool(params.get("exact")),
                                        params))
        elif kind == "findings" and r["source_key"] in cat.features:
            cat.findings.append(FindingsRow(r["result_key"], r["source_key"],
                                            params.get("finding", "?"), r["metric"],
                                            int(r["k"]), params))
        elif kind == "dissection":
            cat.dissections.append(DissectionRow(r["result_key"], dataset_ref(
                r["dataset_key"], cat.datasets), r["weights_fp"], r["layer"], params))
        elif kind == "atlas":
            cat.atlases.append(AtlasRow(r["result_key"], r["source_key"],
                                        int(params.get("levels", 1)),
                                        int(params.get("cells", 8)),
                                        int(params.get("cell_px", 32)), int(r["n"]),
                                        float(params.get("world", 256.0))))
        elif kind == "simmaps":
            cat.maps.append(MapsRow(r["result_key"], r["source_key"], r["metric"],
                                    params.get("map_metric", r["metric"]), int(r["k"]),
                                    int(r["n"])))
    return cat


def _checkpoint_of(label: str | None, weights_fp: str, checkpoints: dict,
                   by_fp: dict) -> CheckpointRow | None:
    """The checkpoint a result's weights came from: its ``run:epoch`` label when that
    checkpoint has these weights, else the checkpoint with these weights."""
    if not label:
        return None
    try:
        ident = CheckpointId.parse(label)
    except ValueError:
        ident = None
    row = checkpoints.get((ident.run, ident.epoch)) if ident and ident.epoch is not None \
        else None
    return row if row is not None and row.weights_fp == weights_fp else by_fp.get(weights_fp)


def _features_row(r: dict, datasets: dict, checkpoints: dict, by_fp: dict) -> FeaturesRow:
    pre = _params(r["params"]).get("preprocess") or {}
    checkpoint = _text(r["checkpoint"])
    ck = _checkpoint_of(checkpoint, r["weights_fp"], checkpoints, by_fp)
    return FeaturesRow(r["result_key"], dataset_ref(r["dataset_key"], datasets), r["model"],
                       r["weights"], r["weights_fp"], r["layer"], int(r["n"]), int(r["dim"]),
                       pre.get("height"), checkpoint, ck.run if ck else None,
                       ck.epoch if ck else None, pre)


def _layout_row(r: dict, params: dict, features: FeaturesRow, datasets: dict) -> LayoutRow:
    series = params.get("series")
    ref = None
    if isinstance(series, dict):
        ref = SeriesRef(series["run"], series["layer"], dataset_ref(series["dataset"],
                                                                     datasets))
    elif isinstance(series, str) and series != "single":  # "run/layer/dataset_key" (v1)
        run, layer, key = series.split("/", 2)
        ref = SeriesRef(run, layer, dataset_ref(key, datasets))
    return LayoutRow(r["result_key"], features, params.get("method", "?"),
                     int(params.get("seed", 0)), bool(params.get("aligned", True)), ref)


class Reader:
    """The read side of one store for the app and the CLI. Thread-safe; one per store per
    process (the app keeps it in ``st.cache_resource``). Results never change once written,
    so what is read by key is cached; the catalog is re-read when the store file changes."""

    def __init__(self, store: Store | str | Path | None = None):
        self.store = store if isinstance(store, Store) else Store(store)
        self._lock = threading.RLock()
        self._catalog: Catalog | None = None
        self._stamp: tuple | None = None
        self._checked = 0.0
        self._images: dict[str, ImageTable] = {}
        self._matrices: OrderedDict[str, np.ndarray] = OrderedDict()
        self._thumbs: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._per_image: OrderedDict[tuple[str, str], pd.DataFrame] = OrderedDict()
        self._memo: dict[str, OrderedDict] = {}

    @property
    def path(self) -> Path:
        return self.store.path

    # -- the catalog ----------------------------------------------------------------
    def catalog(self) -> Catalog:
        """The catalog, re-read when the store file changed (checked at most every
        :data:`REFRESH_S`), so results a running job commits appear."""
        with self._lock:
            now = time.monotonic()
            if self._catalog is not None and now - self._checked < REFRESH_S:
                return self._catalog
            self._checked = now
            stamp = self._file_stamp()
            if self._catalog is None or stamp != self._stamp:
                self._catalog, self._stamp = load_catalog(self.store), stamp
            return self._catalog

    def _file_stamp(self) -> tuple:
        out = []
        for p in (self.store.path, self.store.path.with_name(self.store.path.name + ".wal")):
            try:
                st = p.stat()
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    def version(self) -> tuple:
        """Changes whenever the store file does (for results that may be replaced, such as
        the explorer's channel images): memo keys include it."""
        self.catalog()
        return self._stamp

    def ready(self) -> bool:
        """Whether the store exists and holds vizkit's tables."""
        return bool(self.catalog().counts)

    def features_rows(self) -> list[FeaturesRow]:
        """Every stored features result, oldest first."""
        return list(self.catalog().features.values())

    def features(self, result_key: str) -> FeaturesRow:
        """The features result ``result_key``."""
        row = self.catalog().features.get(result_key)
        if row is None:
            raise ResultMissingError(f"No features stored under {result_key}.")
        return row

    def classes(self, dataset: DatasetRef | str) -> list[str]:
        """A stored dataset's class names, without reading its image table."""
        key = dataset if isinstance(dataset, str) else dataset.key
        return self.catalog().classes.get(key) or self.store.dataset(key)["classes"]

    # -- immutable results, cached ----------------------------------------------------
    def images(self, dataset: DatasetRef | str) -> ImageTable:
        """A stored dataset's image table and classes."""
        key = dataset if isinstance(dataset, str) else dataset.key
        with self._lock:
            if key not in self._images:
                self._images[key] = ImageTable(dataset_ref(key, self.catalog().datasets),
                                               self.store.image_table(key), self.classes(key))
            return self._images[key]

    def matrix(self, result_key: str) -> np.ndarray:
        """A stored ``[n, dim]`` float32 feature matrix (read-only; shared, not copied)."""
        with self._lock:
            if result_key in self._matrices:
                self._matrices.move_to_end(result_key)
                return self._matrices[result_key]
        files = self.catalog().files.get(result_key, {})
        matrix = shards.open_verified(files["features"]) if "features" in files else \
            self.store.features(result_key)
        row = self.catalog().features.get(result_key)
        if row is not None and (matrix.ndim != 2 or matrix.shape != (row.n, row.dim)):
            raise StoreError(f"The features of {result_key} are a {matrix.shape} matrix where "
                             f"the store recorded ({row.n}, {row.dim}). {shards.REBUILD}.")
        if matrix.flags.writeable:
            matrix.setflags(write=False)
        with self._lock:
            self._matrices[result_key] = matrix
            while len(self._matrices) > MATRICES_KEPT:
                self._matrices.popitem(last=False)
        return matrix

    def neighbor_lists(self, result_key: str) -> tuple[np.ndarray, np.ndarray]:
        """A result's stored neighbour indices and scores ``[n, k]`` (memory-mapped)."""
        files = self.catalog().files.get(result_key, {})
        if "nbr" in files:
            nbr, score = shards.open_verified(files["nbr"]), shards.open_verified(files["score"])
            if nbr.shape != score.shape:
                raise StoreError(f"The neighbour lists of {result_key} have {nbr.shape} ids "
                                 f"but {score.shape} scores. {shards.REBUILD}.")
            return nbr, score
        return self.memo("neighbour rows", result_key,
                         lambda: self.store.neighbor_lists(result_key))

    def files(self, result_key: str) -> dict[str, shards.Shard]:
        """The data files of a result, by name, as recorded (not yet verified)."""
        return self.catalog().files.get(result_key, {})

    def verify_files(self, result_key: str) -> None:
        """Verify every data file of a result (:func:`shards.verify`) before it is opened
        by other code, such as an index plugin."""
        for shard in self.files(result_key).values():
            shards.verify(shard)

    def thumbnails(self, dataset: DatasetRef | str, idxs) -> dict[int, bytes]:
        """PNG thumbnails of images ``idxs``, by idx: a dataset of up to
        :data:`THUMBNAILS_PRELOADED` images is read whole once; of a larger one, the images
        not cached are read in one query."""
        key = dataset if isinstance(dataset, str) else dataset.key
        idxs = [int(i) for i in idxs]
        if len(self.images(key).table) <= THUMBNAILS_PRELOADED:
            every = self.memo("all thumbnails", key, lambda: self.store.thumbnails(key, None),
                              keep=2)
            return {i: every[i] for i in idxs if i in every}
        with self._lock:
            missing = [i for i in dict.fromkeys(idxs) if (key, i) not in self._thumbs]
        fetched = self.store.thumbnails(key, missing) if missing else {}
        with self._lock:
            for i, png in fetched.items():
                self._thumbs[(key, i)] = png
            out = {}
            for i in idxs:
                if (key, i) in self._thumbs:
                    self._thumbs.move_to_end((key, i))
                    out[i] = self._thumbs[(key, i)]
            while len(self._thumbs) > THUMBNAILS_KEPT:
                self._thumbs.popitem(last=False)
        return out

    def per_image(self, table: str, result_key: str) -> pd.DataFrame:
        """A stored per-image result (projections, clusters, predictions), by image."""
        with self._lock:
            if (table, result_key) not in self._per_image:
                self._per_image[(table, result_key)] = self.store.per_image(table, result_key)
                while len(self._per_image) > 64:
                    self._per_image.popitem(last=False)
            return self._per_image[(table, result_key)]

    def memo(self, namespace: str, key, make, keep: int = 8):
        """``make()``, computed once per ``key`` and kept (the last ``keep`` per namespace):
        what is derived from immutable results — a metric prepared over a matrix, a loaded
        model, a per-image table. ``make`` runs outside the lock; a race computes twice."""
        with self._lock:
            space = self._memo.setdefault(namespace, OrderedDict())
            if key in space:
                space.move_to_end(key)
                return space[key]
        value = make()
        with self._lock:
            space[key] = value
            while len(space) > keep:
                space.popitem(last=False)
        return value

"""Projections, clusters and predictions as the pages read them: the stored layouts, one
table per layout with every image's position, class, cluster and prediction (built once per
stored result), a run's series of aligned layouts, and cluster quality per epoch."""
from __future__ import annotations

import numpy as np
import pandas as pd

from vizkit.compute.clustering import (
    confusion,
    flows,
    match_clusters,
    nearest_to_centre,
    nmi,
    purity,
)
from vizkit.compute.projection import mean_displacement
from vizkit.errors import ResultMissingError
from vizkit.read.catalog import Reader
from vizkit.read.rows import FeaturesRow, LayoutRow, PredictionsRow, SeriesRef

PREFERRED_LAYERS = ("embedding", "pre_logits")  # for neighbours of a classifier's mistakes


def layouts(reader: Reader) -> list[LayoutRow]:
    """The layouts the projection page shows (single ones and the aligned layouts of
    series), oldest first."""
    rows = [r for r in reader.catalog().layouts if r.aligned]
    if not rows:
        raise ResultMissingError("The store has no 2-D layouts yet.")
    return rows


def coords(reader: Reader, layout: LayoutRow) -> np.ndarray:
    """A layout's ``[n, 2]`` positions."""
    return reader.memo("coords", layout.result_key, lambda: reader.per_image(
        "projections", layout.result_key)[["x", "y"]].to_numpy(np.float32), keep=64)


def clusters_of(reader: Reader, frow: FeaturesRow) -> np.ndarray | None:
    """Each image's k-means cluster under ``frow`` (None when not stored), and distances."""
    rows = [c for c in reader.catalog().clusters if c.source_key == frow.result_key]
    if not rows:
        return None
    return reader.per_image("clusters", rows[-1].result_key)


def predictions_for(reader: Reader, frow: FeaturesRow) -> PredictionsRow | None:
    """The stored predictions of the model that made ``frow`` on its dataset, if any."""
    rows = [p for p in reader.catalog().predictions
            if p.dataset.key == frow.dataset.key and p.weights_fp == frow.weights_fp]
    return rows[-1] if rows else None


def colour_options(reader: Reader, layout: LayoutRow) -> list[str]:
    """What a layout's points can be coloured by (the columns :func:`point_table` has for
    it), known from the catalog without building that table."""
    frow = layout.features
    has_clusters = any(c.source_key == frow.result_key for c in reader.catalog().clusters)
    return ["class", *(["cluster"] if has_clusters else []),
            *(["predicted", "correct"] if predictions_for(reader, frow) else []), "split"]


def point_table(reader: Reader, layout: LayoutRow) -> pd.DataFrame:
    """Per image of a layout: x, y, idx, image_id, class, label, split and, when stored,
    cluster, dist (to its centre), predicted and correct. Built once per layout."""
    def make() -> pd.DataFrame:
        images = reader.images(layout.features.dataset)
        xy = coords(reader, layout)
        df = pd.DataFrame({"idx": np.arange(len(xy)), "x": xy[:, 0], "y": xy[:, 1],
                           "image_id": images.table["image_id"].to_numpy(),
                           "class": images.class_names, "label": images.labels,
                           "split": images.table["split"].to_numpy()})
        cl = clusters_of(reader, layout.features)
        if cl is not None:
            df["cluster"], df["dist"] = cl["cluster"].to_numpy(), cl["dist"].to_numpy()
        prow = predictions_for(reader, layout.features)
        if prow is not None:
            pred = reader.per_image("predictions", prow.result_key)["pred"].to_numpy()
            df["predicted"] = np.asarray(images.classes, dtype=object)[pred]
            df["correct"] = np.where(pred == df["label"].to_numpy(), "yes", "no")
        return df
    return reader.memo("point table", layout.result_key, make, keep=16)


def cluster_quality(reader: Reader, layout: LayoutRow) -> dict[str, float] | None:
    """Purity and NMI of the layout's clusters against the labels (labelled images only),
    computed once per stored result; None without clusters or labels."""
    def make():
        df = point_table(reader, layout)
        if "cluster" not in df:
            return None
        keep = df["label"].to_numpy() >= 0
        if not keep.any():
            return {"clusters": int(df["cluster"].max()) + 1}
        labels, assign = df["label"].to_numpy()[keep], df["cluster"].to_numpy()[keep]
        return {"clusters": int(df["cluster"].max()) + 1, "purity": purity(labels, assign),
                "nmi": nmi(labels, assign)}
    return reader.memo("cluster quality", layout.result_key, make, keep=64)


def cluster_summary(reader: Reader, layout: LayoutRow) -> pd.DataFrame | None:
    """Per k-means cluster of the layout's features (the index, ascending): its number of
    ``images``, its most common class (``top_class``) and that class's share
    (``top_share``); None without clusters. Computed once per layout."""
    def make():
        df = point_table(reader, layout)
        if "cluster" not in df:
            return None
        cluster = df["cluster"].to_numpy().astype(np.int64)
        codes, names = pd.factorize(df["class"], sort=True)
        keep = (cluster >= 0) & (codes >= 0)
        k, m = int(cluster.max()) + 1, max(len(names), 1)
        counts = np.bincount(cluster[keep] * m + codes[keep], minlength=k * m).reshape(k, m)
        images = counts.sum(1)
        present = np.flatnonzero(images)
        top = counts[present].argmax(1)
        return pd.DataFrame({"images": images[present],
                             "top_class": np.asarray(names, dtype=object)[top],
                             "top_share": counts[present, top] / images[present]},
                            index=pd.Index(present, name="cluster"))
    return reader.memo("cluster summary", layout.result_key, make, keep=16)


def matched_clusters(reader: Reader, by_epoch: dict[int, LayoutRow]) -> dict[int, np.ndarray]:
    """Each checkpoint's k-means clusters (where stored), renumbered so that a cluster keeps
    its number — and so its colour — from one checkpoint to the next."""
    found = {}
    for epoch in sorted(by_epoch):
        cl = clusters_of(reader, by_epoch[epoch].features)
        if cl is not None:
            found[epoch] = cl["cluster"].to_numpy()
    return dict(zip(found, match_clusters(list(found.values()))))


# -- a run's layouts over its checkpoints ------------------------------------------------
def series(reader: Reader) -> list[SeriesRef]:
    """Every (run, layer, dataset) with layouts of its checkpoints."""
    found = list(dict.fromkeys(r.series for r in reader.catalog().layouts if r.series))
    if not found:
        raise ResultMissingError("No training run has layouts yet.")
    return found


def series_layouts(reader: Reader, ref: SeriesRef, method: str | None = None,
                   aligned: bool = True) -> dict[int, LayoutRow]:
    """The layouts of a series by epoch (the newest per epoch), of one method."""
    rows = [r for r in reader.catalog().layouts if r.series == ref and r.aligned == aligned
            and (method is None or r.method == method) and r.epoch is not None]
    return {r.epoch: r for r in sorted(rows, key=lambda r: r.epoch)}


def methods(reader: Reader, ref: SeriesRef) -> list[str]:
    return sorted({r.method for r in reader.catalog().layouts if r.series == ref})


def epoch_quality(reader: Reader, ref: SeriesRef, method: str) -> pd.DataFrame:
    """NMI and purity of the clusters at each epoch of the series (indexed by epoch)."""
    rows = []
    for epoch, layout in series_layouts(reader, ref, method).items():
        q = cluster_quality(reader, layout)
        if q and "nmi" in q:
            rows.append({"epoch": epoch, "NMI": q["nmi"], "purity": q["purity"]})
    return pd.DataFrame(rows, columns=["epoch", "NMI", "purity"]).set_index("epoch")


def displacement(reader: Reader, ref: SeriesRef, method: str) -> pd.DataFrame:
    """Mean displacement of a point between consecutive epochs: for the aligned layouts
    and, when stored, for layouts computed independently (what alignment buys)."""
    def steps(layouts: dict[int, LayoutRow]) -> list[float]:
        epochs = sorted(layouts)
        return [mean_displacement(coords(reader, layouts[a]), coords(reader, layouts[b]))
                for a, b in zip(epochs, epochs[1:])]
    aligned = series_layouts(reader, ref, method)
    epochs = sorted(aligned)
    out = {"aligned": steps(aligned)}
    alone = series_layouts(reader, ref, method, aligned=False)
    if sorted(alone) == epochs:
        out["independent layouts"] = steps(alone)
    return pd.DataFrame(out, index=[f"{a}→{b}" for a, b in zip(epochs, epochs[1:])])


# -- predictions: the confusion page -------------------------------------------------------
def prediction_rows(reader: Reader) -> list[PredictionsRow]:
    """Every stored prediction result, ordered by dataset then epoch."""
    rows = reader.catalog().predictions
    if not rows:
        raise ResultMissingError("No predictions stored yet (they come with each "
                                 "checkpoint's layouts).")
    return sorted(rows, key=lambda p: (p.dataset.name, -1 if p.epoch is None else p.epoch))


def features_for_predictions(reader: Reader, prow: PredictionsRow) -> FeaturesRow | None:
    """Features of the same model on the same images, preferring its embedding."""
    rows = [f for f in reader.features_rows()
            if f.dataset.key == prow.dataset.key and f.weights_fp == prow.weights_fp]
    if not rows:
        return None
    return sorted(rows, key=lambda r: PREFERRED_LAYERS.index(r.layer)
                  if r.layer in PREFERRED_LAYERS else 9)[0]


def confusion_of(reader: Reader, prow: PredictionsRow) -> tuple[np.ndarray, np.ndarray]:
    """The stored predictions of ``prow`` (a class per image) and their confusion matrix
    over the labelled images (rows: true class, columns: predicted)."""
    images = reader.images(prow.dataset)
    pred = reader.per_image("predictions", prow.result_key)["pred"].to_numpy()
    keep = images.labels >= 0
    return pred, confusion(images.labels[keep], pred[keep], len(images.classes))


def cluster_moves(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """How many images went from each cluster of ``before`` to each of ``after``
    ``[clusters before, clusters after]`` (the same images, two epochs)."""
    return flows(before, after)


def centre_images(clusters: np.ndarray, dist: np.ndarray, cluster: int, n: int) -> np.ndarray:
    """Positions of the ``n`` images of ``cluster`` nearest its centre."""
    return nearest_to_centre(clusters, dist, cluster, n)

"""Findings as the Findings page and ``vizkit findings`` read them: each stored finding with
the configuration it measured, its per-query numbers, two findings compared on the queries
both answered (the paired difference and its interval), and the stored dissections."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vizkit.compute.dissection import IOU_THRESHOLD as IOU_THRESHOLD  # detectors
from vizkit.compute.findings import bootstrap_ci, paired_diff_ci
from vizkit.read.catalog import Reader
from vizkit.read.rows import DissectionRow, FeaturesRow, FindingsRow
from vizkit.store import shards


@dataclass(frozen=True)
class Finding:
    """A stored finding, the features it was measured on, and its per-query numbers
    (``queries``: idx, class, share, area)."""

    row: FindingsRow
    features: FeaturesRow
    queries: pd.DataFrame

    @property
    def label(self) -> str:
        """The configuration, as a person reads it."""
        return f"{self.features.label} · {self.features.layer} · {self.row.metric}"


def findings(reader: Reader, finding: str = "object") -> list[FindingsRow]:
    """The stored findings of one kind, oldest first."""
    cat = reader.catalog()
    return [f for f in cat.findings if f.finding == finding and f.source_key in cat.features]


def load(reader: Reader, row: FindingsRow) -> Finding:
    """A finding with its per-query numbers (files checked before they are read)."""
    def make() -> Finding:
        files = reader.catalog().files.get(row.result_key, {})
        frow = reader.catalog().features[row.source_key]
        images = reader.images(frow.dataset)
        idx = np.asarray(shards.open_verified(files["idx"]), np.int64)
        table = pd.DataFrame({"idx": idx,
                              "class": [images.class_name(int(images.labels[i])) for i in idx],
                              "share": np.asarray(shards.open_verified(files["share"])),
                              "area": np.asarray(shards.open_verified(files["area"]))})
        return Finding(row, frow, table)
    return reader.memo("finding", row.result_key, make, keep=16)


def compare(a: Finding, b: Finding, seed: int = 0) -> dict:
    """B against A on the queries both measured: B's summary over those queries and the
    paired interval of A - B (``diff``, ``diff_ci95``)."""
    both = a.queries.merge(b.queries, on="idx", suffixes=("_a", "_b"))
    lo, hi = paired_diff_ci(both["share_a"].to_numpy(), both["share_b"].to_numpy(), seed)
    return {"n_paired": len(both),
            "diff": round(float(np.nanmean(both["share_a"] - both["share_b"])), 4),
            "diff_ci95": [round(lo, 4), round(hi, 4)]}


def per_class(finding: Finding, seed: int = 0) -> pd.DataFrame:
    """Per query class: the mean object share with its bootstrap interval, and chance."""
    rows = []
    for name, group in finding.queries.groupby("class", sort=True):
        lo, hi = bootstrap_ci(group["share"].to_numpy(), seed)
        rows.append({"class": name, "object_share": float(np.nanmean(group["share"])),
                     "lo": lo, "hi": hi, "area_share": float(np.nanmean(group["area"])),
                     "queries": len(group)})
    return pd.DataFrame(rows)


def driving_queries(a: Finding, b: Finding | None = None, n: int = 12) -> pd.DataFrame:
    """The queries that drive a finding: with B, those where A and B differ most; alone,
    those farthest from the mean."""
    if b is None:
        q = a.queries.assign(gap=(a.queries["share"] - a.queries["share"].mean()).abs())
    else:
        q = a.queries.merge(b.queries[["idx", "share"]], on="idx", suffixes=("", "_b"))
        q = q.assign(gap=(q["share"] - q["share_b"]).abs())
    return q.sort_values("gap", ascending=False, kind="stable").head(n)


def dissections(reader: Reader) -> list[tuple[str, DissectionRow]]:
    """Every stored dissection with the label of the model it dissected (a checkpoint's
    run and epoch, or the features' model label), newest last."""
    cat = reader.catalog()
    labels = {f.weights_fp: f.label for f in cat.features.values()}
    labels.update({ck.weights_fp: f"{cat.runs[ck.run].model} @ {ck.label}"
                   for ck in cat.checkpoints.values() if ck.run in cat.runs})
    return [(labels.get(d.weights_fp, d.weights_fp[:12]), d) for d in cat.dissections]


def detector_table(row: DissectionRow) -> pd.DataFrame:
    """A dissection's channels, detectors first (best IoU down): channel, concept, iou."""
    table = pd.DataFrame(row.params.get("channels", []), columns=["channel", "concept", "iou"])
    return table.sort_values("iou", ascending=False, kind="stable").reset_index(drop=True)

"""Findings as the Findings page and ``vizkit findings`` read them: each stored finding with
the configuration it measured, its per-query numbers (object shares, or one ratio column
per part), two findings compared on the queries both answered (the paired difference and
its interval), and the stored dissections."""
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
    (``queries``: idx, class, then share and area for "object", or one ratio column per
    part for "parts" (:func:`part_column`), NaN where the part was not seen)."""

    row: FindingsRow
    features: FeaturesRow
    queries: pd.DataFrame

    @property
    def label(self) -> str:
        """The configuration, as a person reads it."""
        return f"{self.features.label} · {self.features.layer} · {self.row.metric}"


@dataclass(frozen=True)
class Faithfulness:
    """A stored faithfulness result: per method its mean deletion and insertion curves
    (``curves``: method, step share, deletion, insertion) and the features it explained."""

    row: FindingsRow
    features: FeaturesRow
    curves: pd.DataFrame

    @property
    def label(self) -> str:
        return f"{self.features.label} · {self.features.layer} · {self.row.metric}"


def load_faithfulness(reader: Reader, row: FindingsRow) -> Faithfulness:
    """A faithfulness result with its mean curves per method (files checked first)."""
    def make() -> Faithfulness:
        files = reader.catalog().files.get(row.result_key, {})
        parts = []
        for j, name in enumerate(row.summary.get("methods", {})):
            dele = np.asarray(shards.open_verified(files[f"deletion{j}"]), np.float64)
            ins = np.asarray(shards.open_verified(files[f"insertion{j}"]), np.float64)
            share = np.linspace(0, 1, dele.shape[1])
            parts.append(pd.DataFrame({"method": name, "removed": share,
                                       "deletion": np.nanmean(dele, axis=0),
                                       "insertion": np.nanmean(ins, axis=0)}))
        curves = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["method", "removed", "deletion", "insertion"])
        return Faithfulness(row, reader.catalog().features[row.source_key], curves)
    return reader.memo("faithfulness", row.result_key, make, keep=8)


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
        columns = {"idx": idx,
                   "class": [images.class_name(int(images.labels[i])) for i in idx]}
        if row.finding == "parts":
            ratio = np.asarray(shards.open_verified(files["ratio"]), np.float64)
            columns.update({part_column(name): ratio[:, j]
                            for j, name in enumerate(part_names(row))})
        else:
            columns.update(share=np.asarray(shards.open_verified(files["share"])),
                           area=np.asarray(shards.open_verified(files["area"])))
        return Finding(row, frow, pd.DataFrame(columns))
    return reader.memo("finding", row.result_key, make, keep=16)


def compare(a: Finding, b: Finding, seed: int = 0) -> dict:
    """B against A on the queries both measured: B's summary over those queries and the
    paired interval of A - B (``diff``, ``diff_ci95``)."""
    both = a.queries.merge(b.queries, on="idx", suffixes=("_a", "_b"))
    lo, hi = paired_diff_ci(both["share_a"].to_numpy(), both["share_b"].to_numpy(), seed)
    return {"n_paired": len(both),
            "diff": round(float(np.nanmean(both["share_a"] - both["share_b"])), 4),
            "diff_ci95": [round(lo, 4), round(hi, 4)]}


def part_column(name: str) -> str:
    """The per-query column of a part in a parts finding's ``queries`` (prefixed: a part
    may be called anything, "class" too)."""
    return f"part: {name}"


def part_names(row: FindingsRow) -> list[str]:
    """The parts a parts finding measured, in the dataset's order."""
    return list(row.summary.get("parts", {}))


def compare_parts(a: Finding, b: Finding, seed: int = 0) -> dict:
    """Per part, on the queries where both saw it: the paired mean of A - B and its
    interval (``{part: {"diff", "diff_ci95", "n_paired"}}``)."""
    both = a.queries.merge(b.queries, on="idx", suffixes=("_a", "_b"))
    out = {}
    for name in part_names(a.row):
        column = part_column(name)
        if f"{column}_b" not in both:
            continue
        x, y = both[f"{column}_a"].to_numpy(), both[f"{column}_b"].to_numpy()
        keep = ~(np.isnan(x) | np.isnan(y))
        lo, hi = paired_diff_ci(x, y, seed)
        out[name] = {"diff": round(float(np.mean(x[keep] - y[keep])), 4) if keep.any()
                     else float("nan"), "diff_ci95": [round(lo, 4), round(hi, 4)],
                     "n_paired": int(keep.sum())}
    return out


def part_bars(findings: dict[str, Finding]) -> pd.DataFrame:
    """One row per (configuration, part): the mean ratio, its interval and how many queries
    saw the part — what the page draws as bars (1 = chance)."""
    rows = []
    for side, f in findings.items():
        for name, s in f.row.summary.get("parts", {}).items():
            rows.append({"configuration": side, "part": name, "ratio": s["ratio"],
                         "lo": s["ci95"][0], "hi": s["ci95"][1], "queries": s["n"]})
    return pd.DataFrame(rows, columns=["configuration", "part", "ratio", "lo", "hi",
                                       "queries"])


def per_class(finding: Finding, seed: int = 0) -> pd.DataFrame:
    """Per query class: the mean object share with its bootstrap interval, and chance."""
    rows = []
    for name, group in finding.queries.groupby("class", sort=True):
        lo, hi = bootstrap_ci(group["share"].to_numpy(), seed)
        rows.append({"class": name, "object_share": float(np.nanmean(group["share"])),
                     "lo": lo, "hi": hi, "area_share": float(np.nanmean(group["area"])),
                     "queries": len(group)})
    return pd.DataFrame(rows)


def driving_queries(a: Finding, b: Finding | None = None, n: int = 12,
                    column: str = "share") -> pd.DataFrame:
    """The queries that drive a finding's ``column`` (the object share, or a part's
    ratio): with B, those where A and B differ most; alone, those farthest from the mean.
    Queries without a value are left out."""
    q = a.queries.dropna(subset=[column])
    if b is None:
        q = q.assign(gap=(q[column] - q[column].mean()).abs())
    else:
        q = q.merge(b.queries[["idx", column]].dropna(), on="idx", suffixes=("", "_b"))
        q = q.assign(gap=(q[column] - q[f"{column}_b"]).abs())
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

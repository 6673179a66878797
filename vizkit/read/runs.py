"""Training runs as the pages read them: configurations, per-epoch metrics, the stored
evaluation embeddings of a checkpoint, and the anchors of the triplet scatter."""
from __future__ import annotations

import numpy as np
import pandas as pd

from vizkit.compute.metric_names import METRIC_NAMES
from vizkit.errors import ResultMissingError
from vizkit.read.catalog import Reader
from vizkit.read.rows import FeaturesRow, RunRow

CONFIG_COLUMNS = ["model", "loss", "embedding_dim", "lr", "optimizer", "schedule", "epochs",
                  "classes_per_batch", "images_per_class", "batch_size", "seed"]
IDEAL = (1.0, 0.0)  # (closest-positive similarity, closest-negative similarity)
SPLITS = ("test", "train", "all")
NO_RUNS = "No training runs yet."


def runs(reader: Reader) -> list[RunRow]:
    """Every run, oldest first; :class:`ResultMissingError` saying how to train one."""
    found = list(reader.catalog().runs.values())
    if not found:
        raise ResultMissingError(NO_RUNS)
    return found


def run_names(reader: Reader) -> list[str]:
    return [r.run for r in runs(reader)]


def last_metrics(reader: Reader, run: str) -> dict:
    """The metrics of a run's last stored checkpoint ({} when it has none yet)."""
    epochs = epochs_of(reader, run)
    return reader.catalog().checkpoints[(run, epochs[-1])].metrics if epochs else {}


def run_table(reader: Reader) -> pd.DataFrame:
    """One row per run: its configuration, epochs stored and last test metrics."""
    rows = []
    for r in runs(reader):
        last = last_metrics(reader, r.run)
        rows.append({"run": r.run, **{c: r.config.get(c) for c in CONFIG_COLUMNS},
                     "loss": r.config.get("loss", "cross-entropy"),
                     "embedding": r.config.get("eval_layer"),
                     "epochs stored": len(r.epochs),
                     "test Recall@1": last.get("test_recall_at_1"),
                     "test MAP@R": last.get("test_map_at_r"),
                     "dataset": r.dataset.name})
    return pd.DataFrame(rows)


def metric_history(reader: Reader, run_list: list[str]) -> pd.DataFrame:
    """Long table run, epoch, split, metric, value of the runs' checkpoints (the training
    loss is split ``train``, metric ``loss``)."""
    rows = []
    for (run, epoch), ck in reader.catalog().checkpoints.items():
        if run not in run_list:
            continue
        m = ck.metrics
        if m.get("loss") is not None and not np.isnan(m["loss"]):
            rows.append((run, epoch, "train", "loss", m["loss"]))
        for split in SPLITS:
            for name in METRIC_NAMES:
                if f"{split}_{name}" in m:
                    rows.append((run, epoch, split, name, m[f"{split}_{name}"]))
    return pd.DataFrame(rows, columns=["run", "epoch", "split", "metric", "value"])


def epochs_of(reader: Reader, run: str) -> list[int]:
    """The stored epochs of ``run``."""
    row = reader.catalog().runs.get(run)
    return list(row.epochs) if row else []


def eval_splits(reader: Reader, run: str) -> list[str]:
    """The evaluation sets a run stored (``test``, ``train``, or ``all``)."""
    m = last_metrics(reader, run)
    return [s for s in SPLITS if f"{s}_features" in m]


def eval_features(reader: Reader, run: str, epoch: int, split: str) -> FeaturesRow:
    """The embeddings of ``split``'s evaluation images at ``run:epoch``."""
    ck = reader.catalog().checkpoints.get((run, epoch))
    key = ck.metrics.get(f"{split}_features") if ck else None
    if not key or key not in reader.catalog().features:
        raise ResultMissingError(f"Run {run} stored no {split} embeddings at epoch {epoch} "
                                 "(runs trained before vizkit stored them: train again).")
    return reader.features(key)


def anchor_table(reader: Reader, run_list: list[str]) -> pd.DataFrame:
    """The anchors of the runs with their distance to the ideal point (1, 0). With several
    runs, only the anchors every one of them follows (runs trained with fewer ``--anchors``
    follow a subset of the same seeded sample), so that each point compares like with like."""
    df = reader.store.anchors(run_list)
    if len(run_list) > 1 and not df.empty:
        per_run = df.groupby(["split", "idx"])["run"].nunique()
        shared = per_run[per_run == len(run_list)].index
        df = df.set_index(["split", "idx"]).loc[lambda d: d.index.isin(shared)].reset_index()
    return df.assign(dist=np.hypot(IDEAL[0] - df["pos_sim"], df["neg_sim"] - IDEAL[1]))


def start_and_ends(anchors: pd.DataFrame, run_list: list[str]) -> pd.DataFrame:
    """The starting point (epoch 0 of the first run; runs started from the same weights
    share it) and each run's last epoch, one row per anchor and point, with a column
    ``point`` naming which -- the seed's "blue = ImageNet, green = 1st run, red = 2nd run"."""
    parts = []
    first = anchors[anchors["run"] == run_list[0]]
    if not first.empty and (first["epoch"] == 0).any():
        parts.append(first[first["epoch"] == 0].assign(point="start (epoch 0)"))
    for run in run_list:
        mine = anchors[anchors["run"] == run]
        if mine.empty:
            continue
        last = int(mine["epoch"].max())
        parts.append(mine[mine["epoch"] == last].assign(point=f"{run} end (epoch {last})"))
    return pd.concat(parts, ignore_index=True) if parts else anchors.iloc[:0].assign(point="")


def sweep_curves(reader: Reader, run_list: list[str], metric: str = "test_recall_at_1"
                 ) -> pd.DataFrame:
    """For runs that differ in learning rate: each run's loss, learning rate and
    ``metric`` at its last epoch, sorted by loss and rate (one line per loss); empty when
    the runs span fewer than two learning rates."""
    table = sweep_table(reader, [r for r in run_list if epochs_of(reader, r)], [metric])
    if table.empty or table["lr"].nunique() < 2:
        return table.iloc[:0]
    return table.dropna(subset=[metric]).sort_values(["loss", "lr"]).reset_index(drop=True)


def sweep_table(reader: Reader, run_list: list[str], columns: list[str]) -> pd.DataFrame:
    """One row per run: its loss, learning rate and last checkpoint's ``columns``."""
    rows = []
    for run in run_list:
        config = reader.catalog().runs[run].config
        epoch = epochs_of(reader, run)[-1]
        metrics = last_metrics(reader, run)
        rows.append({"run": run, "loss": config.get("loss", "cross-entropy"),
                     "lr": config["lr"], "epoch": epoch, "train_loss": metrics.get("loss"),
                     **{c: metrics.get(c) for c in columns}})
    return pd.DataFrame(rows)

"""Training runs as the pages read them: configurations, per-epoch metrics, the stored
evaluation embeddings of a checkpoint, and the anchors of the triplet scatter."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from vizkit.errors import ResultMissingError
from vizkit.evaluation import METRIC_NAMES
from vizkit.store import Store

CONFIG_COLUMNS = ["model", "loss", "embedding_dim", "lr", "optimizer", "schedule", "epochs",
                  "classes_per_batch", "images_per_class", "batch_size", "seed"]
IDEAL = (1.0, 0.0)  # (closest-positive similarity, closest-negative similarity)


def run_table(store: Store) -> pd.DataFrame:
    """One row per run: its configuration, epochs stored and last test metrics."""
    runs = store.runs()
    if runs.empty:
        raise ResultMissingError("No training runs yet. Run `vizkit demo`, or `vizkit train "
                                 "--dataset fashion-mnist --loss epshn --run my-run`.")
    ckpts = store.checkpoints()
    rows = []
    for r in runs.itertuples():
        cfg = json.loads(r.config)
        done = ckpts[ckpts["run"] == r.run]
        last = json.loads(done.iloc[-1]["metrics"]) if not done.empty else {}
        rows.append({"run": r.run, **{c: cfg.get(c) for c in CONFIG_COLUMNS},
                     "loss": cfg.get("loss", "cross-entropy"),
                     "embedding": cfg.get("eval_layer"),
                     "epochs stored": len(done),
                     "test Recall@1": last.get("test_recall_at_1"),
                     "test MAP@R": last.get("test_map_at_r"),
                     "dataset": r.dataset_key.split("#")[0]})
    return pd.DataFrame(rows)


def metric_history(store: Store, runs: list[str]) -> pd.DataFrame:
    """Long table run, epoch, split, metric, value of ``runs``' checkpoints (the training
    loss is split ``train``, metric ``loss``)."""
    rows = []
    for r in store.checkpoints().itertuples():
        if r.run not in runs:
            continue
        m = json.loads(r.metrics)
        if m.get("loss") is not None and not np.isnan(m["loss"]):
            rows.append((r.run, r.epoch, "train", "loss", m["loss"]))
        for split in ("test", "train", "all"):
            for name in METRIC_NAMES:
                if f"{split}_{name}" in m:
                    rows.append((r.run, r.epoch, split, name, m[f"{split}_{name}"]))
    return pd.DataFrame(rows, columns=["run", "epoch", "split", "metric", "value"])


def epochs_of(store: Store, run: str) -> list[int]:
    """The stored epochs of ``run``."""
    return store.checkpoints(run)["epoch"].astype(int).tolist()


def eval_splits(store: Store, run: str) -> list[str]:
    """The evaluation sets a run stored (``test``, ``train``, or ``all``)."""
    ckpts = store.checkpoints(run)
    if ckpts.empty:
        return []
    m = json.loads(ckpts.iloc[-1]["metrics"])
    return [s for s in ("test", "train", "all") if f"{s}_features" in m]


def eval_features_key(store: Store, run: str, epoch: int, split: str) -> str:
    """The result key of the embeddings of ``split``'s evaluation images at ``run:epoch``."""
    ckpts = store.checkpoints(run)
    rows = ckpts[ckpts["epoch"] == epoch]
    key = json.loads(rows.iloc[0]["metrics"]).get(f"{split}_features") if len(rows) else None
    if not key:
        raise ResultMissingError(f"Run {run} stored no {split} embeddings at epoch {epoch} "
                                 "(runs trained before vizkit stored them: train again).")
    return key


def anchor_table(store: Store, runs: list[str]) -> pd.DataFrame:
    """The anchors of ``runs`` with their distance to the ideal point (1, 0). With several
    runs, only the anchors every one of them follows (runs trained with fewer ``--anchors``
    follow a subset of the same seeded sample), so that each point compares like with like."""
    df = store.anchors(runs)
    if len(runs) > 1 and not df.empty:
        per_run = df.groupby(["split", "idx"])["run"].nunique()
        shared = per_run[per_run == len(runs)].index
        df = df.set_index(["split", "idx"]).loc[lambda d: d.index.isin(shared)].reset_index()
    return df.assign(dist=np.hypot(IDEAL[0] - df["pos_sim"], df["neg_sim"] - IDEAL[1]))

"""The explorer's own store tables: optimised channel images and top-activating images.

They belong to the model explorer, not the core schema: created by its jobs on first write
(``CREATE TABLE IF NOT EXISTS``), read as empty where they do not exist, and dropped by
:func:`drop_tables` with nothing else touched. Rows are keyed by the model's weights
fingerprint, so a checkpoint and its retrained successor never mix. Callers pass plain
values (PNG bytes, arrays); nothing here computes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from vizkit.store.db import Store

TABLES = ("channel_images", "top_activations")
DDL = """
CREATE TABLE IF NOT EXISTS channel_images (
    weights_fp VARCHAR, model VARCHAR, checkpoint VARCHAR, layer VARCHAR, channel INTEGER,
    objective VARCHAR, size INTEGER, steps INTEGER, seed INTEGER, png BLOB, seconds FLOAT);
CREATE TABLE IF NOT EXISTS top_activations (
    weights_fp VARCHAR, dataset_key VARCHAR, layer VARCHAR, channel INTEGER, pooling VARCHAR,
    rank INTEGER, idx INTEGER, value FLOAT, h INTEGER, w INTEGER, amap FLOAT[]);
"""


def _has_tables(store: Store) -> bool:
    if not store.ready():
        return False
    with store.read() as con:
        names = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database()").fetchall()}
    return set(TABLES) <= names


def put_channel_image(store: Store, weights_fp: str, model: str, checkpoint: str | None,
                      layer: str, channel: int, objective: str, size: int, steps: int,
                      seed: int, png: bytes, seconds: float) -> None:
    """Store (replace) one optimised channel image."""
    with store.write() as con:
        con.execute(DDL)
        con.execute("DELETE FROM channel_images WHERE weights_fp = ? AND layer = ? AND "
                    "channel = ? AND objective = ?", [weights_fp, layer, channel, objective])
        con.execute("INSERT INTO channel_images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [weights_fp, model, checkpoint, layer, channel, objective, size, steps,
                     seed, png, seconds])


def channel_images(store: Store, weights_fp: str, layer: str | None = None) -> pd.DataFrame:
    """Stored optimised images of a model (one layer, or all), by layer and channel."""
    if not _has_tables(store):
        return pd.DataFrame(columns=["layer", "channel", "objective", "png", "size", "steps"])
    sql = "SELECT * FROM channel_images WHERE weights_fp = ?"
    args = [weights_fp]
    if layer:
        sql, args = sql + " AND layer = ?", args + [layer]
    with store.read() as con:
        return con.execute(sql + " ORDER BY layer, channel, objective", args).df()


def put_top_activations(store: Store, weights_fp: str, dataset_key: str, layer: str,
                        idx: dict[str, np.ndarray], value: dict[str, np.ndarray],
                        maps: dict[str, np.ndarray]) -> None:
    """Store (replace) a layer's top-activating images per channel and pooling: for each
    pooling, ``idx``/``value`` ``[C, k]`` and the activation maps ``[C, k, h, w]``."""
    frames = []
    for p in idx:
        c, k = idx[p].shape
        h, w = maps[p].shape[2:]
        flat = maps[p].reshape(c * k, h * w).astype(np.float32)
        frames.append(pa.table({
            "weights_fp": [weights_fp] * (c * k),
            "dataset_key": [dataset_key] * (c * k), "layer": [layer] * (c * k),
            "channel": np.repeat(np.arange(c, dtype=np.int32), k),
            "pooling": [p] * (c * k), "rank": np.tile(np.arange(k, dtype=np.int32), c),
            "idx": idx[p].ravel().astype(np.int32),
            "value": value[p].ravel().astype(np.float32),
            "h": np.full(c * k, h, np.int32), "w": np.full(c * k, w, np.int32),
            "amap": pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), h * w).cast(
                pa.list_(pa.float32()))}))
    rows = pa.concat_tables(frames)
    with store.write() as con:
        con.execute(DDL)
        con.execute("DELETE FROM top_activations WHERE weights_fp = ? AND dataset_key = ? AND "
                    "layer = ?", [weights_fp, dataset_key, layer])
        con.register("new_rows", rows)
        con.execute("INSERT INTO top_activations SELECT * FROM new_rows")


def top_activation_rows(store: Store, weights_fp: str, layer: str, channel: int,
                        pooling: str) -> pd.DataFrame:
    """The stored top images of one channel (rank, idx, value, h, w, amap, dataset_key)."""
    if not _has_tables(store):
        return pd.DataFrame()
    with store.read() as con:
        return con.execute(
            "SELECT dataset_key, rank, idx, value, h, w, amap FROM top_activations WHERE "
            "weights_fp = ? AND layer = ? AND channel = ? AND pooling = ? ORDER BY "
            "dataset_key, rank", [weights_fp, layer, channel, pooling]).df()


def explored(store: Store) -> pd.DataFrame:
    """What the explorer has stored, per model and layer: channel images and top images."""
    if not _has_tables(store):
        return pd.DataFrame(columns=["weights_fp", "model", "checkpoint", "layer", "images"])
    with store.read() as con:
        return con.execute("""
            SELECT weights_fp, any_value(model) AS model, any_value(checkpoint) AS checkpoint,
                   layer, count(*) AS images FROM channel_images
            GROUP BY weights_fp, layer ORDER BY model, layer""").df()


def drop_tables(store: Store) -> None:
    """Remove the explorer's tables (everything it stored) and nothing else."""
    with store.write() as con:
        for table in TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")

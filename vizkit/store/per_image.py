"""Results stored as rows: precomputed similarity maps (a row per query and rank) and
per-image value pairs (projections, clusters, predictions)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from vizkit.store.connection import StoreFile


class PerImageTables(StoreFile):
    """Similarity maps and per-image values; each result is written by put_result."""

    def put_maps(self, meta: dict, rows: pd.DataFrame) -> dict:
        """Store precomputed similarity maps (one row per query and rank) as a result;
        return its catalog row."""
        table = pa.Table.from_pandas(rows.assign(result_key=meta["result_key"])[
            ["result_key", "idx", "rank", "nbr", "score", "map_score", "qh", "qw", "qmap",
             "rh", "rw", "rmap"]], preserve_index=False)
        table = table.cast(pa.schema([
            ("result_key", pa.string()), ("idx", pa.int32()), ("rank", pa.int32()),
            ("nbr", pa.int32()), ("score", pa.float32()), ("map_score", pa.float32()),
            ("qh", pa.int32()), ("qw", pa.int32()), ("qmap", pa.list_(pa.float32())),
            ("rh", pa.int32()), ("rw", pa.int32()), ("rmap", pa.list_(pa.float32()))]))
        return self.put_result(dict(meta, kind="simmaps", n=int(rows["idx"].nunique())), table,
                        "similarity_maps")

    def maps(self, result_key: str, idx: int) -> pd.DataFrame:
        """The stored maps of query ``idx`` (rows by rank; empty when not precomputed, or
        in a store older than maps that has not been migrated yet)."""
        with self.read() as con:
            if self._version(con) < 2:
                return pd.DataFrame()
            return con.execute("SELECT * FROM similarity_maps WHERE result_key = ? AND idx = ? "
                               "ORDER BY rank", [result_key, int(idx)]).df()

    def map_queries(self, result_key: str) -> list[int]:
        """The query images that have precomputed maps under ``result_key``."""
        with self.read() as con:
            if self._version(con) < 2:
                return []
            return [r[0] for r in con.execute(
                "SELECT DISTINCT idx FROM similarity_maps WHERE result_key = ? ORDER BY idx",
                [result_key]).fetchall()]

    # -- per-image values: projections, clusters, predictions -------------------------
    PER_IMAGE = {"projections": (("x", pa.float32()), ("y", pa.float32())),
                 "clusters": (("cluster", pa.int32()), ("dist", pa.float32())),
                 "predictions": (("pred", pa.int32()), ("confidence", pa.float32()))}

    def put_per_image(self, table: str, meta: dict, idx: np.ndarray, a: np.ndarray,
                      b: np.ndarray) -> dict:
        """Store one value pair per image (``projections``: x, y; ``clusters``: cluster,
        distance to its centre; ``predictions``: class, confidence) as a result; return its
        catalog row."""
        (name_a, type_a), (name_b, type_b) = self.PER_IMAGE[table]
        data = pa.table({"result_key": pa.array([meta["result_key"]] * len(idx)),
                         "idx": pa.array(np.asarray(idx, np.int32)),
                         name_a: pa.array(np.asarray(a)).cast(type_a),
                         name_b: pa.array(np.asarray(b)).cast(type_b)})
        return self.put_result(dict(meta, kind=table, n=len(idx)), data, table)

    def per_image(self, table: str, result_key: str) -> pd.DataFrame:
        """The stored values of a per-image result, ordered by image (columns idx, a, b)."""
        if table not in self.PER_IMAGE:
            raise ValueError(table)
        with self.read() as con:
            if self._version(con) < 3:
                return pd.DataFrame()
            return con.sql(f"SELECT * EXCLUDE (result_key) FROM {table} WHERE result_key = $1 "
                           "ORDER BY idx", params=[result_key]).df()

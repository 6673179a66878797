"""The store: one class over one DuckDB file, made of one mixin per responsibility —
connections, transactions, schema and migrations (connection.py), datasets and images
(datasets.py), the results catalog and its files (results.py), maps and per-image values
(per_image.py), training runs (runs.py) — plus the catalog snapshot the read side loads."""
from __future__ import annotations

import pandas as pd

from vizkit.errors import StoreEmptyError
from vizkit.store.connection import LOCK_WAIT_S
from vizkit.store.datasets import DatasetTables
from vizkit.store.per_image import PerImageTables
from vizkit.store.results import ResultTables
from vizkit.store.runs import RunTables

__all__ = ["LOCK_WAIT_S", "Store"]


class Store(DatasetTables, ResultTables, PerImageTables, RunTables):
    """One vizkit store file. Cheap to create; opens the file only inside a query.

    The file at ``path`` is always a whole vizkit store or absent: a new store is created
    (schema and version) under a temporary name and linked into place, and every write is
    one transaction. A zero-byte file, or a store whose creation an older vizkit left
    half-done (its tables but no version), is recognised and completed, never refused.
    """

    def snapshot(self) -> dict[str, pd.DataFrame]:
        """The catalog tables (datasets, results, runs, checkpoints) and the row counts of
        the main tables, read through one connection; empty frames for an empty store."""
        if not self.exists():
            return {}
        try:
            return self._snapshot()
        except StoreEmptyError:  # a store whose creation has not finished
            return {}

    def _snapshot(self) -> dict[str, pd.DataFrame]:
        with self.read() as con:
            out = {t: con.execute(f"SELECT * FROM {t} ORDER BY created_at").df()
                   for t in ("datasets", "results", "runs")}
            out["checkpoints"] = con.execute("SELECT * FROM checkpoints ORDER BY run, epoch"
                                             ).df()
            out["shards"] = con.execute("SELECT * FROM shards").df() \
                if self._version(con) >= 5 else pd.DataFrame(columns=["result_key", "name",
                                                                       "path"])
            out["counts"] = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                             for t in ("datasets", "images", "results", "runs",
                                       "checkpoints")}
        return out

    def summary(self) -> dict[str, int]:
        """Row counts of the main tables, for the home page and `vizkit status`."""
        with self.read() as con:
            return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                    for t in ("datasets", "images", "results", "runs", "checkpoints")}

"""The datasets and images tables: a dataset's image table (ids, labels, splits, thumbnails)
written once, read by index."""
from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa

from vizkit.errors import ResultMissingError, StoreEmptyError
from vizkit.store.connection import StoreFile, now


class DatasetTables(StoreFile):
    """Datasets and their images."""

    def has_dataset(self, dataset_key: str) -> bool:
        """Whether the dataset's image table is stored. A dataset is never removed from a
        store file, so a yes is remembered for this file (a job that checks its dataset at
        every step asks the file once)."""
        if not self.exists():
            return False
        try:
            seen = (self.path.stat().st_ino, dataset_key)
        except OSError:
            return False
        known = self.__dict__.setdefault("_known_datasets", set())
        if seen in known:
            return True
        try:
            with self.read() as con:
                found = con.execute("SELECT count(*) FROM datasets WHERE dataset_key = ?",
                                    [dataset_key]).fetchall()[0][0] > 0
        except StoreEmptyError:
            return False
        if found:
            known.add(seen)
        return found

    def put_dataset(self, dataset_key: str, name: str, fingerprint: str, classes: list[str],
                    description: str, skipped: list, rows: pd.DataFrame) -> None:
        """Store a dataset's image table (idx, image_id, label, split, thumb) in one go."""
        table = pa.Table.from_pandas(rows.assign(dataset_key=dataset_key)[
            ["dataset_key", "idx", "image_id", "label", "split", "thumb"]], preserve_index=False)
        with self.write() as con:
            if not con.execute("SELECT count(*) FROM datasets WHERE dataset_key = ?",
                               [dataset_key]).fetchall()[0][0]:
                con.register("new_images", table)
                con.execute("INSERT INTO images SELECT * FROM new_images")
                con.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [dataset_key, name, fingerprint, len(rows), json.dumps(classes),
                             description, json.dumps(skipped), now()])
        # committed: the next has_dataset of this file needs no connection
        self.__dict__.setdefault("_known_datasets", set()).add(
            (self.path.stat().st_ino, dataset_key))

    def datasets(self) -> pd.DataFrame:
        """All stored datasets (newest first)."""
        with self.read() as con:
            return con.execute("SELECT * FROM datasets ORDER BY created_at DESC").df()

    def dataset(self, dataset_key: str) -> dict:
        with self.read() as con:
            row = con.execute("SELECT * FROM datasets WHERE dataset_key = ?", [dataset_key]
                              ).df()
        if row.empty:
            raise ResultMissingError(f"Dataset {dataset_key} is not in the store.")
        out = row.iloc[0].to_dict()
        out["classes"] = json.loads(out["classes"])
        out["skipped"] = json.loads(out["skipped"] or "[]")
        return out

    def image_table(self, dataset_key: str) -> pd.DataFrame:
        """idx, image_id, label, split of every image of a dataset, in idx order."""
        with self.read() as con:
            return con.execute("SELECT idx, image_id, label, split FROM images "
                               "WHERE dataset_key = ? ORDER BY idx", [dataset_key]).df()

    def image_rows(self, dataset_key: str, idxs: list[int]) -> pd.DataFrame:
        """idx, image_id, label of the given images (any order)."""
        with self.read() as con:
            return con.execute("SELECT idx, image_id, label FROM images WHERE dataset_key = ? "
                               "AND idx IN (SELECT unnest(?))",
                               [dataset_key, [int(i) for i in idxs]]).df()

    def thumbnails(self, dataset_key: str, idxs: list[int] | None) -> dict[int, bytes]:
        """PNG thumbnails of the given images (all of the dataset's for None), by idx."""
        with self.read() as con:
            if idxs is None:
                rows = con.execute("SELECT idx, thumb FROM images WHERE dataset_key = ?",
                                   [dataset_key]).fetchall()
            else:
                rows = con.execute("SELECT idx, thumb FROM images WHERE dataset_key = ? AND "
                                   "idx IN (SELECT unnest(?))",
                                   [dataset_key, [int(i) for i in idxs]]).fetchall()
        return {int(i): bytes(t) for i, t in rows}

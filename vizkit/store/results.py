"""The results catalog and the results stored as files (features, neighbour lists,
indexes): written whole in one transaction, checked before they are read, dropped with
everything made from them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from vizkit.errors import ResultMissingError, StoreEmptyError
from vizkit.files import sha256_file
from vizkit.store import shards
from vizkit.store.connection import StoreFile, now


def _matrix_of(column: pa.ChunkedArray, dtype) -> np.ndarray:
    """A list column of equal-length rows as an ``[n, k]`` array."""
    col = column.combine_chunks()
    flat = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype)
    return flat.reshape(len(col), -1) if len(col) else flat.reshape(0, 0)


def _insert_catalog_row(con, meta: dict) -> None:
    cols = list(meta) + ["created_at"]
    con.execute(f"INSERT INTO results ({', '.join(cols)}) VALUES "
                f"({', '.join('?' * len(cols))})", list(meta.values()) + [now()])


def _catalog_rows(con, result_keys: list[str]) -> dict[str, dict]:
    """The catalog rows of those of ``result_keys`` that are there, by key."""
    cur = con.execute("SELECT * FROM results WHERE list_contains(?, result_key)",
                      [list(result_keys)])
    columns = [d[0] for d in cur.description]  # rows as dicts without pandas: 4x faster
    return {row["result_key"]: row for row in (dict(zip(columns, r)) for r in cur.fetchall())}


class ResultTables(StoreFile):
    """The catalog of finished results and their files."""

    def result(self, result_key: str) -> dict | None:
        """The catalog row of a finished result, or None."""
        return self.results_of([result_key]).get(result_key)

    def results_of(self, result_keys: list[str]) -> dict[str, dict]:
        """The catalog rows of those of ``result_keys`` that are finished, by key, read in
        one connection (a job checking its many layers opens one, not one per layer)."""
        if not self.exists() or not result_keys:
            return {}
        try:
            with self.read() as con:
                return _catalog_rows(con, list(result_keys))
        except StoreEmptyError:
            return {}

    def results(self, kind: str | None = None) -> pd.DataFrame:
        """The catalog of finished results, optionally of one kind."""
        with self.read() as con:
            sql, args = "SELECT * FROM results", []
            if kind:
                sql, args = sql + " WHERE kind = ?", [kind]
            return con.execute(sql + " ORDER BY created_at", args).df()

    def put_result(self, meta: dict, data: pa.Table, table: str) -> dict:
        """Insert a finished result's rows into ``table`` and its catalog row, atomically;
        return the catalog row (the one already there when another run stored it first),
        read in the same transaction."""
        with self.write() as con:
            if not con.execute("SELECT count(*) FROM results WHERE result_key = ?",
                               [meta["result_key"]]).fetchall()[0][0]:
                con.register("new_rows", data)
                con.execute(f"INSERT INTO {table} SELECT * FROM new_rows")
                _insert_catalog_row(con, meta)
            return _catalog_rows(con, [meta["result_key"]])[meta["result_key"]]

    def put_shards(self, meta: dict, arrays: dict[str, np.ndarray] | None = None,
                   files: dict[str, Path] | None = None) -> dict:
        """Store a finished result whose data are files: ``arrays`` saved as ``.npy``,
        ``files`` (e.g. an index) moved in, under ``shards/<result key>/``; then its
        catalog row and the files' rows in one transaction. A kill before the commit leaves
        only files no row names, rewritten when the job runs again. Returns the catalog
        row."""
        return self.put_many_shards([(meta, arrays, files)])[0]

    def put_many_shards(self, results: list[tuple[dict, dict | None, dict | None]]
                        ) -> list[dict]:
        """:meth:`put_shards` of several results (``(meta, arrays, files)`` each), all their
        files first, then every catalog row in one transaction: all of them or none.
        Returns their catalog rows in order, read in that transaction."""
        keys = [meta["result_key"] for meta, _, _ in results]
        # a result another run finished keeps its files; one without a folder is not stored
        # (a connection saved: the transaction below checks the catalog again anyway)
        done = self.results_of([k for k in keys if shards.folder(self.path, k).exists()])
        staged = []
        for meta, arrays, files in results:
            key = meta["result_key"]
            if key in done:
                continue
            target = shards.folder(self.path, key)
            rows = []
            try:
                for name, array in (arrays or {}).items():
                    path = target / f"{name}.npy"
                    shards.save_array(path, array)
                    rows.append((name, path, *(tuple(array.shape) + (1,))[:2],
                                 str(array.dtype)))
                for name, source in (files or {}).items():
                    path = target / Path(source).name
                    shards.adopt_file(path, Path(source))
                    rows.append((name, path, 0, 0, "file"))
            except OSError as e:  # an unwritable or full folder: nothing is cataloged
                raise self._unwritable(e) from None
            staged.append((meta, rows))
        if not staged:
            return [done[k] for k in keys]
        with self.write() as con:
            for meta, rows in staged:
                key = meta["result_key"]
                if con.execute("SELECT count(*) FROM results WHERE result_key = ?", [key]
                               ).fetchall()[0][0]:
                    continue
                if rows:  # one statement for all of a result's files
                    con.execute("INSERT OR REPLACE INTO shards VALUES "
                                + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows)),
                                [v for name, path, n_rows, n_cols, dtype in rows
                                 for v in (key, name, self.relative(path), n_rows, n_cols,
                                           dtype, path.stat().st_size, sha256_file(path))])
                _insert_catalog_row(con, meta)
            written = _catalog_rows(con, keys)
        return [written[k] for k in keys]

    def shard_files(self, result_key: str) -> dict[str, shards.Shard]:
        """The files of a result, by name, as recorded (empty for results stored as rows);
        :func:`shards.open_verified` checks one before it is used."""
        with self.read() as con:
            if self._version(con) < 5:
                return {}
            rows = con.execute("SELECT * FROM shards WHERE result_key = ?", [result_key]
                               ).df().to_dict("records")
        return {r["name"]: shards.shard_of(self.path, r) for r in rows}

    def all_shards(self) -> list[shards.Shard]:
        """Every data file the store records, as recorded (for ``vizkit verify``)."""
        with self.read() as con:
            if self._version(con) < 5:
                return []
            rows = con.execute("SELECT * FROM shards ORDER BY result_key, name"
                               ).df().to_dict("records")
        return [shards.shard_of(self.path, r) for r in rows]

    def drop_results(self, result_keys: list[str]) -> list[str]:
        """Remove finished results and every result made from them (their catalog, file
        and data rows) in one transaction, so that the jobs that made them make them again;
        returns the keys removed. Their files stay until a job overwrites them."""
        with self.write() as con:
            keys = set(result_keys)
            while more := {r[0] for r in con.execute(
                    "SELECT result_key FROM results WHERE list_contains(?, source_key)",
                    [sorted(keys)]).fetchall()} - keys:
                keys |= more
            for table in ("results", "shards", "features", "neighbors", "similarity_maps",
                          "projections", "clusters", "predictions"):
                con.execute(f"DELETE FROM {table} WHERE list_contains(?, result_key)",
                            [sorted(keys)])
        return sorted(keys)

    def put_features(self, meta: dict, matrix: np.ndarray) -> dict:
        """Store an ``[n, dim]`` float32 feature matrix as a finished result (a file);
        return its catalog row."""
        return self.put_many_features([(meta, matrix)])[0]

    def put_many_features(self, results: list[tuple[dict, np.ndarray]]) -> list[dict]:
        """:meth:`put_features` of several layers in one transaction; their rows."""
        entries = []
        for meta, matrix in results:
            matrix = np.ascontiguousarray(matrix, np.float32)
            n, dim = matrix.shape
            entries.append((dict(meta, kind="features", n=n, dim=dim), {"features": matrix},
                            None))
        return self.put_many_shards(entries)

    def features(self, result_key: str) -> np.ndarray:
        """The ``[n, dim]`` float32 feature matrix of a result (memory-mapped, read-only)."""
        files = self.shard_files(result_key)
        if "features" in files:
            return shards.open_verified(files["features"])
        with self.read() as con:  # a result written as rows before schema v5
            tbl = con.sql("SELECT vec FROM features WHERE result_key = $1 ORDER BY idx",
                          params=[result_key]).to_arrow_table()
        if tbl.num_rows == 0:
            raise ResultMissingError(f"No features stored under {result_key}.")
        return _matrix_of(tbl.column("vec"), np.float32)

    def put_neighbors(self, meta: dict, nbr: np.ndarray, score: np.ndarray) -> dict:
        """Store the top-k neighbour lists ``[n, k]`` (indices and scores) of a result;
        return its catalog row."""
        n, k = nbr.shape
        return self.put_shards(dict(meta, kind="neighbors", n=n, k=k),
                        {"nbr": nbr.astype(np.int32), "score": score.astype(np.float32)})

    def neighbor_lists(self, result_key: str) -> tuple[np.ndarray, np.ndarray]:
        """All stored neighbour indices and scores ``[n, k]`` of a result (memory-mapped)."""
        files = self.shard_files(result_key)
        if "nbr" in files:
            return shards.open_verified(files["nbr"]), shards.open_verified(files["score"])
        with self.read() as con:
            tbl = con.sql("SELECT nbr, score FROM neighbors WHERE result_key = $1 ORDER BY idx",
                          params=[result_key]).to_arrow_table()
        if tbl.num_rows == 0:
            raise ResultMissingError(f"No neighbour lists stored under {result_key}.")
        return _matrix_of(tbl.column("nbr"), np.int32), _matrix_of(tbl.column("score"),
                                                                    np.float32)

    def neighbors(self, result_key: str, idx: int) -> tuple[np.ndarray, np.ndarray]:
        """The stored neighbour indices and scores of image ``idx``."""
        nbr, score = self.neighbor_lists(result_key)
        if not 0 <= idx < len(nbr):
            raise ResultMissingError(f"No neighbours of image {idx} under {result_key}.")
        return np.asarray(nbr[idx], np.int64), np.asarray(score[idx], np.float32)

    def _move_rows_to_files(self, con) -> None:
        """Migration to v5, inside the writer's transaction: the features and neighbour
        lists of older results become files, and their rows are removed."""
        for (key,) in con.execute("SELECT DISTINCT result_key FROM features").fetchall():
            tbl = con.sql("SELECT vec FROM features WHERE result_key = $1 ORDER BY idx",
                          params=[key]).to_arrow_table()
            self._insert_shards(con, key, {"features": _matrix_of(tbl.column("vec"),
                                                                  np.float32)})
        for (key,) in con.execute("SELECT DISTINCT result_key FROM neighbors").fetchall():
            tbl = con.sql("SELECT nbr, score FROM neighbors WHERE result_key = $1 "
                          "ORDER BY idx", params=[key]).to_arrow_table()
            self._insert_shards(con, key, {"nbr": _matrix_of(tbl.column("nbr"), np.int32),
                                           "score": _matrix_of(tbl.column("score"),
                                                               np.float32)})
        con.execute("DELETE FROM features")
        con.execute("DELETE FROM neighbors")

    def _insert_shards(self, con, key: str, arrays: dict[str, np.ndarray]) -> None:
        for name, array in arrays.items():
            path = shards.folder(self.path, key) / f"{name}.npy"
            shards.save_array(path, array)
            con.execute("INSERT OR REPLACE INTO shards VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [key, name, self.relative(path), array.shape[0], array.shape[1],
                         str(array.dtype), path.stat().st_size, sha256_file(path)])

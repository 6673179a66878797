"""All access to the store file: parameterised SQL, short-lived connections, retries."""
from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from vizkit.errors import ResultMissingError, StoreBusyError, StoreEmptyError, StoreError
from vizkit.paths import store_path
from vizkit.store import bundle, shards
from vizkit.store.schema import DDL, META_TABLE, MIGRATIONS, SCHEMA_VERSION

LOCK_WAIT_S = 60.0


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _is_lock_error(e: Exception) -> bool:
    text = str(e).lower()
    return "lock" in text or "conflicting" in text or "being used by another" in text


def _is_permission_error(e: Exception) -> bool:
    text = str(e).lower()
    return ("permission denied" in text or "read-only file system" in text
            or "operation not permitted" in text)


def _publish(tmp: Path, path: Path) -> None:
    """Put the finished file ``tmp`` at ``path`` unless another process made one first (a
    zero-byte file there, left by a killed creation, is replaced)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        if path.stat().st_size == 0:
            os.replace(tmp, path)
    except OSError:  # a file system without hard links
        if not path.exists() or path.stat().st_size == 0:
            os.replace(tmp, path)


def _remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary files of store creations whose process is gone."""
    for leftover in path.parent.glob(f".{path.name}.*.creating*"):
        pid = leftover.name.removeprefix(f".{path.name}.").split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                leftover.unlink()


def _matrix_of(column: pa.ChunkedArray, dtype) -> np.ndarray:
    """A list column of equal-length rows as an ``[n, k]`` array."""
    col = column.combine_chunks()
    flat = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype)
    return flat.reshape(len(col), -1) if len(col) else flat.reshape(0, 0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class Store:
    """One vizkit store file. Cheap to create; opens the file only inside a query.

    The file at ``path`` is always a whole vizkit store or absent: a new store is created
    (schema and version) under a temporary name and linked into place, and every write is
    one transaction. A zero-byte file, or a store whose creation an older vizkit left
    half-done (its tables but no version), is recognised and completed, never refused.
    """

    def __init__(self, path: str | Path | None = None, lock_wait_s: float = LOCK_WAIT_S):
        self.path = Path(path) if path else store_path()
        self.bundle: Path | None = None
        if self.path.suffix != ".duckdb" and bundle.is_bundle(self.path):
            self.bundle, self.path = self.path, bundle.open_bundle(self.path)
        self.lock_wait_s = lock_wait_s
        self._checked = False

    # -- connections ----------------------------------------------------------------
    def _connect(self, read_only: bool, path: Path | None = None) -> duckdb.DuckDBPyConnection:
        path = path or self.path
        deadline = time.monotonic() + self.lock_wait_s
        delay = 0.02
        while True:
            try:
                return duckdb.connect(str(path), read_only=read_only)
            except (duckdb.IOException, duckdb.ConnectionException) as e:
                if _is_permission_error(e):
                    raise self._unwritable(e) from None
                if not _is_lock_error(e):
                    raise StoreError(
                        f"{path} cannot be opened as a vizkit store: "
                        f"{str(e).splitlines()[0]}. If it is not a DuckDB file, move it aside "
                        "or point --store / VIZKIT_STORE elsewhere.") from None
                if time.monotonic() > deadline:
                    raise StoreBusyError(
                        f"{path} stayed locked by another process for "
                        f"{self.lock_wait_s:.0f} s. A job may be committing a large result; "
                        "try again in a moment.") from None
                time.sleep(delay)
                delay = min(delay * 1.5, 0.25)

    def _unwritable(self, error: BaseException) -> StoreError:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return StoreError(f"Cannot write the store {self.path} ({first}). Make the file and "
                          f"its folder {self.path.parent} writable (an immutable file: "
                          "chattr -i), or point --store / VIZKIT_STORE at a file in a folder "
                          "you can write.")

    def exists(self) -> bool:
        """Whether the file is there (a zero-byte file, left by a killed creation, is not)."""
        try:
            return self.path.stat().st_size > 0
        except OSError:
            return False

    def ready(self) -> bool:
        """Whether the store exists and has been initialised (it may hold no rows yet)."""
        if not self.exists():
            return False
        try:
            with self.read():
                return True
        except StoreEmptyError:
            return False

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection, closed on exit. Raises if there is no store yet."""
        if not self.exists():
            raise ResultMissingError(
                f"There is no store at {self.path} yet. Run `vizkit demo` (no network needed) "
                "or `vizkit precompute ...` to make one.")
        con = self._connect(read_only=True)
        try:
            if not self._checked:
                self._check_schema(con)
            yield con
        except duckdb.IOException as e:
            raise self._damaged(e) from None
        finally:
            con.close()

    def _damaged(self, error: BaseException) -> StoreError:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return StoreError(f"The store {self.path} is damaged ({first}): the file is shorter "
                          "than what it records, or was altered. Restore it from a copy, or "
                          "move it aside and run your jobs (or `vizkit demo`) again.")

    def _check_length(self, con) -> None:
        """A store file cut short (a copy that stopped half-way) is refused: DuckDB reads
        blocks only when a query needs them, so check the file holds every block in use."""
        wal = self.path.with_name(self.path.name + ".wal")
        if wal.exists() and wal.stat().st_size:  # blocks a log replays live in memory
            return
        _, _, block_size, _, used, *_ = con.execute("PRAGMA database_size").fetchone()
        needed = 3 * 4096 + int(used) * int(block_size)  # header blocks, then data blocks
        size = self.path.stat().st_size
        if size < needed:
            raise self._damaged(f"{size:,} bytes where its {used} blocks need {needed:,}")

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside one transaction: all of it is committed, or none of it —
        on a new or empty store its tables and version too, with the first result."""
        if self.bundle is not None:
            raise StoreError(f"{self.bundle} is a bundle, which is read-only: point --store / "
                             "VIZKIT_STORE at a .duckdb store to run jobs.")
        if not self.exists():
            self._create()
        con = self._connect(read_only=False)
        try:
            con.begin()
            try:
                self._init_or_check(con)
                yield con
                con.commit()
            except BaseException as e:
                with contextlib.suppress(duckdb.Error):
                    con.rollback()
                if isinstance(e, duckdb.Error) and _is_permission_error(e):
                    raise self._unwritable(e) from None
                if isinstance(e, duckdb.IOException):
                    raise StoreError(f"Writing the store {self.path} failed "
                                     f"({str(e).splitlines()[0]}); nothing was changed. Check "
                                     "the disk and its free space, then run again.") from None
                raise
        finally:
            con.close()

    def _create(self) -> None:
        """Make a new, initialised store at ``path`` atomically: built under a temporary
        name and linked into place, so no other process ever sees a half-made file."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._unwritable(e) from None
        _remove_stale_temporaries(self.path)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.creating")
        try:
            con = self._connect(read_only=False, path=tmp)
            try:
                con.begin()
                self._init_or_check(con)
                con.commit()
            finally:
                con.close()
            _publish(tmp, self.path)
        except OSError as e:
            raise self._unwritable(e) from None
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
                with contextlib.suppress(OSError):
                    leftover.unlink()

    # -- schema ---------------------------------------------------------------------
    def _version(self, con) -> int | None:
        """The schema version; None for a store with no tables (or one whose creation an
        older vizkit left half-done), -1 for a DuckDB file that is not a vizkit store."""
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        if META_TABLE not in tables:
            return None if not tables else -1
        rows = con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'"
                           ).fetchall()
        if not rows:
            return None
        text = rows[0][0]
        if not (isinstance(text, str) and text.isascii() and text.isdigit()):
            raise StoreError(f"{self.path} records the store schema version {text!r}, which "
                             "no vizkit writes: the file was edited or damaged. Restore it "
                             "from a copy, or move it aside and run your jobs (or `vizkit "
                             "demo`) again.")
        return int(text)

    def _check_schema(self, con) -> None:
        self._check_length(con)
        version = self._version(con)
        if version is None:
            raise StoreEmptyError(f"The store {self.path} holds no results yet. Run "
                                     "`vizkit demo` or `vizkit precompute ...` to fill it.")
        self._raise_if_incompatible(version)
        self._checked = True

    def _raise_if_incompatible(self, version: int) -> None:
        if version == -1:
            raise StoreError(f"{self.path} is a DuckDB database but not a vizkit store (it has "
                             "no vizkit_meta table). Point --store / VIZKIT_STORE at another "
                             "file; vizkit will not write into it.")
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer vizkit (store schema "
                             f"v{version}; this one reads v{SCHEMA_VERSION}). Upgrade vizkit "
                             "(pip install -U cnn-vizkit).")
        if version < SCHEMA_VERSION and version not in MIGRATIONS:
            raise StoreError(f"{self.path} was written by an older vizkit (store schema "
                             f"v{version}; this one needs v{SCHEMA_VERSION}) and cannot be "
                             "migrated. Move it aside and re-run your precompute jobs.")

    def _init_or_check(self, con) -> None:
        """Inside the caller's transaction: create the tables and version of a store that
        has none, or migrate an older one."""
        version = self._version(con)
        if version is None:
            con.execute(DDL)
            con.execute(f"DELETE FROM {META_TABLE}")
            con.execute(f"INSERT INTO {META_TABLE} VALUES ('schema_version', ?), "
                        "('created_at', ?)", [str(SCHEMA_VERSION), _now().isoformat()])
            version = SCHEMA_VERSION
        self._raise_if_incompatible(version)
        while version < SCHEMA_VERSION:
            for sql in MIGRATIONS[version]:
                con.execute(sql)
            version += 1
            if version == 5:
                self._move_rows_to_files(con)
            con.execute(f"UPDATE {META_TABLE} SET value = ? WHERE key = 'schema_version'",
                        [str(version)])
        self._checked = True

    # -- files the store refers to --------------------------------------------------
    def relative(self, path: str | Path) -> str:
        """How a file the store refers to (a checkpoint) is recorded: relative to the
        store's folder when it is inside it, so that the folder can move as a whole."""
        path = Path(path).absolute()
        try:
            return path.relative_to(self.path.parent.absolute()).as_posix()
        except ValueError:
            return str(path)

    def file(self, recorded: str) -> Path:
        """The file a recorded path names: relative to the store's folder (older stores
        recorded paths relative to the working folder, still found there)."""
        path = Path(recorded)
        if path.is_absolute():
            return path
        inside = self.path.parent / path
        return inside if inside.exists() or not path.exists() else path

    # -- datasets and images --------------------------------------------------------
    def has_dataset(self, dataset_key: str) -> bool:
        if not self.exists():
            return False
        try:
            with self.read() as con:
                return con.execute("SELECT count(*) FROM datasets WHERE dataset_key = ?",
                                   [dataset_key]).fetchall()[0][0] > 0
        except StoreEmptyError:
            return False

    def put_dataset(self, dataset_key: str, name: str, fingerprint: str, classes: list[str],
                    description: str, skipped: list, rows: pd.DataFrame) -> None:
        """Store a dataset's image table (idx, image_id, label, split, thumb) in one go."""
        table = pa.Table.from_pandas(rows.assign(dataset_key=dataset_key)[
            ["dataset_key", "idx", "image_id", "label", "split", "thumb"]], preserve_index=False)
        with self.write() as con:
            if con.execute("SELECT count(*) FROM datasets WHERE dataset_key = ?",
                           [dataset_key]).fetchall()[0][0]:
                return
            con.register("new_images", table)
            con.execute("INSERT INTO images SELECT * FROM new_images")
            con.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [dataset_key, name, fingerprint, len(rows), json.dumps(classes),
                         description, json.dumps(skipped), _now()])

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

    # -- results --------------------------------------------------------------------
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
                df = con.execute("SELECT * FROM results WHERE list_contains(?, result_key)",
                                 [list(result_keys)]).df()
        except StoreEmptyError:
            return {}
        return {row["result_key"]: row for row in df.to_dict("records")}

    def results(self, kind: str | None = None) -> pd.DataFrame:
        """The catalog of finished results, optionally of one kind."""
        with self.read() as con:
            sql, args = "SELECT * FROM results", []
            if kind:
                sql, args = sql + " WHERE kind = ?", [kind]
            return con.execute(sql + " ORDER BY created_at", args).df()

    def put_result(self, meta: dict, data: pa.Table, table: str) -> None:
        """Insert a finished result's rows into ``table`` and its catalog row, atomically."""
        with self.write() as con:
            if con.execute("SELECT count(*) FROM results WHERE result_key = ?",
                           [meta["result_key"]]).fetchall()[0][0]:
                return
            con.register("new_rows", data)
            con.execute(f"INSERT INTO {table} SELECT * FROM new_rows")
            cols = list(meta) + ["created_at"]
            con.execute(f"INSERT INTO results ({', '.join(cols)}) VALUES "
                        f"({', '.join('?' * len(cols))})", list(meta.values()) + [_now()])

    def put_shards(self, meta: dict, arrays: dict[str, np.ndarray] | None = None,
                   files: dict[str, Path] | None = None) -> None:
        """Store a finished result whose data are files: ``arrays`` saved as ``.npy``,
        ``files`` (e.g. an index) moved in, under ``shards/<result key>/``; then its
        catalog row and the files' rows in one transaction. A kill before the commit leaves
        only files no row names, rewritten when the job runs again."""
        self.put_many_shards([(meta, arrays, files)])

    def put_many_shards(self, results: list[tuple[dict, dict | None, dict | None]]) -> None:
        """:meth:`put_shards` of several results (``(meta, arrays, files)`` each), all their
        files first, then every catalog row in one transaction: all of them or none."""
        done = self.results_of([meta["result_key"] for meta, _, _ in results])
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
            return
        with self.write() as con:
            for meta, rows in staged:
                key = meta["result_key"]
                if con.execute("SELECT count(*) FROM results WHERE result_key = ?", [key]
                               ).fetchall()[0][0]:
                    continue
                for name, path, n_rows, n_cols, dtype in rows:
                    con.execute("INSERT OR REPLACE INTO shards VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                [key, name, self.relative(path), n_rows, n_cols, dtype,
                                 path.stat().st_size, shards.sha256_of(path)])
                cols = list(meta) + ["created_at"]
                con.execute(f"INSERT INTO results ({', '.join(cols)}) VALUES "
                            f"({', '.join('?' * len(cols))})", list(meta.values()) + [_now()])

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

    def put_features(self, meta: dict, matrix: np.ndarray) -> None:
        """Store an ``[n, dim]`` float32 feature matrix as a finished result (a file)."""
        self.put_many_features([(meta, matrix)])

    def put_many_features(self, results: list[tuple[dict, np.ndarray]]) -> None:
        """:meth:`put_features` of several layers in one transaction."""
        entries = []
        for meta, matrix in results:
            matrix = np.ascontiguousarray(matrix, np.float32)
            n, dim = matrix.shape
            entries.append((dict(meta, kind="features", n=n, dim=dim), {"features": matrix},
                            None))
        self.put_many_shards(entries)

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

    def put_neighbors(self, meta: dict, nbr: np.ndarray, score: np.ndarray) -> None:
        """Store the top-k neighbour lists ``[n, k]`` (indices and scores) of a result."""
        n, k = nbr.shape
        self.put_shards(dict(meta, kind="neighbors", n=n, k=k),
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
                         str(array.dtype), path.stat().st_size, shards.sha256_of(path)])

    # -- similarity maps ------------------------------------------------------------
    def put_maps(self, meta: dict, rows: pd.DataFrame) -> None:
        """Store precomputed similarity maps (one row per query and rank) as a result."""
        table = pa.Table.from_pandas(rows.assign(result_key=meta["result_key"])[
            ["result_key", "idx", "rank", "nbr", "score", "map_score", "qh", "qw", "qmap",
             "rh", "rw", "rmap"]], preserve_index=False)
        table = table.cast(pa.schema([
            ("result_key", pa.string()), ("idx", pa.int32()), ("rank", pa.int32()),
            ("nbr", pa.int32()), ("score", pa.float32()), ("map_score", pa.float32()),
            ("qh", pa.int32()), ("qw", pa.int32()), ("qmap", pa.list_(pa.float32())),
            ("rh", pa.int32()), ("rw", pa.int32()), ("rmap", pa.list_(pa.float32()))]))
        self.put_result(dict(meta, kind="simmaps", n=int(rows["idx"].nunique())), table,
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
                      b: np.ndarray) -> None:
        """Store one value pair per image (``projections``: x, y; ``clusters``: cluster,
        distance to its centre; ``predictions``: class, confidence) as a result."""
        (name_a, type_a), (name_b, type_b) = self.PER_IMAGE[table]
        data = pa.table({"result_key": pa.array([meta["result_key"]] * len(idx)),
                         "idx": pa.array(np.asarray(idx, np.int32)),
                         name_a: pa.array(np.asarray(a)).cast(type_a),
                         name_b: pa.array(np.asarray(b)).cast(type_b)})
        self.put_result(dict(meta, kind=table, n=len(idx)), data, table)

    def per_image(self, table: str, result_key: str) -> pd.DataFrame:
        """The stored values of a per-image result, ordered by image (columns idx, a, b)."""
        if table not in self.PER_IMAGE:
            raise ValueError(table)
        with self.read() as con:
            if self._version(con) < 3:
                return pd.DataFrame()
            return con.sql(f"SELECT * EXCLUDE (result_key) FROM {table} WHERE result_key = $1 "
                           "ORDER BY idx", params=[result_key]).df()

    # -- training runs --------------------------------------------------------------
    def put_run(self, run: str, model: str, dataset_key: str, config: dict) -> None:
        with self.write() as con:
            con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        [run, model, dataset_key, json.dumps(config), _now()])

    def put_checkpoint(self, run: str, epoch: int, path: str, sha256: str, weights_fp: str,
                       metrics: dict) -> None:
        with self.write() as con:
            con.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [run, epoch, path, sha256, weights_fp, json.dumps(metrics), _now()])

    def put_anchors(self, run: str, epoch: int, split: str, rows: pd.DataFrame) -> None:
        """Replace the anchors of (run, epoch, split): columns idx, pos_idx, pos_sim,
        neg_idx, neg_sim (indices into that split's evaluation images)."""
        data = rows.assign(run=run, epoch=epoch, split=split)[
            ["run", "epoch", "split", "idx", "pos_idx", "pos_sim", "neg_idx", "neg_sim"]]
        with self.write() as con:
            con.execute("DELETE FROM anchors WHERE run = ? AND epoch = ? AND split = ?",
                        [run, epoch, split])
            con.register("new_rows", data)
            con.execute("INSERT INTO anchors SELECT * FROM new_rows")

    def anchors(self, runs: list[str]) -> pd.DataFrame:
        """Every stored anchor row of ``runs`` (empty before schema v4)."""
        with self.read() as con:
            if self._version(con) < 4 or not runs:
                return pd.DataFrame(columns=["run", "epoch", "split", "idx", "pos_idx",
                                             "pos_sim", "neg_idx", "neg_sim"])
            return con.execute("SELECT * FROM anchors WHERE list_contains(?, run) "
                               "ORDER BY run, epoch, split, idx", [runs]).df()

    def runs(self) -> pd.DataFrame:
        with self.read() as con:
            return con.execute("SELECT * FROM runs ORDER BY created_at").df()

    def checkpoints(self, run: str | None = None) -> pd.DataFrame:
        with self.read() as con:
            sql, args = "SELECT * FROM checkpoints", []
            if run:
                sql, args = sql + " WHERE run = ?", [run]
            return con.execute(sql + " ORDER BY run, epoch", args).df()

    def snapshot(self) -> dict[str, pd.DataFrame]:
        """The catalog tables (datasets, results, runs, checkpoints) and the row counts of
        the main tables, read through one connection; empty frames for an empty store."""
        if not self.ready():
            return {}
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

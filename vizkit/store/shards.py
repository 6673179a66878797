"""Result data kept as files beside the store: feature matrices, neighbour lists and index
files, under ``<store folder>/shards/<result key>/``.

Arrays are plain ``.npy`` (float32 or int32), so readers memory-map them: every process
shares one copy in the page cache instead of each loading the matrix. A file is written
under a temporary name and renamed into place, and becomes part of the store only when the
catalog row naming it commits — a file no row names is invisible and is overwritten when the
job runs again. Paths are recorded relative to the store's folder and must stay inside it
(a store from elsewhere cannot point a reader at other files); ``.npy`` files are loaded
without pickles.

A file is believed only once it is verified (:func:`verify`): its size, its SHA-256 against
the one its catalog row recorded, the shape and type in its header against the row, and a
neighbour list's ids against the matrix they index. The full check runs once per process
per version of the file (its inode, size and change times); a file changed after that is
checked again before it is served.
"""
from __future__ import annotations

import os
import shutil
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vizkit.errors import StoreError
from vizkit.files import sha256_file

FOLDER = "shards"


def folder(store_path: Path, result_key: str) -> Path:
    """Where the files of ``result_key`` live."""
    if not result_key or "/" in result_key or "\\" in result_key or result_key.startswith("."):
        raise StoreError(f"{result_key!r} is not a valid result key for a file name.")
    return store_path.parent / FOLDER / result_key


def save_array(target: Path, array: np.ndarray) -> None:
    """Write ``array`` as ``target`` (.npy) atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
    os.replace(tmp, target)


def adopt_file(target: Path, source: Path) -> None:
    """Move (or copy) a finished file to ``target`` atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        os.replace(source, tmp)
    except OSError:  # another file system
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def shard_of(store_path: Path, row: dict) -> Shard:
    """The :class:`Shard` a ``shards`` table row describes (its path resolved)."""
    return Shard(row["result_key"], row["name"], resolve(store_path, row["path"]),
                 int(row["rows"]), int(row["cols"]), str(row["dtype"]), int(row["bytes"]),
                 str(row["sha256"]))


def resolve(store_path: Path, recorded: str) -> Path:
    """The file a catalog row names, which must lie inside the store's folder."""
    root = store_path.parent.resolve()
    path = (root / recorded).resolve()
    if not path.is_relative_to(root):
        raise StoreError(f"The store names a data file outside its folder ({recorded}); "
                         "vizkit reads only files inside the store's folder.")
    return path


REBUILD = ("Run `vizkit verify --repair` to drop the damaged results, then the job that "
           "made them again")


@dataclass(frozen=True)
class Shard:
    """A data file as its catalog row records it: where it is and what it must be."""

    result_key: str
    name: str
    path: Path
    rows: int
    cols: int
    dtype: str  # a numpy dtype name, or "file" for a file that is not an array
    bytes: int
    sha256: str


_verified: set[tuple] = set()
_verified_lock = threading.Lock()


def _damaged(shard: Shard, what: str) -> StoreError:
    return StoreError(f"The store's data file {shard.path} {what}: it was changed or damaged "
                      f"after the job wrote it, so vizkit will not use it. {REBUILD}.")


def verify(shard: Shard) -> None:
    """Raise :class:`StoreError` (naming the file and how to rebuild it) unless ``shard``'s
    file is exactly what its catalog row recorded. Called before a file is first served in
    a process, and again whenever the file has changed since."""
    try:
        st = os.stat(shard.path)
    except FileNotFoundError:
        raise StoreError(f"A data file of the store is missing ({shard.path}). Copy the store "
                         f"together with its shards/ folder, or: {REBUILD}.") from None
    if not stat.S_ISREG(st.st_mode):
        raise _damaged(shard, "is not a regular file")
    stamp = (str(shard.path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
             st.st_ctime_ns, shard.sha256, shard.rows, shard.cols, shard.dtype)
    with _verified_lock:
        if stamp in _verified:
            return
    if st.st_size != shard.bytes:
        raise _damaged(shard, f"is {st.st_size:,} bytes where the store recorded "
                              f"{shard.bytes:,}")
    if sha256_file(shard.path) != shard.sha256:
        raise _damaged(shard, "does not match the SHA-256 the store recorded for it")
    if shard.dtype != "file":
        _check_array(shard, _load(shard.path))
    with _verified_lock:
        _verified.add(stamp)


def _check_array(shard: Shard, array: np.ndarray) -> None:
    """The header's shape and type against the row; a neighbour list's ids in range."""
    shape = tuple(array.shape) + (1,) * (2 - array.ndim)
    if array.ndim not in (1, 2) or shape[:2] != (shard.rows, shard.cols) \
            or str(array.dtype) != shard.dtype:
        raise _damaged(shard, f"holds a {array.dtype} array of shape {tuple(array.shape)} "
                              f"where the store recorded {shard.dtype} "
                              f"({shard.rows}, {shard.cols})")
    if shard.name == "nbr" and array.size:
        lo, hi = int(array.min()), int(array.max())
        if lo < -1 or hi >= shard.rows:
            raise _damaged(shard, f"names images {lo} to {hi}, outside the {shard.rows:,} "
                                  "images it lists")


def open_verified(shard: Shard) -> np.ndarray:
    """The array of ``shard``, verified (:func:`verify`), memory-mapped read-only."""
    verify(shard)
    return _load(shard.path)


def _load(path: Path) -> np.ndarray:
    """A stored ``.npy`` array, memory-mapped read-only (no pickles)."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise StoreError(f"A data file of the store is missing ({path}). Copy the store "
                         "together with its shards/ folder, or re-run the job.") from None
    except ValueError as e:
        raise StoreError(f"{path} is not a readable array file ({e}). {REBUILD}.") from None

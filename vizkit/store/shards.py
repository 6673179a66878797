"""Result data kept as files beside the store: feature matrices, neighbour lists and index
files, under ``<store folder>/shards/<result key>/``.

Arrays are plain ``.npy`` (float32 or int32), so readers memory-map them: every process
shares one copy in the page cache instead of each loading the matrix. A file is written
under a temporary name and renamed into place, and becomes part of the store only when the
catalog row naming it commits — a file no row names is invisible and is overwritten when the
job runs again. Paths are recorded relative to the store's folder and must stay inside it
(a store from elsewhere cannot point a reader at other files); ``.npy`` files are loaded
without pickles.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np

from vizkit.errors import StoreError

FOLDER = "shards"


def folder(store_path: Path, result_key: str) -> Path:
    """Where the files of ``result_key`` live."""
    if not result_key or "/" in result_key or "\\" in result_key or result_key.startswith("."):
        raise StoreError(f"{result_key!r} is not a valid result key for a file name.")
    return store_path.parent / FOLDER / result_key


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


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


def resolve(store_path: Path, recorded: str) -> Path:
    """The file a catalog row names, which must lie inside the store's folder."""
    root = store_path.parent.resolve()
    path = (root / recorded).resolve()
    if not path.is_relative_to(root):
        raise StoreError(f"The store names a data file outside its folder ({recorded}); "
                         "vizkit reads only files inside the store's folder.")
    return path


def open_array(path: Path) -> np.ndarray:
    """A stored ``.npy`` array, memory-mapped read-only (no pickles)."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise StoreError(f"A data file of the store is missing ({path}). Copy the store "
                         "together with its shards/ folder, or re-run the job.") from None
    except ValueError as e:
        raise StoreError(f"{path} is not a readable array file ({e}).") from None

"""Where vizkit keeps its files: the store, dataset caches and checkpoints."""
from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The folder of the default store and caches: ``$VIZKIT_DATA`` or ``./data``."""
    return Path(os.environ.get("VIZKIT_DATA", "data"))


FETCHED_BUNDLE = "fetched.vizkit"  # where the app's cold start puts a downloaded bundle


def store_path() -> Path:
    """The store file: ``$VIZKIT_STORE``, else ``<data dir>/vizkit.duckdb`` — or, when there
    is none, the bundle a cold start fetched (``<data dir>/fetched.vizkit``) if present."""
    if os.environ.get("VIZKIT_STORE"):
        return Path(os.environ["VIZKIT_STORE"])
    default, fetched = data_dir() / "vizkit.duckdb", data_dir() / FETCHED_BUNDLE
    return fetched if not default.exists() and fetched.is_file() else default


def cache_dir() -> Path:
    """Downloaded datasets and weights: ``$VIZKIT_CACHE`` or ``<data dir>/cache``."""
    return Path(os.environ.get("VIZKIT_CACHE") or data_dir() / "cache")


READ_ONLY_ENV = "VIZKIT_READ_ONLY"
DATA_ROOTS_ENV = "VIZKIT_DATA_ROOTS"


def read_only() -> bool:
    """Whether this is a hosted, read-only app (``VIZKIT_READ_ONLY=1``): visitors can start
    no job, and the app opens dataset files only under the store's and data folders."""
    return os.environ.get(READ_ONLY_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def data_roots(store: Path) -> list[Path]:
    """Folders under which the app may open dataset files that a store names:
    ``$VIZKIT_DATA_ROOTS`` (separated by ``os.pathsep``) when set; else the data folder and
    the store's folder, plus — unless :func:`read_only` — the working and home folders."""
    if os.environ.get(DATA_ROOTS_ENV):
        roots = [Path(p) for p in os.environ[DATA_ROOTS_ENV].split(os.pathsep) if p.strip()]
    else:
        roots = [data_dir(), store.parent]
        if not read_only():
            roots += [Path.cwd(), Path.home()]
    return [r.expanduser().resolve() for r in roots]


def is_under(path: str | Path, roots: list[Path]) -> bool:
    """Whether ``path`` (symbolic links resolved) lies inside one of ``roots``."""
    real = Path(path).expanduser().resolve()
    return any(real == r or real.is_relative_to(r) for r in roots)

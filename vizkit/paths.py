"""Where vizkit keeps its files: the store, dataset caches and checkpoints."""
from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The folder of the default store and caches: ``$VIZKIT_DATA`` or ``./data``."""
    return Path(os.environ.get("VIZKIT_DATA", "data"))


def store_path() -> Path:
    """The store file: ``$VIZKIT_STORE`` or ``<data dir>/vizkit.duckdb``."""
    return Path(os.environ.get("VIZKIT_STORE") or data_dir() / "vizkit.duckdb")


def cache_dir() -> Path:
    """Downloaded datasets and weights: ``$VIZKIT_CACHE`` or ``<data dir>/cache``."""
    return Path(os.environ.get("VIZKIT_CACHE") or data_dir() / "cache")

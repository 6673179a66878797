"""Store connections opened by a job and by a catalog load, counted (issue 24's benchmark):
``vizkit evolve`` per checkpoint (features, aligned and independent layouts, clusters,
predictions) on a fresh store, a second evolve that finds everything stored, and one catalog
load of the read side. Each DuckDB connection costs ~20 ms of open, schema check and close.

Usage: python bench/bench_connections.py
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from vizkit.jobs.layouts import evolve_run
from vizkit.jobs.train import TrainConfig, train
from vizkit.read.catalog import Reader
from vizkit.registry import get_registry
from vizkit.store import Store
from vizkit.store.connection import StoreFile


class Counter:
    """Counts StoreFile._connect calls while active."""

    def __init__(self):
        self.n = 0
        self._connect = StoreFile._connect

    def __enter__(self):
        counter = self

        def counted(store, *args, **kwargs):
            counter.n += 1
            return counter._connect(store, *args, **kwargs)
        StoreFile._connect = counted
        return self

    def __exit__(self, *exc):
        StoreFile._connect = self._connect


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "b.duckdb")
        data = get_registry().open_dataset("digits")
        train(store, data, TrainConfig(model="vizkit_small_cnn", dataset="digits", epochs=2,
                                       batches_per_epoch=5, eval_images=200, anchors=20),
              "b", checkpoint_dir=Path(tmp) / "ck", progress=False)
        test = get_registry().open_dataset("digits[test][:300]")
        checkpoints = len(store.checkpoints("b"))
        with Counter() as first:
            evolve_run(store, test, "b", "embedding", "pca", progress=False)
        with Counter() as again:
            evolve_run(store, test, "b", "embedding", "pca", progress=False)
        with Counter() as catalog:
            Reader(store.path).catalog()
    print(f"evolve, fresh store: {first.n} connections for {checkpoints} checkpoints "
          f"({first.n / checkpoints:.1f} per checkpoint)")
    print(f"evolve, all stored:  {again.n} connections ({again.n / checkpoints:.1f} per "
          "checkpoint)")
    print(f"catalog load:        {catalog.n} connections")


if __name__ == "__main__":
    sys.exit(main())

"""Store connections opened by a job and by a catalog load, counted (issue 24's benchmark):
``vizkit evolve`` per checkpoint (features, aligned and independent layouts, clusters,
predictions) on a fresh store, a second evolve that finds everything stored, and one catalog
load of the read side; then one short read (open, a catalog lookup, close) through the store,
which attaches the file to the process's DuckDB instance, ÷ the same read through a DuckDB
instance of its own per connection (``duckdb.connect``, as the store did before).

Usage: python bench/bench_connections.py
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import duckdb
from timing import compare

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
        key = store.results().iloc[0]["result_key"]

        def own_instance() -> None:
            con = duckdb.connect(str(store.path), read_only=True)
            try:
                con.execute("SELECT * FROM results WHERE result_key = ?", [key]).fetchall()
            finally:
                con.close()
        reads = compare({"store read": lambda: store.result(key), "own instance": own_instance},
                        rounds=7, per_call=20)
    print(f"evolve, fresh store: {first.n} connections for {checkpoints} checkpoints "
          f"({first.n / checkpoints:.1f} per checkpoint)")
    print(f"evolve, all stored:  {again.n} connections ({again.n / checkpoints:.1f} per "
          "checkpoint)")
    print(f"catalog load:        {catalog.n} connections")
    print(f"one short read: through the store {reads['store read']}, with an instance of its "
          f"own {reads['own instance']}\n  store read ÷ own instance "
          f"{reads['store read'].ratio(reads['own instance'])}")


if __name__ == "__main__":
    sys.exit(main())

"""A visitor's click allocates within bounds: the disagreement finder and the grid search a
bounded query set through the stored index in bounded blocks (no copy of the matrix, no
gigabyte of scores), and models loaded for visitors are one shared set within a budget."""
from __future__ import annotations

import tracemalloc

import numpy as np
from test_scale import features_store

from vizkit.jobs.index import build_index
from vizkit.read.catalog import Reader
from vizkit.read.query import neighbours_of
from vizkit.registry import get_registry
from vizkit.runtime import models


def test_searching_2000_queries_holds_a_bounded_block(tmp_path):
    store, frow = features_store(tmp_path, n=30_000, dim=64)  # 7.7 MB of features
    metric = get_registry().metric("cosine")
    build_index(store, frow, metric, get_registry().index("exact"), progress=False)
    reader = Reader(store)
    row = reader.features("f-scale")
    reader.matrix("f-scale")
    tracemalloc.start()
    try:
        found = neighbours_of(reader, row, metric, np.arange(2000), 10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found.shape == (2000, 10) and (found != np.arange(2000)[:, None]).all()
    # 2,000 x 30,000 scores at once would be 240 MB (and about 1 GB with top-k's copies)
    assert peak < 200 << 20, f"peak {peak / 2**20:.0f} MB"


def test_models_are_shared_across_readers_and_evicted_beyond_the_budget(monkeypatch,
                                                                       digits_store):
    monkeypatch.setattr(models, "_shared", type(models._shared)())
    loads = []

    def make(name):
        def load():
            loads.append(name)
            return get_registry().load_model("vizkit_small_cnn", "random")
        return load

    a = models.shared_model(("a",), make("a"))
    assert models.shared_model(("a",), make("a")) is a and loads == ["a"]
    one = models._weights_bytes(a)
    monkeypatch.setattr(models, "MODEL_BUDGET_BYTES", 2 * one)
    models.shared_model(("b",), make("b"))
    models.shared_model(("c",), make("c"))
    assert list(models._shared) == [("b",), ("c",)]
    models.shared_model(("a",), make("a"))  # evicted: loaded again
    assert loads == ["a", "b", "c", "a"] and len(models._shared) == 2
    # two readers of one store (two sessions' pages) get the same model object
    first, second = Reader(digits_store), Reader(digits_store)
    frow = next(r for r in first.features_rows() if r.model == "vizkit_small_cnn")
    assert models.model_for(first, frow) is models.model_for(second, frow)

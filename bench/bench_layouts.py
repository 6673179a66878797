"""Projection job time ÷ the bare library call on the same features, same run; and the
evolution page's server-side redraw when its epoch slider moves, for 70,000 points.

The job (vizkit.jobs.layouts.put_projection after vizkit.compute.projection.project) adds input
conversion, normalisation and the store write to the library's fit_transform.
Usage: python bench/bench_layouts.py [--tsne-70k]   (uses the demo's features when present)
"""
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from vizkit.compute.projection import procrustes, project
from vizkit.errors import VizkitError
from vizkit.jobs.layouts import put_projection
from vizkit.store import Store


def demo_features() -> np.ndarray:
    try:
        store = Store()
        rows = store.results("features")
        rows = rows[(rows["layer"] == "embedding") & (rows["n"] == 70_000)]
        return store.features(rows.iloc[-1]["result_key"])
    except (VizkitError, IndexError):
        print("no demo store: using random 64-d features")
        return np.random.default_rng(0).normal(size=(70_000, 64)).astype(np.float32)


def bare(x: np.ndarray, method: str) -> None:
    if method == "pca":
        from sklearn.decomposition import PCA
        PCA(2, random_state=0).fit_transform(x)
    elif method == "umap":
        import umap
        umap.UMAP(n_components=2, metric="cosine", random_state=0, n_jobs=1,
                  n_epochs=200).fit_transform(x)
    else:
        from sklearn.manifold import TSNE
        TSNE(2, metric="cosine", init="pca", random_state=0).fit_transform(x)


def job(store: Store, x: np.ndarray, method: str, run: int) -> None:
    frow = {"result_key": f"f-bench-{len(x)}", "dataset_key": "bench#0", "model": "m",
            "weights": "w", "weights_fp": "0", "checkpoint": None, "layer": "l",
            "pooling": "avg"}
    put_projection(store, frow, project(x, method, seed=0), {"method": method, "run": run})


def redraw_time(features: np.ndarray) -> float:
    """Median seconds of an evolution-page rerun after moving the slider (AppTest)."""
    from streamlit.testing.v1 import AppTest

    from vizkit.jobs.layouts import put_clusters

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "s.duckdb")
        n = len(features)
        table = pd.DataFrame({
            "idx": range(n), "image_id": [f"i{i}" for i in range(n)],
            "label": np.arange(n) % 10, "split": "test", "thumb": [b""] * n})
        store.put_dataset("bench#0", "bench", "0", [str(i) for i in range(10)], "", [], table)
        previous = None
        rng = np.random.default_rng(0)
        for epoch in range(4):
            f = features + rng.normal(scale=0.1 * (3 - epoch), size=features.shape)
            frow = {"result_key": f"f-{epoch}", "dataset_key": "bench#0", "model": "m",
                    "weights": "file", "weights_fp": str(epoch), "checkpoint": f"r:{epoch}",
                    "layer": "l", "pooling": "avg", "params": "{}", "code_version": 1}
            store.put_features(frow, f.astype(np.float32))
            coords = project(f, "pca")
            coords = procrustes(previous, coords) if previous is not None else coords
            previous = coords
            for aligned in (True, False):
                put_projection(store, store.result(frow["result_key"]), coords,
                               {"method": "pca", "series": "r/l/bench#0", "aligned": aligned})
            put_clusters(store, store.result(frow["result_key"]), f, 10)
        os.environ["VIZKIT_STORE"] = str(store.path)
        at = AppTest.from_string("from vizkit.app.router import run_page\n"
                                 "run_page('evolution')", default_timeout=300).run()
        times = []
        for epoch in (2, 1, 0, 3, 2):
            t = time.perf_counter()
            at.select_slider(key="evo_epoch").set_value(epoch).run()
            times.append(time.perf_counter() - t)
            assert not at.exception, at.exception
        return float(np.median(times))


def main():
    features = demo_features()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "s.duckdb")
        for n in (10_000, 70_000):
            x = features[:n]
            for method in ("pca", "umap", "tsne"):
                if method == "tsne" and n > 10_000 and "--tsne-70k" not in sys.argv:
                    print(f"tsne {n:,}: skipped (minutes on 2 cores; --tsne-70k runs it)")
                    continue
                bare(x[:6000], method)  # warm-up: numba compiles umap's >4,096-point path
                t = time.perf_counter()
                bare(x, method)
                t_bare = time.perf_counter() - t
                t = time.perf_counter()
                job(store, x, method, n)
                t_job = time.perf_counter() - t
                print(f"{method} {n:,} points: job {t_job:.1f} s, bare library call "
                      f"{t_bare:.1f} s, ratio {t_job / t_bare:.2f}")
    print(f"evolution page redraw after a slider move, 70,000 points: "
          f"{redraw_time(features):.2f} s (median of 5, server side)")


if __name__ == "__main__":
    main()

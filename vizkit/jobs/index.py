"""``vizkit index``: build a nearest-neighbour index over stored features for a metric, with
its recall measured against exact search, and store its files."""
from __future__ import annotations

import json
import shutil
import time

from vizkit.api.indexes import Index
from vizkit.api.metrics import Metric
from vizkit.errors import BadArgumentError
from vizkit.jobs.keys import index_meta
from vizkit.progress import bar
from vizkit.store import Store

ANN_MIN_ROWS = 200_000  # from here on, precompute also builds the default ANN index
DEFAULT_ANN = "faiss-ivf"  # chosen by measurement: bench/bench_scale.py, docs/scale.md


def build_index(store: Store, frow: dict, metric: Metric, kind: Index,
                options: dict | None = None, progress: bool = True) -> dict:
    """Build (unless stored) the index ``kind`` of the features ``frow`` under ``metric``;
    return its catalog row. Its parameters hold its measured recall and build time."""
    if not kind.serves(metric):
        raise BadArgumentError(f"The {kind.name} index cannot serve {metric.name}; searches "
                               "under it stay exact. Pick another --kind or metric.")
    options = dict(options or {})
    meta = index_meta(frow, metric.name, kind.name, options)
    done = store.result(meta["result_key"])
    if done is not None:
        return done
    features = store.features(frow["result_key"])
    folder = store.path.parent / "staging" / meta["result_key"]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with bar(total=1, desc=f"{kind.name} index of {len(features):,} x {features.shape[1]} "
             f"({metric.name})", disable=not progress) as b:
        t0 = time.perf_counter()
        params = kind.build(features, metric, folder, options)
        b.update()
    params = {"index": kind.name, "exact": kind.exact, **params,
              "build_seconds": round(time.perf_counter() - t0, 2)}
    store.put_shards(dict(meta, kind="index", n=len(features),
                          k=params.get("recall_k"), params=json.dumps(params)),
                     files={p.stem: p for p in folder.iterdir()})
    shutil.rmtree(folder, ignore_errors=True)
    return store.result(meta["result_key"])

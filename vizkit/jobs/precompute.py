"""``vizkit precompute``: features of chosen layers and top-k neighbours under metrics."""
from __future__ import annotations

import numpy as np

from vizkit.api.datasets import Dataset
from vizkit.api.models import LoadedModel
from vizkit.compute.nearest import all_pairs_topk
from vizkit.jobs.extract import clear_staging, extract_features, staging_dir
from vizkit.jobs.ingest import ensure_dataset
from vizkit.jobs.keys import features_meta, neighbors_meta
from vizkit.progress import bar as tqdm
from vizkit.registry import get_registry
from vizkit.store import Store


def precompute(store: Store, dataset: Dataset, model: LoadedModel, layers: list[str],
               metrics: list[str], k: int = 50, batch_size: int = 256,
               progress: bool = True) -> list[dict]:
    """Compute what is missing and return the catalog rows of every requested result.

    Results already in the store are not computed again; a killed run resumes from the
    extraction parts it had staged.
    """
    registry = get_registry()
    for layer in layers:
        model.layer(layer)
    metric_objs = [registry.metric(m) for m in metrics]
    ensure_dataset(store, dataset, progress)
    fmetas = {layer: features_meta(dataset, model, layer) for layer in layers}
    missing = [layer for layer in layers if store.result(fmetas[layer]["result_key"]) is None]
    computed: dict[str, np.ndarray] = {}
    if missing:
        staging = staging_dir(store.path, [fmetas[layer]["result_key"] for layer in missing])
        computed = extract_features(dataset, model, missing, staging, batch_size, progress)
        for layer in missing:
            store.put_features(fmetas[layer], computed[layer])
        clear_staging(staging)
    done = [store.result(m["result_key"]) for m in fmetas.values()]
    for layer in layers:
        for metric in metric_objs:
            nmeta = neighbors_meta(fmetas[layer], metric.name, k)
            if store.result(nmeta["result_key"]) is None:
                feats = computed.get(layer)
                if feats is None:
                    feats = computed[layer] = store.features(fmetas[layer]["result_key"])
                with tqdm(total=len(feats), desc=f"top-{k} {layer} {metric.name}", unit="img",
                          disable=not progress) as bar:
                    nbr, score = all_pairs_topk(metric, feats, k, progress=bar.update)
                store.put_neighbors(nmeta, nbr, score)
            done.append(store.result(nmeta["result_key"]))
    return done

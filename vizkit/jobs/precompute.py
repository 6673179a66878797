"""``vizkit precompute``: features of chosen layers (as memory-mappable files), an index per
metric (exact; from a few hundred thousand images also the default approximate one) and
every image's top-k neighbours through it."""
from __future__ import annotations

from vizkit.api.datasets import Dataset
from vizkit.jobs.extract import clear_staging, extract_features, staging_dir
from vizkit.jobs.index import ANN_MIN_ROWS, DEFAULT_ANN, build_index
from vizkit.jobs.ingest import ensure_dataset
from vizkit.jobs.keys import features_meta, neighbors_meta
from vizkit.jobs.neighbors import clear, neighbor_lists
from vizkit.read.catalog import Reader
from vizkit.registry import get_registry
from vizkit.runtime.loaded import LoadedModel
from vizkit.store import Store


def precompute(store: Store, dataset: Dataset, model: LoadedModel, layers: list[str],
               metrics: list[str], k: int = 50, batch_size: int = 256,
               progress: bool = True, extract=None,
               computed: dict[str, object] | None = None) -> list[dict]:
    """Compute what is missing and return the catalog rows of every requested result.

    Results already in the store are not computed again; a killed run resumes from the
    extraction parts and neighbour-list blocks it had staged. ``extract`` is the engine:
    by default :func:`~vizkit.jobs.extract.extract_features` in this process, or the Ray
    engine's ``extract_with_ray`` with its options bound. ``computed``, when given, receives
    the feature matrices extracted now, by layer (so a caller need not read them back).
    """
    registry = get_registry()
    for layer in layers:
        model.layer(layer)
    metric_objs = [registry.metric(m) for m in metrics]
    ensure_dataset(store, dataset, progress)
    fmetas = {layer: features_meta(dataset, model, layer) for layer in layers}
    stored = store.results_of([m["result_key"] for m in fmetas.values()])
    missing = [layer for layer in layers if fmetas[layer]["result_key"] not in stored]
    if missing:
        staging = staging_dir(store.path, [fmetas[layer]["result_key"] for layer in missing])
        extracted = (extract or extract_features)(dataset, model, missing, staging,
                                                  batch_size, progress=progress)
        written = store.put_many_features([(fmetas[layer], extracted[layer])
                                           for layer in missing])
        clear_staging(staging)
        stored.update({row["result_key"]: row for row in written})
        if computed is not None:
            computed.update({layer: extracted[layer] for layer in missing})
    done = [stored[m["result_key"]] for m in fmetas.values()]
    for layer in layers:
        for metric in metric_objs:
            frow = stored[fmetas[layer]["result_key"]]
            for kind in default_indexes(registry, metric, frow["n"]):
                build_index(store, frow, metric, kind, progress=progress)
            nmeta = neighbors_meta(fmetas[layer], metric.name, k)
            nrow = store.result(nmeta["result_key"])
            if nrow is None:
                staging = store.path.parent / "staging" / nmeta["result_key"]
                nbr, score = neighbor_lists(Reader(store), frow["result_key"], metric, k,
                                            staging, progress)
                nrow = store.put_neighbors(nmeta, nbr, score)
                clear(staging)
            done.append(nrow)
    return done


def default_indexes(registry, metric, n: int) -> list:
    """The indexes precompute builds for a metric: exact (for cosine, its unit-length copy),
    and from :data:`ANN_MIN_ROWS` images the default approximate one, when it serves it."""
    kinds = [registry.index("exact")]
    if n >= ANN_MIN_ROWS and DEFAULT_ANN in registry.items["index"] and \
            registry.index(DEFAULT_ANN).serves(metric):
        kinds.append(registry.index(DEFAULT_ANN))
    return kinds

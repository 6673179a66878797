"""``vizkit project`` and ``vizkit evolve``: stored 2-D layouts, k-means clusters and
classifier predictions of a layer's features — for one model, or for every checkpoint of
a training run on one stable, aligned layout."""
from __future__ import annotations

import json

import numpy as np
import torch

from vizkit.api.datasets import Dataset
from vizkit.compute.clustering import kmeans
from vizkit.compute.projection import next_layout, project, project_sampled
from vizkit.errors import BadArgumentError, ResultMissingError
from vizkit.identity import CheckpointId
from vizkit.jobs.keys import dataset_key, derived_meta, features_meta
from vizkit.jobs.precompute import precompute
from vizkit.progress import bar as tqdm
from vizkit.runtime.loaded import LoadedModel
from vizkit.runtime.models import load_checkpoint
from vizkit.store import Store

LAYOUTS_CODE_VERSION = 1


def _meta(kind: str, base: dict, params: dict) -> dict:
    """The catalog row of a layout, clusters or predictions of ``base``'s images."""
    return derived_meta(kind[0], base, {"kind": kind, "params": params,
                                        "code": LAYOUTS_CODE_VERSION},
                        params=json.dumps(params, sort_keys=True),
                        code_version=LAYOUTS_CODE_VERSION)


def stored_features(store: Store, dataset: Dataset, model: LoadedModel, layer: str,
                    progress: bool = True) -> tuple[dict, np.ndarray]:
    """The features of ``layer`` over ``dataset`` (extracted first when missing: then the
    matrix just extracted, not read back)."""
    computed: dict = {}
    frow = precompute(store, dataset, model, [layer], [], progress=progress,
                      computed=computed)[0]
    if layer in computed:
        return frow, np.ascontiguousarray(computed[layer], np.float32)
    return frow, store.features(frow["result_key"])


def put_projection(store: Store, frow: dict, coords: np.ndarray, params: dict) -> dict:
    """Store a layout of ``frow``'s images (unless the same one is there); return its row."""
    meta = _meta("projections", frow, params)
    return store.put_per_image("projections", meta, np.arange(len(coords)), coords[:, 0],
                               coords[:, 1])


MIN_LAYOUT_IMAGES = 10  # UMAP, t-SNE and PCA need some neighbours and spread


def check_layout_size(dataset: Dataset) -> None:
    """Refuse, before any work, a dataset too small to lay out in 2-D."""
    if len(dataset) < MIN_LAYOUT_IMAGES:
        raise BadArgumentError(f"{dataset.name} has {len(dataset)} image"
                               f"{'s' if len(dataset) != 1 else ''}; a 2-D layout needs at "
                               f"least {MIN_LAYOUT_IMAGES}. Add images, or search it instead.")


def clusters_meta(frow: dict, n: int, k: int, seed: int = 0) -> dict:
    """The catalog row of the k-means clusters of ``frow``'s ``n`` images."""
    params = {"method": "kmeans", "k": max(1, min(k, n)), "seed": seed, "normalise": "l2"}
    return _meta("clusters", frow, params)


def put_clusters(store: Store, frow: dict, features: np.ndarray, k: int,
                 seed: int = 0, done: dict | None = None) -> dict:
    """k-means (on L2-normalised features) of ``frow``'s images, stored; return its row
    (never more clusters than images). ``done``: stored rows by key, already read (else
    the store is asked)."""
    k = max(1, min(k, len(features)))
    meta = clusters_meta(frow, len(features), k, seed)
    row = done.get(meta["result_key"]) if done is not None else \
        store.result(meta["result_key"])
    if row is not None:
        return row
    assignment, _, dist = kmeans(features, k, seed)
    return store.put_per_image("clusters", meta, np.arange(len(features)), assignment, dist)


def predictions_meta(dataset: Dataset, model: LoadedModel) -> dict:
    """The catalog row of the model's predictions over ``dataset``."""
    return _meta("predictions", {**features_meta(dataset, model, "logits"), "layer": "logits"},
                 {})


def put_predictions(store: Store, dataset: Dataset, model: LoadedModel,
                    batch_size: int = 512, done: dict | None = None) -> dict | None:
    """The model's predicted class and confidence per image, when its classifier has one
    output per class of ``dataset`` (else None). ``done``: stored rows by key, already
    read (else the store is asked)."""
    meta = predictions_meta(dataset, model)
    row = done.get(meta["result_key"]) if done is not None else \
        store.result(meta["result_key"])
    if row is not None:
        return row
    preds, confs = [], []
    with torch.inference_mode():
        for batch in dataset.iter_batches(batch_size):
            logits = model.outputs(batch.images)
            if logits.ndim != 2 or logits.shape[1] != len(dataset.classes):
                return None
            p = logits.float().softmax(1)
            conf, pred = p.max(1)
            preds.append(pred.numpy())
            confs.append(conf.numpy())
    return store.put_per_image("predictions", meta, np.arange(len(dataset)),
                               np.concatenate(preds), np.concatenate(confs))


def project_model(store: Store, dataset: Dataset, model: LoadedModel, layer: str,
                  method: str = "umap", seed: int = 0, clusters: int = 10,
                  progress: bool = True, fit: int | None = None) -> dict:
    """One model's layout, clusters and predictions; return their catalog rows (and, as
    ``coords``, the layout). With ``fit``, a dataset of more images is laid out by fitting
    a seeded sample of ``fit`` and placing the rest among their nearest sampled images."""
    check_layout_size(dataset)
    frow, feats = stored_features(store, dataset, model, layer, progress)
    params = {"method": method, "seed": seed, "series": "single"}
    if fit is not None and len(feats) > fit:
        params["fit"] = fit
    meta = _meta("projections", frow, params)
    rows = {"features": frow, "projection": store.result(meta["result_key"])}
    if rows["projection"] is None:
        what = f"{method} of {len(feats):,} points" + (f" (fit on {fit:,})" if "fit" in params
                                                         else "")
        with tqdm(total=1, desc=what, disable=not progress) as b:
            coords = project_sampled(feats, method, seed, fit) if "fit" in params \
                else project(feats, method, seed)
            b.update()
        rows["projection"] = put_projection(store, frow, coords, params)
    else:
        xy = store.per_image("projections", rows["projection"]["result_key"])
        coords = xy[["x", "y"]].to_numpy(np.float32)
    rows["coords"] = coords
    rows["clusters"] = put_clusters(store, frow, feats, clusters, seed)
    rows["predictions"] = put_predictions(store, dataset, model)
    return rows


def evolve_run(store: Store, dataset: Dataset, run: str, layer: str, method: str = "umap",
               seed: int = 0, clusters: int = 10, independent: bool = True,
               progress: bool = True, device: torch.device | None = None,
               amp: bool = False) -> list[dict]:
    """For every checkpoint of ``run``: features, an aligned layout (started from the
    previous checkpoint's and Procrustes-aligned to it), with ``independent`` also a layout
    computed on its own (to measure what alignment buys), clusters and predictions."""
    check_layout_size(dataset)
    ckpts = store.checkpoints(run)
    if ckpts.empty:
        raise ResultMissingError(f"Run {run} has no checkpoints. Train it with `vizkit train`.")
    model_name = store.runs().set_index("run").loc[run, "model"]
    frows, feats = [], []
    for ck in tqdm(list(ckpts.itertuples()), desc=f"features of {run}", unit="checkpoint",
                   disable=not progress):  # each checkpoint from the rows read above
        model = load_checkpoint(model_name, CheckpointId(run, int(ck.epoch)).label,
                                store.file(ck.path), ck.sha256, store)
        if device is not None:
            model.to(device, amp)
        frow, f = stored_features(store, dataset, model, layer, progress=False)
        # one read for what this checkpoint's next two steps may find stored
        done = store.results_of([predictions_meta(dataset, model)["result_key"],
                                 clusters_meta(frow, len(f), clusters, seed)["result_key"]])
        put_predictions(store, dataset, model, done=done)
        put_clusters(store, frow, f, clusters, seed, done=done)
        frows.append(frow)
        feats.append(f)
    series = {"run": run, "layer": layer, "dataset": dataset_key(dataset)}
    out = []
    for aligned in ([True, False] if independent else [True]):
        previous = None
        params = [{"method": method, "seed": seed, "series": series, "aligned": aligned,
                   "chain": [r["result_key"] for r in frows[: i + 1]]}
                  for i in range(len(frows))]
        done = store.results_of([_meta("projections", frow, p)["result_key"]
                                 for frow, p in zip(frows, params)])  # one read for all
        for i, (frow, f) in enumerate(tqdm(
                list(zip(frows, feats)), desc=f"{method} {'aligned' if aligned else 'independent'}",
                unit="checkpoint", disable=not progress)):
            row = done.get(_meta("projections", frow, params[i])["result_key"])
            if row is None:
                coords = next_layout(previous, f, method, seed, aligned)
                row = put_projection(store, frow, coords, params[i])
            else:  # done by an earlier, interrupted run: continue from it
                xy = store.per_image("projections", row["result_key"])
                coords = xy[["x", "y"]].to_numpy(np.float32)
            previous = coords
            out.append(row)
    return out

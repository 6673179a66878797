"""``vizkit faithfulness``: how far each kind of similarity explanation can be trusted. For
the first ``queries`` labelled images and each of their top ``k`` results, every
registered explainer that applies ranks the query's pixels; deletion and insertion curves
(:mod:`vizkit.compute.faithfulness`) re-embed the perturbed queries and record the score
against the result. Stored as a result (the curves per method as files, the areas with
seeded bootstrap intervals over pairs in its catalog row) that the Findings page reads."""
from __future__ import annotations

import json

import numpy as np
import torch

from vizkit.api.datasets import Dataset
from vizkit.compute.faithfulness import (
    STEPS,
    area,
    black,
    normalised_scores,
    perturbed,
    pixel_order,
    similarity,
)
from vizkit.compute.findings import bootstrap_ci, paired_diff_ci
from vizkit.compute.nearest import topk
from vizkit.compute.pairmaps import EXACT_METRICS
from vizkit.errors import BadArgumentError
from vizkit.jobs.findings import query_positions, stored_or_features
from vizkit.progress import bar as tqdm
from vizkit.registry import get_registry
from vizkit.runtime.devices import blas_beside_torch
from vizkit.runtime.loaded import LoadedModel
from vizkit.store import Store

PERTURBED_BYTES = 512 * 2**20  # perturbed images of one batch of pairs (float32; 5 pairs
# of 4 methods at 224 x 224 RGB, 64 at the demo's 28 x 28)
MAX_PAIRS_PER_BATCH = 64


def chosen_explainers(model: LoadedModel, layer: str, metric: str,
                      methods: list[str] | None = None) -> tuple[list, dict[str, str]]:
    """The registered explainers (or those named in ``methods``) that apply, and why each
    other one does not. Refuses a metric without a score to explain additively."""
    if metric not in EXACT_METRICS:
        raise BadArgumentError(f"Faithfulness explains a similarity score: use --metric "
                               f"{' or '.join(EXACT_METRICS)} (not {metric}).")
    registry = get_registry()
    pool = [registry.explainer(m) for m in methods] if methods else registry.explainers()
    usable, skipped = [], {}
    for e in pool:
        why = e.applies(model, layer, metric)
        if why is None:
            usable.append(e)
        else:
            skipped[e.name] = why
    if not usable:
        raise BadArgumentError(f"No explainer applies to {layer}: " + "; ".join(
            f"{k}: {v}" for k, v in skipped.items()))
    return usable, skipped


def _scores(model: LoadedModel, layer: str, metric: str, batch: torch.Tensor,
            results: torch.Tensor, chunk: int) -> np.ndarray:
    """The score of each image of ``batch`` against its result (``results`` row by row),
    re-embedded in pieces of ``chunk`` images."""
    feats = torch.cat([model.pooled_features(batch[lo: lo + chunk], [layer])[layer]
                       for lo in range(0, len(batch), chunk)])
    return similarity(feats, results, metric).numpy()


def faithfulness(store: Store, dataset: Dataset, model: LoadedModel, layer: str,
                 metric: str = "cosine", queries: int = 50, k: int = 2,
                 methods: list[str] | None = None, steps: int = STEPS, seed: int = 0,
                 pairs_per_batch: int | None = None, progress: bool = True) -> dict:
    """Measure (unless stored) and store the deletion and insertion curves of every
    explainer that applies to (model, layer, metric), over the first ``queries`` labelled
    images x their top ``k`` results; return the result's catalog row (``params``: per
    method deletion_auc, insertion_auc, ci95_deletion, ci95_insertion; pairs; skipped).
    ``pairs_per_batch`` pairs are explained and their perturbed images made at once (by
    default as many as :data:`PERTURBED_BYTES` of perturbed images hold: the explainers'
    fixed cost per batch is then shared by more pairs)."""
    explainers, skipped = chosen_explainers(model, layer, metric, methods)
    qidx = query_positions(dataset, queries)
    names = [e.name for e in explainers]
    meta, row, matrix = stored_or_features(
        store, dataset, model, layer, "fa",
        {"finding": "faithfulness", "metric": metric, "k": k, "queries": len(qidx),
         "steps": steps, "methods": names, "baseline": "black", "seed": seed}, metric, k,
        progress)
    if row is not None:
        return row
    nbrs, _ = topk(get_registry().metric(metric), matrix[qidx], matrix, k, exclude=qidx)
    pairs = np.array([(q, n) for q, row_ in zip(qidx, nbrs) for n in row_], np.int64)
    baseline = black(model.config.mean, model.config.std)
    curves = {n: np.full((2, len(pairs), steps + 1), np.nan, np.float32) for n in names}
    per_image = 2 * (steps + 1)
    if pairs_per_batch is None:
        c = model.config
        pair_bytes = 4 * c.channels * c.height * c.width * per_image * len(explainers)
        pairs_per_batch = max(1, min(MAX_PAIRS_PER_BATCH, PERTURBED_BYTES // pair_bytes))
    with tqdm(total=len(pairs), desc=f"faithfulness {layer} {metric}", unit="pair",
              disable=not progress) as bar, blas_beside_torch():
        for lo in range(0, len(pairs), pairs_per_batch):
            part = pairs[lo: lo + pairs_per_batch]
            b = len(part)
            x = model.preprocess(dataset.batch_images(part.ravel()))  # q0, r0, q1, r1, ...
            queries, results = x[0::2], x[1::2]
            embedded = model.pooled_features(results, [layer])[layer]
            series, owners = [], []
            for e in explainers:  # every method's perturbed queries, scored in one pass
                relevance = e.explain(model, layer, metric, queries, results)
                for i in range(b):
                    series.append(perturbed(queries[i: i + 1], pixel_order(relevance[i]),
                                            baseline, steps))
                    owners.append((e.name, i))
            scores = _scores(model, layer, metric, torch.cat(series),
                             embedded.repeat_interleave(per_image, dim=0)[None]
                             .expand(len(explainers), -1, -1).reshape(-1, embedded.shape[1]),
                             chunk=4 * per_image)  # 168 images: the fastest here
            for j, (name, i) in enumerate(owners):
                dele, ins = normalised_scores(scores[j * per_image: (j + 1) * per_image], steps)
                curves[name][0, lo + i], curves[name][1, lo + i] = dele, ins
            bar.update(b)
    areas = {n: (np.array([area(c) for c in curves[n][0]]),
                 np.array([area(c) for c in curves[n][1]])) for n in names}
    baseline_name = next((e.name for e in explainers if e.random), None)
    summary = {}
    for n, (dele, ins) in areas.items():
        summary[n] = {"deletion_auc": round(float(np.nanmean(dele)), 4),
                      "insertion_auc": round(float(np.nanmean(ins)), 4),
                      "ci95_deletion": [round(v, 4) for v in bootstrap_ci(dele, seed)],
                      "ci95_insertion": [round(v, 4) for v in bootstrap_ci(ins, seed)]}
        if baseline_name and n != baseline_name:  # paired: the same pairs
            summary[n]["deletion_vs_random_ci95"] = [
                round(v, 4) for v in paired_diff_ci(dele, areas[baseline_name][0], seed)]
    params = {"finding": "faithfulness", "methods": summary, "pairs": len(pairs),
              "skipped": skipped, "steps": steps, "layer": layer, "k": k,
              "random": [e.name for e in explainers if e.random]}
    arrays = {"pairs": pairs.astype(np.int32)}
    for j, n in enumerate(names):  # file names by position: a plugin's name may be anything
        arrays[f"deletion{j}"], arrays[f"insertion{j}"] = curves[n][0], curves[n][1]
    return store.put_shards(dict(meta, n=len(pairs), params=json.dumps(params)), arrays)

"""``vizkit dissect``: which concept each channel of a layer stands for (Network
Dissection on the dataset's object regions and named parts), stored for the model explorer
and printed.

Two passes: the channel thresholds from the first ``sample`` images (default 2,000: the
0.995 quantile of a channel is stable well before), then the IoU of every image."""
from __future__ import annotations

import json

import numpy as np
import torch

from vizkit.api.datasets import Dataset
from vizkit.compute.channels import check_channel
from vizkit.compute.dissection import (
    IOU_THRESHOLD,
    QUANTILE,
    IoUCounts,
    best_concepts,
    channel_thresholds,
    detector_counts,
)
from vizkit.compute.findings import disc_mask, region_on_grid, regions_on_grid
from vizkit.errors import BadArgumentError
from vizkit.jobs.findings import PART_RADIUS, WITH_PARTS, WITH_REGIONS
from vizkit.jobs.keys import derived_meta, features_meta
from vizkit.progress import bar as tqdm
from vizkit.runtime.devices import blas_beside_torch
from vizkit.runtime.loaded import LoadedModel
from vizkit.store import Store

DISSECT_CODE_VERSION = 2  # 2: parts are concepts too


def _parts(dataset: Dataset, model: LoadedModel, idx: np.ndarray) -> torch.Tensor:
    """Each named part of images ``idx`` as a disc (radius 1/16 of the image's short side)
    carried to the model input ``[N, P, H, W]``; empty where it is not visible."""
    h, w = model.config.height, model.config.width
    names = list(dataset.part_names)
    out = np.zeros((len(idx), len(names), h, w), bool)
    for n, (points, size) in enumerate(zip(dataset.part_points(idx), dataset.image_sizes(idx))):
        for part, point in (points or {}).items():
            if part in names:
                disc = disc_mask(size, point, PART_RADIUS * min(size))
                out[n, names.index(part)] = region_on_grid(
                    disc, model.preprocess.crop_box(*size), (h, w)) >= 0.5
    return torch.from_numpy(out)


def _objects(dataset: Dataset, model: LoadedModel, idx: np.ndarray) -> torch.Tensor:
    """The object masks of images ``idx`` carried to the model input ``[N, H, W]`` (the
    crop and resize the pixels take; an image without a region: empty)."""
    h, w = model.config.height, model.config.width
    out = np.zeros((len(idx), h, w), bool)
    if not dataset.regions:
        return torch.from_numpy(out)
    cells = regions_on_grid(dataset.object_masks(idx), model.preprocess.crop_box, (h, w))
    for n, region in enumerate(cells):
        if region is not None:
            out[n] = region >= 0.5
    return torch.from_numpy(out)


KEEP_BYTES = 256 * 2**20  # the sample's activations kept for the second pass, at most


def _sample_activations(dataset: Dataset, model: LoadedModel, layer: str, sample: int,
                        batch_size: int, progress: bool) -> list[tuple[np.ndarray, torch.Tensor]]:
    """The first pass: ``layer``'s activations of the first ``sample`` images, per batch
    (its indices, its activations). Every batch gives the thresholds; the batches within
    :data:`KEEP_BYTES` keep full precision, so the second pass reuses them instead of
    running their forwards again (the rest are kept at half precision, for the
    thresholds only, and marked so that the second pass recomputes them)."""
    out, held = [], 0
    for b in tqdm(list(dataset.iter_batches(batch_size, stop=sample)),
                  desc=f"thresholds of {layer}", unit="batch", disable=not progress):
        act = model.activations(model.preprocess(b.images), [layer])[layer]
        held += act.numel() * act.element_size()
        out.append((np.asarray(b.indices) if held <= KEEP_BYTES else None,
                    act if held <= KEEP_BYTES else act.half()))
    return out


def check_dissectable(dataset: Dataset) -> None:
    """Refuse, before any work, a dataset with neither object regions nor parts."""
    if not dataset.regions and not dataset.part_names:
        raise BadArgumentError(f"{dataset.name} provides no object regions or parts to "
                               f"dissect against. Datasets with regions: "
                               f"{', '.join(WITH_REGIONS)}; with parts: {', '.join(WITH_PARTS)}.")


def dissect(store: Store, dataset: Dataset, model: LoadedModel, layer: str,
            quantile: float = QUANTILE, sample: int = 2000, batch_size: int = 128,
            progress: bool = True) -> dict:
    """Dissect ``layer`` over ``dataset`` (unless stored); return the result's catalog row,
    whose ``params`` hold the concepts, each channel's best concept and IoU, and the
    detector counts."""
    check_dissectable(dataset)
    check_channel(model, layer, spatial=True)
    source = features_meta(dataset, model, layer)  # its identity; the images need not be
    meta = derived_meta("d", source, {"finding": "dissection", "quantile": quantile,
                                      "sample": sample, "code": DISSECT_CODE_VERSION},
                        kind="dissection", code_version=DISSECT_CODE_VERSION)
    row = store.result(meta["result_key"])
    if row is not None:
        return row
    n = len(dataset)
    with torch.inference_mode():
        kept = _sample_activations(dataset, model, layer, min(sample, n), batch_size, progress)
        thresholds = channel_thresholds(torch.cat([act.half() for _, act in kept]), quantile)
        parts = list(dataset.part_names)
        counts = IoUCounts.empty(len(thresholds), len(dataset.classes), len(parts))
        with blas_beside_torch(), tqdm(total=n, desc=f"dissecting {layer} on {dataset.name}",
                                       unit="img", disable=not progress) as bar:
            for j, b in enumerate(dataset.iter_batches(batch_size)):
                same = j < len(kept) and np.array_equal(kept[j][0], b.indices)
                act = kept[j][1] if same else \
                    model.activations(model.preprocess(b.images), [layer])[layer]
                counts.add(act, thresholds, _objects(dataset, model, b.indices),
                           np.asarray(b.labels),
                           _parts(dataset, model, b.indices) if parts else None)
                bar.update(len(b.indices))
        kept.clear()
    concepts = ["object", *dataset.classes, *(f"part: {p}" for p in parts)]
    channels = best_concepts(counts.iou(), concepts)
    summary = detector_counts(channels, concepts, IOU_THRESHOLD)
    params = {"finding": "dissection", "layer": layer, "quantile": quantile,
              "concepts": concepts, "channels": channels, "summary": summary}
    return store.put_shards(dict(meta, n=n, params=json.dumps(params)),
                            {"iou": counts.iou().astype(np.float32),
                             "thresholds": thresholds.float().numpy()})

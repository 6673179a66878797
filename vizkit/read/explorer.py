"""The model explorer's reads: which models the store knows (each checkpoint of a run, each
model with stored features), their rendered channel images and the dataset images that
excite each channel most, and a dataset image at full size when it can be opened."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from vizkit.errors import VizkitError
from vizkit.identity import CheckpointId
from vizkit.read.catalog import Reader
from vizkit.read.rows import DatasetRef
from vizkit.store import explorer as tables

if TYPE_CHECKING:
    from vizkit.runtime.loaded import LoadedModel


@dataclass(frozen=True)
class ModelRef:
    """A model the explorer can load: by checkpoint, or by name with weights and size."""

    label: str
    model: str
    weights: str
    checkpoint: str | None = None
    input_size: int | None = None
    weights_fp: str | None = None


def models(reader: Reader) -> tuple[dict[str, ModelRef], list[str]]:
    """Every model the store knows, by label, and the labels of those with rendered
    channel images (in that order)."""
    cat = reader.catalog()
    options: dict[str, ModelRef] = {}
    for ck in cat.checkpoints.values():
        model = cat.runs[ck.run].model if ck.run in cat.runs else "?"
        label = f"{model} @ {ck.label}"
        options[label] = ModelRef(label, model, "file", ck.label, None, ck.weights_fp)
    for row in reversed(reader.features_rows()):
        options.setdefault(row.label, ModelRef(row.label, row.model, row.weights,
                                               row.checkpoint, row.input_size, row.weights_fp))
    done = explored(reader)
    fps = set(done["weights_fp"])
    return options, [label for label, ref in options.items() if ref.weights_fp in fps]


def untrained_label(reader: Reader, weights_fp: str) -> str | None:
    """The label of epoch 0 of the run that a checkpoint with these weights belongs to."""
    cat = reader.catalog()
    for ck in cat.checkpoints.values():
        if ck.weights_fp == weights_fp and (ck.run, 0) in cat.checkpoints:
            return f"{cat.runs[ck.run].model} @ {CheckpointId(ck.run, 0).label}" \
                if ck.run in cat.runs else None
    return None


def explored(reader: Reader) -> pd.DataFrame:
    """Per model and layer, how many channel images are stored."""
    return reader.memo("explored", reader.version(), lambda: tables.explored(reader.store))


def load(reader: Reader, ref: ModelRef) -> LoadedModel:
    """The model ``ref`` names (shared by the process, within its model budget)."""
    from vizkit.runtime.models import load_model, shared_model

    key = (str(reader.path), ref.checkpoint, ref.input_size) if ref.checkpoint else \
        (ref.model, ref.weights, ref.input_size)
    return shared_model(key, lambda: load_model(
        None if ref.checkpoint else ref.model, ref.weights, ref.checkpoint, reader.store,
        ref.input_size))


def channel_images(reader: Reader, weights_fp: str) -> pd.DataFrame:
    """Stored optimised images of a model's channels (layer, channel, objective, png...)."""
    return reader.memo("channel images", (weights_fp, reader.version()),
                       lambda: tables.channel_images(reader.store, weights_fp))


def top_images(reader: Reader, weights_fp: str, layer: str, channel: int,
               pooling: str) -> pd.DataFrame:
    """The stored top images of one channel of the first dataset that has them: rank, idx,
    value and activation map (h, w, amap), with ``dataset_key``."""
    rows = tables.top_activation_rows(reader.store, weights_fp, layer, channel, pooling)
    if rows.empty:
        return rows
    return rows[rows["dataset_key"] == rows["dataset_key"].iloc[0]]


def dataset_image(reader: Reader, dataset: DatasetRef, idx: int) -> np.ndarray:
    """Image ``idx`` at full size when its dataset can be opened here, else its thumbnail."""
    from vizkit.read.maps import dataset_of

    try:
        return dataset_of(reader, dataset).image_array(idx)
    except VizkitError:
        return thumbnail_array(reader.thumbnails(dataset, [idx])[idx])


def thumbnail_array(png: bytes) -> np.ndarray:
    """A stored thumbnail as an RGB uint8 array, decoded within the bounds every image
    gets (a store from elsewhere may hold anything where a thumbnail should be)."""
    from vizkit.images import decode_image

    return np.asarray(decode_image(png).convert("RGB"))


def feature_maps_of(model: LoadedModel, layer: str, image: np.ndarray) -> np.ndarray:
    """The activation maps ``[C, h, w]`` of ``layer`` for one uint8 image (the explorer's
    feature-maps tab)."""
    from vizkit.compute.channels import feature_maps

    return feature_maps(model, layer, image)


def channel_concept(reader: Reader, weights_fp: str, layer: str, channel: int) -> dict | None:
    """What `vizkit dissect` found channel ``channel`` of ``layer`` stands for (its best
    concept, IoU, the dataset and whether it counts as a detector), or None."""
    from vizkit.compute.dissection import IOU_THRESHOLD

    rows = [d for d in reader.catalog().dissections
            if d.weights_fp == weights_fp and d.layer == layer]
    if not rows or channel >= len(rows[-1].params.get("channels", [])):
        return None
    found = dict(rows[-1].params["channels"][channel])
    return {**found, "dataset": rows[-1].dataset.name,
            "detector": found["iou"] > IOU_THRESHOLD}

"""``vizkit precompute ... --channel-vis``: for chosen layers of a model, optimised images of
a seeded sample of channels (torch-lucent) and, over a dataset, the images that excite each
channel most. Resumable: channels already rendered with the same settings are skipped."""
from __future__ import annotations

from vizkit.api.datasets import Dataset
from vizkit.compute.channels import (
    ChannelImage,
    check_channel,
    default_size,
    render_channel,
    render_channels,
    sample_channels,
    top_activations,
)
from vizkit.errors import VizkitError
from vizkit.images import png_bytes
from vizkit.jobs.ingest import ensure_dataset
from vizkit.progress import bar as tqdm
from vizkit.runtime.loaded import LoadedModel
from vizkit.store import Store
from vizkit.store import explorer as explorer_store

# channels optimised together (one batched optimisation, see render_channels): 16 keeps a
# 128-px batch of a large model within a few hundred MB
RENDER_BATCH = 16


def explore(store: Store, dataset: Dataset, model: LoadedModel, layers: list[str],
            channels: int = 30, steps: int = 256, size: int | None = None,
            objective: str = "channel", seed: int = 0, top_k: int = 16,
            progress: bool = True) -> dict[str, int]:
    """Render and store the channel sample of each layer and the top-``top_k`` images of
    every channel over ``dataset``; return how many channel images each layer has."""
    for layer in layers:  # every bad name or non-spatial layer fails before any work
        check_channel(model, layer, spatial=True)
    if steps < 1 or top_k < 1:
        raise VizkitError("--steps and --top-k must be at least 1.")
    size = size or default_size(model)
    key = ensure_dataset(store, dataset, progress)
    for layer, top in top_activations(model, dataset, layers, top_k,
                                      progress=progress).items():
        explorer_store.put_top_activations(store, model.weights_fingerprint, key, top.layer,
                                           top.idx, top.value, top.maps)
    counts = {}
    for layer in layers:
        done = explorer_store.channel_images(store, model.weights_fingerprint, layer)
        done = done[(done["objective"] == objective) & (done["steps"] == steps)
                    & (done["size"] == size)]
        sample = sample_channels(model.layer(layer).channels, channels, seed)
        todo = [c for c in sample if c not in set(done["channel"])]
        with tqdm(total=len(todo), desc=f"channel images {model.name} {layer}",
                  unit="channel", disable=not progress) as bar:
            for start in range(0, len(todo), RENDER_BATCH):  # stored per batch: resumable
                chunk = todo[start: start + RENDER_BATCH]
                for item in render_channels(model, layer, chunk, size, steps, seed, objective):
                    _store_channel_image(store, model, item)
                bar.update(len(chunk))
        counts[layer] = len(sample)
    return counts


def render_one(store: Store, model: LoadedModel, layer: str, channel: int, steps: int = 256,
               size: int | None = None, objective: str = "channel", seed: int = 0,
               progress: bool = True):
    """``vizkit render``: optimise one channel's image (a progress bar over the steps) and
    store it, replacing an earlier render of that channel; return it."""
    check_channel(model, layer, channel, spatial=True)
    with tqdm(total=steps, desc=f"channel {channel} of {layer}", unit="step",
              disable=not progress) as bar:
        item = render_channel(model, layer, channel, size or default_size(model), steps, seed,
                              objective, on_step=lambda i, n: bar.update(i - bar.n))
    _store_channel_image(store, model, item)
    return item


def _store_channel_image(store: Store, model: LoadedModel, item: ChannelImage) -> None:
    image = item.image[:, :, 0] if item.image.shape[2] == 1 else item.image
    explorer_store.put_channel_image(store, model.weights_fingerprint, model.name,
                                     model.checkpoint, item.layer, item.channel,
                                     item.objective, item.size, item.steps, item.seed,
                                     png_bytes(image), item.seconds)

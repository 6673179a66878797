"""What a layer's channels respond to: images optimised to excite a channel (torch-lucent),
the activation maps of an image, and the dataset images that excite each channel most."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from vizkit.datasets import Dataset
from vizkit.errors import VizkitError
from vizkit.models import PRE_LOGITS, LoadedModel

OBJECTIVES = ("channel", "neuron", "diversity")
DIVERSITY_BATCH = 4


@dataclass
class ChannelImage:
    """An optimised image (uint8 ``[H, W, C]``) for one channel, and how it was made."""

    layer: str
    channel: int
    image: np.ndarray
    objective: str
    size: int
    steps: int
    seed: int
    seconds: float


def check_channel(model: LoadedModel, layer: str, channel: int | None = None,
                  spatial: bool = False) -> int:
    """The channel count of ``layer``; a clear error for a layer that cannot be inspected
    this way or a channel out of range."""
    info = model.layer(layer)
    if layer == PRE_LOGITS:
        raise VizkitError("pre_logits is computed by the model's head, not a module; pick a "
                          "module layer (e.g. the last stage) to inspect channels.")
    if spatial and not info.spatial:
        raise VizkitError(f"Layer {layer} has no spatial output (shape {info.shape}); feature "
                          "maps and channel images need a convolutional layer.")
    if channel is not None and not 0 <= channel < info.channels:
        raise VizkitError(f"Layer {layer} has {info.channels} channels (0-{info.channels - 1}); "
                          f"there is no channel {channel}.")
    return info.channels


def default_size(model: LoadedModel) -> int:
    """Render at the model's own input size, at most 128 px."""
    return min(128, model.config.height)


def _transforms(lucent, model: LoadedModel, size: int, on_step: Callable[[], None]) -> list:
    """Lucent's standard robustness transforms scaled to the image size, then the model's
    own normalisation (lucent's assumes ImageNet RGB), then a step counter."""
    t = lucent.transform
    mean = torch.tensor(model.config.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(model.config.std, dtype=torch.float32).view(1, -1, 1, 1)

    def normalise(x: torch.Tensor) -> torch.Tensor:
        return (x - mean.to(x.device)) / std.to(x.device)

    def count(x: torch.Tensor) -> torch.Tensor:
        on_step()
        return x

    return [t.pad(max(2, size // 10), mode="constant", constant_value=0.5),
            t.jitter(max(2, size // 16)),
            t.random_scale([1 + (i - 5) / 50.0 for i in range(11)]),
            t.random_rotate(list(range(-10, 11)) + 5 * [0]),
            t.jitter(max(2, size // 32)), normalise, count]


def render_channel(model: LoadedModel, layer: str, channel: int, size: int | None = None,
                   steps: int = 256, seed: int = 0, objective: str = "channel",
                   on_step: Callable[[int, int], None] | None = None) -> ChannelImage:
    """Optimise an image (FFT parameterisation, decorrelated colour for RGB models) so that
    ``channel`` of ``layer`` fires: its mean (``channel``), its centre unit (``neuron``), or
    the mean of a batch of 4 pushed apart (``diversity``, tiled 2 x 2). Reproducible with
    ``seed``; ``on_step(i, steps)`` reports progress."""
    from vizkit.explorer.lucent_compat import lucent as load_lucent

    if objective not in OBJECTIVES:
        raise VizkitError(f"Objective {objective!r}: one of {', '.join(OBJECTIVES)}.")
    check_channel(model, layer, channel)
    size = size or default_size(model)
    if not 8 <= size <= 512:
        raise VizkitError(f"Image size {size} px: use 8 to 512.")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    lucent = load_lucent(device)
    name = layer.replace(".", "_")
    objectives = lucent.objectives
    if objective == "neuron":
        obj = objectives.neuron(name, channel)
    elif objective == "diversity":
        obj = objectives.channel(name, channel) - 1e2 * objectives.diversity(name)
    else:
        obj = objectives.channel(name, channel)
    batch = DIVERSITY_BATCH if objective == "diversity" else None
    gray = model.config.channels == 1
    step = [0]

    def tick() -> None:
        step[0] += 1
        if on_step:
            on_step(min(step[0], steps), steps)

    module = model.module.to(device).eval()
    grads = [p.requires_grad for p in module.parameters()]
    np_state, torch_state = np.random.get_state(), torch.random.get_rng_state()
    np.random.seed(seed)  # lucent's transforms draw from numpy's global generator
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    try:
        for p in module.parameters():
            p.requires_grad_(False)
        images = lucent.render.render_vis(
            module, obj, lambda: lucent.param.image(size, batch=batch,
                                                     channels=1 if gray else None),
            transforms=_transforms(lucent, model, size, tick), thresholds=(steps,),
            preprocess=False, progress=False, show_image=False, fixed_image_size=size)
    finally:
        for p, g in zip(module.parameters(), grads):
            p.requires_grad_(g)
        module.cpu()
        np.random.set_state(np_state)
        torch.random.set_rng_state(torch_state)
    arr = images[-1]  # [B, H, W, C] in [0, 1]
    if batch:
        rows = [np.concatenate(list(arr[i: i + 2]), axis=1) for i in range(0, batch, 2)]
        arr = np.concatenate(rows, axis=0)[None]
    image = (np.clip(arr[0], 0, 1) * 255).round().astype(np.uint8)
    return ChannelImage(layer, channel, image, objective, size, steps, seed,
                        round(time.perf_counter() - t0, 3))


def sample_channels(n_channels: int, count: int, seed: int = 0) -> list[int]:
    """A reproducible sample of ``count`` channel indices (all when fewer), sorted; a larger
    ``count`` keeps the smaller one's channels (the first of one seeded permutation)."""
    order = np.random.default_rng(seed).permutation(n_channels)
    return sorted(order[:count].tolist())


def channel_activation(model: LoadedModel, layer: str, channel: int, images) -> np.ndarray:
    """Mean activation of ``channel`` for each uint8 image (through the model's own
    preprocessing)."""
    act = model.activations(model.preprocess(images), [layer])[layer]
    return act[:, channel].float().reshape(len(act), -1).mean(dim=1).numpy()


def feature_maps(model: LoadedModel, layer: str, image: np.ndarray) -> np.ndarray:
    """The activation maps ``[C, h, w]`` of ``layer`` for one uint8 image."""
    check_channel(model, layer, spatial=True)
    return model.activations(model.preprocess([image]), [layer])[layer][0].float().numpy()


@dataclass
class TopActivations:
    """Per channel, the ``k`` dataset images with the highest max- and mean-pooled
    activation: ``idx``/``value`` ``[C, k]`` per pooling, and each one's activation map
    ``maps[pooling]`` ``[C, k, h, w]``."""

    layer: str
    idx: dict[str, np.ndarray]
    value: dict[str, np.ndarray]
    maps: dict[str, np.ndarray]


POOLINGS = ("max", "mean")


def top_activations(model: LoadedModel, dataset: Dataset, layers: list[str], k: int = 16,
                    batch_size: int = 256, progress: bool = True) -> dict[str, TopActivations]:
    """One pass over ``dataset`` for all ``layers``: each channel's max- and mean-pooled
    activation per image, the top ``k`` images per channel and pooling, then their maps."""
    for layer in layers:
        check_channel(model, layer, spatial=True)
    pooled: dict[str, dict[str, list[np.ndarray]]] = {
        layer: {p: [] for p in POOLINGS} for layer in layers}
    bar = tqdm(total=len(dataset), desc=f"channel activations on {dataset.name}", unit="img",
               disable=not progress)
    with torch.inference_mode():
        for batch in dataset.iter_batches(batch_size):
            acts = model.activations(model.preprocess(batch.images), layers)
            for layer, a in acts.items():
                flat = a.float().flatten(2)
                pooled[layer]["max"].append(flat.amax(dim=2).numpy())
                pooled[layer]["mean"].append(flat.mean(dim=2).numpy())
            bar.update(len(batch.ids))
    bar.close()
    out = {}
    for layer in layers:
        idx, value = {}, {}
        for p in POOLINGS:
            scores = np.concatenate(pooled[layer][p])  # [N, C]
            kk = min(k, len(scores))
            top = np.argsort(-scores, axis=0, kind="stable")[:kk].T  # [C, k]
            idx[p], value[p] = top, np.take_along_axis(scores.T, top, axis=1)
        needed = np.unique(np.concatenate([idx[p].ravel() for p in POOLINGS]))
        spatial = _maps_of(model, dataset, layer, needed, batch_size)
        pos = {int(i): j for j, i in enumerate(needed)}
        maps = {p: np.stack([[spatial[pos[int(i)], c] for i in idx[p][c]]
                             for c in range(idx[p].shape[0])]) for p in POOLINGS}
        out[layer] = TopActivations(layer, idx, value, maps)
    return out


def _maps_of(model, dataset, layer, idxs, batch_size) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for lo in range(0, len(idxs), batch_size):
            images = dataset.batch_images(idxs[lo: lo + batch_size])
            out.append(model.activations(model.preprocess(images), [layer])[layer]
                       .float().numpy())
    return np.concatenate(out)

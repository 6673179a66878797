"""What a layer's channels respond to: images optimised to excite a channel (torch-lucent),
the activation maps of an image, and the dataset images that excite each channel most."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vizkit.api.datasets import Dataset
from vizkit.api.models import PRE_LOGITS
from vizkit.errors import BadArgumentError
from vizkit.progress import bar as tqdm
from vizkit.runtime.loaded import LoadedModel

OBJECTIVES = ("channel", "neuron", "diversity")
# Adam's step on the image parameters: twice lucent's 0.05, which is tuned for 224-px
# ImageNet models; at 28-128 px the FFT parameterisation has few coefficients and 0.05
# leaves channels short of what the same 256 steps reach (measured on the demo model).
LEARNING_RATE = 0.1
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
        raise BadArgumentError("pre_logits is computed by the model's head, not a module; "
                               "pick a module layer (e.g. the last stage) to inspect channels.")
    if spatial and not info.spatial:
        raise BadArgumentError(f"Layer {layer} has no spatial output (shape {info.shape}); "
                               "feature maps and channel images need a convolutional layer.")
    if channel is not None and not 0 <= channel < info.channels:
        raise BadArgumentError(f"Layer {layer} has {info.channels} channels "
                               f"(0-{info.channels - 1}); there is no channel {channel}.")
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
    return render_channels(model, layer, [channel], size, steps, seed, objective, on_step)[0]


def render_channels(model: LoadedModel, layer: str, channels: list[int],
                    size: int | None = None, steps: int = 256, seed: int = 0,
                    objective: str = "channel",
                    on_step: Callable[[int, int], None] | None = None) -> list[ChannelImage]:
    """Optimise one image per channel of ``channels`` in a single batched optimisation (one
    forward and backward pass per step for all of them: the batch items are independent in
    eval mode, so each image is optimised for its own channel only, at a fraction of the
    time: 16 channels of EfficientNet-Lite0 at 64 px take 3.7 s instead of 12.8 s on
    2 cores). ``diversity`` already uses the batch for one channel and renders one at a
    time. See :func:`render_channel` for the objectives."""
    if objective not in OBJECTIVES:
        raise BadArgumentError(f"Objective {objective!r}: one of {', '.join(OBJECTIVES)}.")
    for channel in channels:
        check_channel(model, layer, channel)
    size = size or default_size(model)
    if not 8 <= size <= 512:
        raise BadArgumentError(f"Image size {size} px: use 8 to 512.")
    if steps < 1:
        raise BadArgumentError(f"{steps} optimisation steps: use at least 1 (256 is typical).")
    if objective == "diversity" and len(channels) > 1:
        return [item for channel in channels
                for item in render_channels(model, layer, [channel], size, steps, seed,
                                            objective, on_step)]
    from vizkit.compute.lucent_compat import lucent as load_lucent

    device = model.device  # chosen by the job (vizkit.runtime.devices)
    lucent = load_lucent(device)
    name = layer.replace(".", "_")
    objectives = lucent.objectives
    one = len(channels) == 1
    if objective == "diversity":
        obj = objectives.channel(name, channels[0]) - 1e2 * objectives.diversity(name)
        batch = DIVERSITY_BATCH
    else:
        make = objectives.neuron if objective == "neuron" else objectives.channel
        parts = [make(name, c, batch=None if one else i) for i, c in enumerate(channels)]
        obj = parts[0]
        for part in parts[1:]:
            obj = obj + part
        batch = None if one else len(channels)
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
            optimizer=lambda params: torch.optim.Adam(params, lr=LEARNING_RATE),
            transforms=_transforms(lucent, model, size, tick), thresholds=(steps,),
            preprocess=False, progress=False, show_image=False, fixed_image_size=size)
    finally:
        for p, g in zip(module.parameters(), grads):
            p.requires_grad_(g)
        np.random.set_state(np_state)
        torch.random.set_rng_state(torch_state)
    arr = images[-1]  # [B, H, W, C] in [0, 1]
    if objective == "diversity":
        rows = [np.concatenate(list(arr[i: i + 2]), axis=1) for i in range(0, batch, 2)]
        arr = np.concatenate(rows, axis=0)[None]
    seconds = round((time.perf_counter() - t0) / len(channels), 3)
    return [ChannelImage(layer, channel, (np.clip(arr[i], 0, 1) * 255).round().astype(np.uint8),
                         objective, size, steps, seed, seconds)
            for i, channel in enumerate(channels)]


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




def top_activations(model: LoadedModel, dataset: Dataset, layers: list[str], k: int = 16,
                    batch_size: int = 256, progress: bool = True) -> dict[str, TopActivations]:
    """One pass over ``dataset`` for all ``layers``: each channel's max- and mean-pooled
    activation per image, keeping a running top ``k`` per channel and pooling with the
    activation maps of those images (no second pass)."""
    for layer in layers:
        check_channel(model, layer, spatial=True)
    if k < 1:
        raise BadArgumentError(f"Top {k} images per channel: use at least 1.")
    best: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]] = {}
    bar = tqdm(total=len(dataset), desc=f"channel activations on {dataset.name}", unit="img",
               disable=not progress)
    start = 0
    with torch.inference_mode():
        for batch in dataset.iter_batches(batch_size):
            acts = model.activations(model.preprocess(batch.images), layers)
            ids = torch.arange(start, start + len(batch.ids))
            for layer, a in acts.items():
                a = a.float()
                flat = a.flatten(2)
                maps = a.transpose(0, 1)  # [C, B, h, w]
                for p, scores in (("max", flat.amax(dim=2)), ("mean", flat.mean(dim=2))):
                    cand = (scores.T, ids.expand(len(scores.T), -1), maps)  # [C, B] ...
                    if layer in best and p in best[layer]:
                        cand = tuple(torch.cat([old, new], dim=1)
                                     for old, new in zip(best[layer][p], cand))
                    kk = min(k, cand[0].shape[1])
                    order = _top_order(cand[0], cand[1], kk)
                    best.setdefault(layer, {})[p] = (
                        torch.gather(cand[0], 1, order), torch.gather(cand[1], 1, order),
                        cand[2][torch.arange(len(order))[:, None], order])
            start += len(batch.ids)
            bar.update(len(batch.ids))
    bar.close()
    return {layer: TopActivations(layer, {p: v[1].numpy() for p, v in best[layer].items()},
                                  {p: v[0].numpy() for p, v in best[layer].items()},
                                  {p: v[2].numpy() for p, v in best[layer].items()})
            for layer in layers}


def _top_order(values: torch.Tensor, ids: torch.Tensor, k: int) -> torch.Tensor:
    """Per row, the positions of the ``k`` largest values (ties: the smaller image index)."""
    by_id = torch.argsort(ids, dim=1, stable=True)
    ranked = torch.argsort(-torch.gather(values, 1, by_id), dim=1, stable=True)[:, :k]
    return torch.gather(by_id, 1, ranked)

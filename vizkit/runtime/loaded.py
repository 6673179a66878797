"""The loaded model every job and model page uses: a ``torch.nn.Module`` in eval mode with
its preprocessing (from the model's own config), its inspectable layers with output shapes,
and pooled features of several layers in one forward pass.
:func:`vizkit.registry.Registry.load_model` makes one from what a provider builds."""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vizkit.api.models import PRE_LOGITS, LayerInfo


@dataclass(frozen=True)
class PreprocessConfig:
    """How images are turned into model input: channels, size, mean/std, crop."""

    channels: int
    height: int
    width: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"
    crop_pct: float = 1.0

    @classmethod
    def from_module(cls, module: nn.Module, input_size: int | None = None) -> PreprocessConfig:
        """Read the config timm attaches to a model (``pretrained_cfg``) or use defaults.
        A model built without timm (vizkit's own small CNN) is read without importing it."""
        own = getattr(module, "pretrained_cfg", None)
        if "timm" not in sys.modules and isinstance(own, dict) and "input_size" in own:
            cfg = own
        else:
            from timm.data import resolve_data_config

            cfg = resolve_data_config({}, model=module)
        c, h, w = cfg["input_size"]
        if input_size:
            h = w = int(input_size)
        interp = cfg.get("interpolation", "bilinear")
        return cls(c, h, w, tuple(cfg["mean"]), tuple(cfg["std"]),
                   interp if interp in ("bilinear", "bicubic", "nearest") else "bilinear",
                   float(cfg.get("crop_pct", 1.0)))


class Preprocessor:
    """Turns uint8 images (``[N,H,W]``, ``[N,H,W,3]`` or a list of such) into model input."""

    def __init__(self, config: PreprocessConfig):
        self.config = config
        self.mean = torch.tensor(config.mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(config.std, dtype=torch.float32).view(1, -1, 1, 1)

    def __call__(self, images: np.ndarray | list[np.ndarray]) -> torch.Tensor:
        """Float tensor ``[N, C, H, W]``: centre-cropped to the model's aspect (the crop
        ``crop_pct`` of the short side), resized, channel-matched and normalised. The crop
        is taken from the uint8 pixels before anything is converted or resized, so the work
        is proportional to the model's input, whatever the image's shape."""
        if isinstance(images, list):
            same = len({im.shape for im in images}) == 1
            if not same:
                return torch.cat([self(im[None]) for im in images])
            images = np.stack(images)
        c = self.config
        h, w = images.shape[1:3]
        top, left, ch, cw = self.crop_box(h, w)
        x = self._match_channels(self._to_unit(images[:, top: top + ch, left: left + cw]))
        if (ch, cw) != (c.height, c.width):
            x = self._resize(x, c.height, c.width, c.height / ch)
        return (x - self.mean) / self.std

    def unit(self, images: np.ndarray) -> torch.Tensor:
        """uint8 ``[N,H,W(,3)]`` as float ``[N,C,H,W]`` in [0, 1] with the model's channels."""
        return self._match_channels(self._to_unit(images))

    def resize(self, x: torch.Tensor, h: int, w: int, scale: float) -> torch.Tensor:
        """``x`` resized to ``h x w`` with the model's interpolation (antialiased when
        shrinking by ``scale`` < 1)."""
        return self._resize(x, h, w, scale)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in [0, 1] normalised with the model's mean and std."""
        return (x - self.mean) / self.std

    def crop_box(self, h: int, w: int) -> tuple[int, int, int, int]:
        """``(top, left, height, width)`` of the centred region of an ``h x w`` image that
        becomes the model input: the model's aspect ratio, ``crop_pct`` of the short side
        (timm's resize-then-centre-crop, taken before the resize)."""
        c = self.config
        scale = max(c.height, c.width) / c.crop_pct / min(h, w)  # source px -> resized px
        ch = min(h, max(1, round(c.height / scale)))
        cw = min(w, max(1, round(c.width / scale)))
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def whole(self, image: np.ndarray) -> torch.Tensor:
        """One uint8 image as ``[1, C, H', W']`` without the centre crop: the short side at
        the model's size, the aspect ratio kept (for fully convolutional use)."""
        x = self._match_channels(self._to_unit(image[None]))
        h, w = x.shape[-2:]
        scale = min(self.config.height, self.config.width) / min(h, w)
        if scale != 1:
            x = self._resize(x, max(1, round(h * scale)), max(1, round(w * scale)), scale)
        return (x - self.mean) / self.std

    @staticmethod
    def _to_unit(images: np.ndarray) -> torch.Tensor:
        """uint8 ``[N,H,W]`` / ``[N,H,W,3]`` as float ``[N,C,H,W]`` in [0, 1]."""
        arr = np.ascontiguousarray(images)
        if not arr.flags.writeable:  # PIL arrays are read-only; torch warns on those
            arr = arr.copy()
        x = torch.from_numpy(arr)
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        return x.float().div_(255.0)

    def _resize(self, x: torch.Tensor, h: int, w: int, scale: float) -> torch.Tensor:
        mode = self.config.interpolation
        return F.interpolate(x, size=(h, w), mode=mode, antialias=mode != "nearest" and scale < 1,
                             align_corners=False if mode != "nearest" else None).clamp_(0, 1)

    def _match_channels(self, x: torch.Tensor) -> torch.Tensor:
        want = self.config.channels
        if x.shape[1] == want:
            return x
        if x.shape[1] == 1:
            return x.expand(-1, want, -1, -1)
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        gray = (x[:, :3] * weights).sum(1, keepdim=True)
        return gray if want == 1 else gray.expand(-1, want, -1, -1)


def weights_fingerprint(module: nn.Module) -> str:
    """A digest of every parameter and buffer: changes whenever the weights change."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def pool(t: torch.Tensor) -> torch.Tensor:
    """Global-average pooling: ``[N,C,H,W]`` and ``[N,L,C]`` tokens become ``[N,C]``."""
    if t.ndim == 4:
        return t.mean(dim=(2, 3))
    if t.ndim == 3:
        return t.mean(dim=1)
    return t.reshape(t.shape[0], -1)


class LoadedModel:
    """A model ready for extraction: module in eval mode, preprocessing and layers."""

    def __init__(self, name: str, module: nn.Module, weights: str, checkpoint: str | None = None,
                 input_size: int | None = None):
        self.name, self.module, self.weights, self.checkpoint = name, module.eval(), weights, \
            checkpoint
        self.config = PreprocessConfig.from_module(module, input_size)
        self.preprocess = Preprocessor(self.config)
        self.weights_fingerprint = weights_fingerprint(module)
        self._layers: list[LayerInfo] | None = None
        self.device, self.amp = torch.device("cpu"), False
        self._runner = None

    def to(self, device: torch.device, amp: bool = False) -> LoadedModel:
        """Run on ``device`` (with autocast when ``amp``); returns ``self``. Batches are
        split in halves after an out-of-memory error (said once), so a job continues."""
        from vizkit.runtime.devices import HalvingRunner

        self.module.to(device)
        self.device, self.amp = device, amp
        self._runner = HalvingRunner(device, "batch")
        return self

    @property
    def label(self) -> str:
        """How the model is shown to a person: ``name`` plus checkpoint or weights."""
        return f"{self.name} @ {self.checkpoint}" if self.checkpoint else \
            f"{self.name} ({self.weights})"

    def candidate_modules(self) -> dict[str, nn.Module]:
        """Modules whose outputs are worth inspecting: those at most two levels deep."""
        return {n: m for n, m in self.module.named_modules() if n and n.count(".") <= 1}

    def layers(self) -> list[LayerInfo]:
        """Inspectable layers in forward order, with output shapes (one dry forward)."""
        if self._layers is None:
            shapes: dict[str, tuple[str, tuple[int, ...]]] = {}
            hooks = [m.register_forward_hook(self._shape_hook(n, m, shapes))
                     for n, m in self.candidate_modules().items()]
            try:
                x = torch.zeros(1, self.config.channels, self.config.height, self.config.width,
                                device=self.device)
                with torch.inference_mode():
                    out = self._forward(x, want_pre_logits=self._has_head(), want_head=True)
            finally:
                for h in hooks:
                    h.remove()
            layers = [LayerInfo(n, k, s) for n, (k, s) in shapes.items()]
            if PRE_LOGITS in out:
                layers.append(LayerInfo(PRE_LOGITS, "pooled features", tuple(out[PRE_LOGITS]
                                                                            .shape[1:])))
            self._layers = layers
        return self._layers

    @staticmethod
    def _shape_hook(name, module, shapes):
        def hook(_m, _inp, output):
            if isinstance(output, torch.Tensor) and output.ndim in (2, 3, 4) \
                    and name not in shapes:
                shapes[name] = (type(module).__name__, tuple(output.shape[1:]))
        return hook

    def _has_head(self) -> bool:
        return hasattr(self.module, "forward_features") and hasattr(self.module, "forward_head")

    def _forward(self, x: torch.Tensor, want_pre_logits: bool,
                 want_head: bool = False) -> dict[str, torch.Tensor]:
        if want_pre_logits and self._has_head():
            feats = self.module.forward_features(x)
            out = {PRE_LOGITS: self.module.forward_head(feats, pre_logits=True)}
            if want_head:  # hooks on the head's modules fire only in the full head
                self.module.forward_head(feats)
            return out
        self.module(x)
        return {}

    def embedding_layer(self) -> str:
        """The layer a metric-learning run trains as its embedding: the model's classifier
        (timm's ``classifier`` module, re-made with ``num_classes`` = embedding size)."""
        from vizkit.errors import VizkitError

        name = (getattr(self.module, "pretrained_cfg", None) or {}).get("classifier")
        if isinstance(name, (list, tuple)):
            name = name[0]
        if not name or name not in self.candidate_modules():
            raise VizkitError(f"{self.name} names no classifier module to train as an "
                              "embedding head; use --loss cross-entropy with it.")
        return name

    def layer(self, name: str) -> LayerInfo:
        """The :class:`LayerInfo` of ``name``; :class:`UnknownNameError` when not a layer."""
        from vizkit.errors import UnknownNameError

        for info in self.layers():
            if info.name == name:
                return info
        raise UnknownNameError("layer", name, [i.name for i in self.layers()],
                               f"See `vizkit layers {self.name}`.")

    def default_layers(self) -> list[str]:
        """A sensible default: the deepest spatial layer and the pooled features."""
        layers = self.layers()
        spatial = [i.name for i in layers if i.spatial and "." not in i.name]
        flat = [i.name for i in layers if i.name == PRE_LOGITS]
        return (spatial[-1:] if spatial else []) + flat or [layers[-1].name]

    def curated_layers(self) -> list[str]:
        """5-8 layers worth comparing, ConvNet Playground's way ("layers that perform
        convolutional operations and have trainable parameters"): the output of each of
        timm's feature stages (``feature_info``), then the pooled features; for a model
        without ``feature_info``, its top-level spatial blocks that have parameters."""
        layers = self.layers()
        names = [i.name for i in layers]
        info = getattr(self.module, "feature_info", None)
        stages = [f["module"] for f in info if f.get("module") in names] if info else []
        if not stages:
            modules = self.candidate_modules()
            stages = [i.name for i in layers if i.spatial and i.name.count(".") == 1
                      and any(True for _ in modules[i.name].parameters())]
        pooled = [PRE_LOGITS] if PRE_LOGITS in names else []
        return list(dict.fromkeys(stages[-7:] + pooled)) or self.default_layers()

    def activations(self, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """Raw outputs of ``layers`` for the preprocessed batch ``x`` (one forward pass on
        the model's device), as float32 tensors on the CPU."""
        return self._run(x, lambda out: {n: t.float().cpu() for n, t in out.items()},
                         layers)

    def _run(self, x: torch.Tensor, finish, layers: list[str]) -> dict[str, torch.Tensor]:
        """``finish`` of the activations of ``layers``, computed on the model's device in
        pieces that fit its memory."""
        for name in layers:
            self.layer(name)

        def piece(xs: torch.Tensor) -> dict[str, torch.Tensor]:
            from vizkit.runtime.devices import autocast

            with autocast(self.device, self.amp):
                out = self._activations(xs.to(self.device, non_blocking=True), layers)
            return finish(out)
        return self._runner(piece, x) if self._runner else piece(x)

    def _activations(self, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        modules = self.candidate_modules()
        captured: dict[str, torch.Tensor] = {}
        hooks = [modules[n].register_forward_hook(
            lambda _m, _i, o, n=n: captured.__setitem__(n, o)) for n in layers if n in modules]
        try:
            with torch.inference_mode():
                out = self._forward(x, want_pre_logits=PRE_LOGITS in layers,
                                    want_head=any(n != PRE_LOGITS for n in layers))
        finally:
            for h in hooks:
                h.remove()
        captured.update(out)
        return {n: captured[n] for n in layers}

    def pooled_features(self, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """Globally average-pooled features ``[N, C]`` (float32, CPU) of ``layers`` in one
        forward pass (pooled on the device, so only ``[N, C]`` is copied back)."""
        return self._run(x, lambda out: {n: pool(t.float()).cpu() for n, t in out.items()},
                         layers)

    def pooled_with_grad(self, x: torch.Tensor, layer: str, pooled: bool = True
                         ) -> torch.Tensor:
        """The pooled features ``[N, C]`` (float32) of ``layer`` for the preprocessed batch
        ``x``, with autograd on and on the model's device, for explanations that
        differentiate a similarity (gradient x input, LRP); ``pooled=False``: the layer's
        output as it is (``[N, C, H, W]``, tokens, or ``[N, C]``)."""
        self.layer(layer)
        modules = self.candidate_modules()
        captured: dict[str, torch.Tensor] = {}
        hook = modules[layer].register_forward_hook(
            lambda _m, _i, o: captured.__setitem__(layer, o)) if layer in modules else None
        try:
            out = self._forward(x.to(self.device), want_pre_logits=layer == PRE_LOGITS,
                                want_head=layer != PRE_LOGITS and layer not in captured)
        finally:
            if hook is not None:
                hook.remove()
        captured.update(out)
        return pool(captured[layer].float()) if pooled else captured[layer]

    def outputs(self, images) -> torch.Tensor:
        """The module's own output (logits) for uint8 images, float32 on the CPU."""
        def piece(xs: torch.Tensor) -> dict[str, torch.Tensor]:
            from vizkit.runtime.devices import autocast

            with torch.inference_mode(), autocast(self.device, self.amp):
                return {"out": self.module(xs.to(self.device)).float().cpu()}
        x = self.preprocess(images)
        return (self._runner(piece, x) if self._runner else piece(x))["out"]

    def embed_images(self, images, layers: list[str]) -> dict[str, np.ndarray]:
        """Preprocess uint8 images and return pooled features as float32 numpy arrays."""
        feats = self.pooled_features(self.preprocess(images), layers)
        return {n: t.numpy() for n, t in feats.items()}

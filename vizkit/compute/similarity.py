"""Similarity maps, the model side: per-position features of a layer whose pooled vector
is the compared one (the exact split of the score over positions, and its derivation, are
in :mod:`vizkit.compute.pairmaps`). When the compared layer is an affine head on the pooled
features (``e = W f + b``: timm's ``pre_logits``, a linear embedding), the per-position
features are projected first (``P_i = W A_i + b``), whose mean is ``e``; a non-linear
head is refused.
"""
from __future__ import annotations

import numpy as np
import torch

from vizkit.api.models import PRE_LOGITS
from vizkit.compute.pairmaps import (  # noqa: F401  (re-exported for callers of this module)
    EPS,
    EXACT_METRICS,
    NotDecomposableError,
    PairMaps,
    PositionBatch,
    SpatialFeatures,
    pair_maps,
    query_maps,
)
from vizkit.runtime.loaded import LoadedModel

AFFINE_TOLERANCE = 1e-4  # relative; float32 heads agree to ~1e-7


class Decomposer:
    """Per-position features of a model layer whose pooled vector is the compared one.

    Two cases hold exactly: a spatial layer (its average-pooled output is the stored
    feature), and a layer computed by the model's head from the pooled output of
    ``forward_features`` when that head is affine (checked numerically on every batch).
    Anything else raises :class:`NotDecomposableError` naming the spatial layers to use.
    :attr:`position_shape` is ``(positions, dims)`` of one image at the model's input size.
    """

    def __init__(self, model: LoadedModel, layer: str):
        self.model, self.layer = model, layer
        info = model.layer(layer)
        if info.spatial:
            self.mode = "spatial"
            channels, h, w = info.shape
            self.position_shape = (h * w, channels)
        elif self._computed_by_head(layer):
            self.mode = "head"
            gen = torch.Generator().manual_seed(0)
            c = model.config
            probe = self.batch_positions(  # checks the head is affine
                torch.randn(2, c.channels, c.height, c.width, generator=gen))
            self.position_shape = probe.positions.shape[1:]
        else:
            raise self._not_decomposable("it is not spatial and not computed from the pooled "
                                         "features by the model's head")

    def _spatial_layers(self) -> list[str]:
        """Top-level layers with a real spatial map (more than one position)."""
        return [i.name for i in self.model.layers()
                if i.spatial and i.shape[1] * i.shape[2] > 1 and "." not in i.name]

    def _not_decomposable(self, why: str) -> NotDecomposableError:
        spatial = self._spatial_layers()
        return NotDecomposableError(
            f"Layer {self.layer} of {self.model.name} has no exact per-pixel map: {why}. "
            f"Pick a spatial layer (e.g. {', '.join(spatial[-3:]) or 'none found'}).")

    def _computed_by_head(self, layer: str) -> bool:
        if not self.model._has_head():
            return False
        if layer == PRE_LOGITS:
            return True
        c = self.model.config
        x = torch.zeros(1, c.channels, c.height, c.width, device=self.model.device)
        with torch.inference_mode():
            feats = self.model.module.forward_features(x)
            if feats.ndim != 4:
                return False
            return self._head(feats) is not None

    def _head(self, feats: torch.Tensor) -> torch.Tensor | None:
        """The compared layer's output when the head runs on ``feats`` ``[N, C, h, w]``."""
        module = self.model.module
        if self.layer == PRE_LOGITS:
            return module.forward_head(feats, pre_logits=True)
        target = self.model.candidate_modules().get(self.layer)
        if target is None:
            return None
        captured: list[torch.Tensor] = []
        hook = target.register_forward_hook(lambda _m, _i, o: captured.append(o))
        try:
            module.forward_head(feats)
        finally:
            hook.remove()
        return captured[0] if captured else None

    def spatial_features(self, x: torch.Tensor) -> list[SpatialFeatures]:
        """Per-position features of each image of the preprocessed batch ``x``."""
        views = self._views(x)
        batch = self.batch_positions(x)
        return [SpatialFeatures(p, batch.h, batch.w, v, f)
                for p, v, f in zip(batch.positions, views, batch.pooled)]

    def batch_positions(self, x: torch.Tensor) -> PositionBatch:
        """The per-position features of the preprocessed batch ``x`` as one array (what a
        job that never draws them needs: no views)."""
        with torch.inference_mode():
            if self.mode == "spatial":
                maps = self.model.activations(x, [self.layer])[self.layer].float()
                n, d, h, w = maps.shape
                pos = maps.permute(0, 2, 3, 1).reshape(n, h * w, d)
            else:  # on the model's device, in float32 (the affine check needs it)
                feats = self.model.module.forward_features(x.to(self.model.device)).float()
                n, c, h, w = feats.shape
                per_position = feats.permute(0, 2, 3, 1).reshape(n * h * w, c, 1, 1)
                pos = self._head(per_position).float().reshape(n, h * w, -1)
                self._check_affine(self._head(feats).float(), pos.mean(1))
        # kept in float32, as computed (half the memory a job holds for its maps); the
        # compared vectors in float64, each image's in one call for the batch
        pos = pos.cpu().numpy()
        return PositionBatch(pos, pos.mean(1, dtype=np.float64), h, w)

    def _check_affine(self, actual: torch.Tensor, from_positions: torch.Tensor) -> None:
        err = (actual - from_positions).norm(dim=1) / actual.norm(dim=1).clamp_min(EPS)
        if float(err.max()) > AFFINE_TOLERANCE:
            raise self._not_decomposable(
                "the head between the spatial features and this layer is not affine (e.g. a "
                f"normalisation or activation; relative mismatch {float(err.max()):.1e})")

    def _views(self, x: torch.Tensor) -> list[np.ndarray]:
        """The model inputs as uint8 images (mean/std undone), for drawing under maps."""
        pre = self.model.preprocess
        img = (x * pre.std + pre.mean).clamp(0, 1).mul(255).round().to(torch.uint8)
        img = img.permute(0, 2, 3, 1).numpy()
        return [im[..., 0] if im.shape[-1] == 1 else im[..., :3] for im in img]

    def images(self, images: list[np.ndarray], crop: bool = True) -> list[SpatialFeatures]:
        """Per-position features of uint8 images, preprocessed as the model expects
        (``crop=False``: the whole image, short side at the model's size, so maps follow
        its aspect ratio)."""
        pre = self.model.preprocess
        if crop:
            return self.spatial_features(pre(images))
        return [self.spatial_features(pre.whole(im))[0] for im in images]

    def positions(self, images: list[np.ndarray]) -> PositionBatch:
        """:meth:`batch_positions` of uint8 images, preprocessed (and cropped) as the model
        expects."""
        return self.batch_positions(self.model.preprocess(images))

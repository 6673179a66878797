"""torch-lucent, made usable with today's torch, in one place.

Lucent (0.1.8) renders channel visualisations well but has three breakages, dealt with here
rather than by copying it:

1. It pins ``kornia<=0.4.1`` (which predates torch 2) and uses kornia only for two
   geometric transforms. vizkit installs lucent with ``--no-deps`` and, when kornia is not
   installed, provides those two functions (``translate``, ``get_rotation_matrix2d`` +
   ``warp_affine``) in a small module registered as ``kornia`` before lucent is imported,
   implemented with ``torch.nn.functional.affine_grid``/``grid_sample``.
2. Its ``random_rotate`` passes a per-axis scale that old kornia expected; our rotation
   takes it (and ignores anything but 1).
3. It picks ``cuda:0`` at import time whenever CUDA exists, in module-level ``device``
   variables, whatever device the model is on; we set those variables to the model's device.

Lucent's ImageNet normalisation and 224-px upsampling are not used: vizkit adds its own
model's normalisation (mean/std, channel count) and renders at the requested size.
"""
from __future__ import annotations

import importlib.util
import math
import sys
import types

import torch
import torch.nn.functional as F

from vizkit.errors import VizkitError

INSTALL_HINT = ("Channel visualisations need torch-lucent: pip install --no-deps "
                "torch-lucent==0.1.8 ipython decorator (scripts/setup.sh does this).")


def _translate(image: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """Shift ``image`` [B, C, H, W] by ``translation`` [B, 2] pixels (dx, dy), zero fill."""
    b, _, h, w = image.shape
    theta = torch.zeros(b, 2, 3, dtype=image.dtype, device=image.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    t = translation.to(image.device, image.dtype).reshape(-1, 2).expand(b, 2)
    theta[:, 0, 2] = -2 * t[:, 0] / max(w - 1, 1)
    theta[:, 1, 2] = -2 * t[:, 1] / max(h - 1, 1)
    grid = F.affine_grid(theta, list(image.shape), align_corners=True)
    return F.grid_sample(image, grid, align_corners=True, padding_mode="zeros")


def _get_rotation_matrix2d(center: torch.Tensor, angle: torch.Tensor,
                           scale: torch.Tensor) -> torch.Tensor:
    """The [B, 2, 3] pixel-space matrix rotating by ``angle`` degrees about ``center``."""
    a = angle.float() * math.pi / 180
    cos, sin = torch.cos(a), torch.sin(a)
    cx, cy = center[:, 0].float(), center[:, 1].float()
    m = torch.stack([torch.stack([cos, sin, (1 - cos) * cx - sin * cy], 1),
                     torch.stack([-sin, cos, sin * cx + (1 - cos) * cy], 1)], 1)
    return m


def _warp_affine(image: torch.Tensor, matrix: torch.Tensor, dsize) -> torch.Tensor:
    """Apply pixel-space affine ``matrix`` [B, 2, 3] (destination ← source) to ``image``."""
    b, _, h, w = image.shape
    # pixel -> normalised coordinates (align_corners=True), and the inverse map
    n = torch.tensor([[2 / max(w - 1, 1), 0, -1], [0, 2 / max(h - 1, 1), -1], [0, 0, 1]],
                     dtype=image.dtype, device=image.device)
    full = torch.cat([matrix.to(image.device, image.dtype),
                      torch.tensor([[[0, 0, 1]]], dtype=image.dtype,
                                   device=image.device).expand(b, 1, 3)], 1)
    theta = (n @ torch.linalg.inv(full) @ torch.linalg.inv(n))[:, :2]
    grid = F.affine_grid(theta, [b, image.shape[1], dsize[0], dsize[1]], align_corners=True)
    return F.grid_sample(image, grid, align_corners=True, padding_mode="zeros")


def _kornia_stand_in() -> types.ModuleType:
    kornia = types.ModuleType("kornia")
    kornia.__version__ = "0.4.1"  # the API lucent was written against
    kornia.get_rotation_matrix2d = _get_rotation_matrix2d
    kornia.warp_affine = _warp_affine
    geometry = types.ModuleType("kornia.geometry")
    transform = types.ModuleType("kornia.geometry.transform")
    transform.translate = _translate
    geometry.transform = transform
    kornia.geometry = geometry
    return kornia


def lucent(device: torch.device | None = None) -> types.SimpleNamespace:
    """Import lucent's ``render``, ``param``, ``transform`` and ``objectives`` with the fixes
    above, its device variables set to ``device`` (default: CPU)."""
    if importlib.util.find_spec("lucent") is None:
        raise VizkitError(INSTALL_HINT)
    if "kornia" not in sys.modules and importlib.util.find_spec("kornia") is None:
        stand_in = _kornia_stand_in()
        sys.modules.update({"kornia": stand_in, "kornia.geometry": stand_in.geometry,
                            "kornia.geometry.transform": stand_in.geometry.transform})
    try:
        from lucent.optvis import objectives, param, render, transform
        from lucent.optvis.param import color, spatial
    except ImportError as e:  # e.g. IPython or decorator missing
        raise VizkitError(f"torch-lucent could not be imported ({e}). {INSTALL_HINT}") from e
    device = device or torch.device("cpu")
    for module in (transform, spatial, color):
        if hasattr(module, "device"):
            module.device = device
    return types.SimpleNamespace(render=render, param=param, transform=transform,
                                 objectives=objectives)

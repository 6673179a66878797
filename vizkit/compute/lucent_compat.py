"""torch-lucent, made usable with today's torch, in one place.

Lucent 0.1.8 is a dependency, with the kornia 0.4.1 it pins (which needs only
``torch>=1.6``). Two things are fixed here rather than by copying lucent:

1. kornia 0.4.1's ``translate`` (lucent's jitter) assumed ``align_corners=True`` before
   torch made ``False`` the default: on torch 2 it shifts by the wrong, fractional amount.
   Lucent's module is given :func:`_translate`, an exact pixel shift. (kornia's rotation,
   lucent's other transform, is still right: tested.)
2. Lucent picks ``cuda:0`` at import time whenever CUDA exists, in module-level ``device``
   variables, whatever device the model is on; they are set to the model's device. Lucent's ImageNet
normalisation and 224-px upsampling are not used: vizkit adds its own model's
normalisation (mean/std, channel count) and renders at the requested size.
"""
from __future__ import annotations

import importlib.util
import types
import warnings

import torch
import torch.nn.functional as F

from vizkit.errors import VizkitError

INSTALL_HINT = ("Channel visualisations need torch-lucent, a dependency of vizkit: "
                "pip install torch-lucent==0.1.8.")


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


def lucent(device: torch.device | None = None) -> types.SimpleNamespace:
    """Lucent's ``render``, ``param``, ``transform`` and ``objectives``, its device variables
    set to ``device`` (default: CPU). Called when a channel image is rendered."""
    if importlib.util.find_spec("lucent") is None:
        raise VizkitError(INSTALL_HINT)
    try:
        with warnings.catch_warnings():  # kornia 0.4.1 still uses torch.jit.script
            warnings.simplefilter("ignore", FutureWarning)
            from lucent.optvis import objectives, param, render, transform
            from lucent.optvis.param import color, spatial
    except ImportError as e:  # e.g. IPython or decorator missing
        raise VizkitError(f"torch-lucent could not be imported ({e}). {INSTALL_HINT}") from e
    transform.translate = _translate
    device = device or torch.device("cpu")
    for module in (transform, spatial, color):
        if hasattr(module, "device"):
            module.device = device
    return types.SimpleNamespace(render=render, param=param, transform=transform,
                                 objectives=objectives)

"""Drawing signed maps over images: blue where a region adds to a score, red where it takes
away, on a colour scale centred at zero and shared by the maps that should compare."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from vizkit import palette

BLUE = np.array(palette.rgb(palette.FOR), np.float32)
RED = np.array(palette.rgb(palette.AGAINST), np.float32)
HEAT = np.array(palette.rgb(palette.HEAT), np.float32)
MAX_ALPHA = 0.85


def shared_scale(maps: list[np.ndarray]) -> float:
    """The colour scale's half-range: the largest |value| over ``maps`` (never 0)."""
    vmax = max((float(np.abs(m).max()) for m in maps if m.size), default=0.0)
    return vmax or 1.0


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _colour(values: np.ndarray, vmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel colour and opacity for values on the scale ``[-vmax, vmax]``."""
    t = np.clip(values / vmax, -1.0, 1.0)[..., None]
    colour = np.where(t >= 0, BLUE, RED)
    return colour, MAX_ALPHA * np.abs(t)


def signed_overlay(image: np.ndarray, values: np.ndarray, vmax: float,
                   width: int = 144) -> bytes:
    """PNG of ``image`` (uint8 ``[H,W]`` or ``[H,W,3]``) in grey under the map ``values``
    (``[h, w]``, any aspect) upsampled bilinearly to it, shown ``width`` pixels wide."""
    return _overlay(image, values, width, lambda up: _colour(up, vmax))


def heat_overlay(image: np.ndarray, values: np.ndarray, vmax: float,
                 width: int = 96) -> bytes:
    """Like :func:`signed_overlay` for a non-negative map (a channel's activation): orange,
    more opaque where the activation is higher, on the scale ``[0, vmax]``."""
    def colour(up):
        t = np.clip(up / (vmax or 1.0), 0.0, 1.0)[..., None]
        return HEAT, MAX_ALPHA * t
    return _overlay(image, values, width, colour)


def _overlay(image: np.ndarray, values: np.ndarray, width: int, colour_of) -> bytes:
    h, w = image.shape[:2]
    out_w, out_h = width, max(1, round(width * h / w))
    grey = Image.fromarray(image).convert("L")
    resample = Image.Resampling.NEAREST if max(h, w) <= 64 else Image.Resampling.BILINEAR
    grey = np.asarray(grey.resize((out_w, out_h), resample), np.float32)[..., None]
    up = np.asarray(Image.fromarray(values.astype(np.float32), mode="F")
                    .resize((out_w, out_h), Image.Resampling.BILINEAR), np.float32)
    colour, alpha = colour_of(up)
    rgb = (1 - alpha) * grey + alpha * colour
    return _png(np.clip(rgb, 0, 255).astype(np.uint8))


def legend(vmax: float, width: int = 320, height: int = 14) -> bytes:
    """PNG of the colour scale from ``-vmax`` (red, left) through 0 to ``+vmax`` (blue)."""
    values = np.tile(np.linspace(-vmax, vmax, width, dtype=np.float32), (height, 1))
    colour, alpha = _colour(values, vmax)
    rgb = (1 - alpha) * 255.0 + alpha * colour
    return _png(np.clip(rgb, 0, 255).astype(np.uint8))

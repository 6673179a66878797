"""Training augmentation at the model's input size, drawn from a generator the caller seeds
(so that a batch is the same whichever worker process prepares it).

- ``standard``: random resized crop (area 8-100 %, aspect 3/4-4/3, as torchvision's) and a
  horizontal flip with probability 1/2 -- the metric-learning literature's usual choice;
- ``crop``: the EPSHN authors' training transform: the short side resized to 1.1 x the
  input size, a random square crop of the input size, a horizontal flip;
- ``none``: the evaluation transform (:class:`~vizkit.runtime.loaded.Preprocessor`: resize and
  centre crop).

Crops are cut from the uint8 pixels before anything is converted or resized, so the cost is
proportional to the model's input, not to the photo.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from vizkit.runtime.loaded import Preprocessor

AUGMENTATIONS = ("standard", "crop", "none")
AREA = (0.08, 1.0)
ASPECT = (3 / 4, 4 / 3)
CROP_MARGIN = 1.1


def random_resized_box(h: int, w: int, rng: np.random.Generator
                       ) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of a random region with ``AREA`` of the image's area and
    an aspect ratio in ``ASPECT`` (ten tries, then the centred largest region within those
    ratios), as torchvision's ``RandomResizedCrop.get_params``."""
    area = h * w
    log_ratio = (math.log(ASPECT[0]), math.log(ASPECT[1]))
    for _ in range(10):
        target = area * rng.uniform(*AREA)
        ratio = math.exp(rng.uniform(*log_ratio))
        cw, ch = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
    ratio = w / h
    if ratio < ASPECT[0]:
        cw, ch = w, round(w / ASPECT[0])
    elif ratio > ASPECT[1]:
        ch, cw = h, round(h * ASPECT[1])
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def random_square_box(h: int, w: int, size: int, rng: np.random.Generator
                      ) -> tuple[int, int, int, int]:
    """A random crop of ``size`` px (after the short side is resized to ``1.1 x size``),
    expressed in the source image's pixels."""
    scale = CROP_MARGIN * size / min(h, w)  # source px -> resized px
    side = min(h, w, max(1, round(size / scale)))
    return int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1)), side, side


class Augmenter:
    """Turns uint8 training images into model input with the ``mode`` augmentation."""

    def __init__(self, preprocess: Preprocessor, mode: str = "standard"):
        if mode not in AUGMENTATIONS:
            from vizkit.errors import BadArgumentError

            raise BadArgumentError(f"--augment {mode!r}: one of {', '.join(AUGMENTATIONS)}.")
        self.preprocess, self.mode = preprocess, mode

    def __call__(self, images: np.ndarray | list[np.ndarray], rng: np.random.Generator
                 ) -> torch.Tensor:
        """Float ``[N, C, H, W]``, normalised as the model expects."""
        if self.mode == "none":
            return self.preprocess(images)
        c = self.preprocess.config
        out = []
        for im in images:
            h, w = im.shape[:2]
            if self.mode == "standard":
                top, left, ch, cw = random_resized_box(h, w, rng)
            else:
                top, left, ch, cw = random_square_box(h, w, min(c.height, c.width), rng)
            x = self.preprocess.unit(im[None, top: top + ch, left: left + cw])
            if (ch, cw) != (c.height, c.width):
                x = self.preprocess.resize(x, c.height, c.width, c.height / ch)
            if rng.random() < 0.5:
                x = x.flip(-1)
            out.append(x)
        return self.preprocess.normalize(torch.cat(out))

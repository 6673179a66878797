"""Network Dissection for a layer (Bau et al., CVPR 2017) on the concepts a dataset's
annotations give: each channel's activation map, upsampled to the model input, is cut at the
channel's top quantile over the dataset (0.995 by default); the region above it is scored by
IoU, summed over all images, against every concept — the object region of every image
("object"), the object region of the images of each class (the class's name), and each
named part as a disc around its point (empty where the part is not visible)."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it runs: the pages read these constants
    import torch

QUANTILE = 0.995
IOU_THRESHOLD = 0.04  # the paper's: a channel "detects" a concept above it


def channel_thresholds(samples: torch.Tensor, quantile: float = QUANTILE) -> torch.Tensor:
    """Per channel, the ``quantile`` of its activations ``[N, C, h, w]`` over every image
    and position (the sample the caller gathered)."""
    import torch

    flat = samples.transpose(0, 1).reshape(samples.shape[1], -1).float()
    return torch.quantile(flat, quantile, dim=1) if flat.shape[1] <= 16_000_000 else \
        torch.stack([torch.quantile(row[torch.randperm(len(row))[:16_000_000]], quantile)
                     for row in flat])


@functools.lru_cache(maxsize=16)
def bilinear_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """``[n_out, n_in]`` float32: bilinear resampling of one axis as a matrix, the same as
    ``F.interpolate(mode="bilinear", align_corners=False)`` (without antialiasing), so
    that a batch of maps is upsampled by two matrix products — seven times faster on the
    CPU than torch's bilinear kernel at these sizes."""
    import torch

    src = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5).clamp(min=0)
    lo = src.floor().long().clamp(max=n_in - 1)
    hi = (lo + 1).clamp(max=n_in - 1)
    rows = torch.arange(n_out)
    out = torch.zeros(n_out, n_in, dtype=torch.float64)
    out.index_put_((rows, lo), 1 - (src - lo), accumulate=True)
    out.index_put_((rows, hi), src - lo, accumulate=True)
    return out.float()


@dataclass
class IoUCounts:
    """Running intersections and unions ``[C, 1 + classes + parts]`` over the images seen:
    concept 0 is every image's object region, concept 1 + k the object region of class k's
    images (empty in every other image), then one concept per part (its disc)."""

    inter: np.ndarray
    union: np.ndarray

    @classmethod
    def empty(cls, channels: int, classes: int, parts: int = 0) -> IoUCounts:
        return cls(np.zeros((channels, 1 + classes + parts)),
                   np.zeros((channels, 1 + classes + parts)))

    def add(self, activations: torch.Tensor, thresholds: torch.Tensor, objects: torch.Tensor,
            labels: np.ndarray, parts: torch.Tensor | None = None) -> None:
        """One batch: ``activations`` ``[N, C, h, w]``, ``objects`` bool ``[N, H, W]`` at the
        model input's size (the activations are upsampled bilinearly to it), ``labels``
        ``[N]`` (-1: no class), ``parts`` bool ``[N, P, H, W]`` (the part discs) or None."""
        import torch

        (h, w), (height, width) = activations.shape[-2:], objects.shape[-2:]
        up = bilinear_matrix(h, height) @ activations.float() @ bilinear_matrix(w, width).T
        on = up.gt_(thresholds.view(1, -1, 1, 1)).flatten(2)  # [N, C, P]: 1.0 above
        mask = objects.flatten(1).float()  # [N, P]
        inter = torch.einsum("ncp,np->nc", on, mask).numpy()  # [N, C]
        area_on, area_mask = on.sum(2).numpy(), mask.sum(1).numpy()  # [N, C], [N]
        self.inter[:, 0] += inter.sum(0)
        self.union[:, 0] += (area_on + area_mask[:, None] - inter).sum(0)
        first = self.inter.shape[1] - (parts.shape[1] if parts is not None else 0)
        self.union[:, 1:first] += area_on.sum(0)[:, None]  # every image's firing area ...
        for k in np.unique(labels[labels >= 0]):
            mine = labels == k  # ... plus, in class k's images, the object outside it
            self.inter[:, 1 + k] += inter[mine].sum(0)
            self.union[:, 1 + k] += (area_mask[mine][:, None] - inter[mine]).sum(0)
        if parts is not None and parts.shape[1]:
            discs = parts.flatten(2).float()  # [N, P, pixels]
            part_inter = torch.einsum("ncp,nkp->ck", on, discs).numpy()  # [C, P]
            area_disc = discs.sum(2).sum(0).numpy()  # [P]
            self.inter[:, first:] += part_inter
            self.union[:, first:] += area_on.sum(0)[:, None] + area_disc[None, :] - part_inter

    def iou(self) -> np.ndarray:
        """``[C, concepts]``: intersection over union, 0 where both were empty."""
        return np.divide(self.inter, self.union, out=np.zeros_like(self.inter),
                         where=self.union > 0)


def best_concepts(iou: np.ndarray, concepts: list[str]) -> list[dict]:
    """Per channel: its best concept and that IoU."""
    best = iou.argmax(axis=1)
    return [{"channel": c, "concept": concepts[k], "iou": round(float(iou[c, k]), 4)}
            for c, k in enumerate(best)]


def detector_counts(channels: list[dict], concepts: list[str],
                    threshold: float = IOU_THRESHOLD) -> dict[str, int]:
    """Per concept, how many channels have it as their best concept above ``threshold``."""
    counts = {name: 0 for name in concepts}
    for c in channels:
        if c["iou"] > threshold:
            counts[c["concept"]] += 1
    return counts

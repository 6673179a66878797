"""``synthetic:N``: N procedurally generated, labelled 32x32 colour images — a dataset of any
size with no download, for benchmarks and tests at scale.

Ten classes of shapes (disk, square, triangle, ring, cross, bars, stripes, checks, dots),
each image with its own position, size, colour, background and noise, drawn from a hash of
(seed, index): image ``i`` is the same whatever batch it is drawn in, and the whole dataset
is generated on demand in vectorised batches (no file is written). Every seventh image is
``test``.
"""
from __future__ import annotations

import hashlib
from functools import cached_property

import numpy as np

from vizkit import hookimpl
from vizkit.api.datasets import Dataset, DatasetEntry
from vizkit.errors import BadArgumentError

SIZE = 32
CLASSES = ["disk", "square", "triangle", "ring", "cross", "horizontal bar", "vertical bar",
           "stripes", "checks", "dots"]
MAX_IMAGES = 100_000_000
VERSION = 1  # of the generator: part of the fingerprint
# named points: the shape's centre, and a control point on the background (the corner
# farthest from the centre, 3 px in), which an object-centric map should not favour
PARTS = ("centre", "background")
CORNER_INSET = 3.0


def _hash(values: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 of ``values`` and ``salt``: uniform 64-bit integers, vectorised."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(salt)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _uniform(idx: np.ndarray, seed: int, what: int) -> np.ndarray:
    """Uniform [0, 1) numbers, one per index, for parameter number ``what``."""
    return (_hash(idx, seed * 1_000_003 + what) >> np.uint64(11)).astype(np.float64) / 2**53


def _mask(kind: int, dx, dy, xx, yy, r, period) -> np.ndarray:
    """Where the shape of class ``kind`` is, for images centred at offsets dx, dy."""
    dist = np.hypot(dx, dy)
    if kind == 0:
        return dist <= r                                              # disk
    if kind == 1:
        return (np.abs(dx) <= r * 0.8) & (np.abs(dy) <= r * 0.8)      # square
    if kind == 2:
        return (dy <= r * 0.7) & (dy >= -r * 0.7 + 1.6 * np.abs(dx))  # triangle
    if kind == 3:
        return (dist <= r) & (dist >= r * 0.6)                        # ring
    if kind == 4:
        return ((np.abs(dx) <= r * 0.25) & (np.abs(dy) <= r)) | \
            ((np.abs(dy) <= r * 0.25) & (np.abs(dx) <= r))            # cross
    if kind == 5:
        return (np.abs(dy) <= r * 0.3) & (np.abs(dx) <= r * 1.3)      # horizontal bar
    if kind == 6:
        return (np.abs(dx) <= r * 0.3) & (np.abs(dy) <= r * 1.3)      # vertical bar
    if kind == 7:
        return ((xx + yy) % period) < period / 2                      # stripes
    if kind == 8:
        return ((xx // (period / 1.5) + yy // (period / 1.5)) % 2) == 0  # checks
    return ((xx % period) < 1.5) & ((yy % period) < 1.5)              # dots


def _noise_bank(seed: int, count: int = 64) -> np.ndarray:
    """``count`` fixed noise textures in [-0.5, 0.5), the same for a given seed."""
    return np.random.default_rng(seed).random((count, SIZE, SIZE, 3), np.float32) - 0.5


def draw(idx: np.ndarray, seed: int = 0, masks: bool = False):
    """The images at ``idx`` as uint8 ``[B, 32, 32, 3]`` (with ``masks``, also where each
    image's shape is, bool ``[B, 32, 32]``: the exact region it was drawn in)."""
    idx = np.asarray(idx, np.int64)
    b = len(idx)
    label = idx % len(CLASSES)
    u = [_uniform(idx, seed, k).astype(np.float32)[:, None, None] for k in range(8)]
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    dx, dy = xx[None] - (10 + 12 * u[0]), yy[None] - (10 + 12 * u[1])
    r, period = 5 + 5 * u[2], 4 + 3 * u[3]
    mask = np.zeros((b, SIZE, SIZE), bool)
    for kind in np.unique(label):
        sel = label == kind
        mask[sel] = _mask(int(kind), dx[sel], dy[sel], xx[None], yy[None], r[sel], period[sel])
    hue = u[4][..., None] * 2 * np.pi  # [B, 1, 1, 1]
    colour = 0.55 + 0.45 * np.cos(hue + np.array([0, 2.094, 4.189], np.float32))
    background = (0.15 + 0.35 * u[5])[..., None]
    bank = _noise_bank(seed)
    noise = bank[(_hash(idx, seed * 7 + 5) % np.uint64(len(bank))).astype(np.int64)]
    img = np.where(mask[..., None], colour, background) + (0.1 + 0.15 * u[7][..., None]) * noise
    img = np.clip(img * 255, 0, 255).astype(np.uint8)
    return (img, mask) if masks else img


class SyntheticDataset(Dataset):
    """``n`` generated images: labels, splits and ids are computed, images drawn on demand."""

    def __init__(self, n: int, seed: int = 0):
        self.n, self.seed = n, seed
        self.name = f"synthetic:{n}"
        self.classes = CLASSES
        self.description = f"{n:,} generated 32x32 images of 10 shapes (seed {seed})."
        self.regions = "shape"
        self.part_names = PARTS
        self.skipped = []
        self.fingerprint = hashlib.sha256(f"synthetic v{VERSION} {n} {seed}".encode()
                                          ).hexdigest()[:16]
        index = np.arange(n)
        self.labels = (index % len(CLASSES)).astype(np.int64)
        self.splits = np.where(index % 7 == 6, "test", "train")
        self._width = len(str(n - 1))

    @cached_property
    def ids(self) -> list[str]:  # made when first asked for
        return [f"synthetic/{i:0{self._width}d}" for i in range(self.n)]

    def __len__(self) -> int:
        return self.n

    def image_array(self, index: int) -> np.ndarray:
        return draw(np.array([index]), self.seed)[0]

    def batch_images(self, indices: np.ndarray) -> np.ndarray:
        return draw(np.asarray(indices), self.seed)

    def image_sizes(self, indices: np.ndarray) -> list[tuple[int, int]]:
        return [(SIZE, SIZE)] * len(np.asarray(indices))

    def object_masks(self, indices: np.ndarray) -> list[np.ndarray]:
        """The exact mask each shape was drawn with."""
        return list(draw(np.asarray(indices), self.seed, masks=True)[1])

    def part_points(self, indices: np.ndarray) -> list[dict[str, tuple[float, float]]]:
        """The centre each shape was drawn around and the background control point, in
        pixels (pixel ``i`` spans ``[i, i + 1)``)."""
        idx = np.asarray(indices, np.int64)
        cx = 10 + 12 * _uniform(idx, self.seed, 0).astype(np.float32) + 0.5
        cy = 10 + 12 * _uniform(idx, self.seed, 1).astype(np.float32) + 0.5
        far, near = SIZE - CORNER_INSET, CORNER_INSET
        bx, by = np.where(cx < SIZE / 2, far, near), np.where(cy < SIZE / 2, far, near)
        return [{"centre": (float(x), float(y)), "background": (float(u), float(v))}
                for x, y, u, v in zip(cx, cy, bx, by)]


def open_synthetic(argument: str | None) -> SyntheticDataset:
    """Open ``synthetic:N`` (``N`` images; ``synthetic:N,SEED`` for another seed)."""
    count, _, seed = (argument or "").partition(",")
    if not count.isdigit() or not 1 <= int(count) <= MAX_IMAGES or (seed and not seed.isdigit()):
        raise BadArgumentError(f"synthetic:{argument or ''}: give the number of images, "
                               f"1 to {MAX_IMAGES:,} (and optionally ,SEED): synthetic:100000.")
    return SyntheticDataset(int(count), int(seed or 0))


@hookimpl
def register_datasets(register):
    """Register ``synthetic:<n>``."""
    register(DatasetEntry("synthetic", "Generated labelled images of 10 shapes, any number: "
                          "synthetic:<n> (for benchmarks and tests at scale).", open_synthetic,
                          argument="n"))

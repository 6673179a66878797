"""What a dataset plugin registers, and the dataset interface every job reads through."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from vizkit.errors import ImageDecodeError
from vizkit.images import decode_image, image_size, to_array


@dataclass
class Batch:
    """One batch of a dataset: positions, stable ids, images, labels (-1 = none), splits.

    ``images`` is a uint8 array ``[N, H, W]`` / ``[N, H, W, 3]`` when the dataset's images
    share one size, else a list of such arrays.
    """

    indices: np.ndarray
    ids: list[str]
    images: np.ndarray | list[np.ndarray]
    labels: np.ndarray
    splits: list[str]


class Dataset:
    """A finite, indexed collection of images with stable ids.

    Subclasses set ``name``, ``classes``, ``ids``, ``labels``, ``splits``, ``fingerprint``
    (a digest of the content, so that results are recomputed when it changes) and
    implement :meth:`image_array`; array-backed datasets override :meth:`batch_images`.
    """

    name: str
    description: str = ""
    classes: list[str]
    ids: list[str]
    labels: np.ndarray
    splits: np.ndarray
    fingerprint: str
    skipped: list[tuple[str, str]]  # (file, reason) of entries left out
    recall_ks: tuple[int, ...] = (1, 2, 4, 8)  # the Recall@K its literature reports
    metadata: dict[str, np.ndarray] = {}  # more columns per image (e.g. SOP's super-class)

    def __len__(self) -> int:
        return len(self.ids)

    def image_array(self, index: int) -> np.ndarray:
        """The image at ``index`` as uint8 ``[H, W]`` or ``[H, W, 3]``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def image(self, index: int) -> Image.Image:
        """The image at ``index`` as a PIL image."""
        return Image.fromarray(self.image_array(index))

    def batch_images(self, indices: np.ndarray) -> np.ndarray | list[np.ndarray]:
        """The images at ``indices`` (see :class:`Batch` for the shape)."""
        return [self.image_array(int(i)) for i in indices]

    def image_sizes(self, indices: np.ndarray) -> list[tuple[int, int]]:
        """``(height, width)`` of each image at ``indices``, in pixels (what part points and
        boxes are measured in). Datasets that know sizes without decoding override it."""
        return [tuple(self.image_array(int(i)).shape[:2]) for i in np.asarray(indices)]

    def iter_batches(self, batch_size: int = 256, start: int = 0,
                     stop: int | None = None) -> Iterator[Batch]:
        """Yield :class:`Batch` objects covering positions ``start`` to ``stop`` in order."""
        stop = len(self) if stop is None else min(stop, len(self))
        for lo in range(start, stop, batch_size):
            idx = np.arange(lo, min(lo + batch_size, stop))
            yield Batch(idx, [self.ids[i] for i in idx], self.batch_images(idx),
                        self.labels[idx], [str(s) for s in self.splits[idx]])

    @property
    def changed(self) -> dict[str, str]:
        """Files (by id) that could not be read when a job came to them, and why; empty
        for datasets held in memory. Jobs report them when they finish."""
        return getattr(getattr(self, "base", None), "changed", {})

    regions: str = ""  # what object_masks gives ("" = no regions), e.g. "foreground"

    def object_masks(self, indices: np.ndarray) -> list[np.ndarray] | None:
        """Where the object is in each image at ``indices``: a boolean mask at the image's
        own size (a segmentation, a box, the non-zero foreground; None for an image without
        one), or None when the dataset provides no object regions (the default). Called by
        the findings jobs, which carry each mask through the model's crop and resize exactly
        as the pixels go."""
        return None

    part_names: tuple[str, ...] = ()  # the named points part_points gives (() = none)

    def part_points(self, indices: np.ndarray) -> list[dict[str, tuple[float, float]] | None] \
            | None:
        """Named part points of each image at ``indices``: ``{part: (x, y)}`` in the image's
        own pixels (x to the right, y down), visible parts only (a part missing from the
        dict is not visible in that image; None for an image without annotations), or None
        when the dataset names no parts (the default). Called by ``vizkit findings parts``,
        which carries each point through the model's crop and resize as the pixels go."""
        return None

    def class_name(self, label: int) -> str:
        """The class name of a label, or ``"(unlabelled)"`` for -1."""
        return self.classes[label] if 0 <= label < len(self.classes) else "(unlabelled)"


class ArrayDataset(Dataset):
    """A dataset held as one uint8 array of same-sized images."""

    def __init__(self, name: str, images: np.ndarray, labels: np.ndarray, splits: np.ndarray,
                 ids: list[str], classes: list[str], fingerprint: str, description: str = "",
                 foreground: bool = False):
        self.name, self.images, self.labels, self.splits = name, images, labels, splits
        self.ids, self.classes, self.fingerprint = ids, classes, fingerprint
        self.description, self.skipped = description, []
        self.regions = "foreground" if foreground else ""

    def object_masks(self, indices: np.ndarray) -> list[np.ndarray] | None:
        """With ``foreground``: every non-zero pixel (objects drawn on a black background,
        as Fashion-MNIST and the digits are)."""
        if not self.regions:
            return None
        images = self.images[np.asarray(indices)]
        fg = images > 0 if images.ndim == 3 else (images > 0).any(axis=-1)
        return list(fg)

    def image_array(self, index: int) -> np.ndarray:
        return self.images[index]

    def image_sizes(self, indices: np.ndarray) -> list[tuple[int, int]]:
        return [tuple(self.images.shape[1:3])] * len(np.asarray(indices))

    def batch_images(self, indices: np.ndarray) -> np.ndarray:
        return self.images[indices[0]: indices[-1] + 1] if _contiguous(indices) \
            else self.images[indices]


class FileListDataset(Dataset):
    """A dataset of image files decoded on demand (a user's folder).

    ``stats`` holds each file's ``(size, mtime_ns)`` when it was scanned. A file that has
    changed since, or no longer decodes, is not read: its position gets a blank grey image
    and it is listed in :attr:`changed` (file, reason), so that a job finishes and says
    which files to look at instead of failing part way through.
    """

    PLACEHOLDER = np.full((32, 32), 128, np.uint8)

    def __init__(self, name: str, paths: list[str], labels: np.ndarray, splits: np.ndarray,
                 ids: list[str], classes: list[str], fingerprint: str,
                 skipped: list[tuple[str, str]], description: str = "",
                 stats: list[tuple[int, int]] | None = None,
                 boxes: dict[int, tuple[int, int, float, float, float, float]] | None = None,
                 parts: dict[int, dict[str, tuple[float, float]]] | None = None,
                 part_names: tuple[str, ...] = ()):
        self.name, self.paths, self.labels, self.splits = name, paths, labels, splits
        self.ids, self.classes, self.fingerprint = ids, classes, fingerprint
        self.skipped, self.description = skipped, description
        self.stats = stats
        # index -> (width, height, x, y, w, h) in the image's pixels; width 0: read the size
        # from the file's header when a mask is asked for
        self.boxes = boxes or {}
        self.regions = "box" if self.boxes else ""
        self.parts = parts or {}  # index -> {part: (x, y)} in the image's pixels, visible ones
        self.part_names = tuple(part_names) if self.parts else ()
        self._changed: dict[str, str] = {}

    def object_masks(self, indices: np.ndarray) -> list[np.ndarray | None] | None:
        """With ``boxes``: each boxed image's box as a mask at its own size (None for an
        image the boxes do not name)."""
        if not self.boxes:
            return None
        out: list[np.ndarray | None] = []
        for i in np.asarray(indices):
            if int(i) not in self.boxes:
                out.append(None)
                continue
            width, height, x, y, w, h = self.boxes[int(i)]
            if not width:
                try:
                    height, width = image_size(self.paths[int(i)])
                except OSError:  # gone or not an image: no region (the job reports the file)
                    out.append(None)
                    continue
            mask = np.zeros((height, width), bool)
            mask[int(round(y)): int(round(y + h)), int(round(x)): int(round(x + w))] = True
            out.append(mask)
        return out

    def part_points(self, indices: np.ndarray):
        """With ``parts``: each image's visible part points (None for an image the parts do
        not name)."""
        if not self.parts:
            return None
        return [self.parts.get(int(i)) for i in np.asarray(indices)]

    def image_sizes(self, indices: np.ndarray) -> list[tuple[int, int]]:
        """From each file's header (the placeholder's size for a file that is gone)."""
        out = []
        for i in np.asarray(indices):
            try:
                out.append(image_size(self.paths[int(i)]))
            except OSError:
                out.append(self.PLACEHOLDER.shape)
        return out

    @property
    def changed(self) -> dict[str, str]:
        return self._changed

    def image_array(self, index: int) -> np.ndarray:
        path = self.paths[index]
        try:
            if self.stats is not None:
                st = os.stat(path)
                if (st.st_size, st.st_mtime_ns) != tuple(self.stats[index]):
                    raise ImageDecodeError("changed after the folder was scanned")
            return to_array(decode_image(path))
        except (ImageDecodeError, OSError) as e:
            self._changed.setdefault(self.ids[index], str(e) if isinstance(
                e, ImageDecodeError) else f"cannot be read ({type(e).__name__})")
            return self.PLACEHOLDER


class SubsetDataset(Dataset):
    """The first ``n`` images of another dataset, named ``name[:n]``."""

    def __init__(self, base: Dataset, n: int):
        n = min(n, len(base))
        self.base, self.name = base, f"{base.name}[:{n}]"
        self.classes, self.ids = base.classes, base.ids[:n]
        self.labels, self.splits = base.labels[:n], base.splits[:n]
        self.fingerprint, self.skipped = f"{base.fingerprint}-{n}", base.skipped
        self.description = f"the first {n} images of {base.name}"
        self.regions, self.part_names = base.regions, base.part_names
        self.recall_ks = base.recall_ks
        self.metadata = {k: v[:n] for k, v in base.metadata.items()}

    def image_array(self, index: int) -> np.ndarray:
        return self.base.image_array(index)

    def batch_images(self, indices: np.ndarray):
        return self.base.batch_images(indices)

    def object_masks(self, indices: np.ndarray) -> list[np.ndarray] | None:
        return self.base.object_masks(indices)

    def part_points(self, indices: np.ndarray):
        return self.base.part_points(indices)

    def image_sizes(self, indices: np.ndarray) -> list[tuple[int, int]]:
        return self.base.image_sizes(indices)


class SplitDataset(Dataset):
    """The images of one split of another dataset, in order, named ``name[split]``."""

    def __init__(self, base: Dataset, split: str):
        from vizkit.errors import BadArgumentError

        if isinstance(base, SplitDataset):
            raise BadArgumentError(f"{base.name}[{split}] names a split twice: give one, "
                                   f"{base.base.name}[{split}].")
        self.positions = np.flatnonzero(np.asarray(base.splits).astype(str) == split)
        if not len(self.positions):
            raise BadArgumentError(f"{base.name} has no images in split {split!r}; its "
                                   "splits: " + ", ".join(sorted(set(map(str, base.splits))))
                                   + ".")
        self.base, self.name = base, f"{base.name}[{split}]"
        self.classes = base.classes
        self.ids = [base.ids[i] for i in self.positions]
        self.labels, self.splits = base.labels[self.positions], base.splits[self.positions]
        self.fingerprint, self.skipped = f"{base.fingerprint}-{split}", base.skipped
        self.description = f"the {split} split of {base.name}"
        self.regions, self.part_names = base.regions, base.part_names
        self.recall_ks = base.recall_ks
        self.metadata = {k: v[self.positions] for k, v in base.metadata.items()}

    def image_array(self, index: int) -> np.ndarray:
        return self.base.image_array(int(self.positions[index]))

    def batch_images(self, indices: np.ndarray):
        return self.base.batch_images(self.positions[np.asarray(indices)])

    def object_masks(self, indices: np.ndarray) -> list[np.ndarray] | None:
        return self.base.object_masks(self.positions[np.asarray(indices)])

    def part_points(self, indices: np.ndarray):
        return self.base.part_points(self.positions[np.asarray(indices)])

    def image_sizes(self, indices: np.ndarray) -> list[tuple[int, int]]:
        return self.base.image_sizes(self.positions[np.asarray(indices)])


def _contiguous(indices: np.ndarray) -> bool:
    return len(indices) > 0 and indices[-1] - indices[0] == len(indices) - 1


@dataclass(frozen=True)
class DatasetEntry:
    """A kind of dataset contributed by a plugin.

    ``open(argument)`` returns a :class:`Dataset`; ``argument`` is the text after ``:`` in
    ``name:<argument>`` (``None`` for datasets that take none). It raises
    :class:`vizkit.errors.DatasetMissingError` with the fix when the data is absent.
    """

    name: str
    description: str
    open: Callable[[str | None], Dataset] = field(compare=False)
    argument: str | None = None  # e.g. "path": the user writes name:<path>

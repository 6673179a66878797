"""Tiny replicas of CUB-200-2011, Cars196 and Stanford Online Products, written in exactly
the layouts their authors ship (annotation files, folders, file names), with a handful of
classes and a few small images each. Images are flat colours with a class-specific stripe,
so that a model can tell the classes apart."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def _image(path: Path, label: int, index: int, size: tuple[int, int] = (40, 30)) -> None:
    rng = np.random.default_rng(label * 1000 + index)
    w, h = size
    arr = np.empty((h, w, 3), np.uint8)
    arr[:] = rng.integers(0, 80, 3)
    arr[:, (label * 7) % w: (label * 7) % w + 5] = (200, 40 * (label % 6), 255 - 20 * label % 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


CUB_CLASSES = (1, 2, 3, 4, 101, 102, 103, 104)  # both sides of the 100 / 101 split
CARS_CLASSES = (1, 2, 3, 4, 99, 100, 101, 102)  # both sides of the 98 / 99 split


CUB_PARTS = ["back", "beak", "belly", "breast", "crown", "forehead", "left eye", "left leg",
             "left wing", "nape", "right eye", "right leg", "right wing", "tail", "throat"]


def cub_box(i: int) -> tuple[float, float, float, float]:
    """The replica's bounding box of image id ``i`` (x, y, width, height; 40 x 30 images)."""
    return (2.0 + i % 5, 3.0, 20.0 + i % 7, 15.0)


def cub_part(i: int, part: int) -> tuple[float, float, int]:
    """The replica's part ``part`` (1-15) of image id ``i``: (x, y, visible); every third
    part of each image is not visible (written, as CUB writes it, as 0 0 0)."""
    if (i + part) % 3 == 0:
        return 0.0, 0.0, 0
    return float(1 + (i * 7 + part * 3) % 38), float(1 + (i * 5 + part * 2) % 28), 1


def make_cub(root: Path, class_ids=CUB_CLASSES, per_class: int = 4,
             annotations: bool = True) -> Path:
    """A ``CUB_200_2011``-shaped folder: all 200 class names, images of ``class_ids``; with
    ``annotations``, ``bounding_boxes.txt`` and ``parts/parts.txt`` + ``parts/part_locs.txt``
    (15 parts, some not visible) as the archive ships them."""
    root = root / "CUB_200_2011"
    names = [f"{c:03d}.Bird_{c}" for c in range(1, 201)]
    images, labels = [], []
    for c in class_ids:
        name = names[c - 1]
        for j in range(per_class):
            rel = f"{name}/Bird_{c}_{j:04d}_{c * 100 + j}.jpg"
            _image(root / "images" / rel, c, j)
            images.append(rel)
            labels.append(c)
    (root / "images.txt").write_text("".join(f"{i} {p}\n" for i, p in enumerate(images, 1)))
    (root / "image_class_labels.txt").write_text(
        "".join(f"{i} {c}\n" for i, c in enumerate(labels, 1)))
    (root / "classes.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(names, 1)))
    if annotations:
        ids = range(1, len(images) + 1)
        (root / "bounding_boxes.txt").write_text("".join(
            f"{i} {' '.join(f'{v:.1f}' for v in cub_box(i))}\n" for i in ids))
        (root / "parts").mkdir()
        (root / "parts" / "parts.txt").write_text(
            "".join(f"{k} {name}\n" for k, name in enumerate(CUB_PARTS, 1)))
        (root / "parts" / "part_locs.txt").write_text("".join(
            f"{i} {k} {x:.1f} {y:.1f} {v}\n" for i in ids
            for k in range(1, 16) for x, y, v in [cub_part(i, k)]))
    return root


def make_cars(root: Path, class_ids=CARS_CLASSES, per_class: int = 4) -> Path:
    """A Cars196-shaped folder: ``cars_annos.mat`` (struct array ``annotations`` with
    relative_im_path, bbox_x1..y2, class, test; all 196 ``class_names``) and ``car_ims/``."""
    from scipy.io import savemat

    root = root / "cars196"
    rows = []
    for c in class_ids:
        for j in range(per_class):
            n = len(rows) + 1
            rel = f"car_ims/{n:06d}.jpg"
            _image(root / rel, c, j, (48, 32))
            rows.append((rel, 1, 1, 40, 30, c, j % 2))
    dtype = [("relative_im_path", "O"), ("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"),
             ("bbox_y2", "O"), ("class", "O"), ("test", "O")]
    annos = np.array([tuple(np.array([[v]]) if not isinstance(v, str) else np.array([v])
                            for v in r) for r in rows], dtype=dtype)[None, :]
    names = np.array([np.array([f"Make Model {c} 2012"]) for c in range(1, 197)],
                     dtype=object)[None, :]
    savemat(root / "cars_annos.mat", {"annotations": annos, "class_names": names})
    return root


def make_sop(root: Path, train_classes: int = 6, test_classes: int = 6,
             per_class: int = 3) -> Path:
    """A ``Stanford_Online_Products``-shaped folder: ``Ebay_train.txt``, ``Ebay_test.txt``
    (header ``image_id class_id super_class_id path``) and one folder per super-class."""
    root = root / "Stanford_Online_Products"
    supers = ["bicycle", "chair", "lamp"]
    image_id = 0
    for name, classes in (("Ebay_train.txt", range(1, train_classes + 1)),
                          ("Ebay_test.txt", range(train_classes + 1,
                                                  train_classes + test_classes + 1))):
        lines = ["image_id class_id super_class_id path"]
        for c in classes:
            s = (c - 1) % len(supers) + 1
            for j in range(per_class):
                image_id += 1
                rel = f"{supers[s - 1]}_final/{111000 + c}_{j}.JPG"
                _image(root / rel, c, j)
                lines.append(f"{image_id} {c} {s} {rel}")
        (root / name).write_text("\n".join(lines) + "\n")
    return root

"""The standard metric-learning benchmarks, each read in the layout its authors ship and
split as the literature splits it (class-disjoint: no test class is seen in training):

- ``cub200:<path>``: CUB-200-2011 (``images.txt``, ``image_class_labels.txt``,
  ``classes.txt``, ``images/``); classes 1-100 train, 101-200 test; with
  ``bounding_boxes.txt`` the bird's box is each image's object region, with
  ``parts/parts.txt`` and ``parts/part_locs.txt`` its 15 named part points (visible ones);
- ``cars196:<path>``: Cars196 (``cars_annos.mat``, ``car_ims/``); classes 1-98 train,
  99-196 test (the file's own train/test flag is the classification split, not used); the
  annotation's ``bbox_x1..bbox_y2`` is each image's object region;
- ``sop:<path>``: Stanford Online Products (``Ebay_train.txt``, ``Ebay_test.txt``, one
  folder per super-class); its train and test files, classes 1-11,318 and 11,319-22,634;
  the super-class kept per image as ``metadata["super_class"]``; Recall@1/10/100/1000.

Nothing is downloaded: a missing file is an error that names it and where to put it.
Images are decoded when a job reads them (a file that does not decode is reported then).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from vizkit import hookimpl
from vizkit.api.datasets import DatasetEntry, FileListDataset
from vizkit.compute.metric_names import LARGE_RECALL_KS
from vizkit.errors import DatasetMissingError

MAX_LISTED_MISSING = 3


def _root(kind: str, argument: str | None, archive: str, needs: list[str]) -> Path:
    """The dataset folder, after checking that every file in ``needs`` is there."""
    if not argument:
        raise DatasetMissingError(f"{kind} needs a path: {kind}:<folder that holds "
                                  f"{', '.join(needs)}>.")
    root = Path(argument).expanduser()
    for name in needs:
        if not (root / name).exists():
            raise DatasetMissingError(
                f"{kind}: {root / name} is missing. Download {archive}, extract it, and pass "
                f"{kind}:<the extracted folder> (the one that holds {', '.join(needs)}). "
                "vizkit does not download it for you.")
    return root


def _digest(root: Path, files: list[str]) -> str:
    h = hashlib.sha256()
    for name in files:
        h.update(name.encode() + b"\0" + (root / name).read_bytes())
    return h.hexdigest()[:16]


def _lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _check_images(kind: str, root: Path, rel_paths: list[str], listed_in: str) -> None:
    missing = [p for p in rel_paths if not (root / p).is_file()]
    if missing:
        shown = ", ".join(missing[:MAX_LISTED_MISSING])
        raise DatasetMissingError(
            f"{kind}: {len(missing):,} of the {len(rel_paths):,} images {listed_in} lists are "
            f"missing under {root} (first: {shown}). The archive was not extracted completely; "
            "extract it again.")


def _dataset(kind: str, argument: str, root: Path, rel_paths: list[str], labels: np.ndarray,
             classes: list[str], splits: np.ndarray, fingerprint: str,
             description: str) -> FileListDataset:
    """A file-list dataset of the images at ``rel_paths`` (under ``root``)."""
    return FileListDataset(f"{kind}:{argument}", [str(root / p) for p in rel_paths],
                           labels.astype(np.int64), splits, list(rel_paths), classes,
                           fingerprint, [], description)


def _numbers(kind: str, path: Path, columns: str, known: dict[int, int]
             ) -> list[tuple[int, list[float]]]:
    """The rows of a whitespace-separated annotation file ``id v1 v2 ...`` (``columns``
    names them, for the error), each as (image index, values); a malformed line, or an id
    that ``known`` (image id -> index) does not hold, is an error naming the line."""
    width = len(columns.split())
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            if len(fields) != width:
                raise ValueError
            image, values = int(fields[0]), [float(v) for v in fields[1:]]
        except ValueError:
            raise DatasetMissingError(f"{kind}: {path} line {number} is not "
                                      f"'{columns}' (got {line[:80]!r}).") from None
        if image not in known:
            raise DatasetMissingError(f"{kind}: {path} line {number} names image {image}, "
                                      "which images.txt does not list.")
        out.append((known[image], values))
    return out


def _cub_regions(root: Path, ids: list[int]) -> tuple[dict, dict, tuple[str, ...]]:
    """CUB's boxes (index -> (0, 0, x, y, w, h): the size is read when a mask is made)
    and visible part points (index -> {part: (x, y)}) with the part names, from the
    optional ``bounding_boxes.txt`` and ``parts/``; empty without them. CUB's coordinates
    are pixels from the image's top-left corner."""
    index_of = {image_id: i for i, image_id in enumerate(ids)}
    boxes, parts, names = {}, {}, ()
    if (root / "bounding_boxes.txt").is_file():
        boxes = {i: (0, 0, x, y, w, h) for i, (x, y, w, h) in
                 _numbers("cub200", root / "bounding_boxes.txt", "image_id x y width height",
                          index_of)}
    if (root / "parts" / "parts.txt").is_file() and (root / "parts" / "part_locs.txt").is_file():
        named = {}
        for line in (root / "parts" / "parts.txt").read_text(encoding="utf-8").splitlines():
            part_id, _, name = line.strip().partition(" ")
            if part_id.isdigit() and name.strip():
                named[int(part_id)] = name.strip()
        names = tuple(named[k] for k in sorted(named))
        for i, (part_id, x, y, visible) in _numbers(
                "cub200", root / "parts" / "part_locs.txt", "image_id part_id x y visible",
                index_of):
            if visible and int(part_id) in named:
                parts.setdefault(i, {})[named[int(part_id)]] = (x, y)
    return boxes, parts, names


def _by_class(labels: np.ndarray, n_train_classes: int) -> np.ndarray:
    """The class-disjoint split: the first ``n_train_classes`` classes train, the rest test."""
    return np.where(labels < n_train_classes, "train", "test")


def open_cub200(argument: str | None) -> FileListDataset:
    """CUB-200-2011 from its own folder (``CUB_200_2011``)."""
    needs = ["images.txt", "image_class_labels.txt", "classes.txt", "images"]
    root = _root("cub200", argument, "CUB_200_2011.tgz (Caltech-UCSD Birds-200-2011)", needs)
    paths = {int(i): p for i, p in _lines(root / "images.txt")}
    label_of = {int(i): int(c) for i, c in _lines(root / "image_class_labels.txt")}
    classes = [name for _, name in sorted((int(i), n) for i, n in
                                          _lines(root / "classes.txt"))]
    ids = sorted(paths)
    rel = [f"images/{paths[i]}" for i in ids]
    _check_images("cub200", root, rel, "images.txt")
    labels = np.array([label_of[i] - 1 for i in ids])
    annotations = [f for f in ("bounding_boxes.txt", "parts/parts.txt", "parts/part_locs.txt")
                   if (root / f).is_file()]
    ds = _dataset("cub200", argument, root, rel, labels, classes, _by_class(labels, 100),
                  _digest(root, needs[:3] + annotations), "CUB-200-2011: 200 bird species; "
                  "classes 1-100 train, 101-200 test")
    ds.boxes, ds.parts, names = _cub_regions(root, ids)
    ds.regions = "box" if ds.boxes else ""
    ds.part_names = names if ds.parts else ()
    return ds


def open_cars196(argument: str | None) -> FileListDataset:
    """Cars196 from its folder holding ``cars_annos.mat`` and ``car_ims/``."""
    from scipy.io import loadmat  # reads MATLAB arrays only: no code runs from the file

    needs = ["cars_annos.mat", "car_ims"]
    root = _root("cars196", argument, "car_ims.tgz and cars_annos.mat (Stanford Cars)", needs)
    try:
        mat = loadmat(root / "cars_annos.mat", squeeze_me=True)
        annos = mat["annotations"]
        rel = [str(p) for p in annos["relative_im_path"]]
        labels = np.asarray(annos["class"], np.int64) - 1
        classes = [str(c) for c in mat["class_names"]]
        corners = np.stack([np.asarray(annos[f"bbox_{c}"], np.float64)
                            for c in ("x1", "y1", "x2", "y2")], axis=1).reshape(len(rel), 4)
    except (KeyError, ValueError, TypeError) as e:
        raise DatasetMissingError(f"cars196: {root / 'cars_annos.mat'} is not the Cars196 "
                                  f"annotation file ({type(e).__name__}: {e}).") from None
    _check_images("cars196", root, rel, "cars_annos.mat")
    ds = _dataset("cars196", argument, root, rel, labels, classes, _by_class(labels, 98),
                  _digest(root, needs[:1]), "Cars196: 196 car models; classes 1-98 train, "
                  "99-196 test")
    # MATLAB's boxes count pixels from 1 and include both corners
    ds.boxes = {i: (0, 0, x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1)
                for i, (x1, y1, x2, y2) in enumerate(corners) if x2 >= x1 and y2 >= y1}
    ds.regions = "box" if ds.boxes else ""
    return ds


def open_sop(argument: str | None) -> FileListDataset:
    """Stanford Online Products from its folder (``Stanford_Online_Products``)."""
    needs = ["Ebay_train.txt", "Ebay_test.txt"]
    root = _root("sop", argument, "Stanford_Online_Products.zip", needs)
    rows, splits = [], []
    for name, split in zip(needs, ("train", "test")):
        lines = _lines(root / name)
        if not lines or lines[0][:2] != ["image_id", "class_id"]:
            raise DatasetMissingError(f"sop: {root / name} does not start with the header "
                                      "'image_id class_id super_class_id path'.")
        rows += [(int(c), int(s), p) for _, c, s, p in lines[1:]]
        splits += [split] * (len(lines) - 1)
    rel = [p for _, _, p in rows]
    _check_images("sop", root, rel, "Ebay_train.txt/Ebay_test.txt")
    class_ids = np.array([c for c, _, _ in rows])
    super_of = {c: p.split("/")[0].removesuffix("_final") for c, _, p in rows}
    classes = [f"{super_of.get(c, '?')} {c}" for c in range(1, class_ids.max() + 1)]
    ds = _dataset("sop", argument, root, rel, class_ids - 1, classes, np.asarray(splits),
                  _digest(root, needs), "Stanford Online Products: 22,634 products of 12 "
                  "kinds; Ebay_train.txt / Ebay_test.txt")
    ds.recall_ks = LARGE_RECALL_KS
    ds.metadata = {"super_class": np.array([s for _, s, _ in rows], np.int64)}
    return ds


@hookimpl
def register_datasets(register):
    """Register ``cub200:<path>``, ``cars196:<path>`` and ``sop:<path>``."""
    register(DatasetEntry("cub200", "CUB-200-2011 birds: cub200:<path to CUB_200_2011>; "
                          "classes 1-100 train, 101-200 test", open_cub200, argument="path"))
    register(DatasetEntry("cars196", "Cars196: cars196:<folder with cars_annos.mat and "
                          "car_ims/>; classes 1-98 train, 99-196 test", open_cars196,
                          argument="path"))
    register(DatasetEntry("sop", "Stanford Online Products: sop:<path to "
                          "Stanford_Online_Products>; Ebay_train/Ebay_test", open_sop,
                          argument="path"))

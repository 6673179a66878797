"""A folder of the user's own images: one sub-folder per class, or flat (unlabelled).

``folder:<path>``. Optional split level: ``<path>/train/<class>/…`` and
``<path>/test/<class>/…`` (also ``val``/``valid``). An optional ``boxes.csv`` at its root
gives object boxes, an optional ``parts.csv`` part points
(:mod:`vizkit_plugins.folder_boxes`), which the findings jobs use. Every file is decoded
once when the folder is opened; files that cannot be read are left out and listed in
``skipped``. Any file name works, also one that is not valid UTF-8: it is read by its real
name and shown with the undecodable bytes escaped (``\\xe9``).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from vizkit_plugins.folder_boxes import read_boxes, read_parts

from vizkit import hookimpl
from vizkit.api.datasets import DatasetEntry, FileListDataset
from vizkit.errors import DatasetMissingError, ImageDecodeError
from vizkit.images import SUPPORTED_EXTENSIONS, decode_image, supported_types

SPLIT_NAMES = {"train": "train", "test": "test", "val": "val", "valid": "val"}
SCAN_SHORT_SIDE = 64  # enough to know a file decodes; JPEGs are read at 1/8 scale


def shown_name(name: str) -> str:
    """A file name as text that can be stored and printed: bytes that are not UTF-8 (kept
    by Python as surrogates) are escaped as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def open_folder(argument: str | None) -> FileListDataset:
    """Scan ``argument`` for images; raise :class:`DatasetMissingError` if it has none."""
    if not argument:
        raise DatasetMissingError("folder needs a path: folder:/path/to/images")
    root = Path(argument).expanduser()
    if not root.is_dir():
        raise DatasetMissingError(f"{root} is not a folder. Pass folder:<path to a folder of "
                                  "images, one sub-folder per class or flat>.")
    subdirs = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    split_level = bool(subdirs) and all(s.lower() in SPLIT_NAMES for s in subdirs)
    # every entry that is not a folder: files, and links or special files (refused when
    # decoded, so that they appear among the skipped with the reason)
    files = sorted(p for p in root.rglob("*") if not p.is_dir() and not p.name.startswith("."))
    entries, skipped = [], []  # entries: (path, class name or None, split)
    for p in files:
        parts = p.relative_to(root).parts
        if len(parts) == 1 and p.suffix.lower() not in SUPPORTED_EXTENSIONS:
            continue  # a README, boxes.csv or parts.csv beside the images: not an image
        split = "all"
        if split_level:
            if len(parts) == 1:
                skipped.append((shown_name(parts[0]), "lies outside the split folders ("
                                + ", ".join(subdirs) + ")"))
                continue
            split, parts = SPLIT_NAMES[parts[0].lower()], parts[1:]
        entries.append((p, shown_name(parts[0]) if len(parts) > 1 else None, split))
    classes = sorted({c for _, c, _ in entries if c is not None})
    paths, labels, splits, ids, stats = [], [], [], [], []
    digest = hashlib.sha256()
    for p, cls, split in entries:
        rel = shown_name(str(p.relative_to(root)))
        if p.suffix.lower() not in SUPPORTED_EXTENSIONS:
            skipped.append((rel, "not an image file type"))
            continue
        try:
            decode_image(p, short_side=SCAN_SHORT_SIDE)
            st = p.stat()
        except ImageDecodeError as e:
            skipped.append((rel, str(e)))
            continue
        except OSError as e:
            skipped.append((rel, f"cannot be read ({type(e).__name__})"))
            continue
        digest.update(os.fsencode(p.relative_to(root)) +
                      f"\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        paths.append(str(p))
        labels.append(classes.index(cls) if cls is not None else -1)
        splits.append(split)
        ids.append(rel)
        stats.append((st.st_size, st.st_mtime_ns))
    if not paths:
        raise DatasetMissingError(
            f"No readable images in {root} ({len(skipped)} files skipped). Supported: "
            f"{supported_types()}.")
    index_of = {rel: i for i, rel in enumerate(ids)}
    boxes, raw_boxes = read_boxes(root, index_of, paths)
    parts, part_names, raw_parts = read_parts(root, index_of, paths)
    digest.update(raw_boxes)  # other annotations, other results
    if raw_parts:
        digest.update(b"\0parts\0" + raw_parts)
    return FileListDataset(f"folder:{argument}", paths, np.asarray(labels, np.int64),
                           np.asarray(splits), ids, classes, digest.hexdigest()[:16], skipped,
                           f"Images from {shown_name(str(root))}", stats=stats, boxes=boxes,
                           parts=parts, part_names=part_names)


@hookimpl
def register_datasets(register):
    """Register ``folder:<path>``."""
    register(DatasetEntry("folder", "Your own images: folder:<path>, one sub-folder per class "
                          "or a flat folder.", open_folder, argument="path"))

"""Object boxes and part points of a ``folder:`` dataset: an optional ``boxes.csv`` at the
folder's root, columns ``path,x,y,w,h``, and an optional ``parts.csv``, columns
``path,part,x,y`` (``path`` relative to the folder; boxes and points in pixels of the
original image, x to the right and y down; a part a row does not give is not visible). Every
row is checked when the folder is opened: a malformed row, an image the folder does not
hold, or a box or point outside its image is one error naming the row."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from vizkit.errors import BadArgumentError
from vizkit.images import image_size

BOX_COLUMNS = ["path", "x", "y", "w", "h"]
PART_COLUMNS = ["path", "part", "x", "y"]
MAX_BYTES = 64 << 20  # an annotation file larger than this is not one
MAX_PART_NAMES = 256  # distinct part names in one parts.csv
TOLERANCE = 0.5  # px: a box or point may reach half a pixel beyond the border (rounding)


def _rows(file: Path, columns: list[str]) -> tuple[Iterator[tuple[int, list[str]]], bytes]:
    """The numbered data rows of a CSV annotation file after its header, and its bytes."""
    if file.stat().st_size > MAX_BYTES:
        raise BadArgumentError(f"{file} is larger than {MAX_BYTES >> 20} MB: not an "
                               "annotation file.")
    raw = file.read_bytes()
    try:
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as e:
        raise BadArgumentError(f"{file} is not a CSV file ({e}); give columns "
                               f"{','.join(columns)}.") from None
    if not rows or [c.strip().lower() for c in rows[0]] != columns:
        raise BadArgumentError(f"{file}: the first row must be the header "
                               f"{','.join(columns)}.")
    numbered = ((n, row) for n, row in enumerate(rows[1:], start=2) if any(c.strip() for c in row))
    return numbered, raw


class _Sizes:
    """Image sizes ``(width, height)`` as decoded, read from the files' headers, once each."""

    def __init__(self, paths: list[str]):
        self.paths, self.known = paths, {}

    def __call__(self, i: int) -> tuple[int, int]:
        if i not in self.known:
            height, width = image_size(self.paths[i])
            self.known[i] = (width, height)
        return self.known[i]


def _image_of(where: str, path: str, index_of: dict[str, int]) -> int:
    if path not in index_of:
        raise BadArgumentError(f"{where}: {path!r} is not an image of this folder "
                               "(paths are relative to the folder).")
    return index_of[path]


def read_boxes(root: Path, index_of: dict[str, int], paths: list[str]
               ) -> tuple[dict[int, tuple[int, int, float, float, float, float]], bytes]:
    """The boxes of ``root/boxes.csv`` by image index (with each image's width and height),
    and the file's bytes (for the dataset's fingerprint); ({}, b"") without the file.
    ``index_of`` maps a path relative to the folder to its image index."""
    file = root / "boxes.csv"
    if not file.is_file():
        return {}, b""
    rows, raw = _rows(file, BOX_COLUMNS)
    size = _Sizes(paths)
    boxes = {}
    for number, row in rows:
        where = f"{file} row {number}"
        try:
            path, x, y, w, h = row[0].strip(), *(float(v) for v in row[1:5])
            if len(row) != 5:
                raise ValueError
        except ValueError:
            raise BadArgumentError(f"{where}: give path,x,y,w,h with numbers for x, y, w, h "
                                   f"(got {','.join(row)[:80]!r}).") from None
        i = _image_of(where, path, index_of)
        width, height = size(i)
        if min(w, h) <= 0 or x < -TOLERANCE or y < -TOLERANCE or \
                x + w > width + TOLERANCE or y + h > height + TOLERANCE:
            raise BadArgumentError(f"{where}: the box x={x:g} y={y:g} w={w:g} h={h:g} is not "
                                   f"inside {path} ({width} x {height} px).")
        boxes[i] = (width, height, x, y, w, h)
    return boxes, raw


def read_parts(root: Path, index_of: dict[str, int], paths: list[str]
               ) -> tuple[dict[int, dict[str, tuple[float, float]]], tuple[str, ...], bytes]:
    """The part points of ``root/parts.csv`` by image index, the part names in the order the
    file first gives them, and the file's bytes; ({}, (), b"") without the file."""
    file = root / "parts.csv"
    if not file.is_file():
        return {}, (), b""
    rows, raw = _rows(file, PART_COLUMNS)
    size = _Sizes(paths)
    parts: dict[int, dict[str, tuple[float, float]]] = {}
    names: dict[str, None] = {}
    for number, row in rows:
        where = f"{file} row {number}"
        try:
            path, part, x, y = row[0].strip(), row[1].strip(), *(float(v) for v in row[2:4])
            if len(row) != 4 or not part:
                raise ValueError
        except (ValueError, IndexError):
            raise BadArgumentError(f"{where}: give path,part,x,y with a part name and numbers "
                                   f"for x, y (got {','.join(row)[:80]!r}).") from None
        i = _image_of(where, path, index_of)
        width, height = size(i)
        if not (-TOLERANCE <= x <= width + TOLERANCE and -TOLERANCE <= y <= height + TOLERANCE):
            raise BadArgumentError(f"{where}: the point x={x:g} y={y:g} is not inside {path} "
                                   f"({width} x {height} px).")
        if part not in names and len(names) >= MAX_PART_NAMES:
            raise BadArgumentError(f"{where}: more than {MAX_PART_NAMES} part names; is the "
                                   "part column a name?")
        names[part] = None
        parts.setdefault(i, {})[part] = (x, y)
    return parts, tuple(names), raw

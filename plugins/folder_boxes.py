"""Object boxes of a ``folder:`` dataset: an optional ``boxes.csv`` at the folder's root,
columns ``path,x,y,w,h`` (``path`` relative to the folder, the box in pixels of the original
image). Every row is checked when the folder is opened: a malformed row, an image the
folder does not hold, or a box outside its image is one error naming the row."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from PIL import Image

from vizkit.errors import BadArgumentError

COLUMNS = ["path", "x", "y", "w", "h"]
MAX_BYTES = 64 << 20  # a boxes.csv larger than this is not one
TOLERANCE = 0.5  # px: a box may reach half a pixel beyond the border (rounding)


def read_boxes(root: Path, index_of: dict[str, int], paths: list[str]
               ) -> tuple[dict[int, tuple[int, int, float, float, float, float]], bytes]:
    """The boxes of ``root/boxes.csv`` by image index (with each image's width and height),
    and the file's bytes (for the dataset's fingerprint); ({}, b"") without the file.
    ``index_of`` maps a path relative to the folder to its image index."""
    file = root / "boxes.csv"
    if not file.is_file():
        return {}, b""
    if file.stat().st_size > MAX_BYTES:
        raise BadArgumentError(f"{file} is larger than {MAX_BYTES >> 20} MB: not a boxes file.")
    raw = file.read_bytes()
    try:
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as e:
        raise BadArgumentError(f"{file} is not a CSV file ({e}); give columns "
                               f"{','.join(COLUMNS)}.") from None
    if not rows or [c.strip().lower() for c in rows[0]] != COLUMNS:
        raise BadArgumentError(f"{file}: the first row must be the header "
                               f"{','.join(COLUMNS)}.")
    boxes = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        where = f"{file} row {number}"
        try:
            path, x, y, w, h = row[0].strip(), *(float(v) for v in row[1:5])
            if len(row) != 5:
                raise ValueError
        except ValueError:
            raise BadArgumentError(f"{where}: give path,x,y,w,h with numbers for x, y, w, h "
                                   f"(got {','.join(row)[:80]!r}).") from None
        if path not in index_of:
            raise BadArgumentError(f"{where}: {path!r} is not an image of this folder "
                                   "(paths are relative to the folder).")
        i = index_of[path]
        with Image.open(paths[i]) as im:
            width, height = im.size
        if min(w, h) <= 0 or x < -TOLERANCE or y < -TOLERANCE or \
                x + w > width + TOLERANCE or y + h > height + TOLERANCE:
            raise BadArgumentError(f"{where}: the box x={x:g} y={y:g} w={w:g} h={h:g} is not "
                                   f"inside {path} ({width} x {height} px).")
        boxes[i] = (width, height, x, y, w, h)
    return boxes, raw

"""Turning files and uploads into RGB/L images safely, and images into thumbnails.

Every image is decoded here, whichever way it enters (a path, a folder, an upload, a dataset
plugin), within fixed bounds, whatever its file claims: only regular files, at most
:data:`MAX_BYTES` of file, :data:`MAX_PIXELS` pixels in its header (checked before any
pixel is decoded), an aspect ratio of at most :data:`MAX_ASPECT`, and it is reduced while
decoding (JPEG's DCT scaling, then PIL's box ``reduce``) so that its short side is at most
``short_side`` (default :data:`WORK_SHORT_SIDE`: more than any model input or drawing
needs). So memory per image is bounded by ``short_side² × MAX_ASPECT`` pixels after decoding,
not by the attacker's numbers.
"""
from __future__ import annotations

import io
import os
import stat
import warnings

import numpy as np
from PIL import Image, ImageOps

from vizkit.errors import ImageDecodeError

SUPPORTED_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
MAX_PIXELS = 64_000_000  # a 8000x8000 photo; larger is refused as a decompression bomb
MAX_BYTES = 50 * 1024 * 1024
MAX_ASPECT = 20  # long side / short side; a 1x60,000 strip is refused, not resized
WORK_SHORT_SIDE = 512  # decoded images are reduced to at most this short side by default
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


ORIENTATION_TAG = 0x0112  # EXIF


def supported_types() -> str:
    """The accepted file types, for messages: ``JPG, JPEG, PNG, ...``."""
    return ", ".join(x.lstrip(".").upper() for x in SUPPORTED_EXTENSIONS)


def decode_image(data: bytes | str | os.PathLike, *,
                 short_side: int | None = WORK_SHORT_SIDE) -> Image.Image:
    """Decode bytes (or a file path) into an 8-bit ``L`` or ``RGB`` PIL image.

    EXIF orientation is applied; palette, RGBA (composited on white), CMYK, 16-bit and
    float images are converted; an animated image gives its first frame. Images larger
    than ``short_side`` on their short side are reduced to about it (never below it) while
    decoding; ``None`` keeps the full size (still bounded by :data:`MAX_PIXELS`). Raises
    :class:`ImageDecodeError` with a plain message
    for anything that is not a readable image, is truncated, or exceeds the bounds; the
    message does not name the file (callers do).
    """
    if not isinstance(data, (bytes, bytearray)):
        data = read_image_file(data)
    if not data:
        raise ImageDecodeError("not a readable image: the file is empty.")
    if len(data) > MAX_BYTES:
        raise ImageDecodeError(_too_many_bytes(len(data)))
    source = io.BytesIO(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                _check_bounds(img)
                img = _reduced(img, short_side)
                img = ImageOps.exif_transpose(img)
                return to_8bit(img)
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageDecodeError(f"has more than the {MAX_PIXELS // 1_000_000} megapixels "
                               "allowed. Resize it and try again.") from None
    except Image.UnidentifiedImageError:
        raise ImageDecodeError(f"not a readable image (unrecognised format). Supported: "
                               f"{supported_types()}.") from None
    except Exception as e:  # PIL raises many types for bad data (OSError, SyntaxError, ...)
        raise ImageDecodeError(f"not a readable image ({type(e).__name__}: {e}). "
                               f"Supported: {supported_types()}.") from None


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` of an image file as :func:`decode_image` orients it (EXIF
    rotations by 90 degrees swap the two), from its header alone: the pixels boxes and part
    points are given in. Raises OSError for a file that is not an image."""
    with Image.open(path) as img:
        width, height = img.size
        if img.getexif().get(ORIENTATION_TAG) in (5, 6, 7, 8):
            width, height = height, width
    return height, width


def _too_many_bytes(size: int) -> str:
    return (f"the file is {size / 1e6:.1f} MB; the limit is {MAX_BYTES // 1024 // 1024} MB. "
            "Resize it and try again.")


def read_image_file(path: str | os.PathLike) -> bytes:
    """The bytes of the image file at ``path``, within :data:`MAX_BYTES`: only a regular
    file is read (a link is followed; a device such as ``/dev/zero``, a pipe, a folder or a
    link that leads nowhere is refused without blocking). Raises :class:`ImageDecodeError`
    saying why, without naming the file (callers do)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ImageDecodeError("the file does not exist (it may have been moved or deleted, "
                               "or it is a link that leads nowhere).") from None
    except IsADirectoryError:
        raise ImageDecodeError("is a folder, not an image file.") from None
    except OSError as e:
        raise ImageDecodeError(f"cannot be read ({e.strerror or e}).") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ImageDecodeError("is a folder, not an image file.")
        raise ImageDecodeError("is not a regular file (a device, a pipe or a socket); "
                               "vizkit reads only image files.")
    if st.st_size > MAX_BYTES:
        os.close(fd)
        raise ImageDecodeError(_too_many_bytes(st.st_size))
    with os.fdopen(fd, "rb") as fh:
        try:
            data = fh.read(MAX_BYTES + 1)
        except OSError as e:
            raise ImageDecodeError(f"cannot be read ({e.strerror or e}).") from None
    if len(data) > MAX_BYTES:  # it grew while being read
        raise ImageDecodeError(_too_many_bytes(len(data)))
    return data


def _check_bounds(img: Image.Image) -> None:
    """Refuse, from the header alone, images too large or too elongated to decode."""
    w, h = img.size
    if w < 1 or h < 1:
        raise ImageDecodeError(f"has no pixels ({w}x{h}).")
    if w * h > MAX_PIXELS:
        raise ImageDecodeError(f"{w}x{h} pixels is more than the {MAX_PIXELS // 1_000_000} "
                               "megapixels allowed. Resize it and try again.")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise ImageDecodeError(f"{w}x{h} pixels has an aspect ratio of "
                               f"{max(w, h) / min(w, h):,.0f}:1; vizkit takes up to "
                               f"{MAX_ASPECT}:1. Crop it and try again.")


def _reduced(img: Image.Image, short_side: int | None) -> Image.Image:
    """Load ``img`` at no more than about ``short_side`` on its short side (not below)."""
    if short_side and min(img.size) > 2 * short_side and img.format == "JPEG":
        scale = short_side / min(img.size)  # DCT scaling while decoding: never smaller
        img.draft(img.mode, (int(img.width * scale) + 1, int(img.height * scale) + 1))
    img.load()
    if not short_side or min(img.size) <= short_side:
        return img
    factor = min(img.size) // short_side
    if img.mode in ("1", "P"):
        img = to_8bit(img)
    if img.mode in _SIXTEEN_BIT:
        w, h = img.size
        return img.resize((max(1, w // factor), max(1, h // factor)), Image.Resampling.NEAREST)
    return img.reduce(factor) if factor > 1 else img


def to_8bit(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to ``L`` (grayscale) or ``RGB``."""
    if img.mode in ("L", "RGB"):
        return img
    if img.mode in (*_SIXTEEN_BIT, "I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(scaled.round().astype(np.uint8), "L")
    if img.mode in ("LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    if img.mode == "1":
        return img.convert("L")
    return img.convert("RGB")


def to_array(img: Image.Image) -> np.ndarray:
    """An ``L``/``RGB`` image as a uint8 array, ``[H, W]`` or ``[H, W, 3]``."""
    return np.asarray(to_8bit(img), dtype=np.uint8)


def thumbnail_png(image: np.ndarray | Image.Image, max_side: int = 64) -> bytes:
    """PNG bytes of the image shrunk to at most ``max_side`` pixels (never enlarged)."""
    img = Image.fromarray(image) if isinstance(image, np.ndarray) else to_8bit(image)
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


def png_bytes(image: np.ndarray) -> bytes:
    """Lossless PNG bytes of a uint8 ``[H, W]`` or ``[H, W, 3]`` image."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()

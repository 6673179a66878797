"""Turning files and uploads into RGB/L images safely, and images into thumbnails."""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

from vizkit.errors import ImageDecodeError

SUPPORTED_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
MAX_PIXELS = 64_000_000  # a 8000x8000 photo; larger is refused as a decompression bomb
MAX_BYTES = 50 * 1024 * 1024


def decode_image(data: bytes | str, *, name: str = "image") -> Image.Image:
    """Decode bytes (or a file path) into an 8-bit ``L`` or ``RGB`` PIL image.

    EXIF orientation is applied; palette, RGBA (composited on white), CMYK, 16-bit and
    float images are converted. Raises :class:`ImageDecodeError` with a plain message for
    anything that is not a readable image, is truncated, or is too large.
    """
    if isinstance(data, (bytes, bytearray)) and len(data) > MAX_BYTES:
        raise ImageDecodeError(f"{name}: the file is {len(data) / 1e6:.0f} MB; the limit is "
                               f"{MAX_BYTES // 1024 // 1024} MB. Resize it and try again.")
    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise ImageDecodeError(
                        f"{name}: {img.width}x{img.height} pixels is more than the "
                        f"{MAX_PIXELS // 1_000_000} megapixels allowed. Resize it and try again.")
                img.load()
                img = ImageOps.exif_transpose(img)
                return to_8bit(img)
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageDecodeError(f"{name}: refused as a decompression bomb ({e}).") from e
    except Exception as e:  # PIL raises many types for bad data (OSError, SyntaxError, ...)
        raise ImageDecodeError(
            f"{name}: not a readable image ({type(e).__name__}: {e}). Supported: "
            + ", ".join(x.lstrip(".").upper() for x in SUPPORTED_EXTENSIONS) + ".") from e


def to_8bit(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to ``L`` (grayscale) or ``RGB``."""
    if img.mode in ("L", "RGB"):
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
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

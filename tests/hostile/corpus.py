"""The bad-image corpus, generated in the test run: every kind of file a careless or hostile
user can hand vizkit, each with what vizkit must do with it ("decodes" within bounds, or
"refused" with a clear message)."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _png(img: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kwargs)
    return buf.getvalue()


def _jpeg(img: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kwargs)
    return buf.getvalue()


def png_bomb(side: int = 30_000) -> bytes:
    """A real decompression bomb: a ``side`` x ``side`` 1-bit PNG of zeros, about 100 kB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\0" * (1 + side // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row * 1000) for _ in range(side // 1000)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + \
        chunk(b"IEND", b"")


def photo(w: int, h: int, seed: int = 0) -> Image.Image:
    """A smooth colour picture (compresses like a photo)."""
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.002, 0.02, 2)
    rgb = np.stack([(128 + 120 * np.sin(x * a)), (128 + 120 * np.cos(y * b)),
                    (128 + 100 * np.sin((x + y) * a))], -1)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def corpus() -> dict[str, tuple[bytes, str]]:
    """File name -> (bytes, expected: "decodes" or "refused")."""
    good = _jpeg(photo(300, 200))
    rgba = Image.new("RGBA", (40, 30), (0, 0, 255, 0))
    cmyk = Image.new("CMYK", (50, 40), (0, 128, 255, 0))
    sixteen = Image.fromarray((np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20))
    frames = [Image.new("P", (32, 32), i) for i in range(5)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees
    return {
        "photo.jpg": (good, "decodes"),
        "truncated.jpg": (good[: len(good) // 3], "refused"),
        "renamed_png.jpg": (_png(photo(40, 30)), "decodes"),  # a PNG under a .jpg name
        "text.png": (b"this is not an image at all\n" * 3, "refused"),
        "empty.png": (b"", "refused"),
        "cmyk.jpg": (_jpeg(cmyk), "decodes"),
        "sixteen_bit.png": (_png(sixteen), "decodes"),
        "palette.png": (_png(Image.new("P", (20, 20), 7)), "decodes"),
        "rgba.png": (_png(rgba), "decodes"),
        "one_pixel.png": (_png(Image.new("RGB", (1, 1), (9, 9, 9))), "decodes"),
        "strip_1x60000.png": (_png(Image.new("L", (60_000, 1), 255)), "refused"),
        "animated.gif": (gif.getvalue(), "decodes"),
        "bomb_30000.png": (png_bomb(), "refused"),
        "exif_rotated.jpg": (_jpeg(photo(40, 20), exif=exif), "decodes"),
        "garbage_header.png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "refused"),
    }


NON_UTF8_NAME = b"caf\xe9-latin1.png"  # a Latin-1 file name: not valid UTF-8


def write_corpus(folder: Path) -> dict[str, str]:
    """Write the corpus into ``folder`` (plus an image with a non-UTF-8 name); return
    name -> expected outcome."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (data, outcome) in corpus().items():
        (folder / name).write_bytes(data)
        expected[name] = outcome
    with open(bytes(folder) + b"/" + NON_UTF8_NAME, "wb") as fh:
        fh.write(_png(photo(30, 30, seed=3)))
    expected["caf\\xe9-latin1.png"] = "decodes"
    return expected

"""Fashion-MNIST: 70,000 28x28 grayscale product photos in 10 classes.

Looked for, in order: ``$VIZKIT_FASHION_MNIST_DIR``, the Debian package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``), the user cache
(``$VIZKIT_CACHE/fashion-mnist``, default ``data/cache``). Where none has the files and
the network is there, the four IDX files are downloaded, their decompressed content
checked against known SHA-256 digests, and cached.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.request
from functools import lru_cache
from pathlib import Path

import numpy as np

from vizkit import hookimpl
from vizkit.api.datasets import ArrayDataset, DatasetEntry
from vizkit.errors import DatasetMissingError
from vizkit.paths import cache_dir

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# SHA-256 of the decompressed IDX files (independent of how they were gzipped).
FILES = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


def candidate_dirs() -> list[Path]:
    """Where the four files are looked for, in order."""
    dirs = [Path(os.environ["VIZKIT_FASHION_MNIST_DIR"])] \
        if os.environ.get("VIZKIT_FASHION_MNIST_DIR") else []
    return dirs + [SYSTEM_DIR, cache_dir() / "fashion-mnist"]


def find_or_download() -> Path:
    """The folder holding the four files; downloads them into the cache if needed."""
    for d in candidate_dirs():
        if all((d / f).is_file() for f in FILES):
            return d
    target = cache_dir() / "fashion-mnist"
    base = os.environ.get("VIZKIT_FASHION_MNIST_URL", DEFAULT_URL)
    try:
        download(base, target)
    except (urllib.error.URLError, OSError) as e:
        raise DatasetMissingError(
            "Fashion-MNIST is not on this machine and could not be downloaded "
            f"({type(e).__name__}: {e}). Either install the Debian package "
            "(`sudo apt-get install dataset-fashion-mnist`, files in "
            f"{SYSTEM_DIR}), or put the four IDX files ({', '.join(FILES)}) in "
            f"{target} or in a folder named by $VIZKIT_FASHION_MNIST_DIR.") from e
    return target


def download(base_url: str, target: Path) -> None:
    """Fetch the four files from ``base_url``, verify them, and move them into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name, digest in FILES.items():
        if (target / name).is_file():
            continue
        tmp = target / (name + ".part")
        with urllib.request.urlopen(base_url.rstrip("/") + "/" + name, timeout=30) as r:
            tmp.write_bytes(r.read())
        got = hashlib.sha256(gzip.decompress(tmp.read_bytes())).hexdigest()
        if got != digest:
            tmp.unlink()
            raise OSError(f"{name} failed its checksum (got {got[:12]}…, expected {digest[:12]}…)")
        tmp.replace(target / name)


def read_idx(path: Path, expected_sha256: str | None = None) -> np.ndarray:
    """Read a gzipped IDX file into a uint8 array, checking its content digest if given."""
    raw = gzip.decompress(path.read_bytes())
    if expected_sha256 and hashlib.sha256(raw).hexdigest() != expected_sha256:
        raise DatasetMissingError(
            f"{path} is corrupt (its checksum does not match). Delete it and run again.")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@lru_cache(maxsize=1)
def load(folder: str) -> ArrayDataset:
    """Fashion-MNIST as one dataset: the 60,000 train images, then the 10,000 test ones."""
    d = Path(folder)
    parts = {name: read_idx(d / name, digest) for name, digest in FILES.items()}
    images = np.concatenate([parts["train-images-idx3-ubyte.gz"],
                             parts["t10k-images-idx3-ubyte.gz"]])
    labels = np.concatenate([parts["train-labels-idx1-ubyte.gz"],
                             parts["t10k-labels-idx1-ubyte.gz"]]).astype(np.int64)
    n_train = len(parts["train-labels-idx1-ubyte.gz"])
    splits = np.array(["train"] * n_train + ["test"] * (len(labels) - n_train))
    ids = [f"train/{i:05d}" for i in range(n_train)] + \
          [f"test/{i:05d}" for i in range(len(labels) - n_train)]
    fingerprint = hashlib.sha256("".join(FILES.values()).encode()).hexdigest()[:16]
    return ArrayDataset("fashion-mnist", images, labels, splits, ids, CLASSES, fingerprint,
                        "Fashion-MNIST: 70,000 28x28 grayscale photos of 10 kinds of clothing.",
                        foreground=True)  # each garment on a black background


def open_fashion_mnist(argument: str | None = None) -> ArrayDataset:
    """Open Fashion-MNIST (see the module docstring for where it is looked for)."""
    return load(str(find_or_download()))


@hookimpl
def register_datasets(register):
    """Register ``fashion-mnist``."""
    register(DatasetEntry("fashion-mnist", "70,000 28x28 grayscale product photos, 10 classes "
                          "(train 60,000 / test 10,000).", open_fashion_mnist))

"""Feature extraction: every image of a dataset through a model, pooled features per layer.

The dataset is cut into parts of :data:`CHUNK` images; each part is extracted by
:func:`extract_part` and staged as ``staging/<key>/part-<start>.npz`` (written under a
temporary name, then renamed), so a killed job resumes with the parts it has. The local
engine extracts the missing parts in this process, preparing the next batch on a background
thread while the model computes the current one (or in ``workers`` processes, which decode
and preprocess in parallel: for image files beside a GPU); the Ray engine
(:mod:`vizkit.jobs.distributed`) hands them to workers that hold the model. Both run the same
code on the same batches, so they give bit-identical features.
"""
from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from vizkit.api.datasets import Dataset
from vizkit.jobs.keys import digest
from vizkit.jobs.loading import prepared_batches
from vizkit.progress import bar
from vizkit.runtime.loaded import LoadedModel

CHUNK = int(os.environ.get("VIZKIT_EXTRACT_CHUNK", "8192"))  # images per staged part


def staging_dir(store_path: Path, keys: list[str]) -> Path:
    """Where the parts of one extraction (identified by its result keys) are kept."""
    return store_path.parent / "staging" / ("x-" + digest({"keys": sorted(keys)}))


def parts_of(n: int) -> list[tuple[int, int]]:
    """The ``(start, stop)`` ranges of the parts of an ``n``-image dataset."""
    return [(start, min(start + CHUNK, n)) for start in range(0, n, CHUNK)]


def part_file(staging: Path, start: int) -> Path:
    return staging / f"part-{start:09d}.npz"


def missing_parts(staging: Path, n: int) -> list[tuple[int, int]]:
    """The parts not staged yet."""
    return [(a, b) for a, b in parts_of(n) if not part_file(staging, a).is_file()]


class _PartBatch:
    """Batch ``i`` of a part, preprocessed (picklable, for worker processes)."""

    def __init__(self, dataset: Dataset, model: LoadedModel, start: int, stop: int,
                 batch_size: int):
        self.dataset, self.preprocess = dataset, model.preprocess
        self.start, self.stop, self.batch_size = start, stop, batch_size

    def __call__(self, i: int) -> torch.Tensor:
        lo = self.start + i * self.batch_size
        idx = np.arange(lo, min(lo + self.batch_size, self.stop))
        return self.preprocess(self.dataset.batch_images(idx))


def _threaded(dataset: Dataset, model: LoadedModel, start: int, stop: int, batch_size: int,
              prefetch: ThreadPoolExecutor | None):
    """Preprocessed batches, the next one prepared on ``prefetch``'s thread meanwhile."""
    batches = dataset.iter_batches(batch_size, start, stop)

    def prepare():
        batch = next(batches, None)
        return None if batch is None else model.preprocess(batch.images)

    pending = prefetch.submit(prepare) if prefetch else None
    while (x := pending.result() if prefetch else prepare()) is not None:
        if prefetch:
            pending = prefetch.submit(prepare)
        yield x


def extract_part(dataset: Dataset, model: LoadedModel, layers: list[str], start: int,
                 stop: int, batch_size: int, prefetch: ThreadPoolExecutor | None = None,
                 on_batch: Callable[[int], None] | None = None, workers: int = 0) -> bytes:
    """The pooled features of images ``start``-``stop`` as the bytes of an ``.npz`` file
    (one array per layer); batches prepared by ``workers`` processes, or else beside the
    model on ``prefetch``'s thread."""
    if workers > 0:
        n = -(-(stop - start) // batch_size)
        batches = prepared_batches(_PartBatch(dataset, model, start, stop, batch_size), n,
                                   workers, model.device)
    else:
        batches = _threaded(dataset, model, start, stop, batch_size, prefetch)
    out: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    with torch.inference_mode():
        for x in batches:
            for layer, t in model.pooled_features(x, layers).items():
                out[layer].append(t.numpy())
            if on_batch:
                on_batch(len(x))
    buf = io.BytesIO()
    np.savez(buf, **{layer: np.concatenate(v) for layer, v in out.items()})
    return buf.getvalue()


def save_part(staging: Path, start: int, payload: bytes) -> None:
    """Stage a finished part atomically."""
    staging.mkdir(parents=True, exist_ok=True)
    tmp = staging / f".part-{start:09d}.{os.getpid()}.tmp"
    tmp.write_bytes(payload)
    os.replace(tmp, part_file(staging, start))


def load_parts(staging: Path, n: int, layers: list[str]) -> dict[str, np.ndarray]:
    """Every staged part, concatenated in order."""
    out: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    for start, _ in parts_of(n):
        with np.load(part_file(staging, start)) as z:
            for layer in layers:
                out[layer].append(z[layer])
    return {layer: np.concatenate(v) for layer, v in out.items()}


def extract_features(dataset: Dataset, model: LoadedModel, layers: list[str], staging: Path,
                     batch_size: int = 256, progress: bool = True,
                     workers: int = 0) -> dict[str, np.ndarray]:
    """Pooled features ``{layer: [n, dim] float32}`` of every image of ``dataset``,
    extracted in this process (resuming from the parts already staged), with ``workers``
    processes preparing batches."""
    n = len(dataset)
    todo = missing_parts(staging, n)
    done = n - sum(b - a for a, b in todo)
    with bar(total=n, desc=f"features {model.name} on {dataset.name}", unit="img",
             disable=not progress, initial=done) as b, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="vizkit-prep") as pool:
        for start, stop in todo:
            save_part(staging, start, extract_part(dataset, model, layers, start, stop,
                                                   batch_size, pool, b.update, workers))
    return load_parts(staging, n, layers)


def clear_staging(staging: Path) -> None:
    """Remove a finished extraction's parts."""
    shutil.rmtree(staging, ignore_errors=True)

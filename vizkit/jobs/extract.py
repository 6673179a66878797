"""Feature extraction: every image of a dataset through a model, pooled features per layer.

Resumable: finished chunks are written to ``staging/<key>/`` (atomically, by rename) and
reused when a killed job is run again. Decoding and preprocessing of the next batch run on
a background thread while the model computes the current one.
"""
from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from vizkit.api.datasets import Dataset
from vizkit.api.models import LoadedModel
from vizkit.jobs.keys import digest
from vizkit.progress import bar as tqdm

CHUNK = int(os.environ.get("VIZKIT_EXTRACT_CHUNK", "8192"))  # images per staged part


def staging_dir(store_path: Path, keys: list[str]) -> Path:
    """Where the parts of one extraction (identified by its result keys) are kept."""
    return store_path.parent / "staging" / ("x-" + digest({"keys": sorted(keys)}))


def extract_features(dataset: Dataset, model: LoadedModel, layers: list[str], staging: Path,
                     batch_size: int = 256, progress: bool = True) -> dict[str, np.ndarray]:
    """Pooled features ``{layer: [n, dim] float32}`` of every image of ``dataset``."""
    staging.mkdir(parents=True, exist_ok=True)
    n = len(dataset)
    starts = list(range(0, n, CHUNK))
    parts: dict[int, dict[str, np.ndarray]] = {}
    for start in starts:
        f = staging / f"part-{start:09d}.npz"
        if f.is_file():
            with np.load(f) as z:
                parts[start] = {layer: z[layer] for layer in layers}
    bar = tqdm(total=n, desc=f"features {model.name} on {dataset.name}", unit="img",
               disable=not progress, initial=sum(len(next(iter(p.values())))
                                                  for p in parts.values()))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vizkit-prep") as pool:
        for start in starts:
            if start in parts:
                continue
            chunk = _extract_range(dataset, model, layers, start, min(start + CHUNK, n),
                                   batch_size, pool, bar)
            tmp = staging / f".part-{start:09d}.tmp.npz"
            np.savez(tmp, **chunk)
            os.replace(tmp, staging / f"part-{start:09d}.npz")
            parts[start] = chunk
    bar.close()
    return {layer: np.concatenate([parts[s][layer] for s in starts]) for layer in layers}


def _extract_range(dataset, model, layers, start, stop, batch_size, pool, bar):
    batches = dataset.iter_batches(batch_size, start, stop)
    out: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}

    def prepare():
        batch = next(batches, None)
        return None if batch is None else model.preprocess(batch.images)

    pending = pool.submit(prepare)
    with torch.inference_mode():
        while (x := pending.result()) is not None:
            pending = pool.submit(prepare)
            for layer, t in model.pooled_features(x, layers).items():
                out[layer].append(t.numpy())
            bar.update(len(x))
    return {layer: np.concatenate(v) for layer, v in out.items()}


def clear_staging(staging: Path) -> None:
    """Remove a finished extraction's parts."""
    shutil.rmtree(staging, ignore_errors=True)

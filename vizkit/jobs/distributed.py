"""The Ray engine of feature extraction (``vizkit precompute --engine ray``).

The dataset's missing parts become a Ray Data dataset of ``(start, stop)`` items;
``map_batches`` sends them to a pool of actors, each of which loads the model once (a GPU
each when the cluster has them) and returns a part's features as the bytes of its ``.npz``
file. The driver stages each part as it arrives — so a job killed half-way resumes with what
it has, and a worker that dies has its part redone by another actor — and the store adopts
the features when every part is there, exactly as with the local engine (same code, same
batches: bit-identical features). Workers need vizkit and the data installed, not a shared
file system: results come back through Ray's object store.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vizkit.api.datasets import Dataset
from vizkit.errors import VizkitError
from vizkit.jobs.extract import load_parts, missing_parts, save_part
from vizkit.progress import bar
from vizkit.runtime.loaded import LoadedModel


def model_spec(model: LoadedModel, store_path: Path, weights_file: str | None) -> dict:
    """What a worker needs to load exactly ``model``: a checkpoint (with the store that
    records it) or a name with weights, at its input size, and the digest to check."""
    return {"name": model.name, "weights": weights_file or model.weights,
            "checkpoint": model.checkpoint, "store": str(store_path),
            "input_size": model.config.height, "weights_fp": model.weights_fingerprint,
            "amp": model.amp}


class PartExtractor:
    """A Ray actor: opens the dataset and loads the model once, then extracts parts."""

    def __init__(self, dataset: str, fingerprint: str, spec: dict, layers: list[str],
                 batch_size: int):
        from vizkit.registry import get_registry
        from vizkit.runtime.devices import resolve
        from vizkit.runtime.models import load_model
        from vizkit.store import Store

        self.dataset = get_registry().open_dataset(dataset)
        if self.dataset.fingerprint != fingerprint:
            raise VizkitError(f"{dataset} on this worker is not the driver's (fingerprint "
                              f"{self.dataset.fingerprint}, expected {fingerprint}).")
        self.model = load_model(None if spec["checkpoint"] else spec["name"], spec["weights"],
                                spec["checkpoint"], Store(spec["store"]), spec["input_size"])
        if self.model.weights_fingerprint != spec["weights_fp"]:
            raise VizkitError("The model on this worker has other weights than the driver's.")
        # auto: a GPU each where there are GPUs (Ray sets CUDA_VISIBLE_DEVICES per actor)
        self.model.to(resolve("auto"), spec.get("amp", False))
        self.layers, self.batch_size = layers, batch_size

    def __call__(self, batch: dict) -> dict:
        from vizkit.jobs.extract import extract_part

        payloads = [extract_part(self.dataset, self.model, self.layers, int(a), int(b),
                                 self.batch_size)
                    for a, b in zip(batch["start"], batch["stop"])]
        return {"start": batch["start"], "stop": batch["stop"],
                "payload": np.array(payloads, dtype=object)}


def extract_with_ray(dataset: Dataset, model: LoadedModel, layers: list[str], staging: Path,
                     batch_size: int = 256, *, spec: dict, workers: int = 2,
                     address: str | None = None, progress: bool = True
                     ) -> dict[str, np.ndarray]:
    """Pooled features of every image of ``dataset``, extracted by ``workers`` Ray actors
    (a local cluster, or the one at ``address``)."""
    try:
        import ray
    except ImportError:
        raise VizkitError("The Ray engine needs Ray: pip install 'cnn-vizkit[ray]'.") from None
    n = len(dataset)
    todo = missing_parts(staging, n)
    if todo:
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=address, num_cpus=None if address else workers,
                     include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                     runtime_env={"env_vars": _worker_env()})
        quiet_ray(ray)
        try:
            items = ray.data.from_items([{"start": a, "stop": b} for a, b in todo],
                                        override_num_blocks=len(todo))
            gpus = 1 if ray.cluster_resources().get("GPU", 0) >= workers else 0
            parts = items.map_batches(
                PartExtractor, batch_size=1, compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=1, num_gpus=gpus,
                fn_constructor_kwargs={"dataset": dataset.name, "spec": spec,
                                       "fingerprint": dataset.fingerprint, "layers": layers,
                                       "batch_size": batch_size})
            # Ray Data restarts a dead actor and retries its part (max_restarts=-1)
            with bar(total=n, initial=n - sum(b - a for a, b in todo), unit="img",
                     desc=f"features {model.name} on {dataset.name} ({workers} Ray workers)",
                     disable=not progress) as b:
                for row in parts.iter_rows():
                    save_part(staging, int(row["start"]), row["payload"])
                    b.update(int(row["stop"]) - int(row["start"]))
        finally:
            if started_here:
                ray.shutdown()
    return load_parts(staging, n, layers)


def quiet_ray(ray) -> None:
    """Ray Data's own progress lines would bury vizkit's bar: keep warnings only."""
    import logging

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def _worker_env() -> dict[str, str]:
    """Environment the workers need to find the same data as the driver."""
    keep = ("VIZKIT_DATA", "VIZKIT_CACHE", "VIZKIT_FASHION_MNIST_DIR", "VIZKIT_PLUGINS",
            "PYTHONPATH", "VIZKIT_EXTRACT_CHUNK")
    return {k: os.environ[k] for k in keep if k in os.environ}


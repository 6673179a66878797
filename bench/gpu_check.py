"""The check to run first whenever a GPU is lent: one JSON object on stdout, measured in one
run on the device in use (``auto``: the GPU when there is one, else the CPU, which it says).

- ``train``: vizkit's training loop (N x M-free cross-entropy batches of ``synthetic:N``,
  decoding, preprocessing, the device copy, bookkeeping) in images/s, ÷ the bare
  forward+backward+step of the same model on a batch already on the device (autocast with
  ``amp``, as the job);
- ``extract``: the extraction job (``extract_features``) ÷ the bare forward;
- ``channel_image``: seconds for one channel visualisation (torch-lucent) of the last stage;
- ``out_of_memory``: the precompute job with a batch that cannot fit — on CUDA the process's
  GPU memory capped with ``set_per_process_memory_fraction``, on the CPU an out-of-memory
  error raised for pieces above a bound (there is no memory cap to set) — halving its batch
  until it fits and finishing with the result keys and features of the uncapped run;
- ``ray``: the same extraction through the Ray engine with one actor (one GPU when there is
  one) ÷ the job in this process, and whether its features are identical.

On a GPU: ResNet-50 at 224 px with ``--amp`` (under 8 minutes on one H100). On the CPU the
sizes shrink to a ResNet-18 at 32 px and a few batches, so the same code paths run in a test.
Usage: bash bench/gpu_check.sh [--device auto] [--quick]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import bare_extraction, bare_training, job_training, sync  # noqa: E402

from vizkit.compute.channels import render_channel  # noqa: E402
from vizkit.jobs.distributed import extract_with_ray, model_spec  # noqa: E402
from vizkit.jobs.extract import extract_features  # noqa: E402
from vizkit.jobs.loading import default_workers  # noqa: E402
from vizkit.jobs.precompute import precompute  # noqa: E402
from vizkit.jobs.train import TrainConfig, _Trainer  # noqa: E402
from vizkit.registry import get_registry  # noqa: E402
from vizkit.runtime import devices  # noqa: E402
from vizkit.runtime.models import load_model  # noqa: E402
from vizkit.store import Store  # noqa: E402


@dataclass(frozen=True)
class Plan:
    """How big each measurement is on this device."""

    model: str
    size: int  # input px
    layer: str  # the stage a channel is rendered from
    batch: int
    batches: int  # training batches timed
    images: int  # synthetic:N, extracted whole
    steps: int  # optimisation steps of the channel image
    oom_batch: int  # a batch that does not fit under the cap
    oom_images: int
    amp: bool


GPU = Plan("resnet50", 224, "layer4", 64, 40, 8192, 256, 2048, 2048, True)
CPU = Plan("resnet18", 32, "layer4", 16, 3, 256, 8, 64, 96, False)


def measure_training(plan: Plan, device, workers: int, tmp: Path) -> dict:
    dataset = get_registry().open_dataset(f"synthetic:{plan.images}")
    config = TrainConfig(model=plan.model, dataset=dataset.name, epochs=1,
                         batch_size=plan.batch, batches_per_epoch=plan.batches,
                         input_size=plan.size, eval_images=64, anchors=8)
    trainer = _Trainer(Store(tmp / "train.duckdb"), dataset, config, "gpu-check", tmp / "ck",
                       False, device, plan.amp, workers)
    bare = bare_training(trainer, plan.batches)
    job = job_training(trainer)
    bare_again = bare_training(trainer, plan.batches)
    return {"job_img_s": round(job, 1), "bare_img_s": round((bare + bare_again) / 2, 1),
            "ratio": round(job / ((bare + bare_again) / 2), 3)}


def measure_extraction(plan: Plan, model, workers: int, tmp: Path) -> dict:
    dataset = get_registry().open_dataset(f"synthetic:{plan.images}")
    batches = max(2, plan.images // 256)
    bare = bare_extraction(model, dataset, min(256, plan.images), batches)
    t0 = time.perf_counter()
    extract_features(dataset, model, ["pre_logits"], tmp / "staging", 256, False, workers)
    sync(model.device)
    job = plan.images / (time.perf_counter() - t0)
    return {"job_img_s": round(job, 1), "bare_img_s": round(bare, 1),
            "ratio": round(job / bare, 3)}


def measure_channel_image(plan: Plan, model) -> dict:
    t0 = time.perf_counter()
    item = render_channel(model, plan.layer, 0, size=plan.size, steps=plan.steps)
    sync(model.device)
    return {"seconds": round(time.perf_counter() - t0, 2), "steps": plan.steps,
            "size": plan.size, "layer": plan.layer, "image_std": float(item.image.std())}


@contextlib.contextmanager
def capped(model, device, rows: int):
    """Out of memory for any piece above ``rows`` images: on CUDA the process's memory
    capped to about what ``rows`` need (a real allocation failure), on the CPU an
    OutOfMemoryError raised by a hook (the CPU has no cap to set)."""
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.empty_cache()
        # ResNet-50 at 224 px in inference: ~1.5 GB for 256 images; 512 MB of weights and
        # cache headroom. A 2,048-image batch needs several times the cap.
        torch.cuda.set_per_process_memory_fraction(min(1.0, 2.5e9 / total), device)
        try:
            yield "process GPU memory capped at 2.5 GB"
        finally:
            torch.cuda.set_per_process_memory_fraction(1.0, device)
            torch.cuda.empty_cache()
        return

    def refuse(_module, inputs):
        if len(inputs[0]) > rows:
            raise torch.OutOfMemoryError(f"forced: a piece of {len(inputs[0])} > {rows}")
    first = next(model.module.children())  # every path (logits, pre_logits, a stage) runs it
    hook = first.register_forward_pre_hook(refuse)
    try:
        yield f"out-of-memory raised above {rows} images (the CPU has no memory cap)"
    finally:
        hook.remove()


def measure_out_of_memory(plan: Plan, model, device, tmp: Path) -> dict:
    dataset = get_registry().open_dataset(f"synthetic:{plan.oom_images}")
    layers = ["pre_logits"]
    free = precompute(Store(tmp / "free.duckdb"), dataset, model, layers, [],
                      batch_size=plan.oom_batch, progress=False)
    said = io.StringIO()
    model.to(device, model.amp)  # a fresh halving runner: the cap is met from the full batch
    with capped(model, device, plan.oom_batch // 4) as how, contextlib.redirect_stderr(said):
        t0 = time.perf_counter()
        under_cap = precompute(Store(tmp / "capped.duckdb"), dataset, model, layers, [],
                               batch_size=plan.oom_batch, progress=False)
        seconds = time.perf_counter() - t0
    model.to(device, model.amp)
    a = Store(tmp / "free.duckdb").features(free[0]["result_key"])
    b = Store(tmp / "capped.duckdb").features(under_cap[0]["result_key"])
    halvings = [line for line in said.getvalue().splitlines() if "Out of memory" in line]
    return {"how": how, "batch": plan.oom_batch, "halvings": len(halvings),
            "said": halvings[:1], "seconds": round(seconds, 2),
            "same_result_keys": [r["result_key"] for r in free] ==
            [r["result_key"] for r in under_cap],
            "max_abs_difference": float(np.abs(np.asarray(a) - np.asarray(b)).max())}


def measure_ray(plan: Plan, model, workers: int, tmp: Path) -> dict:
    try:
        import ray  # noqa: F401
    except ImportError:
        return {"skipped": "Ray is not installed (pip install 'cnn-vizkit[ray]')"}
    dataset = get_registry().open_dataset(f"synthetic:{plan.images}")
    t0 = time.perf_counter()
    local = extract_features(dataset, model, ["pre_logits"], tmp / "local", 256, False, workers)
    local_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    remote = extract_with_ray(dataset, model, ["pre_logits"], tmp / "ray", 256,
                              spec=model_spec(model, tmp / "ray.duckdb", None), workers=1,
                              progress=False)
    ray_s = time.perf_counter() - t0
    return {"actor": "1 GPU" if model.device.type == "cuda" else "1 CPU",
            "ray_img_s": round(plan.images / ray_s, 1),
            "ratio_to_in_process": round(local_s / ray_s, 3),
            "identical": bool(np.array_equal(local["pre_logits"], remote["pre_logits"]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quick", action="store_true", help="the CPU sizes on any device")
    args = ap.parse_args()
    device = devices.resolve(args.device)
    plan = CPU if args.quick or device.type == "cpu" else GPU
    workers = default_workers(device)
    out: dict = {"device": str(device), "on_gpu": device.type == "cuda",
                 "plan": plan.__dict__, "workers": workers}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    else:
        out["note"] = "no GPU here: ran on the CPU at the CPU sizes (the code paths, not the " \
                      "speed of a GPU)"
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        out["train"] = measure_training(plan, device, workers, tmp)
        model = load_model(plan.model, "random", input_size=plan.size).to(device, plan.amp)
        out["extract"] = measure_extraction(plan, model, workers, tmp)
        out["channel_image"] = measure_channel_image(plan, model)
        out["out_of_memory"] = measure_out_of_memory(plan, model, device, tmp)
        out["ray"] = measure_ray(plan, model, workers, tmp)
    out["seconds"] = round(time.perf_counter() - t_all, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

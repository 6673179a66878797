"""Model explorer speed, in one run: seconds per channel image at 128 px for resnet18 on
CPU, the job's time per optimisation step ÷ a bare forward+backward of the model at that
size (the wrapper's and lucent's overhead: parameterisation, transforms, hooks), and the
top-activation pass's images per second ÷ a bare forward over the same images.
Usage: python bench/bench_explorer.py [--model resnet18] [--steps 64] [--size 128]
"""
import argparse
import time

import torch

from vizkit.compute.channels import render_channel, top_activations
from vizkit.registry import get_registry


def bare_step_seconds(model, size: int, steps: int) -> float:
    """A forward+backward to the input of one image at ``size`` (what each step needs)."""
    module = model.module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    x = torch.rand(1, model.config.channels, size, size, requires_grad=True)
    module(x).sum().backward()
    t0 = time.perf_counter()
    for _ in range(steps):
        module(x).sum().backward()
    for p in module.parameters():
        p.requires_grad_(True)
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--layer", default="layer3")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--images", type=int, default=2000)
    args = ap.parse_args()
    model = get_registry().load_model(args.model, "random")
    bare = bare_step_seconds(model, args.size, args.steps)
    item = render_channel(model, args.layer, 0, size=args.size, steps=args.steps)
    per_step = item.seconds / args.steps
    bare_after = bare_step_seconds(model, args.size, args.steps)
    bare = (bare + bare_after) / 2
    print(f"{args.model} {args.layer} @ {args.size}px: {item.seconds / args.steps * 256:.1f} s "
          f"per 256-step channel image; per step {per_step * 1000:.0f} ms vs bare fwd+bwd "
          f"{bare * 1000:.0f} ms -> ratio {per_step / bare:.2f}")
    ds = get_registry().open_dataset(f"fashion-mnist[test][:{args.images}]")
    small = get_registry().load_model(args.model, "random", input_size=64)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for batch in ds.iter_batches(256):
            small.module(small.preprocess(batch.images))
    bare_ips = len(ds) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    top_activations(small, ds, [args.layer], k=16, progress=False)
    job_ips = len(ds) / (time.perf_counter() - t0)
    print(f"top activations of {args.layer} over {len(ds):,} images at 64 px: "
          f"{job_ips:,.0f} img/s vs bare forward {bare_ips:,.0f} img/s -> ratio "
          f"{job_ips / bare_ips:.2f} (running top-k with maps, one pass)")


if __name__ == "__main__":
    main()

"""``vizkit dissect``: which concept each channel of a layer stands for, on the concepts a
dataset's object regions give (the object; each class's object)."""
from __future__ import annotations

import argparse
import json

from vizkit.api.commands import Command
from vizkit.cli import args as a


def cmd_dissect(args) -> int:
    from vizkit.compute.dissection import IOU_THRESHOLD, detector_counts
    from vizkit.jobs.dissect import check_dissectable, dissect

    store = a.store(args)
    dataset = a.dataset(args)
    check_dissectable(dataset)  # before a model is loaded or anything is written
    model = a.model(args, store)
    row = dissect(store, dataset, model, args.layer, args.quantile, args.sample,
                  progress=not args.quiet)
    params = json.loads(row["params"])
    summary = detector_counts(params["channels"], params["concepts"], args.iou)
    if args.json:
        print(json.dumps({"channels": params["channels"], "summary": summary}))
        return 0
    detectors = sum(summary.values())
    print(f"{args.layer} of {model.label} on {dataset.name}: {detectors} of "
          f"{len(params['channels'])} channels detect a concept (IoU > {args.iou:g}"
          + (", the paper's)" if args.iou == IOU_THRESHOLD else ")"))
    for concept, count in sorted(summary.items(), key=lambda c: -c[1]):
        if count:
            print(f"  {concept}: {count}")
    return 0


def _dissect_args(sp: argparse.ArgumentParser) -> None:
    a.add_device(sp)
    sp.add_argument("--dataset", required=True,
                    help="a dataset with object regions (fashion-mnist, digits, synthetic:N, "
                         "a folder with boxes.csv)")
    a.add_model_args(sp)
    sp.add_argument("--layer", required=True, help="a layer with spatial output")
    sp.add_argument("--quantile", type=a.real(0.5, 1.0, low_open=True), default=0.995,
                    help="each channel's activation quantile that bounds its region")
    sp.add_argument("--sample", type=a.integer(16, 1_000_000), default=2000,
                    help="images the thresholds are taken from")
    sp.add_argument("--iou", type=a.real(0.0, 1.0), default=0.04,
                    help="IoU above which a channel detects its concept")
    sp.add_argument("--json", action="store_true", help="print every channel as JSON")
    a.add_quiet(sp)


COMMANDS = [
    Command("dissect", "which concept each channel of a layer stands for (Network "
            "Dissection on the dataset's object regions)", _dissect_args, cmd_dissect),
]

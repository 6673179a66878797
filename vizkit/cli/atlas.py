"""``vizkit atlas``: every image of a dataset on one zoomable map (layout, points file and
tile pyramid), for the projection page's atlas view."""
from __future__ import annotations

import argparse
import json

from vizkit.api.commands import Command
from vizkit.cli import args as a

FIT = 100_000  # images umap-learn lays out in a few minutes on 2 cores


def cmd_atlas(args) -> int:
    from vizkit.jobs.atlas import build_atlas
    from vizkit.jobs.layouts import project_model

    store = a.store(args)
    dataset = a.dataset(args)
    model = a.model(args, store)
    model.layer(args.layer)
    rows = project_model(store, dataset, model, args.layer, args.method, args.seed,
                         args.clusters, progress=not args.quiet, fit=args.fit)
    clusters = store.per_image("clusters", rows["clusters"]["result_key"])["cluster"]
    predicted = store.per_image("predictions", rows["predictions"]["result_key"])["pred"] \
        if rows["predictions"] else None
    row = build_atlas(store, rows["projection"], rows["coords"], dataset.labels,
                      clusters.to_numpy(), None if predicted is None else predicted.to_numpy(),
                      engine=args.engine, progress=not args.quiet)
    levels = json.loads(row["params"])["levels"]
    print(f"atlas of {len(dataset):,} images ({args.method}, {levels} zoom levels) ready in "
          f"{store.path}")
    return 0


def _atlas_args(sp: argparse.ArgumentParser) -> None:
    a.add_device(sp)
    sp.add_argument("--dataset", required=True, help="e.g. fashion-mnist or folder:PATH")
    a.add_model_args(sp)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--method", default="umap", choices=["umap", "pca", "tsne"])
    sp.add_argument("--clusters", type=a.integer(2, 1000), default=10, help="k of k-means")
    sp.add_argument("--seed", type=a.integer(0), default=0)
    sp.add_argument("--fit", type=a.integer(10, 10_000_000), default=FIT,
                    help="lay out at most this many images (a seeded sample); place the rest "
                         f"among their nearest sampled images (default {FIT:,})")
    sp.add_argument("--engine", choices=["local", "ray"], default="local",
                    help="render the tiles here, or as Ray tasks")
    a.add_quiet(sp)


COMMANDS = [
    Command("atlas", "every image on one zoomable map: layout, points and a tile pyramid "
            "for the projection page", _atlas_args, cmd_atlas),
]

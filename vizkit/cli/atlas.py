"""``vizkit atlas``: every image of a dataset on one zoomable map (layout, points file and
tile pyramid), for the projection page's atlas view."""
from __future__ import annotations

import argparse
import json

from vizkit.api.commands import Command
from vizkit.cli import args as a
from vizkit.errors import BadArgumentError

FIT = 100_000  # images umap-learn lays out in a few minutes on 2 cores


def cmd_atlas(args) -> int:
    from vizkit.jobs.atlas import atlas_of_model, evolution_atlases

    store = a.store(args)
    if args.run:
        if args.model or args.checkpoint:
            raise BadArgumentError("give --run (every checkpoint of a run) or --model/"
                                   "--checkpoint (one model), not both.")
        from vizkit.runtime.models import resolve_checkpoint

        resolve_checkpoint(store, args.run)  # an unknown run is exit 2 before any work
        rows = evolution_atlases(store, a.dataset(args), args.run, args.layer, args.method,
                                 args.seed, args.clusters, args.engine,
                                 progress=not args.quiet)
        print(f"{len(rows)} atlases of run {args.run} (one frame per checkpoint) ready in "
              f"{store.path}")
        return 0
    dataset = a.dataset(args)
    model = a.model(args, store)
    model.layer(args.layer)
    row = atlas_of_model(store, dataset, model, args.layer, args.method, args.seed,
                         args.clusters, args.fit, args.engine, progress=not args.quiet)
    levels = json.loads(row["params"])["levels"]
    print(f"atlas of {len(dataset):,} images ({args.method}, {levels} zoom levels) ready in "
          f"{store.path}")
    return 0


def _atlas_args(sp: argparse.ArgumentParser) -> None:
    a.add_device(sp)
    sp.add_argument("--dataset", required=True, help="e.g. fashion-mnist or folder:PATH")
    a.add_model_args(sp)
    sp.add_argument("--run", help="an atlas per checkpoint of this training run, on its "
                    "aligned layouts (the training evolution page's frames)")
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

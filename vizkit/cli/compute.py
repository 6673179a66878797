"""``vizkit precompute``, ``maps``, ``project``, ``evolve`` and ``render``: jobs that
compute results and commit them to the store."""
from __future__ import annotations

import argparse
import sys

from vizkit.api.commands import Command
from vizkit.cli import args as a
from vizkit.errors import BadArgumentError

MAX_STEPS = 4096
MAX_CHANNELS = 4096
MAX_TOP_K = 256


def cmd_precompute(args) -> int:
    store = a.store(args)
    dataset = a.dataset(args, f"{args.dataset}[:{args.limit}]" if args.limit else None)
    if dataset.skipped:
        print(f"{len(dataset.skipped)} files skipped:", file=sys.stderr)
        for f, why in dataset.skipped:
            print(f"  {f}: {why}", file=sys.stderr)
    if args.models:  # --models a,b,c: the first is loaded here, the rest in turn
        if args.model or args.checkpoint:
            raise BadArgumentError("give --models or --model/--checkpoint, not both.")
        if args.channel_vis and len(args.models) > 1:
            raise BadArgumentError("--channel-vis renders one model's channels: give --model "
                                   "(or a single --models entry).")
        args.model, args.models = args.models[0], args.models[1:]
    model = a.model(args, store)
    if args.channel_vis:
        from vizkit.jobs.explore import explore

        if not args.layers:
            raise BadArgumentError("--channel-vis needs --layers (see `vizkit layers MODEL`).")
        layers = args.layers
        if layers == ["auto"]:  # the curated stages (channels of pooled features: none)
            layers = [n for n in model.curated_layers() if model.layer(n).spatial]
        counts = explore(store, dataset, model, layers, args.channels, args.steps,
                         args.size, args.objective, top_k=args.top_k, progress=not args.quiet)
        print("channel images: " + ", ".join(f"{layer} {n}" for layer, n in counts.items())
              + f"; top {args.top_k} images of every channel over {dataset.name}")
        return 0
    rows = _precompute_one(args, store, dataset, model)
    for name in args.models or []:  # the grid: each further model in one pass of its own
        args.model = name
        rows += _precompute_one(args, store, dataset, a.model(args, store))
    print(f"{len(rows)} results ready in {store.path}")
    return 0


def _precompute_one(args, store, dataset, model) -> list[dict]:
    """Features (all layers in one extraction pass), neighbours and, with ``--layouts``, a
    layout per layer of one model."""
    from vizkit.jobs.precompute import precompute

    if args.layers == ["auto"]:
        layers = model.curated_layers()
        print(f"{model.label}: layers {', '.join(layers)}", file=sys.stderr)
    else:
        layers = args.layers or model.default_layers()
    rows = precompute(store, dataset, model, layers, args.metrics, args.k, args.batch_size,
                      progress=not args.quiet, extract=_engine(args, store, model))
    if args.layouts:
        from vizkit.jobs.layouts import project_model

        for layer in layers:
            project_model(store, dataset, model, layer, args.layouts, progress=not args.quiet)
    return rows


def _engine(args, store, model):
    """The extraction engine the options ask for."""
    from functools import partial

    from vizkit.jobs.extract import extract_features

    if args.engine == "local":
        workers = args.data_workers
        if workers is None:
            from vizkit.jobs.loading import default_workers

            workers = default_workers(model.device)
        return partial(extract_features, workers=workers)
    from vizkit.jobs.distributed import extract_with_ray, model_spec

    weights_file = args.weights if args.weights not in ("pretrained", "random") else None
    return partial(extract_with_ray, spec=model_spec(model, store.path, weights_file),
                   workers=args.workers, address=args.address)


def cmd_maps(args) -> int:
    from vizkit.jobs.maps import precompute_maps

    store = a.store(args)
    dataset = a.dataset(args)
    model = a.model(args, store)
    row = precompute_maps(store, dataset, model, args.layer, args.metric, args.k, args.queries,
                          progress=not args.quiet)
    print(f"maps of {row['n']} queries x top-{row['k']} ready in {store.path}")
    return 0


def cmd_project(args) -> int:
    from vizkit.jobs.layouts import project_model

    store = a.store(args)
    dataset = a.dataset(args)
    model = a.model(args, store)
    model.layer(args.layer)
    rows = project_model(store, dataset, model, args.layer, args.method, args.seed,
                         args.clusters, progress=not args.quiet)
    print(f"{args.method} layout, {args.clusters} clusters"
          + (" and predictions" if rows["predictions"] else "") + f" of {len(dataset):,} "
          f"images ready in {store.path}")
    return 0


def cmd_evolve(args) -> int:
    from vizkit.jobs.layouts import evolve_run
    from vizkit.runtime.models import resolve_checkpoint

    store = a.store(args)
    resolve_checkpoint(store, args.run)  # an unknown run is exit 2 before any work
    dataset = a.dataset(args)
    rows = evolve_run(store, dataset, args.run, args.layer, args.method, args.seed,
                      args.clusters, independent=not args.aligned_only,
                      progress=not args.quiet, device=a.device(args), amp=args.amp)
    print(f"{len(rows)} layouts of run {args.run} ready in {store.path}")
    return 0


def cmd_render(args) -> int:
    from vizkit.jobs.explore import render_one

    store = a.store(args)
    model = a.model(args, store)
    item = render_one(store, model, args.layer, args.channel, args.steps, args.size,
                      args.objective, progress=not args.quiet)
    print(f"channel {item.channel} of {item.layer}: {item.steps} steps at {item.size} px in "
          f"{item.seconds:.1f} s, stored in {store.path}")
    return 0


def _channel_vis_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--steps", type=a.integer(1, MAX_STEPS), default=256,
                    help="optimisation steps per image")
    sp.add_argument("--size", type=a.integer(8, 512),
                    help="image size (default: the model's, at most 128)")
    sp.add_argument("--objective", default="channel", choices=["channel", "neuron",
                                                               "diversity"])


def _precompute_args(sp: argparse.ArgumentParser) -> None:
    a.add_device(sp)
    sp.add_argument("--dataset", required=True)
    a.add_model_args(sp)
    sp.add_argument("--models", type=a.names,
                    help="the grid: several models (comma-separated), each in one pass")
    sp.add_argument("--layers", type=a.names,
                    help="comma-separated, or auto: each of timm's feature stages and the "
                         "pooled features (default: last stage and pre_logits)")
    sp.add_argument("--layouts", choices=["umap", "pca", "tsne"],
                    help="also a 2-D layout (and clusters) of every layer")
    sp.add_argument("--metrics", type=a.optional_names, default=["cosine", "euclidean"],
                    help="comma-separated; '' for features only")
    sp.add_argument("--k", type=a.integer(1, a.MAX_K), default=50)
    sp.add_argument("--limit", type=a.integer(1), help="only the first N images")
    sp.add_argument("--batch-size", type=a.integer(1, 65_536), default=256)
    sp.add_argument("--engine", choices=["local", "ray"], default="local",
                    help="extract here, or on Ray workers (pip install 'cnn-vizkit[ray]')")
    sp.add_argument("--workers", type=a.integer(1, 10_000), default=2,
                    help="Ray actors holding the model (--engine ray)")
    sp.add_argument("--address", help="a Ray cluster to join (default: start a local one)")
    a.add_data_workers(sp)
    sp.add_argument("--channel-vis", action="store_true",
                    help="instead: optimised images of sampled channels of --layers (torch-"
                         "lucent) and the top images of every channel over the dataset")
    sp.add_argument("--channels", type=a.integer(1, MAX_CHANNELS), default=30,
                    help="channels sampled per layer")
    _channel_vis_args(sp)
    sp.add_argument("--top-k", type=a.integer(1, MAX_TOP_K), default=16,
                    help="top images kept per channel")
    a.add_quiet(sp)


def _maps_args(sp: argparse.ArgumentParser) -> None:
    a.add_device(sp)
    sp.add_argument("--dataset", required=True)
    a.add_model_args(sp)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--metric", default="cosine",
                    help="ranking metric (maps are of cosine unless it is cosine or dot)")
    sp.add_argument("--k", type=a.integer(1, 200), default=20)
    sp.add_argument("--queries", default="test",
                    help="a split name, all, first:N or SPLIT:N (its first N)")
    a.add_quiet(sp)


def _layout_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--method", default="umap", choices=["umap", "pca", "tsne"])
    sp.add_argument("--clusters", type=a.integer(2, 1000), default=10, help="k of k-means")
    sp.add_argument("--seed", type=a.integer(0), default=0)
    a.add_quiet(sp)


def _project_args(sp: argparse.ArgumentParser) -> None:
    a.add_device(sp)
    sp.add_argument("--dataset", required=True, help="e.g. fashion-mnist or fashion-mnist[test]")
    a.add_model_args(sp)
    sp.add_argument("--layer", required=True)
    _layout_args(sp)


def _evolve_args(sp: argparse.ArgumentParser) -> None:
    a.add_device(sp)
    sp.add_argument("--run", required=True)
    sp.add_argument("--dataset", required=True, help="e.g. fashion-mnist[test]")
    sp.add_argument("--layer", required=True)
    sp.add_argument("--aligned-only", action="store_true",
                    help="skip the independent layouts kept to measure what alignment buys")
    _layout_args(sp)


def _render_args(sp: argparse.ArgumentParser) -> None:
    a.add_device(sp)
    a.add_model_args(sp)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--channel", type=a.integer(0), required=True)
    _channel_vis_args(sp)
    a.add_quiet(sp)


COMMANDS = [
    Command("precompute", "features and top-k neighbours of every image (or, with "
            "--channel-vis, channel images)", _precompute_args, cmd_precompute),
    Command("maps", "precompute similarity maps of queries and their top-k", _maps_args,
            cmd_maps),
    Command("project", "2-D layout (umap/pca/tsne), k-means clusters and predictions of a "
            "layer", _project_args, cmd_project),
    Command("evolve", "layouts of every checkpoint of a run, aligned", _evolve_args,
            cmd_evolve),
    Command("render", "the optimised image of one channel (torch-lucent), stored for the "
            "model explorer", _render_args, cmd_render),
]

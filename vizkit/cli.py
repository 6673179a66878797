"""The ``vizkit`` command line: listings, jobs (precompute, train, demo) and search."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vizkit.errors import UnknownNameError, VizkitError


def _store(args):
    from vizkit.store import Store

    return Store(args.store)


def _model(args, store=None):
    from vizkit.checkpoints import load_model

    return load_model(args.model, args.weights, args.checkpoint, store or _store(args),
                      args.input_size)


def _dataset(args):
    from vizkit.registry import get_registry

    return get_registry().open_dataset(args.dataset)


def _print(obj, as_json: bool, text: str) -> None:
    print(json.dumps(obj, indent=2, default=str) if as_json else text)


def cmd_plugins(args) -> int:
    from vizkit.plugins import failures, get_plugins
    from vizkit.registry import get_registry

    reg = get_registry()
    plugins = get_plugins()
    for p in plugins:
        p["registers"] = {kind: sorted(n for n, owner in reg.owners[kind].items()
                                       if owner == p["name"]) for kind in reg.owners}
    fails = [f.__dict__ for f in failures()]
    lines = [f"{p['name']} ({p['distribution']} {p['version']}): " + "; ".join(
        f"{k}s: {', '.join(v)}" for k, v in p["registers"].items() if v) for p in plugins]
    lines += [f"FAILED {f['plugin']} at {f['stage']}: {f['error']}" for f in fails]
    _print({"plugins": plugins, "failures": fails}, args.json, "\n".join(lines))
    return 1 if fails else 0


def cmd_list(args) -> int:
    from vizkit.registry import get_registry

    reg = get_registry()
    if args.what == "datasets":
        rows = [{"name": n, "description": e.description, "plugin": reg.owners["dataset"][e.name]}
                for n, e in zip(reg.dataset_names(), reg.items["dataset"].values())]
    elif args.what == "models":
        rows = [{"provider": p.name, "description": p.description, "count": len(p.names())}
                for p in reg.items["model"].values()]
        if args.filter:
            import fnmatch

            rows = [{"name": n} for n in reg.model_names() if fnmatch.fnmatch(n, args.filter)]
    elif args.what == "metrics":
        rows = [{"name": m.name, "higher_is_more_similar": m.higher_is_more_similar,
                 "description": m.description} for m in reg.metrics()]
    elif args.what == "losses":
        rows = [{"name": n, "description": l.description}
                for n, l in reg.items["loss"].items()]
    else:
        rows = [{"name": v.name, "title": v.title, "precompute": v.precompute}
                for v in reg.visualizers()]
    text = "\n".join("  ".join(str(v) for v in r.values()) for r in rows)
    _print(rows, args.json, text)
    return 0


def cmd_layers(args) -> int:
    model = _model(args)
    rows = [{"name": i.name, "kind": i.kind, "shape": list(i.shape)} for i in model.layers()]
    text = "\n".join(f"{r['name']:<24} {r['kind']:<20} {tuple(r['shape'])}" for r in rows)
    _print(rows, args.json, text)
    return 0


def cmd_precompute(args) -> int:
    from vizkit.jobs.precompute import precompute
    from vizkit.registry import get_registry

    store = _store(args)
    name = f"{args.dataset}[:{args.limit}]" if args.limit else args.dataset
    dataset = get_registry().open_dataset(name)
    if dataset.skipped:
        print(f"{len(dataset.skipped)} files skipped:", file=sys.stderr)
        for f, why in dataset.skipped:
            print(f"  {f}: {why}", file=sys.stderr)
    model = _model(args, store)
    if args.channel_vis:
        from vizkit.jobs.explore import explore

        if not args.layers:
            raise VizkitError("--channel-vis needs --layers (see `vizkit layers MODEL`).")
        counts = explore(store, dataset, model, args.layers.split(","), args.channels,
                         args.steps, args.size, args.objective, top_k=args.top_k,
                         progress=not args.quiet)
        print("channel images: " + ", ".join(f"{layer} {n}" for layer, n in counts.items())
              + f"; top {args.top_k} images of every channel over {dataset.name}")
        return 0
    layers = args.layers.split(",") if args.layers else model.default_layers()
    rows = precompute(store, dataset, model, layers, args.metrics.split(","), args.k,
                      args.batch_size, progress=not args.quiet)
    print(f"{len(rows)} results ready in {store.path}")
    return 0


def cmd_maps(args) -> int:
    from vizkit.jobs.maps import precompute_maps

    store = _store(args)
    dataset = _dataset(args)
    model = _model(args, store)
    row = precompute_maps(store, dataset, model, args.layer, args.metric, args.k, args.queries,
                          progress=not args.quiet)
    print(f"maps of {row['n']} queries x top-{row['k']} ready in {store.path}")
    return 0


def cmd_project(args) -> int:
    from vizkit.jobs.layouts import project_model

    store = _store(args)
    dataset = _dataset(args)
    model = _model(args, store)
    model.layer(args.layer)
    rows = project_model(store, dataset, model, args.layer, args.method, args.seed,
                         args.clusters, progress=not args.quiet)
    print(f"{args.method} layout, {args.clusters} clusters"
          + (" and predictions" if rows["predictions"] else "") + f" of {len(dataset):,} "
          f"images ready in {store.path}")
    return 0


def cmd_evolve(args) -> int:
    from vizkit.jobs.layouts import evolve_run

    store = _store(args)
    dataset = _dataset(args)
    rows = evolve_run(store, dataset, args.run, args.layer, args.method, args.seed,
                      args.clusters, independent=not args.aligned_only,
                      progress=not args.quiet)
    print(f"{len(rows)} layouts of run {args.run} ready in {store.path}")
    return 0


def cmd_search(args) -> int:
    import numpy as np

    from vizkit.images import decode_image, to_array
    from vizkit.query import features_row, index_of, search_by_index, search_by_vector
    from vizkit.registry import get_registry

    store = _store(args)
    metric = get_registry().metric(args.metric)
    if args.image:
        model = _model(args, store)
        frow = features_row(store, args.dataset, model.name, args.layer,
                            weights_fp=model.weights_fingerprint)
        path = Path(args.image)
        if not path.is_file():
            raise VizkitError(f"{path} does not exist.")
        image = to_array(decode_image(path.read_bytes(), name=path.name))
        vec = model.embed_images([image], [args.layer])[args.layer][0]
        table = search_by_vector(store, frow, metric, vec, args.k)
    else:
        frow = _stored_features(store, args)
        table = search_by_index(store, frow, metric, index_of(store, frow["dataset_key"],
                                                               args.query_id), args.k)
    rows = [{"rank": int(r.rank), "id": r.id, "label": int(r.label), "score": float(r.score)}
            for r in table.itertuples()]
    text = "\n".join(f"{r['rank']:>3}  {r['id']:<24} {r['label']:>3}  {r['score']:.4f}"
                     for r in rows)
    _print(rows, args.json, text)
    return 0 if np.isfinite([r["score"] for r in rows]).all() else 1


def _stored_features(store, args) -> dict:
    """Features of the requested model without loading it, unless weights pin a file."""
    from vizkit.checkpoints import resolve_checkpoint
    from vizkit.query import features_row

    if args.checkpoint:
        row = resolve_checkpoint(store, args.checkpoint)
        return features_row(store, args.dataset, row["model"], args.layer,
                            weights_fp=row["weights_fp"])
    if args.weights in ("pretrained", "random"):
        return features_row(store, args.dataset, args.model, args.layer, weights=args.weights)
    model = _model(args, store)
    return features_row(store, args.dataset, model.name, args.layer,
                        weights_fp=model.weights_fingerprint)


def cmd_export(args) -> int:
    import numpy as np

    store = _store(args)
    frow = _stored_features(store, args)
    matrix = store.features(frow["result_key"])
    table = store.image_table(frow["dataset_key"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, matrix)
        table[["image_id", "label", "split"]].to_csv(out.with_suffix(".ids.csv"), index=False)
        print(f"wrote {out} {matrix.shape} and {out.with_suffix('.ids.csv')}")
    elif out.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        vec = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), matrix.shape[1])
        pq.write_table(pa.table({"id": table["image_id"], "label": table["label"],
                                 "split": table["split"], "feature": vec}), out)
        print(f"wrote {out} ({matrix.shape[0]} rows, {matrix.shape[1]} dims)")
    else:
        raise VizkitError(f"--out must end in .npy or .parquet, not {out.suffix or '(none)'}.")
    return 0


def _train_config(args, **override):
    from vizkit.jobs.train import TrainConfig

    fields = ("model", "dataset", "epochs", "loss", "embedding_dim", "batch_size",
              "classes_per_batch", "images_per_class", "batches_per_epoch", "optimizer", "lr",
              "schedule", "weight_decay", "seed", "input_size", "eval_images", "anchors")
    values = {f: getattr(args, f) for f in fields}
    values["normalize"] = {"yes": True, "no": False}.get(args.normalize)
    return TrainConfig(**{**values, **override})


def cmd_train(args) -> int:
    from vizkit.jobs.train import train
    from vizkit.registry import get_registry

    dataset = get_registry().open_dataset(args.dataset)
    history = train(_store(args), dataset, _train_config(args), args.run,
                    progress=not args.quiet)
    print(json.dumps(history, indent=2, default=str))
    return 0


def cmd_sweep(args) -> int:
    from vizkit.jobs.train import sweep_table, train
    from vizkit.registry import get_registry

    dataset = get_registry().open_dataset(args.dataset)
    lrs = [float(v) for v in args.lrs.split(",")] if args.lrs else [args.lr]
    losses = args.losses.split(",") if args.losses else [args.loss]
    for loss in losses:  # fail on an unknown name before any run starts
        get_registry().loss(loss)
    store, runs = _store(args), []
    for loss in losses:
        for lr in lrs:
            run = "-".join([args.prefix] + ([loss] if len(losses) > 1 else [])
                           + ([f"lr{lr:g}"] if len(lrs) > 1 else []))
            train(store, dataset, _train_config(args, loss=loss, lr=lr), run,
                  progress=not args.quiet)
            runs.append(run)
    table = sweep_table(store, runs)
    _print(table.to_dict("records"), args.json, table.to_string(index=False))
    return 0


def cmd_demo(args) -> int:
    from vizkit.jobs.demo import run_demo

    summary = run_demo(_store(args), epochs=args.epochs, progress=not args.quiet)
    recalls = ", ".join(f"{run} {h[-1]['test_recall_at_1']:.4f}"
                        for run, h in summary["histories"].items())
    print(f"demo ready: runs {', '.join(summary['runs'])} (test Recall@1 {recalls}), "
          f"{summary['results']} results. Now run: streamlit run streamlit_app.py")
    return 0


def cmd_status(args) -> int:
    store = _store(args)
    _print({"store": str(store.path), **store.summary()}, args.json,
           f"{store.path}: " + ", ".join(f"{k} {v}" for k, v in store.summary().items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vizkit", description=__doc__)
    p.add_argument("--store", help="store file (default $VIZKIT_STORE or data/vizkit.duckdb)")
    sub = p.add_subparsers(dest="command", required=True)

    def model_args(sp, required=True):
        sp.add_argument("--model", required=required, help="timm model name")
        sp.add_argument("--weights", default="pretrained",
                        help="pretrained (default), random, or a weights file")
        sp.add_argument("--checkpoint", help="a vizkit checkpoint: RUN or RUN:EPOCH")
        sp.add_argument("--input-size", type=int, help="override the model's input size")

    sp = sub.add_parser("plugins", help="installed plugins and what they register")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_plugins)
    sp = sub.add_parser("list", help="list datasets, models, metrics, losses or visualizers")
    sp.add_argument("what", choices=["datasets", "models", "metrics", "losses", "visualizers"])
    sp.add_argument("--filter", help="models: a glob such as 'resnet*'")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_list)
    sp = sub.add_parser("layers", help="a model's inspectable layers and output shapes")
    sp.add_argument("model")
    sp.add_argument("--weights", default="random")
    sp.add_argument("--checkpoint")
    sp.add_argument("--input-size", type=int)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_layers)
    sp = sub.add_parser("precompute", help="features and top-k neighbours of every image")
    sp.add_argument("--dataset", required=True)
    model_args(sp, required=False)
    sp.add_argument("--layers", help="comma-separated (default: last stage and pre_logits)")
    sp.add_argument("--metrics", default="cosine,euclidean")
    sp.add_argument("--k", type=int, default=50)
    sp.add_argument("--limit", type=int, help="only the first N images")
    sp.add_argument("--batch-size", type=int, default=256)
    sp.add_argument("--channel-vis", action="store_true",
                    help="instead: optimised images of sampled channels of --layers (torch-"
                         "lucent) and the top images of every channel over the dataset")
    sp.add_argument("--channels", type=int, default=30, help="channels sampled per layer")
    sp.add_argument("--steps", type=int, default=256, help="optimisation steps per image")
    sp.add_argument("--size", type=int, help="image size (default: the model's, at most 128)")
    sp.add_argument("--objective", default="channel", choices=["channel", "neuron",
                                                               "diversity"])
    sp.add_argument("--top-k", type=int, default=16, help="top images kept per channel")
    sp.add_argument("--quiet", action="store_true")
    sp.set_defaults(func=cmd_precompute)
    sp = sub.add_parser("maps", help="precompute similarity maps of queries and their top-k")
    sp.add_argument("--dataset", required=True)
    model_args(sp, required=False)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--metric", default="cosine",
                    help="ranking metric (maps are of cosine unless it is cosine or dot)")
    sp.add_argument("--k", type=int, default=20)
    sp.add_argument("--queries", default="test", help="a split name, all, or first:N")
    sp.add_argument("--quiet", action="store_true")
    sp.set_defaults(func=cmd_maps)
    sp = sub.add_parser("project", help="2-D layout (umap/pca/tsne), k-means clusters and "
                                        "predictions of a layer")
    sp.add_argument("--dataset", required=True, help="e.g. fashion-mnist or fashion-mnist[test]")
    model_args(sp, required=False)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--method", default="umap", choices=["umap", "pca", "tsne"])
    sp.add_argument("--clusters", type=int, default=10, help="k of k-means")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--quiet", action="store_true")
    sp.set_defaults(func=cmd_project)
    sp = sub.add_parser("evolve", help="layouts of every checkpoint of a run, aligned")
    sp.add_argument("--run", required=True)
    sp.add_argument("--dataset", required=True, help="e.g. fashion-mnist[test]")
    sp.add_argument("--layer", required=True)
    sp.add_argument("--method", default="umap", choices=["umap", "pca", "tsne"])
    sp.add_argument("--clusters", type=int, default=10)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--aligned-only", action="store_true",
                    help="skip the independent layouts kept to measure what alignment buys")
    sp.add_argument("--quiet", action="store_true")
    sp.set_defaults(func=cmd_evolve)
    sp = sub.add_parser("search", help="the k most similar images to a query")
    sp.add_argument("--dataset", required=True)
    model_args(sp, required=False)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--metric", default="cosine")
    q = sp.add_mutually_exclusive_group(required=True)
    q.add_argument("--query-id", help="an image id of the dataset (or its position)")
    q.add_argument("--image", help="an image file")
    sp.add_argument("--k", type=int, default=50)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_search)
    sp = sub.add_parser("export-features", help="write stored features to .npy or .parquet")
    sp.add_argument("--dataset", required=True)
    model_args(sp, required=False)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--out", required=True)
    sp.set_defaults(func=cmd_export)
    def train_args(sp):
        sp.add_argument("--dataset", required=True, help="a labelled dataset with train/test "
                                                          "splits, e.g. fashion-mnist")
        sp.add_argument("--model", default="vizkit_small_cnn", help="any timm model name")
        sp.add_argument("--loss", default="cross-entropy", help="see `vizkit list losses`")
        sp.add_argument("--embedding-dim", type=int, default=64,
                        help="embedding size for losses without a classifier")
        sp.add_argument("--normalize", choices=["yes", "no"],
                        help="L2-normalise the embedding before the loss (default: the "
                             "loss's choice)")
        sp.add_argument("--epochs", type=int, default=3)
        sp.add_argument("--batch-size", type=int, default=128,
                        help="batch size of random batches (cross-entropy, normalized-softmax)")
        sp.add_argument("--classes-per-batch", type=int,
                        help="N of N classes x M images batches (default 16 or the number "
                             "of classes, for losses that need positives)")
        sp.add_argument("--images-per-class", type=int, default=8, help="M")
        sp.add_argument("--batches-per-epoch", type=int,
                        help="default: the train images divided by the batch size")
        sp.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
        sp.add_argument("--lr", type=float, default=3e-3)
        sp.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
        sp.add_argument("--weight-decay", type=float, default=1e-4)
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--input-size", type=int)
        sp.add_argument("--eval-images", type=int, default=10_000,
                        help="images per evaluation set (test split, train sample); 0 = all")
        sp.add_argument("--anchors", type=int, default=1_000,
                        help="anchors per evaluation set followed by the triplet scatter")
        sp.add_argument("--quiet", action="store_true")

    sp = sub.add_parser("train", help="train with a loss plugin, a checkpoint and metrics per "
                                      "epoch (resumable)")
    train_args(sp)
    sp.add_argument("--run", required=True, help="a name for the run")
    sp.set_defaults(func=cmd_train)
    sp = sub.add_parser("sweep", help="the same run over several learning rates or losses")
    train_args(sp)
    sp.add_argument("--prefix", required=True, help="runs are named PREFIX-LOSS-lrLR")
    sp.add_argument("--lrs", help="comma-separated learning rates, e.g. 1e-4,4e-4,1.6e-3")
    sp.add_argument("--losses", help="comma-separated loss names, e.g. ep,epshn")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_sweep)
    sp = sub.add_parser("demo", help="prepare the embedded default (no network needed)")
    sp.add_argument("--epochs", type=int, default=3)
    sp.add_argument("--quiet", action="store_true")
    sp.set_defaults(func=cmd_demo)
    sp = sub.add_parser("status", help="what the store holds")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; exit 2 for unknown names (with suggestions), 1 for other errors."""
    args = build_parser().parse_args(argv)
    if args.command in ("precompute", "maps", "project", "search", "export-features") and not args.model \
            and not args.checkpoint:
        print("vizkit: give --model or --checkpoint", file=sys.stderr)
        return 2
    try:
        code = args.func(args)
    except UnknownNameError as e:
        print(f"vizkit: {e}", file=sys.stderr)
        return 2
    except VizkitError as e:
        print(f"vizkit: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vizkit: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130
    finally:
        _report_plugin_failures(args)
    return code


def _report_plugin_failures(args) -> None:
    from vizkit import plugins

    if args.command != "plugins" and plugins._pm is not None:
        for f in plugins.failures():
            print(f"vizkit: plugin {f.plugin} failed ({f.stage}): {f.error}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

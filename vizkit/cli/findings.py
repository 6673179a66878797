"""``vizkit findings object``: what a configuration's similarity maps attend to over a whole
dataset, as a number with its interval — optionally A against B on the same queries."""
from __future__ import annotations

import argparse
import json

from vizkit.api.commands import Command
from vizkit.cli import args as a
from vizkit.errors import BadArgumentError

B_OPTIONS = ("b_model", "b_weights", "b_checkpoint", "b_layer", "b_metric", "b_input_size")


def _configuration_b(args) -> argparse.Namespace:
    """B's options: A's, with what the --b-* options change (a model given for B replaces
    A's model, weights and checkpoint together)."""
    if not any(getattr(args, o) is not None for o in B_OPTIONS):
        raise BadArgumentError("--compare needs what B changes: --b-checkpoint, --b-model "
                               "(with --b-weights), --b-layer, --b-metric or --b-input-size.")
    b = argparse.Namespace(**vars(args))
    if args.b_model or args.b_checkpoint or args.b_weights:
        b.model, b.checkpoint = args.b_model, args.b_checkpoint
        b.weights = args.b_weights
        if not b.checkpoint and b.weights is None:
            b.weights = "pretrained"
        if not b.model and not b.checkpoint:
            b.model = args.model
    b.layer = args.b_layer or args.layer
    b.metric = args.b_metric or args.metric
    b.input_size = args.b_input_size or args.input_size
    a.check_model_options(b)
    return b


def cmd_findings(args) -> int:
    from vizkit.jobs.findings import check_regions, object_centricity
    from vizkit.read.catalog import Reader
    from vizkit.read.findings import compare, load

    store = a.store(args)
    dataset = a.dataset(args)
    check_regions(dataset)  # before a model is loaded or anything is written
    b = _configuration_b(args) if args.compare else None
    sides = [args] + ([b] if b else [])
    rows = []
    for side in sides:
        model = a.model(side, store)
        rows.append(object_centricity(store, dataset, model, side.layer, side.metric,
                                      args.queries, args.k, args.seed,
                                      progress=not args.quiet))
    reader = Reader(store.path)
    found = [load(reader, next(f for f in reader.catalog().findings
                               if f.result_key == row["result_key"])) for row in rows]
    keys = ("object_share", "area_share", "ci95", "n_queries", "per_class")
    out = {k: found[0].row.summary[k] for k in keys}
    if b:
        out["b"] = {k: found[1].row.summary[k] for k in keys}
        out.update(compare(found[0], found[1], args.seed))
    if args.json:
        print(json.dumps(out))
        return 0
    for name, f in zip("AB", found):
        s = f.row.summary
        print(f"{name} ({f.label}): {s['object_share']:.1%} [{s['ci95'][0]:.1%}, "
              f"{s['ci95'][1]:.1%}] of the maps' positive mass on the object; chance "
              f"{s['area_share']:.1%}; {s['n_queries']} queries x top-{args.k}")
    if b:
        lo, hi = out["diff_ci95"]
        print(f"A - B: {out['diff']:+.1%} [{lo:+.1%}, {hi:+.1%}] on {out['n_paired']} paired "
              "queries (seeded bootstrap, 95%)")
    return 0


def _findings_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("finding", choices=["object"],
                    help="object: the share of the similarity maps' positive mass on the "
                         "object, against chance")
    a.add_device(sp)
    sp.add_argument("--dataset", required=True,
                    help="a dataset with object regions (fashion-mnist, digits, "
                         "synthetic:N, a folder with boxes.csv)")
    a.add_model_args(sp)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--metric", default="cosine")
    sp.add_argument("--queries", type=a.integer(1, 100_000), default=500,
                    help="the first N labelled images (default 500)")
    sp.add_argument("--k", type=a.integer(1, 100), default=10, help="results per query")
    sp.add_argument("--seed", type=a.integer(0), default=0, help="of the bootstrap")
    sp.add_argument("--compare", action="store_true",
                    help="B on the same queries, and the paired difference A - B")
    sp.add_argument("--b-model")
    sp.add_argument("--b-weights")
    sp.add_argument("--b-checkpoint", type=a.checkpoint_spec)
    sp.add_argument("--b-layer")
    sp.add_argument("--b-metric")
    sp.add_argument("--b-input-size", type=a.integer(8, a.MAX_INPUT_SIZE))
    sp.add_argument("--json", action="store_true", help="print the numbers as JSON")
    a.add_quiet(sp)


COMMANDS = [
    Command("findings", "what similarity attends to over a dataset, with intervals "
            "(object: the share on the object vs chance; --compare A vs B)",
            _findings_args, cmd_findings),
]

"""``vizkit findings object|parts``: what a configuration's similarity maps attend to over a
whole dataset, as numbers with their intervals — optionally A against B on the same
queries."""
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
    from vizkit.jobs.findings import (
        check_parts,
        check_regions,
        object_centricity,
        part_attention,
    )
    from vizkit.read.catalog import Reader
    from vizkit.read.findings import load

    store = a.store(args)
    dataset = a.dataset(args)
    parts = args.finding == "parts"
    (check_parts if parts else check_regions)(dataset)  # before a model is loaded
    b = _configuration_b(args) if args.compare else None
    rows = []
    for side in [args] + ([b] if b else []):
        model = a.model(side, store)
        common = dict(metric=side.metric, queries=args.queries, k=args.k, seed=args.seed,
                      progress=not args.quiet)
        rows.append(part_attention(store, dataset, model, side.layer, radius=args.radius,
                                   **common) if parts else
                    object_centricity(store, dataset, model, side.layer, **common))
    reader = Reader(store.path)
    found = [load(reader, next(f for f in reader.catalog().findings
                               if f.result_key == row["result_key"])) for row in rows]
    out = (_parts_out if parts else _object_out)(found, args.seed)
    if args.json:
        print(json.dumps(out))
        return 0
    (_print_parts if parts else _print_object)(found, out, args.k)
    return 0


OBJECT_KEYS = ("object_share", "area_share", "ci95", "n_queries", "per_class")


def _object_out(found: list, seed: int) -> dict:
    from vizkit.read.findings import compare

    out = {k: found[0].row.summary[k] for k in OBJECT_KEYS}
    if len(found) > 1:
        out["b"] = {k: found[1].row.summary[k] for k in OBJECT_KEYS}
        out.update(compare(found[0], found[1], seed))
    return out


def _parts_out(found: list, seed: int) -> dict:
    from vizkit.read.findings import compare_parts

    keys = ("parts", "n_queries", "radius")
    out = {k: found[0].row.summary[k] for k in keys}
    if len(found) > 1:
        out["b"] = {k: found[1].row.summary[k] for k in keys}
        out["diff"] = compare_parts(found[0], found[1], seed)
    return out


def _print_object(found: list, out: dict, k: int) -> None:
    for name, f in zip("AB", found):
        s = f.row.summary
        print(f"{name} ({f.label}): {s['object_share']:.1%} [{s['ci95'][0]:.1%}, "
              f"{s['ci95'][1]:.1%}] of the maps' positive mass on the object; chance "
              f"{s['area_share']:.1%}; {s['n_queries']} queries x top-{k}")
    if len(found) > 1:
        lo, hi = out["diff_ci95"]
        print(f"A - B: {out['diff']:+.1%} [{lo:+.1%}, {hi:+.1%}] on {out['n_paired']} paired "
              "queries (seeded bootstrap, 95%)")


def _print_parts(found: list, out: dict, k: int) -> None:
    print(f"Positive map mean within {out['radius']:.3g} of the short side of each part ÷ "
          f"the map's mean (1 = chance), top-{k} results per query:")
    for name, f in zip("AB", found):
        print(f"{name} ({f.label}):")
        for part, s in f.row.summary["parts"].items():
            lo, hi = s["ci95"]
            print(f"  {part:<16} {s['ratio']:6.2f} [{lo:.2f}, {hi:.2f}]  {s['n']} queries")
    for part, d in out.get("diff", {}).items():
        lo, hi = d["diff_ci95"]
        print(f"A - B {part:<16} {d['diff']:+.2f} [{lo:+.2f}, {hi:+.2f}] on "
              f"{d['n_paired']} paired queries")


def _findings_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("finding", choices=["object", "parts"],
                    help="object: the share of the similarity maps' positive mass on the "
                         "object, against chance; parts: each named part's share of it "
                         "relative to the whole map (1 = chance)")
    a.add_device(sp)
    sp.add_argument("--dataset", required=True,
                    help="a dataset with object regions (fashion-mnist, digits, "
                         "synthetic:N, cub200, cars196, a folder with boxes.csv) or, for "
                         "parts, part points (cub200, synthetic:N, a folder with parts.csv)")
    a.add_model_args(sp)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--metric", default="cosine")
    sp.add_argument("--queries", type=a.integer(1, 100_000), default=500,
                    help="the first N labelled images (default 500)")
    sp.add_argument("--k", type=a.integer(1, 100), default=10, help="results per query")
    sp.add_argument("--seed", type=a.integer(0), default=0, help="of the bootstrap")
    sp.add_argument("--radius", type=a.real(0, 0.5, low_open=True), default=1 / 16,
                    help="parts: the disc around each part point, as a share of the "
                         "image's short side (default 1/16)")
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
            "(object: the share on the object vs chance; parts: each part vs chance; "
            "--compare A vs B)",
            _findings_args, cmd_findings),
]

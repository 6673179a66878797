"""``vizkit faithfulness``: deletion and insertion curves of every similarity explanation
that applies to a configuration — how far each kind of map can be trusted."""
from __future__ import annotations

import argparse
import json
import sys

from vizkit.api.commands import Command
from vizkit.cli import args as a


def cmd_faithfulness(args) -> int:
    from vizkit.jobs.faithfulness import chosen_explainers, faithfulness

    store = a.store(args)
    dataset = a.dataset(args)
    model = a.model(args, store)
    chosen_explainers(model, args.layer, args.metric, args.methods)  # before any work
    row = faithfulness(store, dataset, model, args.layer, args.metric, args.queries, args.k,
                       args.methods, args.steps, args.seed, progress=not args.quiet)
    params = json.loads(row["params"])
    if args.json:
        keys = ("deletion_auc", "insertion_auc", "ci95_deletion")
        print(json.dumps({"methods": {n: {k: m[k] for k in keys}
                                      for n, m in params["methods"].items()},
                          "pairs": params["pairs"]}))
        for name, why in params["skipped"].items():
            print(f"vizkit: {name} not applicable: {why}", file=sys.stderr)
        return 0
    print(f"{params['pairs']} pairs ({args.queries} queries x top-{args.k}), "
          f"{params['steps']} steps; areas normalised by the unperturbed score, with 95% "
          "seeded bootstrap intervals. Deletion: lower is more faithful; insertion: higher.")
    for name, m in params["methods"].items():
        lo, hi = m["ci95_deletion"]
        print(f"  {name:<18} deletion {m['deletion_auc']:.3f} [{lo:.3f}, {hi:.3f}]  "
              f"insertion {m['insertion_auc']:.3f}")
    for name, why in params["skipped"].items():
        print(f"  {name:<18} not applicable: {why}")
    return 0


def _faithfulness_args(sp: argparse.ArgumentParser) -> None:
    a.add_device(sp)
    sp.add_argument("--dataset", required=True)
    a.add_model_args(sp)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--metric", default="cosine", help="cosine or dot")
    sp.add_argument("--queries", type=a.integer(1, 10_000), default=50,
                    help="the first N labelled images (default 50)")
    sp.add_argument("--k", type=a.integer(1, 20), default=2, help="results per query")
    sp.add_argument("--steps", type=a.integer(2, 100), default=20,
                    help="deletion / insertion steps (default 20: 5%% of the pixels each)")
    sp.add_argument("--methods", type=a.names, default=None,
                    help="comma-separated explainers (default: every registered one)")
    sp.add_argument("--seed", type=a.integer(0), default=0, help="of the bootstrap")
    sp.add_argument("--json", action="store_true", help="print the numbers as JSON")
    a.add_quiet(sp)


COMMANDS = [
    Command("faithfulness", "deletion / insertion curves of each similarity explanation "
            "(the exact map, gradient x input, BiLRP, random): how far to trust a map",
            _faithfulness_args, cmd_faithfulness),
]

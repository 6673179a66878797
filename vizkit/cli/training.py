"""``vizkit train``, ``sweep`` and ``demo``: training runs with a checkpoint per epoch."""
from __future__ import annotations

import argparse
import json
import re

from vizkit.api.commands import Command
from vizkit.cli import args as a
from vizkit.cli.output import emit

SWEEP_COLUMNS = ["test_recall_at_1", "test_recall_at_8", "test_map_at_r", "test_nmi"]
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def run_name(text: str) -> str:
    """An argparse type: a run name that is also a safe folder name."""
    if not RUN_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit (it names the run's checkpoint folder)")
    return text


def _train_config(args, **override):
    from vizkit.jobs.train import TrainConfig

    fields = ("model", "dataset", "epochs", "loss", "embedding_dim", "batch_size",
              "classes_per_batch", "images_per_class", "batches_per_epoch", "optimizer", "lr",
              "schedule", "weight_decay", "seed", "input_size", "eval_images", "anchors",
              "weights", "init", "augment", "freeze_bn", "head_lr", "momentum")
    values = {f: getattr(args, f) for f in fields}
    values["normalize"] = {"yes": True, "no": False}.get(args.normalize)
    return TrainConfig(**{**values, **override})


def _run_options(args) -> dict:
    """Where and how a run computes (not part of its results): device, precision, workers."""
    return {"progress": not args.quiet, "device": a.device(args), "amp": args.amp,
            "workers": args.data_workers}


def cmd_train(args) -> int:
    from vizkit.jobs.train import train

    history = train(a.store(args), a.dataset(args), _train_config(args), args.run,
                    **_run_options(args))
    print(json.dumps(history, indent=2, default=str))
    return 0


def cmd_sweep(args) -> int:
    from vizkit.jobs.train import train
    from vizkit.read.catalog import Reader
    from vizkit.read.runs import sweep_table
    from vizkit.registry import get_registry

    dataset = a.dataset(args)
    lrs = args.lrs or [args.lr]
    losses = args.losses or [args.loss]
    for loss in losses:  # fail on an unknown name before any run starts
        get_registry().loss(loss)
    store, runs, options = a.store(args), [], _run_options(args)
    for loss in losses:
        for lr in lrs:
            run = "-".join([args.prefix] + ([loss] if len(losses) > 1 else [])
                           + ([f"lr{lr:g}"] if len(lrs) > 1 else []))
            train(store, dataset, _train_config(args, loss=loss, lr=lr), run, **options)
            runs.append(run)
    table = sweep_table(Reader(store), runs, SWEEP_COLUMNS)
    emit(table.to_dict("records"), args.json, table.to_string(index=False))
    return 0


def cmd_demo(args) -> int:
    import time

    from vizkit.jobs.demo import FULL, QUICK, run_demo

    t0 = time.perf_counter()
    summary = run_demo(a.store(args), QUICK if args.quick else FULL, progress=not args.quiet,
                       device=a.device(args), amp=args.amp)
    print(f"demo ready in {time.perf_counter() - t0:.0f} s: runs {', '.join(summary['runs'])}"
          f", {summary['results']} results; Recall@1 of {summary['checkpoint']} on the whole "
          f"test split (10,000 images, leave-one-out, cosine): "
          f"{summary['test_recall_at_1']:.4f}. Now run: streamlit run streamlit_app.py")
    return 0


REPRODUCE_OVERRIDES = ("epochs", "batches_per_epoch", "input_size", "weights", "eval_images",
                       "classes_per_batch", "images_per_class", "anchors", "model")


def cmd_reproduce(args) -> int:
    from vizkit.errors import BadArgumentError
    from vizkit.jobs.recipes import DATASET_NAMES, RECIPES, expected_line, recipe, reproduce

    if args.recipe == "list":
        rows = [{"recipe": r.name, "dataset": r.dataset, "what": r.title,
                 "published": ", ".join(f"{m} {v:.3f}" for m, v in r.expected.items())
                 or r.finding, "source": r.source} for r in RECIPES.values()]
        emit(rows, args.json, "\n".join(expected_line(r) for r in RECIPES.values()))
        return 0
    r = recipe(args.recipe)
    if not args.data:
        raise BadArgumentError(f"{r.name} trains on {DATASET_NAMES[r.dataset]}: give --data "
                               "PATH, the folder it was extracted to.")
    overrides = {k: getattr(args, k) for k in REPRODUCE_OVERRIDES
                 if getattr(args, k) is not None}
    print(expected_line(r), flush=True)
    if overrides:
        print("Changed from the published settings: " + ", ".join(
            f"{k}={v}" for k, v in overrides.items()) + "; the measured figure is not "
            "comparable to the published one.", flush=True)
    rows = reproduce(a.store(args), r, args.data, overrides, prefix=args.run,
                     **_run_options(args))
    if args.json:
        emit(rows, True, "")
        return 0
    for row in rows:
        measured = {k.removeprefix("measured "): v for k, v in row.items()
                    if k.startswith("measured ")}
        published = {k.removeprefix("published "): v for k, v in row.items()
                     if k.startswith("published ")}
        print(f"{row['run']} (epoch {row['epoch']}): " + "; ".join(
            f"{m}: published {published[m]:.3f}, measured {v:.3f}" if m in published else
            f"{m}: measured {v:.3f}" for m, v in measured.items()))
    if r.finding:
        print(f"Published finding: {r.finding}. The Training page charts each loss against "
              "the learning rate.")
    return 0


def _reproduce_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("recipe", help="a recipe name, or 'list'")
    sp.add_argument("--data", help="the benchmark's folder (e.g. ~/CUB_200_2011)")
    sp.add_argument("--run", type=run_name, help="run name (prefix), default: the recipe's")
    sp.add_argument("--model", help="another backbone (changes the published setting)")
    sp.add_argument("--weights", help="random or a weights file instead of pretrained")
    sp.add_argument("--epochs", type=a.integer(0, 10_000))
    sp.add_argument("--batches-per-epoch", type=a.integer(1))
    sp.add_argument("--classes-per-batch", type=a.integer(2, 65_536))
    sp.add_argument("--images-per-class", type=a.integer(2, 65_536))
    sp.add_argument("--eval-images", type=a.integer(0))
    sp.add_argument("--anchors", type=a.integer(0))
    a.add_input_size(sp)
    a.add_device(sp)
    a.add_data_workers(sp)
    sp.add_argument("--json", action="store_true")
    a.add_quiet(sp)


def _learning_rates(text: str) -> list[float]:
    parse = a.real(0, 10, low_open=True)
    return [parse(v) for v in a.names(text)]


def _train_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--dataset", required=True, help="a labelled dataset with train/test "
                                                      "splits, e.g. fashion-mnist")
    sp.add_argument("--model", help="any timm model name (default: the --init run's model, "
                                    "else vizkit_small_cnn)")
    sp.set_defaults(model_default="vizkit_small_cnn")
    a.add_weights(sp, "random", "starting weights: random (default), pretrained, or a "
                                "weights file")
    sp.add_argument("--init", metavar="RUN[:EPOCH]", type=a.checkpoint_spec,
                    help="start from a vizkit checkpoint instead (its last epoch by default)")
    sp.add_argument("--loss", default="cross-entropy", help="see `vizkit list losses`")
    sp.add_argument("--embedding-dim", type=a.integer(1, 65_536), default=64,
                    help="embedding size for losses without a classifier")
    sp.add_argument("--normalize", choices=["yes", "no"],
                    help="L2-normalise the embedding before the loss (default: the loss's "
                         "choice)")
    sp.add_argument("--epochs", type=a.integer(0, 10_000), default=3)
    sp.add_argument("--batch-size", type=a.integer(1, 65_536), default=128,
                    help="batch size of random batches (cross-entropy, normalized-softmax)")
    sp.add_argument("--classes-per-batch", type=a.integer(2, 65_536),
                    help="N of N classes x M images batches (default 16 or the number of "
                         "classes, for losses that need positives)")
    sp.add_argument("--images-per-class", type=a.integer(2, 65_536), default=8, help="M")
    sp.add_argument("--batches-per-epoch", type=a.integer(1),
                    help="default: the train images divided by the batch size")
    sp.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
    sp.add_argument("--lr", type=a.real(0, 10, low_open=True), default=3e-3)
    sp.add_argument("--schedule", default="cosine", choices=["cosine", "constant", "step"],
                    help="step: x0.1 at half and three quarters of the run")
    sp.add_argument("--momentum", type=a.real(0, 1), default=0.9, help="SGD momentum")
    sp.add_argument("--head-lr", type=a.real(0, 10, low_open=True),
                    help="learning rate of the new head (default: --lr)")
    sp.add_argument("--weight-decay", type=a.real(0, 10), default=1e-4)
    sp.add_argument("--seed", type=a.integer(0), default=0)
    sp.add_argument("--augment", default="none", choices=["standard", "crop", "none"],
                    help="standard: random resized crop + flip; crop: resize to 1.1x, random "
                         "crop + flip (the EPSHN code's); none: resize + centre crop")
    sp.add_argument("--freeze-bn", action="store_true",
                    help="keep batch-norm statistics as they start (fine-tuning)")
    a.add_input_size(sp)
    a.add_device(sp)
    a.add_data_workers(sp)
    sp.add_argument("--eval-images", type=a.integer(0), default=10_000,
                    help="images per evaluation set (test split, train sample); 0 = all")
    sp.add_argument("--anchors", type=a.integer(0), default=1_000,
                    help="anchors per evaluation set followed by the triplet scatter")
    a.add_quiet(sp)


def _run_args(sp: argparse.ArgumentParser) -> None:
    _train_args(sp)
    sp.add_argument("--run", required=True, type=run_name, help="a name for the run")


def _sweep_args(sp: argparse.ArgumentParser) -> None:
    _train_args(sp)
    sp.add_argument("--prefix", required=True, type=run_name,
                    help="runs are named PREFIX-LOSS-lrLR")
    sp.add_argument("--lrs", type=_learning_rates,
                    help="comma-separated learning rates, e.g. 1e-4,4e-4,1.6e-3")
    sp.add_argument("--losses", type=a.names, help="comma-separated loss names, e.g. ep,epshn")
    sp.add_argument("--json", action="store_true")


def _demo_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--quick", action="store_true",
                    help="the reduced demo a hosted app builds on its first start (about a "
                         "third of the work; lower Recall@1)")
    a.add_device(sp)
    a.add_quiet(sp)


COMMANDS = [
    Command("train", "train with a loss plugin, a checkpoint and metrics per epoch "
            "(resumable)", _run_args, cmd_train),
    Command("sweep", "the same run over several learning rates or losses", _sweep_args,
            cmd_sweep),
    Command("demo", "prepare the embedded default (no network needed)", _demo_args, cmd_demo),
    Command("reproduce", "train a published setting (EPSHN on CUB/Cars/SOP, N-pairs, the "
            "learning-rate sweep) and print the published figure beside the measured one",
            _reproduce_args, cmd_reproduce),
]

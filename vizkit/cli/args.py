"""The CLI's one argument-validation layer: typed, ranged options (argparse turns a bad
value into exit 2 with the valid range), the options several commands share, and the
dataset/model/store each command opens from them."""
from __future__ import annotations

import argparse
import math

from vizkit.errors import BadArgumentError
from vizkit.identity import CheckpointId

MAX_INPUT_SIZE = 2048  # px; a model input beyond this is surely a typo
MAX_K = 10_000  # neighbours per query


def integer(low: int, high: int | None = None, what: str = "a whole number"):
    """An argparse type: an integer in ``[low, high]``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < low or (high is not None and value > high):
            valid = f"from {low:,} to {high:,}" if high is not None else f"at least {low:,}"
            raise argparse.ArgumentTypeError(f"{value:,} is out of range: use {valid}")
        return value
    parse.__name__ = "integer"
    return parse


def real(low: float, high: float | None = None, low_open: bool = False):
    """An argparse type: a finite float in ``[low, high]`` (``(low, high]`` if open)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or (high is not None and value > high):
            bound = f"{'above' if low_open else 'at least'} {low:g}"
            if high is not None:
                bound += f" and at most {high:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: use a number {bound}")
        return value
    parse.__name__ = "number"
    return parse


def names(text: str) -> list[str]:
    """An argparse type: a comma-separated list of names (empty items dropped)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("give at least one name (comma-separated)")
    return items


def optional_names(text: str) -> list[str]:
    """Like :func:`names`, but an empty list is allowed (``--metrics ''``: none)."""
    return [t.strip() for t in text.split(",") if t.strip()]


def checkpoint_spec(text: str) -> str:
    """An argparse type: ``RUN`` or ``RUN:EPOCH`` (whether it exists is checked against the
    store by :func:`check_model_options`)."""
    try:
        return CheckpointId.parse(text).label
    except ValueError as e:
        if CheckpointId.run_of(text) and not text.endswith(":"):
            return text  # an epoch that is not a number: the store check lists the real ones
        raise argparse.ArgumentTypeError(str(e)) from None


def add_weights(sp: argparse.ArgumentParser, default: str, help: str) -> None:
    """``--weights``; its default is filled in by :func:`check_model_options`, so that a
    ``--weights`` given beside a checkpoint is refused rather than ignored."""
    sp.add_argument("--weights", help=help)
    sp.set_defaults(weights_default=default)


def add_model_args(sp: argparse.ArgumentParser, required: bool = False) -> None:
    """``--model``, ``--weights``, ``--checkpoint``, ``--input-size``."""
    sp.add_argument("--model", required=required, help="timm model name")
    add_weights(sp, "pretrained", "pretrained (default), random, or a weights file")
    sp.add_argument("--checkpoint", type=checkpoint_spec,
                    help="a vizkit checkpoint: RUN or RUN:EPOCH")
    add_input_size(sp)


def check_model_options(args) -> None:
    """Before a command does any work: a checkpoint (``--checkpoint``, ``--init``) must be in
    the store, be of the model named beside it, and not come with ``--weights`` too; then
    ``--weights`` gets its default. Raises :class:`BadArgumentError` (exit 2)."""
    given = getattr(args, "weights", None)
    for option in ("checkpoint", "init"):
        spec = getattr(args, option, None)
        if not spec:
            continue
        if given is not None:
            raise BadArgumentError(f"--weights {given} and --{option} {spec} both name the "
                                   f"weights: give one.")
        from vizkit.runtime.models import resolve_checkpoint

        row = resolve_checkpoint(store(args), spec)
        name = getattr(args, "model", None) or getattr(args, "model_name", None)
        if name and name != row["model"]:
            raise BadArgumentError(f"--{option} {spec} is a checkpoint of {row['model']}, not "
                                   f"{name}: leave out the model, or name {row['model']}.")
        if option == "init" and not name:
            args.model = row["model"]
    if hasattr(args, "weights_default") and given is None:
        args.weights = args.weights_default
    if hasattr(args, "model_default") and not args.model:
        args.model = args.model_default


def add_input_size(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--input-size", type=integer(8, MAX_INPUT_SIZE),
                    help="override the model's input size (px)")


def device_spec(text: str) -> str:
    """An argparse type: a device form (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``);
    exit 2 listing them otherwise. Whether this machine has it is checked when used."""
    from vizkit.errors import BadArgumentError

    try:
        from vizkit.runtime.devices import check_spec

        return check_spec(text)
    except BadArgumentError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("Unknown device ")) from None


def add_device(sp: argparse.ArgumentParser) -> None:
    """``--device`` and ``--amp``, for every command that runs a model."""
    sp.add_argument("--device", type=device_spec, default="auto",
                    help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    sp.add_argument("--amp", action="store_true",
                    help="mixed precision (bf16, or fp16 where the GPU lacks bf16) on CUDA")


def add_data_workers(sp: argparse.ArgumentParser) -> None:
    """``--data-workers``: processes that decode and augment images beside the model."""
    sp.add_argument("--data-workers", type=integer(0, 256),
                    help="processes that decode/augment images (default: none on the CPU, "
                         "up to 8 beside a GPU)")


def device(args, what: str = ""):
    """The torch device ``--device`` names, announced as the job's first line (stderr)."""
    from vizkit.runtime.devices import announce, resolve

    dev = resolve(getattr(args, "device", "cpu") or "cpu")
    announce(dev, getattr(args, "amp", False), what)
    return dev


def add_quiet(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--quiet", action="store_true", help="no progress bars")


def store(args):
    """The store named by ``--store`` (default ``$VIZKIT_STORE`` or ``data/vizkit.duckdb``)."""
    from vizkit.store import Store

    return Store(args.store)


def dataset(args, name: str | None = None):
    """Open a dataset by name (``args.dataset`` by default); remembered so that the
    command can report files that became unreadable while it ran."""
    from vizkit.registry import get_registry

    ds = get_registry().open_dataset(name or args.dataset)
    args.opened_datasets = getattr(args, "opened_datasets", []) + [ds]
    return ds


def model(args, store_=None, input_size: int | None = None):
    """Load the model the options name (``--model``/``--weights`` or ``--checkpoint``)."""
    from vizkit.runtime.models import load_model

    if not args.model and not args.checkpoint:
        raise BadArgumentError("give --model or --checkpoint.")
    loaded = load_model(args.model, args.weights, args.checkpoint, store_ or store(args),
                        input_size or args.input_size)
    if hasattr(args, "device"):
        loaded.to(device(args), args.amp)
    return loaded

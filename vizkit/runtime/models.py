"""Loading the models that stored results name: a timm name with pretrained, random or
file weights, or a vizkit checkpoint (``run`` or ``run:epoch``) found through the store.

A checkpoint's file is recorded with its SHA-256, relative to the store's folder (so a store
and its checkpoints move together). It is verified before it is loaded: a changed file is
refused, never served under the old name; and it is read as tensors only
(:func:`vizkit.compute.weights.load_weights`). Checkpoints are written by
:mod:`vizkit.jobs.checkpoints`.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from vizkit.errors import UnknownNameError, VizkitError
from vizkit.identity import CheckpointId
from vizkit.registry import get_registry
from vizkit.store import Store
from vizkit.store.bundle import bundle_info

if TYPE_CHECKING:
    from vizkit.runtime.loaded import LoadedModel


def read_verified(path: Path, sha256: str | None, label: str) -> dict:
    """The saved dict of a checkpoint file after checking it still has the recorded digest."""
    from vizkit.compute.weights import load_weights
    from vizkit.files import sha256_file

    if not path.is_file():
        raise VizkitError(f"The file of checkpoint {label} ({path}) is gone. Re-run the "
                          "training job that made it, or move the store together with its "
                          "checkpoints folder.")
    if sha256:
        actual = sha256_file(path)
        if actual != sha256:
            raise VizkitError(
                f"Checkpoint {label}: {path} has changed since it was written (SHA-256 "
                f"{actual[:16]}…, recorded {sha256[:16]}…). vizkit does not load a changed "
                "checkpoint under its old name: restore the file, or train a new run.")
    return load_weights(path)


def resolve_checkpoint(store: Store, spec: str) -> dict:
    """The store's row for ``run`` (its last epoch) or ``run:epoch``, with the run's model
    and the checkpoint file's location (``file``)."""
    try:
        wanted = CheckpointId.parse(spec)
    except ValueError:  # "run:abc": no such epoch; the error below lists the run's epochs
        wanted = CheckpointId(CheckpointId.run_of(spec), -1)
    run = wanted.run
    runs = store.runs() if store.ready() else None
    if runs is None or run not in set(runs["run"]):
        raise UnknownNameError("run", run, [] if runs is None else runs["run"],
                               "Train one with `vizkit train` or `vizkit demo`.")
    ckpts = store.checkpoints(run)
    if wanted.epoch is not None:
        rows = ckpts[ckpts["epoch"] == wanted.epoch]
        if rows.empty:
            raise UnknownNameError("checkpoint", spec, [CheckpointId(run, int(e)).label
                                                        for e in ckpts["epoch"]])
    else:
        rows = ckpts.tail(1)
    row = rows.iloc[0].to_dict()
    info = runs[runs["run"] == run].iloc[0].to_dict()
    row.update(model=info["model"], label=CheckpointId(run, int(row["epoch"])).label,
               file=store.file(row["path"]))
    return row


def _check_bundle_has_checkpoints(store: Store, label: str) -> None:
    info = bundle_info(store.path) if store.bundle else None
    if info is not None and not info.get("checkpoints", True):
        raise VizkitError(f"{store.bundle} was bundled without checkpoints, so checkpoint "
                          f"{label} cannot be loaded here: searches by upload, on-demand "
                          "similarity maps and channel rendering need it. Everything "
                          "precomputed still works; for the rest, use a bundle made without "
                          "--no-checkpoints.")


def load_model(name: str | None, weights: str = "pretrained", checkpoint: str | None = None,
               store: Store | None = None, input_size: int | None = None) -> LoadedModel:
    """Load a model by name, with ``weights`` = pretrained / random / a file path, or a
    vizkit ``checkpoint`` (``run`` or ``run:epoch``, whose run names the model)."""
    registry = get_registry()
    if not checkpoint:
        if weights not in ("pretrained", "random"):
            return registry.load_model(name, weights="file", weights_file=weights,
                                       input_size=input_size)
        return registry.load_model(name, weights=weights, input_size=input_size)
    store = store or Store()
    row = resolve_checkpoint(store, checkpoint)
    if name and name != row["model"]:
        raise VizkitError(f"Checkpoint {checkpoint} is of model {row['model']}, not {name}.")
    return load_checkpoint(row["model"], row["label"], row["file"], row["sha256"], store,
                           input_size)


def load_checkpoint(model: str, label: str, file: Path, sha256: str, store: Store,
                    input_size: int | None = None) -> LoadedModel:
    """Load checkpoint ``label`` of a run of ``model`` from its ``file``, verified against
    its recorded ``sha256`` (what a catalog row already holds: no store query)."""
    _check_bundle_has_checkpoints(store, label)
    saved = read_verified(file, sha256, label)
    return get_registry().load_model(model, weights="file", checkpoint=label,
                                     input_size=input_size,
                                     model_kwargs=saved["model_kwargs"], weights_file=None,
                                     state_dict=saved["state_dict"])


MODEL_BUDGET_BYTES = 512 << 20  # parameters kept loaded for visitors, across sessions
_shared: OrderedDict[tuple, LoadedModel] = OrderedDict()
_shared_lock = threading.Lock()


def _weights_bytes(model: LoadedModel) -> int:
    return sum(t.numel() * t.element_size() for t in model.module.state_dict().values())


def shared_model(key: tuple, make) -> LoadedModel:
    """The model ``key`` names (what makes it: name or checkpoint, weights, input size),
    loaded once per process and shared by every reader and session; the least recently used
    models are evicted while the loaded ones exceed :data:`MODEL_BUDGET_BYTES` (the newest
    always stays). ``make()`` loads it, outside the lock."""
    with _shared_lock:
        if key in _shared:
            _shared.move_to_end(key)
            return _shared[key]
    model = make()
    with _shared_lock:
        model = _shared.setdefault(key, model)
        _shared.move_to_end(key)
        while len(_shared) > 1 and sum(map(_weights_bytes, _shared.values())) > \
                MODEL_BUDGET_BYTES:
            _shared.popitem(last=False)
    return model


def model_for(reader, frow) -> LoadedModel:
    """The model that made the features ``frow`` (its weights, at its input size), to
    embed outside images the same way; shared by the process (:func:`shared_model`)."""
    if frow.weights == "file" and not frow.checkpoint:
        raise VizkitError(f"{frow.label} was made with a weights file that the store does not "
                          "keep; uploads and maps need that model. Use the CLI with "
                          "--weights FILE.")

    if frow.checkpoint:
        model = shared_model((str(reader.path), frow.checkpoint, frow.input_size),
                             lambda: _checkpoint_in_catalog(reader, frow))
    else:
        model = shared_model((frow.model, frow.weights, frow.input_size),
                             lambda: load_model(frow.model, frow.weights,
                                                input_size=frow.input_size))
    if model.weights_fingerprint != frow.weights_fp:
        raise VizkitError(f"The weights of {frow.label} are not those its features were "
                          "computed with (the model changed since); re-run the precompute "
                          "job.")
    return model


def _checkpoint_in_catalog(reader, frow) -> LoadedModel:
    """The checkpoint ``frow`` was made with, found in the catalog ``reader`` holds (its
    file, digest and run's model: no store query); through the store for a label the
    catalog does not list."""
    cat = reader.catalog()
    ident = CheckpointId.parse(frow.checkpoint)
    row, run = cat.checkpoints.get((ident.run, ident.epoch)), cat.runs.get(ident.run)
    if row is None or run is None:
        return load_model(None, checkpoint=frow.checkpoint, store=reader.store,
                          input_size=frow.input_size)
    return load_checkpoint(run.model, row.label, Path(row.file), row.sha256, reader.store,
                           frow.input_size)

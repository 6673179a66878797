"""Where a training run starts: random weights, the model's pretrained weights, a weights
file, or another run's checkpoint (``--init``), loaded into the new model tensor by tensor;
only its head may be left as made (a head of another size)."""
from __future__ import annotations

from vizkit.errors import VizkitError
from vizkit.registry import get_registry
from vizkit.runtime.loaded import LoadedModel
from vizkit.runtime.models import read_verified, resolve_checkpoint
from vizkit.store import Store


def initial_state(config, store: Store) -> tuple[dict | None, str]:
    """The state dict a run of ``config`` (a TrainConfig) starts from (None: random) and
    how to name it."""
    if config.init:
        row = resolve_checkpoint(store, config.init)
        return read_verified(row["file"], row["sha256"], row["label"])["state_dict"], \
            f"checkpoint {row['label']}"
    if config.weights == "random":
        return None, f"random weights (seed {config.seed})"
    if config.weights == "pretrained":
        return get_registry().load_model(config.model, "pretrained").module.state_dict(), \
            f"the pretrained weights of {config.model}"
    from vizkit.compute.weights import load_weights, state_dict_of

    return state_dict_of(load_weights(config.weights)), f"the weights in {config.weights}"


def initialise(model: LoadedModel, head: str, config, store: Store) -> str:
    """Load the starting weights of ``config`` into ``model``: every tensor of the same name
    and shape; only the ``head`` module may be left as made. Returns what the run started
    from; a start that does not fit the model is a clear error."""
    state, label = initial_state(config, store)
    if state is None:
        return label
    own = model.module.state_dict()
    fits = {k: v for k, v in state.items() if k in own and tuple(v.shape) ==
            tuple(own[k].shape)}
    missing = [k for k in own if k not in fits]
    not_head = [k for k in missing if not in_module(k, head)]
    if not fits or not_head:
        raise VizkitError(f"{label} does not fit {config.model}: "
                          f"{len(not_head) or len(own)} of its tensors are missing or of "
                          f"another shape (first: {(not_head or list(own))[0]}).")
    model.module.load_state_dict(fits, strict=False)
    return label + (f"; its head ({head}) made anew" if missing else "")


def head_name(model: LoadedModel) -> str:
    """The module a run makes anew for its outputs (timm's ``classifier``: ``fc``,
    ``head.fc``, ...)."""
    name = (getattr(model.module, "pretrained_cfg", None) or {}).get("classifier") or ""
    return name[0] if isinstance(name, (list, tuple)) else name


def in_module(param: str, module: str) -> bool:
    """Whether parameter ``param`` belongs to ``module`` (by its dotted name)."""
    return bool(module) and (param == module or param.startswith(module + "."))

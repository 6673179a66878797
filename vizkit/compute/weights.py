"""Reading weights files without running code from them, and their digests.

Every weights file and checkpoint vizkit opens goes through :func:`load_weights`: tensors and
plain containers only (``torch.load(weights_only=True)``, or safetensors), with one clear
message when a file asks for more — vizkit never falls back to unpickling arbitrary objects.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import torch

from vizkit.errors import WeightsUnavailableError

NOT_PLAIN = ("{path} is not a plain weights file: it asks to build Python objects other "
             "than tensors, numbers and containers. vizkit does not execute code from "
             "checkpoints or weights files; save the model's state_dict with torch.save "
             "(or as .safetensors) and use that file.")


def load_weights(path: str | Path) -> dict:
    """The dict of tensors (and plain values) saved in ``path`` — ``torch.save`` or
    ``.safetensors`` — on the CPU. Raises :class:`WeightsUnavailableError` saying what is
    wrong for a missing file, a pickle that asks to run code, or unreadable bytes."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(f"Weights file {path} does not exist.")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
            raise WeightsUnavailableError(f"{path} is not a readable safetensors file "
                                          f"({type(e).__name__}).") from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise WeightsUnavailableError(NOT_PLAIN.format(path=path)) from None
    except Exception as e:  # noqa: BLE001 - zip errors, truncation, EOF...
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise WeightsUnavailableError(f"{path} is not a readable weights file ({first}).") \
            from None
    if not isinstance(loaded, dict):
        raise WeightsUnavailableError(f"{path} holds a {type(loaded).__name__}, not a dict of "
                                      "tensors (a state_dict).")
    return loaded


def state_dict_of(saved: dict) -> dict:
    """The model weights inside a saved dict: itself, or its ``state_dict`` / ``model`` /
    ``state_dict_ema`` entry, without a ``module.`` prefix (DataParallel)."""
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(saved.get(key), dict):
            saved = saved[key]
            break
    return {k.removeprefix("module."): v for k, v in saved.items()}

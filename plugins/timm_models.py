"""Any timm model by name: pretrained (hub, local cache), a weights file, or random.

timm (and torch) are imported when a name is first looked up or a model built, not when
the provider is registered."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vizkit import hookimpl
from vizkit.api.models import ModelProvider
from vizkit.errors import WeightsUnavailableError

if TYPE_CHECKING:
    import torch


def build(name: str, pretrained: bool = False, weights_file: str | None = None,
          seed: int = 0, create=None, **kwargs) -> torch.nn.Module:
    """Create timm model ``name``; weights from the hub/cache, ``weights_file``, or random.

    Random weights are drawn with ``seed`` so that the same name gives the same model.
    ``create(name, pretrained=..., **kwargs)`` makes the module (default
    ``timm.create_model``; a provider of its own networks passes its constructor).
    """
    import torch

    from vizkit.compute.weights import load_weights, state_dict_of

    create = create or _timm().create_model
    if weights_file:
        path = Path(weights_file).expanduser()
        state = state_dict_of(load_weights(path))  # tensors only: never runs code
        module = create(name, pretrained=False, **kwargs)
        try:
            module.load_state_dict(state, strict=True)
        except Exception as e:
            raise WeightsUnavailableError(
                f"{path} does not hold weights for {name} ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:300]}).") from None
        return module
    if pretrained:
        try:
            return create(name, pretrained=True, **kwargs)
        except Exception as e:
            raise WeightsUnavailableError(
                f"Could not get pretrained weights for {name} ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:200] if str(e) else ''}). Connect to the network "
                "once (they are cached), pass a weights file with --weights FILE, or use "
                "--weights random.") from e
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return create(name, pretrained=False, **kwargs)


def _timm():
    import timm

    return timm


TIMM = ModelProvider(
    name="timm",
    description="Any of timm's models (resnet18, efficientnet_b0, convnext_tiny, ...).",
    names=lambda: _timm().list_models(),
    accepts=lambda name: _timm().is_model(name),
    build=build,
)


@hookimpl(trylast=True)
def register_models(register):
    """Register the timm provider (last, so that plugins can answer names first)."""
    register(TIMM)

"""``vizkit_small_cnn``: the small embedding CNN of the embedded demo.

Registers a model provider for the one name; the network (:mod:`vizkit_plugins.
small_cnn_model`, torch only) is imported when the model is built, so that starting
``vizkit`` or an app page that reads precomputed results does not import torch.
"""
from __future__ import annotations

from vizkit import hookimpl
from vizkit.api.models import ModelProvider

NAME = "vizkit_small_cnn"


def build(name: str, pretrained: bool = False, weights_file: str | None = None, **kwargs):
    """Build the network as timm's provider builds its models (random weights from a seed,
    or a weights file), with its own constructor: no timm import."""
    from vizkit_plugins.small_cnn_model import vizkit_small_cnn
    from vizkit_plugins.timm_models import build as timm_build

    return timm_build(name, pretrained=pretrained, weights_file=weights_file,
                      create=lambda _name, **kw: vizkit_small_cnn(**kw), **kwargs)


SMALL_CNN = ModelProvider(
    name="small_cnn",
    description="vizkit_small_cnn: 5 convolutions for 28-px grayscale images (the demo's).",
    names=lambda: [NAME],
    accepts=lambda name: name == NAME,
    build=build,
)


@hookimpl
def register_models(register):
    """Register the demo model's provider."""
    register(SMALL_CNN)

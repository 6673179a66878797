"""``vizkit_small_cnn``: the small embedding CNN of the embedded demo.

Registers a model provider for the one name; the network (:mod:`vizkit_plugins.
small_cnn_model`, which needs torch and timm) is imported only when the model is built, so
that starting ``vizkit`` or an app page that reads precomputed results does not import
torch.
"""
from __future__ import annotations

from vizkit import hookimpl
from vizkit.api.models import ModelProvider

NAME = "vizkit_small_cnn"


def build(name: str, pretrained: bool = False, weights_file: str | None = None, **kwargs):
    """Register the network with timm (by importing it) and build it as timm's provider
    does: random weights from a seed, or a weights file."""
    import vizkit_plugins.small_cnn_model  # noqa: F401  (registers the timm entry point)
    from vizkit_plugins.timm_models import build as timm_build

    return timm_build(name, pretrained=pretrained, weights_file=weights_file, **kwargs)


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

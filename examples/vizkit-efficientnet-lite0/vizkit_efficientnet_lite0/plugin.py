"""The plugin module vizkit loads through the ``vizkit`` entry point: hook implementations
only. It registers

- the model ``efficientnet_lite0.imagenet`` (``register_models``): timm's EfficientNet-Lite0
  with the packaged ImageNet weights for ``--weights pretrained``, random or a file otherwise;
- the page "ImageNet classes" (``register_visualizers``): the model's top-5 ImageNet classes
  for a dataset image or an upload;
- the command ``vizkit imagenet-top5`` (``register_commands``): the same for image files.
"""
from __future__ import annotations

from vizkit import hookimpl
from vizkit.api.commands import Command
from vizkit.api.models import ModelProvider
from vizkit.api.visualizers import Visualizer

NAME = "efficientnet_lite0.imagenet"
TIMM_NAME = "efficientnet_lite0"


def build(name: str, pretrained: bool = False, weights_file: str | None = None,
          seed: int = 0, **kwargs):
    """Called by vizkit when the model is loaded: returns a ``torch.nn.Module`` (timm's,
    so vizkit reads its preprocessing and layers as for any timm model)."""
    import timm
    import torch
    from vizkit_plugins.timm_models import build as build_timm

    if not pretrained or weights_file:
        return build_timm(TIMM_NAME, pretrained=False, weights_file=weights_file, seed=seed,
                          **kwargs)
    from vizkit_efficientnet_lite0.weights import imagenet_state_dict

    num_classes = kwargs.pop("num_classes", None)
    module = timm.create_model(TIMM_NAME, pretrained=False, **kwargs)
    module.load_state_dict(imagenet_state_dict(module.state_dict()), strict=True)
    if num_classes is not None and num_classes != module.num_classes:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            module.reset_classifier(num_classes)  # a new head, e.g. a 64-d embedding
    return module


MODEL = ModelProvider(
    name="efficientnet-lite0",
    description="EfficientNet-Lite0 (timm) with ImageNet weights shipped in a pip package: "
                "a real pretrained CNN that works offline.",
    names=lambda: [NAME],
    accepts=lambda name: name == NAME,
    build=build,
)


@hookimpl
def register_models(register):
    """Called once when vizkit builds its registry: adds ``efficientnet_lite0.imagenet``."""
    register(MODEL)


@hookimpl
def register_visualizers(register):
    """Called when the app builds its navigation: adds the "ImageNet classes" page."""
    def page() -> None:  # imported when drawn, so the CLI never imports Streamlit
        from vizkit_efficientnet_lite0.page import render

        render()

    register(Visualizer("imagenet", "ImageNet classes", page, ":material/label:",
                        order=90, description="EfficientNet-Lite0's top-5 ImageNet classes "
                        "for a dataset image or an upload.", command="imagenet-top5",
                        example="IMAGE [IMAGE ...]"))


@hookimpl
def register_commands(register):
    """Called when the CLI builds its parser: adds ``vizkit imagenet-top5 IMAGE...``."""
    from vizkit_efficientnet_lite0.command import add_arguments, run  # no torch at import

    register(Command("imagenet-top5", "EfficientNet-Lite0's top-5 ImageNet classes of image "
                     "files", add_arguments, run))

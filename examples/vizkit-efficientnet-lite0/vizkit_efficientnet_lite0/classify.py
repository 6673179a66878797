"""The job both the page and the command run: top-5 ImageNet classes of uint8 images."""
from __future__ import annotations

import numpy as np

TOP = 5


def load():
    """The pretrained model through vizkit's registry (as any plugin's model is loaded)."""
    from vizkit.registry import get_registry
    from vizkit_efficientnet_lite0.plugin import NAME

    return get_registry().load_model(NAME, "pretrained")


def top5(model, images: list[np.ndarray]) -> list[list[tuple[str, float]]]:
    """Per image, its five most probable ImageNet classes and their probabilities."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    probs = model.outputs(images).softmax(1)
    best = probs.topk(TOP, dim=1)
    return [[(info.index_to_description(int(i)).split(",")[0], float(v))
             for v, i in zip(values, indices)]
            for values, indices in zip(best.values, best.indices)]

"""Similarity maps for one query and its 20 results ÷ 21 bare forward passes (the floor).

The pipeline is what the similarity page does for a new query with an empty cache: read 21
dataset images, preprocess, one forward pass with a hook (plus, for a layer behind an
affine head, the head on every position and the affine check), then the 20 pairs of maps.
The floor is the bare model forward on the same 21 already-preprocessed images.
Both sides are warmed and timed in alternation (timing.compare): medians and their range.
Usage: python bench/bench_maps.py [ROUNDS]   (uses the demo checkpoint when the store has it)
"""
import sys

import numpy as np
import torch
from timing import compare

from vizkit.compute.mapservice import MapService
from vizkit.compute.similarity import Decomposer
from vizkit.errors import VizkitError
from vizkit.registry import get_registry
from vizkit.runtime.models import load_model


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    reg = get_registry()
    ds = reg.open_dataset("fashion-mnist")
    idxs = np.arange(21) * 997  # a query and 20 "results" spread over the dataset
    try:
        demo = load_model(None, checkpoint="demo")
    except VizkitError:
        demo = load_model("vizkit_small_cnn", "random")
    cases = [(demo, "embedding"), (demo, "stages.2"),
             (load_model("resnet18", "random", input_size=224), "layer4"),
             (load_model("resnet18", "random", input_size=224), "pre_logits")]
    for model, layer in cases:
        decomposer = Decomposer(model, layer)
        x = model.preprocess(ds.batch_images(idxs))

        def bare():
            with torch.inference_mode():
                model.module(x)

        def pipeline():
            service = MapService(decomposer, ds)  # empty cache: a new query
            feats = service.dataset_features(idxs)
            service.maps(feats[0], idxs[1:], "cosine")

        t = compare({"pipeline": pipeline, "bare": bare}, rounds=repeats)
        print(f"{model.label} @ {model.config.height}px, layer {layer} ({decomposer.mode}): "
              f"20 pairs of maps {t['pipeline']}, 21 bare forwards {t['bare']}, "
              f"ratio {t['pipeline'].ratio(t['bare'])}")


if __name__ == "__main__":
    main()

"""Run as a script: load a model, embed a warm-up image, then decode and embed each file
given; print JSON with the peak RSS (MB) after the warm-up and after all files, and what
happened to each file. Used by the memory tests and bench/bench_hostile.py."""
import json
import sys

import numpy as np


def peak_mb() -> float:
    """This process's own peak RSS (VmHWM: ru_maxrss would include the RSS of the parent
    it was forked from, e.g. a big pytest process)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    model_name, size, *files = sys.argv[1:]
    from vizkit.errors import ImageDecodeError
    from vizkit.images import decode_image, to_array
    from vizkit.registry import get_registry

    model = get_registry().load_model(model_name, "random", input_size=int(size))
    layer = model.default_layers()[-1]
    warm = np.full((int(size) * 2, int(size) * 3, 3), 120, np.uint8)
    model.embed_images([warm], [layer])
    before, outcome = peak_mb(), {}
    for f in files:
        try:
            image = to_array(decode_image(f))
            model.embed_images([image], [layer])
            outcome[f] = "decodes"
        except ImageDecodeError as e:
            outcome[f] = "refused: " + str(e)
    print(json.dumps({"before_mb": before, "after_mb": peak_mb(), "outcome": outcome}))


if __name__ == "__main__":
    main()

"""``vizkit imagenet-top5 IMAGE [IMAGE ...]``: a plugin's own command."""
from __future__ import annotations

import argparse


def add_arguments(sp: argparse.ArgumentParser) -> None:
    """Called when the CLI builds its parser: the command's options."""
    sp.add_argument("images", nargs="+", help="image files")


def run(args) -> int:
    """Called for ``vizkit imagenet-top5``: prints each image's top-5 classes."""
    from vizkit.images import decode_image, to_array
    from vizkit_efficientnet_lite0.classify import load, top5

    images = [to_array(decode_image(path)) for path in args.images]  # bounded, checked
    for path, classes in zip(args.images, top5(load(), images)):
        print(f"{path}: " + ", ".join(f"{name} {p:.1%}" for name, p in classes))
    return 0

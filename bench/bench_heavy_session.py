"""The app's heaviest session, in one process, as Streamlit's AppTest drives it (issue 23):
every page, then a search by upload, the ImageNet page (with the example plugin), the model
explorer and the compare page's disagreement finder; the process's peak RSS (VmHWM) after
each step, and what `import torch` alone costs in a fresh interpreter (its CUDA libraries
are most of it on a machine with PyPI's CUDA wheel).

    python bench/bench_heavy_session.py --store data/vizkit.duckdb
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys


def hwm_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def torch_import_mb() -> float:
    code = ("import torch\nfor l in open('/proc/self/status'):\n"
            "    l.startswith('VmHWM:') and print(int(l.split()[1]) / 1024)")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", default="data/vizkit.duckdb")
    args = p.parse_args()
    os.environ["VIZKIT_STORE"] = args.store
    import numpy as np
    from PIL import Image
    from streamlit.testing.v1 import AppTest

    from vizkit.registry import get_registry

    def page(name: str) -> AppTest:
        return AppTest.from_string(f"from vizkit.app.router import run_page\n"
                                   f"run_page({name!r})", default_timeout=300)

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), np.uint8)).save(
        buf, format="PNG")
    upload = ("photo.png", buf.getvalue(), "image/png")
    print(f"start: {hwm_mb():.0f} MB")
    names = [v.name for v in get_registry().visualizers()]
    for name in names:
        page(name).run()
    print(f"every page drawn: {hwm_mb():.0f} MB")
    at = page("search").run()
    at.radio(key="search_source").set_value("Upload an image").run()
    at.file_uploader(key="search_upload").set_value(upload).run()
    print(f"search by upload: {hwm_mb():.0f} MB")
    if "imagenet" in names:
        at = page("imagenet").run()
        at.radio(key="imagenet_source").set_value("Upload an image").run()
        at.file_uploader(key="imagenet_upload").set_value(upload).run()
        print(f"ImageNet page, upload: {hwm_mb():.0f} MB")
    page("explorer").run()
    print(f"model explorer: {hwm_mb():.0f} MB")
    at = page("compare").run()
    at.toggle(key="cmp_disagree").set_value(True).run()
    print(f"compare, where A and B disagree: {hwm_mb():.0f} MB")
    print(f"(import torch alone, a fresh interpreter: {torch_import_mb():.0f} MB)")


if __name__ == "__main__":
    main()

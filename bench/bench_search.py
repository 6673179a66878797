"""Search figures on the 70,000-image Fashion-MNIST store, as ratios measured in one run.

1. search for a dataset image from the store (stored top-50 lists): median and p95 ms;
2. search for an uploaded image over 70,000 vectors (512-d): time ÷ the memory-bandwidth
   floor (bytes of the feature matrix ÷ measured read bandwidth);
3. all-pairs top-50 for 70,000 images: vizkit's time ÷ a plain blocked matmul +
   argpartition reference in numpy;
4. peak RSS of the app serving that store while a browser searches (needs chromium).
Usage: python bench/bench_search.py   (builds data/bench/ on first run)
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vizkit.compute.nearest import all_pairs_topk
from vizkit.jobs.precompute import precompute
from vizkit.read.catalog import Reader
from vizkit.read.models import load_model
from vizkit.read.query import Query, find_features, search
from vizkit.registry import get_registry
from vizkit.store import Store

STORE = Path("data/bench/vizkit.duckdb")


def build_store() -> dict:
    store = Store(STORE)
    ds = get_registry().open_dataset("fashion-mnist")
    model = load_model("vizkit_small_cnn", "random")
    precompute(store, ds, model, ["embedding"], ["cosine"], k=50)
    return find_features(Reader(store), "fashion-mnist", "vizkit_small_cnn", "embedding",
                         weights_fp=model.weights_fingerprint)


def reference_all_pairs(x: np.ndarray, k: int, block: int = 1024):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    out = np.empty((len(x), k), np.int64)
    for lo in range(0, len(x), block):
        s = xn[lo: lo + block] @ xn.T
        s[np.arange(len(s)), np.arange(lo, lo + len(s))] = -np.inf
        part = np.argpartition(-s, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, part, 1), axis=1)
        out[lo: lo + block] = np.take_along_axis(part, order, 1)
    return out


def main():
    frow = build_store()
    store = Store(STORE)
    cosine = get_registry().metric("cosine")
    rng = np.random.default_rng(0)
    times = []
    for idx in rng.integers(0, 70_000, 200):
        t = time.perf_counter()
        search(Reader(store), frow, cosine, Query(idx=int(idx)), 50)
        times.append((time.perf_counter() - t) * 1000)
    print(f"search by dataset image (store lookup + labels): median {np.median(times):.1f} ms, "
          f"p95 {np.percentile(times, 95):.1f} ms")

    big = rng.normal(size=(70_000, 512)).astype(np.float32)
    reps = 20
    t = time.perf_counter()
    for _ in range(reps):
        big.sum()
    bandwidth = big.nbytes * reps / (time.perf_counter() - t)
    floor = big.nbytes / bandwidth
    scorer = cosine.scorer(torch.from_numpy(big))
    from vizkit.compute.nearest import topk

    q = rng.normal(size=(1, 512)).astype(np.float32)
    topk(cosine, q, big, 50, scorer=scorer)
    t = time.perf_counter()
    for _ in range(reps):
        with torch.inference_mode():
            topk(cosine, q, big, 50, scorer=scorer)
    per = (time.perf_counter() - t) / reps
    print(f"uploaded-image search over 70,000 x 512: {per * 1000:.1f} ms; bandwidth floor "
          f"{floor * 1000:.1f} ms ({bandwidth / 1e9:.1f} GB/s); ratio {per / floor:.2f}")
    vec = store.features(frow.result_key)[123]
    t = time.perf_counter()
    search(Reader(store), frow, cosine, Query(image=np.zeros((1, 1), np.uint8)), 50, vector=vec)
    print(f"  (whole uploaded search incl. loading the 70k x 64 matrix from the store: "
          f"{(time.perf_counter() - t) * 1000:.0f} ms)")

    x = store.features(frow.result_key)
    t = time.perf_counter()
    ours, _ = all_pairs_topk(cosine, x, 50)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    ref = reference_all_pairs(x, 50)
    t_ref = time.perf_counter() - t
    agree = (ours[:, 0] == ref[:, 0]).mean()
    print(f"all-pairs top-50, 70,000 x {x.shape[1]}: vizkit {t_ours:.1f} s, numpy blocked "
          f"matmul+argpartition {t_ref:.1f} s, ratio {t_ours / t_ref:.2f} "
          f"(top-1 agreement {agree:.4f})")
    app_rss()


def app_rss():
    if not Path("/usr/bin/chromium").exists():
        print("peak RSS: skipped (no /usr/bin/chromium)")
        return
    from playwright.sync_api import sync_playwright

    port = 8765
    env = dict(os.environ, VIZKIT_STORE=str(STORE.resolve()))
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
                             "--server.headless", "true", "--server.address", "127.0.0.1",
                             "--server.port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(6)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium",
                                  args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = b.new_page()
            page.goto(f"http://127.0.0.1:{port}/search")
            page.get_by_role("button", name="Search this").nth(0).wait_for(timeout=120_000)
            for i in range(3):
                page.get_by_role("button", name="Search this").nth(i).click()
                page.wait_for_timeout(2500)
            b.close()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        hwm = [line for line in status.splitlines() if line.startswith("VmHWM")][0]
        print(f"peak RSS of the app serving the 70,000-image store: {hwm.split(':')[1].strip()}")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()

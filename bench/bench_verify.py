"""What verifying shards costs a search (issue 23): the first search in a new process (every
file it reads is hashed in full: features, unit rows, neighbour lists) and a warm search
(files already verified: one stat each), each ÷ the same search with verification switched
off, on the 70,000-image demo store (or any --store). Every side runs in fresh processes,
alternated, 5 rounds; medians with their range.

    python bench/bench_verify.py --store data/vizkit.duckdb
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time
from vizkit.store import shards
if sys.argv[2] == "off":
    shards.verify = lambda shard: None
from vizkit.read.catalog import Reader
from vizkit.read.query import Query, search
from vizkit.registry import get_registry
reader = Reader(sys.argv[1])
metric = get_registry().metric("cosine")
frow = [r for r in reader.features_rows() if r.checkpoint and r.layer == "embedding"
        and r.dataset.name == "fashion-mnist"][-1]
out = {}
for name, k in (("first", 50), ("warm", 50), ("warm_index", 80)):
    t = time.perf_counter()
    search(reader, frow, metric, Query(image_id="test/00042"), k)
    out[name] = time.perf_counter() - t
files = [s for key in (frow.result_key,) for s in reader.files(key).values()]
out["bytes"] = sum(s.bytes for s in files)
print(json.dumps(out))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", default="data/vizkit.duckdb")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    runs = {"on": [], "off": []}
    for _ in range(args.rounds):
        for side in ("off", "on"):
            done = subprocess.run([sys.executable, "-c", CHILD, args.store, side],
                                  capture_output=True, text=True, check=True)
            runs[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
    for what in ("first", "warm", "warm_index"):
        on = [r[what] for r in runs["on"]]
        off = [r[what] for r in runs["off"]]
        print(f"{what:>10}: verified {statistics.median(on) * 1000:7.1f} ms "
              f"[{min(on) * 1000:.1f}-{max(on) * 1000:.1f}], unverified "
              f"{statistics.median(off) * 1000:7.1f} ms [{min(off) * 1000:.1f}-"
              f"{max(off) * 1000:.1f}], ratio {statistics.median(on) / statistics.median(off):.2f} "
              f"[{min(on) / max(off):.2f}-{max(on) / min(off):.2f}]")


if __name__ == "__main__":
    main()

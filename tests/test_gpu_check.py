"""bench/gpu_check.sh, the check a lent GPU runs first, runs on the CPU too (saying so) and
proves its paths there: one JSON object with every measurement, the out-of-memory path
halving to the uncapped run's result keys and features, Ray's features identical."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_on_the_cpu_and_proves_its_paths():
    done = subprocess.run(["bash", "bench/gpu_check.sh", "--device", "cpu"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])  # one JSON object, last
    assert out["device"] == "cpu" and not out["on_gpu"] and "no GPU here" in out["note"]
    for part in ("train", "extract"):
        assert out[part]["job_img_s"] > 0 and 0 < out[part]["ratio"] < 5, out[part]
    assert out["channel_image"]["seconds"] > 0 and out["channel_image"]["image_std"] > 0
    oom = out["out_of_memory"]
    assert oom["halvings"] >= 1 and "continuing with" in oom["said"][0], oom
    assert oom["same_result_keys"] and oom["max_abs_difference"] == 0.0, oom
    assert out["ray"]["identical"] and out["ray"]["actor"] == "1 CPU", out["ray"]

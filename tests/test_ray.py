"""The Ray engine on a local Ray cluster that the test starts (2 worker processes): the same
features as the local engine, bit for bit, and a worker killed half-way has its part redone."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vizkit.jobs.extract import extract_features, missing_parts
from vizkit.registry import get_registry
from vizkit.runtime.models import load_model

pytestmark = pytest.mark.slow
try:
    import ray  # noqa: F401 - the optional extra: cnn-vizkit[ray]
except ImportError:
    if os.environ.get("CI"):
        raise  # CI installs it: its absence there is a broken set-up, not a skip
    pytest.skip("ray is not installed", allow_module_level=True)


@pytest.fixture
def small_parts(monkeypatch):
    import vizkit.jobs.extract as extract

    monkeypatch.setattr(extract, "CHUNK", 256)
    monkeypatch.setenv("VIZKIT_EXTRACT_CHUNK", "256")  # the workers' processes too


def _extractor_pids() -> list[int]:
    """Processes of Ray actors running vizkit's part extractor."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith("ray::") and "PartExtractor" in cmd:
                pids.append(int(entry.name))
    return pids


def test_ray_engine_equals_the_local_engine_and_redoes_a_killed_workers_part(tmp_path,
                                                                            small_parts):
    from vizkit.jobs.distributed import extract_with_ray, model_spec

    dataset = get_registry().open_dataset("synthetic:3000")
    model = load_model("vizkit_small_cnn", "random")
    layers = ["stages.2", "embedding"]
    local = extract_features(dataset, model, layers, tmp_path / "local", progress=False)
    killed: list[int] = []

    def kill_one_worker_once_parts_arrive() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            staged = len(list((tmp_path / "ray").glob("part-*.npz")))
            pids = _extractor_pids()
            if staged >= 2 and pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker_once_parts_arrive, daemon=True)
    killer.start()
    spec = model_spec(model, tmp_path / "s.duckdb", None)
    distributed = extract_with_ray(dataset, model, layers, tmp_path / "ray", spec=spec,
                                   workers=2, progress=False)
    killer.join(5)
    assert killed, "no Ray worker was seen to kill"
    assert missing_parts(tmp_path / "ray", len(dataset)) == []
    for layer in layers:
        assert np.array_equal(local[layer], distributed[layer]), layer

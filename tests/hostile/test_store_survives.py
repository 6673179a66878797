"""The store survives a kill at any moment of its first write, half-made files, read-only
folders, and checkpoints that changed under it."""
from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from vizkit.errors import ResultMissingError, StoreError, VizkitError
from vizkit.store import Store

HERE = Path(__file__).parent
ROWS = 300_000  # a 77 MB first result: its write takes long enough to be interrupted
CLI = [sys.executable, "-m", "vizkit.cli"]


def _expected() -> np.ndarray:
    return np.arange(ROWS * 64, dtype=np.float32).reshape(-1, 64)


def _first_write(path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HERE / "first_write.py"), str(path),
                             str(ROWS)], stdout=subprocess.PIPE, text=True)


def test_kill_at_random_moments_of_a_new_stores_first_write(tmp_path):
    rng = random.Random(7)
    proc = _first_write(tmp_path / "timing.duckdb")  # how long a whole first write takes
    assert proc.stdout.readline().strip() == "ready"
    ready = time.monotonic()
    proc.wait(120)
    whole = time.monotonic() - ready
    outcomes = {"none": 0, "empty": 0, "whole": 0}
    for i in range(12):
        path = tmp_path / f"s{i}.duckdb"
        proc = _first_write(path)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0, whole * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = Store(path)
        # the store opens: absent, empty, or with the whole result — never refused
        if store.result("f-first") is None:
            outcomes["none" if not store.exists() else "empty"] += 1
            with pytest.raises(ResultMissingError):
                store.features("f-first")
        else:
            outcomes["whole"] += 1
            np.testing.assert_array_equal(store.features("f-first"), _expected())
        # and the job, run again (here, in this process: the same write), finishes
        Store(path).put_features({"result_key": "f-first", "dataset_key": "d#1", "layer": "l"},
                                 _expected())
        np.testing.assert_array_equal(Store(path).features("f-first"), _expected())
    assert sum(outcomes.values()) == 12
    leftovers = [p.name for p in tmp_path.iterdir() if ".creating" in p.name]
    assert leftovers == [], leftovers
    print(f"kill outcomes over 12 tries: {outcomes}")


def test_zero_byte_and_half_created_stores_are_completed_not_refused(tmp_path):
    zero = tmp_path / "zero.duckdb"
    zero.write_bytes(b"")
    assert not Store(zero).exists() and Store(zero).result("x") is None
    Store(zero).put_features({"result_key": "f"}, np.ones((2, 3), np.float32))
    assert Store(zero).features("f").shape == (2, 3)
    # what an older vizkit left when killed between creating the tables and the version
    half = tmp_path / "half.duckdb"
    con = duckdb.connect(str(half))
    from vizkit.store.schema import DDL

    con.execute(DDL)
    con.close()
    assert Store(half).result("x") is None
    Store(half).put_features({"result_key": "f"}, np.ones((2, 3), np.float32))
    assert Store(half).summary()["results"] == 1
    # an existing empty DuckDB file is a store waiting for its first result
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    done = subprocess.run(CLI + ["--store", str(empty), "precompute", "--dataset",
                                 "digits[:50]", "--model", "vizkit_small_cnn", "--weights",
                                 "random", "--layers", "embedding", "--metrics", "",
                                 "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def _deny_writes(folder: Path):
    """Make ``folder`` unwritable for this user — root included, who writes through file
    permissions: an immutable folder (chattr +i) refuses root too. Returns the undo."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
        return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    return lambda: folder.chmod(stat.S_IRWXU)


def test_read_only_folders_give_one_clear_line(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    undo = _deny_writes(folder)
    try:
        with pytest.raises(StoreError, match="Cannot write the store"):
            Store(folder / "s.duckdb").put_features({"result_key": "f"}, np.ones((1, 2)))
        with pytest.raises(StoreError, match="Cannot write the store"):
            Store(folder / "sub" / "s.duckdb").put_features({"result_key": "f"},
                                                            np.ones((1, 2)))
    finally:
        undo()


def test_unwritable_places_give_one_clear_line_in_the_cli(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = subprocess.run(CLI + ["--store", str(blocker / "s.duckdb"), "precompute",
                                 "--dataset", "digits[:20]", "--model", "vizkit_small_cnn",
                                 "--weights", "random", "--metrics", "", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Cannot write the store" in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("device: cpu")  # a job that runs a model says where, first
    assert "Traceback" not in done.stderr and len(lines) == 2


def test_a_tampered_checkpoint_is_refused_with_both_digests(tmp_path):
    import torch

    from vizkit.jobs.train import TrainConfig, train
    from vizkit.registry import get_registry
    from vizkit.runtime.models import load_model

    store = Store(tmp_path / "s.duckdb")
    train(store, get_registry().open_dataset("digits"),
          TrainConfig(model="vizkit_small_cnn", dataset="digits", epochs=1,
                      batches_per_epoch=2, eval_images=50, anchors=5), "r", progress=False)
    row = store.checkpoints("r").iloc[-1]
    path = store.file(row["path"])
    saved = torch.load(path, weights_only=True)
    saved["state_dict"]["embedding.bias"] += 1.0  # other weights, same shapes
    torch.save(saved, path)
    with pytest.raises(VizkitError) as e:
        load_model(None, checkpoint="r:1", store=store)
    assert str(path) in str(e.value) and row["sha256"][:16] in str(e.value)
    assert "has changed since it was written" in str(e.value)
    done = subprocess.run(CLI + ["--store", str(store.path), "train", "--dataset", "digits",
                                 "--run", "r", "--epochs", "2", "--batches-per-epoch", "2",
                                 "--eval-images", "50", "--anchors", "5", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "has changed since it was written" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_store_and_its_checkpoints_move_together(tmp_path, monkeypatch):
    import shutil

    from vizkit.jobs.train import TrainConfig, train
    from vizkit.registry import get_registry
    from vizkit.runtime.models import load_model

    home = tmp_path / "made-here"
    store = Store(home / "s.duckdb")
    monkeypatch.chdir(tmp_path)
    train(store, get_registry().open_dataset("digits"),
          TrainConfig(model="vizkit_small_cnn", dataset="digits", epochs=1,
                      batches_per_epoch=2, eval_images=50, anchors=5), "r", progress=False)
    assert not Path(store.checkpoints("r").iloc[-1]["path"]).is_absolute()
    shutil.copytree(home, tmp_path / "moved")
    shutil.rmtree(home)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    model = load_model(None, checkpoint="r:1", store=Store(tmp_path / "moved" / "s.duckdb"))
    assert model.checkpoint == "r:1"

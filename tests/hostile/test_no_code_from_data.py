"""No code runs from data: a crafted CIFAR-10 batch and a crafted checkpoint or weights
file, each of which would create a marker file if any of it were executed — through the
registry, the CLI and the app. The marker must never appear."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vizkit import plugins
from vizkit.errors import DatasetMissingError, WeightsUnavailableError
from vizkit.registry import get_registry

CLI = [sys.executable, "-m", "vizkit.cli"]


class Payload:
    """Pickles to a call of ``os.system('touch MARKER')``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def crafted_cifar(folder: Path, marker: Path) -> Path:
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True)
    with open(root / "test_batch", "wb") as fh:
        pickle.dump({b"data": Payload(marker), b"labels": [0]}, fh, protocol=2)
    return root


def genuine_cifar(folder: Path) -> Path:
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True)
    data = np.random.default_rng(0).integers(0, 256, size=(12, 3072), dtype=np.uint8)
    with open(root / "test_batch", "wb") as fh:
        pickle.dump({b"data": data, b"labels": list(range(10)) + [0, 1]}, fh, protocol=2)
    return root


def test_a_crafted_cifar_batch_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    root = crafted_cifar(tmp_path / "data", marker)
    with pytest.raises(DatasetMissingError, match="not a CIFAR-10 batch"):
        get_registry().open_dataset(f"cifar10:{root}")
    done = subprocess.run(CLI + ["--store", str(tmp_path / "s.duckdb"), "precompute",
                                 "--dataset", f"cifar10:{root}", "--model", "vizkit_small_cnn",
                                 "--weights", "random", "--quiet"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1 and "not a CIFAR-10 batch" in done.stderr
    assert "Traceback" not in done.stderr
    assert not marker.exists()


def test_a_store_naming_a_crafted_dataset_runs_nothing_in_the_app(tmp_path, monkeypatch):
    """A shared store whose dataset's files were swapped for a crafted batch: the app's
    maps page reopens the dataset, is refused, and says so."""
    from streamlit.testing.v1 import AppTest

    from vizkit.jobs.precompute import precompute
    from vizkit.runtime.models import load_model
    from vizkit.store import Store

    marker = tmp_path / "pwned"
    root = genuine_cifar(tmp_path / "data")
    store = Store(tmp_path / "s.duckdb")
    precompute(store, get_registry().open_dataset(f"cifar10:{root}"),
               load_model("vizkit_small_cnn", "random"), ["stages.2"], ["cosine"], k=5,
               progress=False)
    crafted = crafted_cifar(tmp_path / "evil", marker)
    os.replace(crafted / "test_batch", root / "test_batch")
    plugins.reset()  # as a fresh app process: nothing opened yet
    monkeypatch.setenv("VIZKIT_STORE", str(store.path))
    monkeypatch.setenv("VIZKIT_DATA_ROOTS", str(tmp_path))
    at = AppTest.from_string("from vizkit.app.router import run_page\nrun_page('similarity')",
                             default_timeout=120).run()
    assert not at.exception
    assert any("not a CIFAR-10 batch" in m.value for m in [*at.error, *at.info])
    assert not marker.exists()


def test_the_app_opens_no_dataset_path_outside_the_allowed_folders(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from vizkit.jobs.precompute import precompute
    from vizkit.runtime.models import load_model
    from vizkit.store import Store

    root = genuine_cifar(tmp_path / "elsewhere")
    store = Store(tmp_path / "store" / "s.duckdb")
    precompute(store, get_registry().open_dataset(f"cifar10:{root}"),
               load_model("vizkit_small_cnn", "random"), ["stages.2"], ["cosine"], k=5,
               progress=False)
    opened = []
    import vizkit_plugins.cifar10 as cifar

    plugins.reset()
    monkeypatch.setattr(cifar, "load_batch", lambda *a: opened.append(a) or {})
    monkeypatch.setenv("VIZKIT_STORE", str(store.path))
    monkeypatch.setenv("VIZKIT_DATA_ROOTS", str(tmp_path / "store"))
    at = AppTest.from_string("from vizkit.app.router import run_page\nrun_page('similarity')",
                             default_timeout=120).run()
    assert not at.exception
    assert any("outside the folders this app may open" in m.value
               for m in [*at.error, *at.info])
    assert opened == []


class Evil(torch.nn.Module):
    """A checkpoint entry that pickles to code."""

    def __init__(self, marker):
        super().__init__()
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_crafted_weights_file_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "extra": Evil(marker)}, evil)
    with pytest.raises(WeightsUnavailableError, match="not a plain weights file"):
        get_registry().load_model("resnet18", "file", weights_file=str(evil))
    done = subprocess.run(CLI + ["layers", "resnet18", "--weights", str(evil)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "does not execute code" in done.stderr
    assert "weights_only=False" not in done.stderr and "Traceback" not in done.stderr
    assert not marker.exists()


def test_a_crafted_checkpoint_with_a_matching_digest_runs_nothing(tmp_path):
    """Even when the store's digest is made to match, the file is read as tensors only."""
    from vizkit.files import sha256_file
    from vizkit.jobs.train import TrainConfig, train
    from vizkit.store import Store

    marker = tmp_path / "pwned"
    store = Store(tmp_path / "s.duckdb")
    train(store, get_registry().open_dataset("digits"),
          TrainConfig(model="vizkit_small_cnn", dataset="digits", epochs=1,
                      batches_per_epoch=2, eval_images=50, anchors=5), "r", progress=False)
    row = store.checkpoints("r").iloc[-1]
    path = store.file(row["path"])
    torch.save({"state_dict": {}, "model_kwargs": Evil(marker)}, path)
    store.put_checkpoint("r", int(row["epoch"]), row["path"], sha256_file(path),
                         row["weights_fp"], {})
    done = subprocess.run(CLI + ["--store", str(store.path), "project", "--dataset",
                                 "digits[test]", "--checkpoint", "r", "--layer", "embedding"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "not a plain weights file" in done.stderr
    assert "Traceback" not in done.stderr
    assert not marker.exists()

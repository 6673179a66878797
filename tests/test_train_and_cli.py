"""Training with checkpoints (resumable), and the CLI end to end on digits."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vizkit.checkpoints import load_model
from vizkit.jobs.train import TrainConfig, train
from vizkit.registry import get_registry
from vizkit.store import Store

CLI = [sys.executable, "-m", "vizkit.cli"]
CONFIG = dict(model="vizkit_small_cnn", dataset="digits", epochs=2, batch_size=64, lr=3e-3)


def test_training_improves_recall_and_resume_gives_the_same_checkpoints(tmp_path):
    ds = get_registry().open_dataset("digits")
    full = Store(tmp_path / "full.duckdb")
    history = train(full, ds, TrainConfig(**CONFIG), "r", progress=False)
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert history[-1]["test_recall_at_1"] > history[0]["test_recall_at_1"] + 0.05
    # an interrupted run (stopped after epoch 1) resumed to epoch 2
    part = Store(tmp_path / "part.duckdb")
    cfg = TrainConfig(**CONFIG)
    import vizkit.jobs.train as job

    original = job._train_epoch
    calls = []

    def stop_after_first(*a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return original(*a, **k)

    job._train_epoch = stop_after_first
    try:
        with pytest.raises(KeyboardInterrupt):
            train(part, ds, cfg, "r", checkpoint_dir=tmp_path / "ck2", progress=False)
    finally:
        job._train_epoch = original
    assert part.checkpoints("r")["epoch"].tolist() == [0, 1]
    train(part, ds, cfg, "r", checkpoint_dir=tmp_path / "ck2", progress=False)
    assert part.checkpoints("r")["weights_fp"].tolist() == \
        full.checkpoints("r")["weights_fp"].tolist()
    model = load_model(None, checkpoint="r:2", store=full)
    assert model.checkpoint == "r:2" and model.weights_fingerprint == \
        full.checkpoints("r")["weights_fp"].iloc[-1]


def run_cli(*args, store=None, ok=True):
    cmd = CLI + (["--store", str(store)] if store else []) + list(args)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def test_cli_search_by_id_and_by_image_agree(digits_store, tmp_path):
    out = run_cli("search", "--dataset", "digits", "--model", "resnet18", "--weights", "random",
                  "--input-size", "32", "--layer", "pre_logits", "--metric", "cosine",
                  "--query-id", "digit/0005", "--k", "5", "--json", store=digits_store)
    rows = json.loads(out.stdout)
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert set(rows[0]) == {"rank", "id", "label", "score"}
    assert all(r["id"] != "digit/0005" for r in rows)
    assert rows[0]["score"] >= rows[-1]["score"]
    # the same image given as a file: itself first (score 1), then the same neighbours
    ds = get_registry().open_dataset("digits")
    Image.fromarray(ds.image_array(5)).save(tmp_path / "q.png")
    out = run_cli("search", "--dataset", "digits", "--model", "resnet18", "--weights", "random",
                  "--input-size", "32", "--layer", "pre_logits", "--metric", "cosine",
                  "--image", str(tmp_path / "q.png"), "--k", "6", "--json", store=digits_store)
    by_image = json.loads(out.stdout)
    assert by_image[0]["id"] == "digit/0005" and by_image[0]["score"] == pytest.approx(1, abs=1e-5)
    np.testing.assert_allclose([r["score"] for r in by_image[1:]],
                               [r["score"] for r in rows], atol=1e-4)


def test_cli_unknown_names_exit_2_with_suggestions(digits_store):
    done = run_cli("search", "--dataset", "digits", "--model", "resnet18", "--weights",
                   "random", "--layer", "pre_logits", "--metric", "cosin", "--query-id", "1",
                   store=digits_store, ok=False)
    assert done.returncode == 2 and "Did you mean 'cosine'" in done.stderr
    done = run_cli("layers", "resnet1", ok=False)
    assert done.returncode == 2 and "resnet18" in done.stderr
    done = run_cli("search", "--dataset", "digits", "--model", "resnet18", "--weights", "random",
                   "--layer", "layer1", "--query-id", "1", store=digits_store, ok=False)
    assert done.returncode == 1 and "vizkit precompute" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_listings_and_export(digits_store, tmp_path):
    plugins = json.loads(run_cli("plugins", "--json").stdout)
    assert any(p["registers"]["metric"] for p in plugins["plugins"])
    metrics = json.loads(run_cli("list", "metrics", "--json").stdout)
    assert {"name": "cosine", "higher_is_more_similar": True} .items() <= metrics[0].items() \
        or any(m["name"] == "cosine" for m in metrics)
    layers = json.loads(run_cli("layers", "resnet18", "--input-size", "32", "--json").stdout)
    assert {"name": "layer4", "kind": "Sequential", "shape": [512, 1, 1]} in layers
    for suffix in (".npy", ".parquet"):
        out = tmp_path / f"f{suffix}"
        run_cli("export-features", "--dataset", "digits", "--model", "resnet18", "--weights",
                "random", "--layer", "layer3", "--out", str(out), store=digits_store)
        if suffix == ".npy":
            assert np.load(out).shape == (1797, 256)
        else:
            import pyarrow.parquet as pq

            t = pq.read_table(out)
            assert t.num_rows == 1797 and t.column("id")[0].as_py() == "digit/0000"

"""Training with checkpoints (resumable), and the CLI end to end on digits."""
import contextlib
import json
import sys

import numpy as np
import pytest
from conftest import run_here
from PIL import Image

from vizkit.jobs.train import TrainConfig, train
from vizkit.registry import get_registry
from vizkit.runtime.models import load_model
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
    with stopped_after_first_epoch():
        with pytest.raises(KeyboardInterrupt):
            train(part, ds, cfg, "r", checkpoint_dir=tmp_path / "ck2", progress=False)
    assert part.checkpoints("r")["epoch"].tolist() == [0, 1]
    train(part, ds, cfg, "r", checkpoint_dir=tmp_path / "ck2", progress=False)
    assert part.checkpoints("r")["weights_fp"].tolist() == \
        full.checkpoints("r")["weights_fp"].tolist()
    model = load_model(None, checkpoint="r:2", store=full)
    assert model.checkpoint == "r:2" and model.weights_fingerprint == \
        full.checkpoints("r")["weights_fp"].iloc[-1]


@contextlib.contextmanager
def stopped_after_first_epoch():
    """Training raises KeyboardInterrupt (as Ctrl-C would) when a second epoch starts."""
    import vizkit.jobs.train as job

    original, calls = job._Trainer.train_epoch, []

    def stop(self, epoch):
        if calls:
            raise KeyboardInterrupt
        calls.append(epoch)
        return original(self, epoch)

    job._Trainer.train_epoch = stop
    try:
        yield
    finally:
        job._Trainer.train_epoch = original


EPSHN = dict(model="vizkit_small_cnn", dataset="digits", epochs=2, loss="epshn",
             embedding_dim=32, classes_per_batch=10, images_per_class=8, lr=3e-3,
             anchors=200)


def test_epshn_run_learns_stores_what_the_pages_need_and_resumes_identically(tmp_path):
    ds = get_registry().open_dataset("digits")
    full = Store(tmp_path / "full.duckdb")
    history = train(full, ds, TrainConfig(**EPSHN), "e", progress=False)
    assert history[1]["test_recall_at_1"] > history[0]["test_recall_at_1"]
    assert history[-1]["test_map_at_r"] > history[0]["test_map_at_r"]
    # the stored test embedding is the checkpoint's embedding (the head, 32-d)
    model = load_model(None, checkpoint="e:2", store=full)
    test = get_registry().open_dataset("digits[test]")
    stored = full.features(history[-1]["test_features"])
    again = model.embed_images(test.batch_images(np.arange(len(test))), ["head"])["head"]
    assert stored.shape == (len(test), 32) and np.allclose(stored, again, atol=1e-4)
    # anchors: the same sample every epoch, its closest positive/negative as defined
    anchors = full.anchors(["e"])
    assert set(anchors["epoch"]) == {0, 1, 2} and set(anchors["split"]) == {"test", "train"}
    last = anchors[(anchors["epoch"] == 2) & (anchors["split"] == "test")]
    assert len(last) == 200 and last["idx"].is_unique
    labels = test.labels
    unit = stored / np.linalg.norm(stored, axis=1, keepdims=True)
    for r in last.head(20).itertuples():
        sims = unit @ unit[r.idx]
        same = labels == labels[r.idx]
        same[r.idx] = False
        assert labels[r.pos_idx] == labels[r.idx] and labels[r.neg_idx] != labels[r.idx]
        assert r.pos_sim == pytest.approx(sims[same].max(), abs=1e-5)
        assert r.neg_sim == pytest.approx(sims[labels != labels[r.idx]].max(), abs=1e-5)
    # killed after epoch 1, resumed: the same checkpoints
    part = Store(tmp_path / "part.duckdb")
    with stopped_after_first_epoch():
        with pytest.raises(KeyboardInterrupt):
            train(part, ds, TrainConfig(**EPSHN), "e", checkpoint_dir=tmp_path / "ck2",
                  progress=False)
    train(part, ds, TrainConfig(**EPSHN), "e", checkpoint_dir=tmp_path / "ck2", progress=False)
    assert part.checkpoints("e")["weights_fp"].tolist() == \
        full.checkpoints("e")["weights_fp"].tolist()


def test_class_balanced_batches_are_n_classes_by_m_images_and_reproducible():
    from vizkit.compute.sampler import class_balanced_batches

    labels = np.repeat(np.arange(6), [30, 25, 20, 40, 9, 50])
    batches = class_balanced_batches(labels, 4, 5, 40, seed=3)
    for b in batches:
        counts = np.unique(labels[b], return_counts=True)[1]
        assert len(counts) == 4 and (counts == 5).all() and len(set(b)) == 20
    again = class_balanced_batches(labels, 4, 5, 40, seed=3)
    assert all((a == b).all() for a, b in zip(batches, again))
    # each class's images come round without replacement: over the epoch every image of a
    # class is used before any is used twice
    drawn = np.concatenate(batches)
    for c in range(6):
        seen = np.unique(drawn[labels[drawn] == c], return_counts=True)[1]
        assert seen.max() - seen.min() <= 1 or len(seen) < (labels == c).sum()


run_cli = run_here  # every command of this file, in this process


def test_cli_search_by_id_and_by_image_agree(digits_store, tmp_path):
    # layer3: a random resnet18's pre_logits are one direction for every image (cosine 1.0
    # to float precision), which leaves no ranking to compare
    out = run_cli("search", "--dataset", "digits", "--model", "resnet18", "--weights", "random",
                  "--input-size", "32", "--layer", "layer3", "--metric", "cosine",
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
                  "--layer", "layer3", "--metric", "cosine",
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


def test_cli_sweep_over_losses_and_bad_training_options(tmp_path):
    store = tmp_path / "s.duckdb"
    done = run_cli("sweep", "--dataset", "digits", "--prefix", "s", "--losses", "ep,epshn",
                   "--epochs", "1", "--batches-per-epoch", "5", "--eval-images", "200",
                   "--anchors", "50", "--quiet", "--json", store=store)
    rows = json.loads(done.stdout)
    assert [(r["run"], r["loss"], r["epoch"]) for r in rows] == [("s-ep", "ep", 1),
                                                                 ("s-epshn", "epshn", 1)]
    assert all(0 < r["test_recall_at_1"] <= 1 for r in rows)
    bad = run_cli("train", "--dataset", "digits", "--run", "x", "--loss", "tripplet",
                  store=store, ok=False)
    assert bad.returncode == 2 and "triplet-semihard" in bad.stderr
    bad = run_cli("train", "--dataset", "digits", "--run", "x", "--loss", "epshn",
                  "--classes-per-batch", "20", store=store, ok=False)
    assert bad.returncode == 2 and "--classes-per-batch 20 is more than the 10" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_run_name_cannot_be_resumed_with_other_settings(tmp_path):
    from vizkit.errors import VizkitError

    store = Store(tmp_path / "s.duckdb")
    ds = get_registry().open_dataset("digits")
    small = dict(CONFIG, epochs=1, batches_per_epoch=2, eval_images=100, anchors=10)
    train(store, ds, TrainConfig(**small), "r", checkpoint_dir=tmp_path / "ck", progress=False)
    with pytest.raises(VizkitError, match=r"other settings \(lr\)"):
        train(store, ds, TrainConfig(**dict(small, lr=1e-4)), "r",
              checkpoint_dir=tmp_path / "ck", progress=False)
    more = train(store, ds, TrainConfig(**dict(small, epochs=2)), "r",
                 checkpoint_dir=tmp_path / "ck", progress=False)  # more epochs: allowed
    assert [h["epoch"] for h in more] == [0, 1, 2]

"""Faithfulness (issue 25, item 5): deletion and insertion curves of every explainer. Where
the decomposition is exact its deletion area is below the random order's (paired, on a
trained model); BiLRP conserves the score on a small bias-free network; the curves equal a
computation by hand; explainers are plugins (``register_explainers``); the CLI's JSON and
its refusals."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import here

from vizkit import Explainer, hookimpl, plugins
from vizkit.compute.faithfulness import area, black, normalised_scores, perturbed, pixel_order
from vizkit.jobs.faithfulness import faithfulness
from vizkit.registry import get_registry
from vizkit.runtime.loaded import LoadedModel
from vizkit.runtime.models import load_model
from vizkit.store import Store

CLI = [sys.executable, "-m", "vizkit.cli"]


def test_the_exact_map_deletes_faster_than_a_random_order_on_a_trained_model(evolved_store,
                                                                            tmp_path):
    import shutil

    store = Store(shutil.copy(evolved_store, tmp_path / "s.duckdb"))
    model = load_model(None, checkpoint="t:2", store=Store(evolved_store))
    row = faithfulness(store, get_registry().open_dataset("digits[test]"), model, "stages.2",
                       queries=16, k=2, progress=False)
    params = json.loads(row["params"])
    methods = params["methods"]
    assert set(methods) == {"decomposition", "gradient-x-input", "bilrp", "random"}
    assert params["pairs"] == 32 and params["random"] == ["random"]
    exact = methods["decomposition"]
    assert exact["deletion_auc"] < methods["random"]["deletion_auc"]
    assert exact["deletion_vs_random_ci95"][1] < 0  # paired over the same pairs
    assert exact["insertion_auc"] > methods["random"]["insertion_auc"]


def test_the_curves_equal_a_computation_by_hand():
    model = load_model("vizkit_small_cnn", "random")
    data = get_registry().open_dataset("digits")
    x = model.preprocess(data.batch_images(np.array([3, 9])))
    relevance = np.arange(28 * 28, dtype=np.float64)[::-1].reshape(28, 28)
    order = pixel_order(relevance)
    assert order[0] == 0 and order[-1] == 28 * 28 - 1  # the largest value first
    base = black(model.config.mean, model.config.std)
    batch = perturbed(x[:1], order, base, steps=4)
    assert batch.shape == (10, 1, 28, 28)
    flat = x[0, 0].flatten()
    for step in range(5):  # by hand: the first step/4 of the pixels (reading order) removed
        n = round(step / 4 * 28 * 28)
        gone = batch[step, 0].flatten()
        assert torch.equal(gone[:n], torch.full((n,), float(base.flatten()[0])))
        assert torch.equal(gone[n:], flat[n:])
        shown = batch[5 + step, 0].flatten()
        assert torch.equal(shown[:n], flat[:n]) and (shown[n:] == base.flatten()[0]).all()
    assert float(base.flatten()[0]) == pytest.approx(-0.286 / 0.353, rel=1e-5)  # black
    scores = np.array([2.0, 1.0, 0.5, 0.5, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0])
    deletion, insertion = normalised_scores(scores, steps=4)
    assert deletion.tolist() == [1.0, 0.5, 0.25, 0.25, 0.0]
    assert area(deletion) == pytest.approx((0.75 + 0.375 + 0.25 + 0.125) / 4)
    assert area(insertion) == pytest.approx((0.25 + 0.5 + 0.75 + 1.0) / 4)


class _BiasFree(nn.Module):
    """Three 3x3 convolutions without biases, ReLUs between: LRP conserves exactly here
    (up to zennit's epsilon)."""

    pretrained_cfg = {"input_size": (1, 12, 12), "mean": (0.5,), "std": (0.25,),
                      "crop_pct": 1.0, "interpolation": "bilinear", "num_classes": 0}

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.ReLU(),
                                      nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.ReLU(),
                                      nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.ReLU())

    def forward(self, x):
        return self.features(x)


@pytest.mark.parametrize("metric", ["dot", "cosine"])
def test_bilrp_conserves_the_score_on_a_small_network(metric):
    model = LoadedModel("bias-free", _BiasFree(), "random")
    x = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    relevance = get_registry().explainer("bilrp").explain(model, "features", metric, x[:1],
                                                          x[1:])[0]
    with torch.no_grad():
        e, r = (model.pooled_with_grad(t, "features") for t in (x[:1], x[1:]))
    score = float(torch.nn.functional.cosine_similarity(e, r)) if metric == "cosine" else \
        float((e * r).sum())
    assert relevance.shape == (12, 12) and np.abs(relevance).sum() > abs(score) / 10
    assert float(relevance.sum()) == pytest.approx(score, rel=1e-4)  # zennit's epsilon 1e-6


class _Centre:
    """A test plugin: an explainer that ranks the image's centre first."""

    @hookimpl
    def register_explainers(register):
        def explain(model, layer, metric, queries, results):
            h, w = queries.shape[-2:]
            yy, xx = np.mgrid[:h, :w]
            return np.repeat(-np.hypot(yy - h / 2, xx - w / 2)[None], len(queries), axis=0)
        register(Explainer("centre-first", "the centre first", explain))


def test_a_plugin_explainer_is_scored_and_inapplicable_ones_are_named(tmp_path):
    plugins.reset()
    plugins.get_plugin_manager().register(_Centre, "vizkit_test_centre")
    try:
        assert "centre-first" in [e.name for e in get_registry().explainers()]
        model = load_model("vizkit_small_cnn", "random")
        row = faithfulness(Store(tmp_path / "s.duckdb"), get_registry().open_dataset("digits"),
                           model, "head", queries=3, k=1,
                           methods=["decomposition", "centre-first", "random"], progress=False)
        params = json.loads(row["params"])
        assert set(params["methods"]) == {"centre-first", "random"}
        assert "no exact per-pixel map" in params["skipped"]["decomposition"]
    finally:
        plugins.reset()


def test_cli_json_and_refusals(tmp_path, capsys):
    store = tmp_path / "s.duckdb"
    base = CLI + ["--store", str(store), "faithfulness", "--dataset", "digits", "--model",
                  "vizkit_small_cnn", "--weights", "random", "--layer", "stages.2",
                  "--queries", "4", "--k", "1", "--steps", "5", "--quiet"]
    out = here(base + ["--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert set(found) == {"methods", "pairs"} and found["pairs"] == 4
    for m in found["methods"].values():
        assert set(m) == {"deletion_auc", "insertion_auc", "ci95_deletion"}
        assert m["ci95_deletion"][0] <= m["deletion_auc"] <= m["ci95_deletion"][1]
    from vizkit.cli import main

    empty = tmp_path / "e.duckdb"
    for extra, said in ((["--metric", "euclidean"], "use --metric cosine or dot"),
                        (["--methods", "nope"], "Unknown explainer 'nope'")):
        code = main(["--store", str(empty), *base[5:], *extra])  # as the command runs it
        err = capsys.readouterr().err
        assert code == 2 and said in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) <= 2 and not empty.exists()

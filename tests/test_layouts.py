"""Projections, clusters, predictions and their evolution across training checkpoints."""
import sys

import numpy as np
import pytest
import torch
from conftest import here
from sklearn.datasets import load_digits
from sklearn.metrics import normalized_mutual_info_score

from vizkit.compute.clustering import (
    confusion,
    kmeans,
    l2_normalise,
    nearest_to_centre,
    nmi,
    purity,
)
from vizkit.compute.projection import mean_displacement, normalise, procrustes, project
from vizkit.jobs.layouts import evolve_run, put_predictions
from vizkit.registry import get_registry
from vizkit.runtime.models import load_model
from vizkit.store import Store

CLI = [sys.executable, "-m", "vizkit.cli"]


@pytest.fixture(scope="module")
def pixels():
    d = load_digits()
    return d.data[:400].astype(np.float32), d.target[:400]


@pytest.mark.parametrize("method", ["pca", "umap", "tsne"])
def test_layouts_are_reproducible_with_a_seed(pixels, method):
    x, _ = pixels
    a, b = project(x, method, seed=1), project(x, method, seed=1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (400, 2) and np.sqrt((a ** 2).sum(1).mean()) == pytest.approx(1, abs=1e-5)
    if method == "umap":  # PCA and t-SNE (PCA-initialised) do not depend on the seed
        assert not np.allclose(a, project(x, method, seed=2))


def test_procrustes_undoes_rotation_scale_and_shift():
    rng = np.random.default_rng(0)
    ref = normalise(rng.normal(size=(200, 2)))
    theta = 0.7
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    moved = 3.0 * ref @ rot[::-1] + [5, -2]  # rotation with a reflection, scale, shift
    np.testing.assert_allclose(procrustes(ref, moved), ref, atol=1e-5)
    assert mean_displacement(ref, moved) > 1


def test_alignment_lowers_displacement_between_checkpoints(evolved_store):
    store = Store(evolved_store)
    layouts = store.results("projections")
    import json

    for method in ("pca", "umap"):
        rows = [r for r in layouts.to_dict("records")
                if json.loads(r["params"])["method"] == method]
        by = {(json.loads(r["params"])["aligned"], r["checkpoint"]):
              store.per_image("projections", r["result_key"])[["x", "y"]].to_numpy()
              for r in rows}
        steps = [("t:0", "t:1"), ("t:1", "t:2")]
        aligned = sum(mean_displacement(by[True, a], by[True, b]) for a, b in steps)
        alone = sum(mean_displacement(by[False, a], by[False, b]) for a, b in steps)
        assert aligned < 0.9 * alone, (method, aligned, alone)


def test_evolution_is_idempotent_and_reproducible(evolved_store, tmp_path):
    store = Store(evolved_store)
    before = set(store.results("projections")["result_key"])
    again = evolve_run(store, get_registry().open_dataset("digits[test]"), "t", "embedding",
                       "pca", progress=False)
    assert {r["result_key"] for r in again} <= before
    assert set(store.results("projections")["result_key"]) == before


def test_clusters_scores_equal_scikit_learn_and_members_are_nearest_their_centre(pixels):
    x, y = pixels
    assignment, centres, dist = kmeans(x, 10, seed=0)
    assert nmi(y, assignment) == pytest.approx(normalized_mutual_info_score(y, assignment))
    majority = sum(np.bincount(y[assignment == c]).max() for c in np.unique(assignment))
    assert purity(y, assignment) == pytest.approx(majority / len(y))
    to_all = np.linalg.norm(l2_normalise(x)[:, None] - centres[None], axis=2)
    np.testing.assert_allclose(dist, to_all[np.arange(len(x)), assignment], rtol=1e-5)
    assert (to_all.argmin(1) == assignment).mean() > 0.99  # nearest their own centre
    near = nearest_to_centre(assignment, dist, 3, 5)
    assert (assignment[near] == 3).all() and (np.diff(dist[near]) >= 0).all()


def test_confusion_equals_one_computed_from_the_predictions(evolved_store):
    store = Store(evolved_store)
    ds = get_registry().open_dataset("digits[test]")
    model = load_model(None, checkpoint="t:2", store=store)
    row = put_predictions(store, ds, model)
    stored = store.per_image("predictions", row["result_key"])["pred"].to_numpy()
    with torch.inference_mode():
        direct = model.module(model.preprocess(ds.batch_images(np.arange(len(ds))))).argmax(1)
    np.testing.assert_array_equal(stored, direct.numpy())
    expected = np.zeros((10, 10), int)
    for t, p in zip(ds.labels, stored):
        expected[t, p] += 1
    np.testing.assert_array_equal(confusion(ds.labels, stored, 10), expected)
    assert np.trace(expected) / len(ds) > 0.5  # the trained checkpoint classifies


def test_cli_project_and_evolve(tmp_path, evolved_store):
    store = ["--store", str(tmp_path / "s.duckdb")]
    ok = here(CLI + store + ["project", "--dataset", "digits[test]", "--model",
                                       "vizkit_small_cnn", "--weights", "random", "--layer",
                                       "embedding", "--method", "pca", "--clusters", "5",
                                       "--quiet"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "pca layout, 5 clusters and predictions of 359 images" in ok.stdout
    missing = here(CLI + store + ["evolve", "--run", "nope", "--dataset", "digits",
                                            "--layer", "embedding"], capture_output=True,
                             text=True)
    assert missing.returncode == 2 and "Unknown run 'nope'" in missing.stderr
    split = here(CLI + ["--store", str(evolved_store), "evolve", "--run", "t",
                                  "--dataset", "digits[val]", "--layer", "embedding"],
                           capture_output=True, text=True)
    assert split.returncode == 2 and "no images in split 'val'" in split.stderr


def test_cluster_scores_equal_scikit_learns():
    from sklearn.metrics import confusion_matrix, normalized_mutual_info_score
    from sklearn.metrics.cluster import contingency_matrix

    from vizkit.compute.clustering import confusion, contingency, nmi, purity

    rng = np.random.default_rng(0)
    for n, k, c in ((500, 10, 7), (50, 3, 3), (20, 1, 4), (30, 5, 1)):
        labels, clusters = rng.integers(0, k, n), rng.integers(0, c, n)
        assert nmi(labels, clusters) == pytest.approx(
            normalized_mutual_info_score(labels, clusters), abs=1e-12)
        table = contingency_matrix(labels, clusters)
        assert np.array_equal(contingency(labels, clusters), table)
        assert purity(labels, clusters) == pytest.approx(table.max(0).sum() / n)
        assert np.array_equal(confusion(labels, clusters % k, k),
                              confusion_matrix(labels, clusters % k, labels=np.arange(k)))
    assert nmi(np.zeros(5), np.zeros(5)) == 1.0


def test_cluster_summary_equals_a_groupby_of_the_point_table(evolved_store):
    """The projection page's cluster list (images, most common class and its share) equals
    pandas' group-by over the same per-image table; the colour options the page offers
    before building that table are its columns."""
    from vizkit.read.catalog import Reader
    from vizkit.read.layouts import cluster_summary, colour_options, layouts, point_table

    reader = Reader(evolved_store)
    for row in layouts(reader):
        assert colour_options(reader, row) == [c for c in (
            "class", "cluster", "predicted", "correct", "split") if c in point_table(reader, row)]
    layout = next(r for r in layouts(reader) if "cluster" in point_table(reader, r))
    df = point_table(reader, layout)
    expected = df.groupby("cluster")["class"].agg(
        images="size", top_share=lambda s: s.value_counts(normalize=True).iloc[0])
    got = cluster_summary(reader, layout)
    np.testing.assert_array_equal(got.index, expected.index)
    np.testing.assert_array_equal(got["images"], expected["images"])
    np.testing.assert_allclose(got["top_share"], expected["top_share"])
    for c in got.index:  # the most common class (any of them on a tie)
        counts = df.loc[df["cluster"] == c, "class"].value_counts()
        assert counts[got.loc[c, "top_class"]] == counts.iloc[0]

"""Retrieval metrics against brute force; the spectrum's explained variance and truncation."""
import numpy as np
import pytest
from sklearn.datasets import load_digits

from vizkit.compute.evaluation import retrieval_metrics
from vizkit.compute.spectrum import keep_top, recall_after_truncation, spectrum, truncation_ks
from vizkit.registry import get_registry


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    rng = np.random.default_rng(0)
    # a random projection: a real-valued embedding that is not perfect
    x = d.data.astype(np.float32) @ rng.normal(size=(64, 24)).astype(np.float32)
    return x, d.target


def brute_force(x, y, ks=(1, 2, 4, 8)):
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")
    same = y[order] == y[:, None]
    out = {f"recall_at_{k}": same[:, :k].any(axis=1).mean() for k in ks}
    ap = []
    for i in range(len(y)):
        r = (y == y[i]).sum() - 1
        hits = same[i, :r]
        ap.append((np.cumsum(hits) / np.arange(1, r + 1) * hits).sum() / r)
    out["map_at_r"] = float(np.mean(ap))
    return out


def test_recall_at_k_and_map_at_r_equal_brute_force(digits):
    x, y = digits
    got, expected = retrieval_metrics(x, y), brute_force(x, y)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-5), name
    assert 0 < got["nmi"] <= 1
    assert got["recall_at_1"] <= got["recall_at_2"] <= got["recall_at_4"] <= got["recall_at_8"]


def test_sop_recall_at_1_10_100_1000_equal_brute_force():
    # Stanford Online Products' protocol: many small classes, Recall@1/10/100/1000
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(300), rng.integers(2, 7, 300))
    x = (rng.normal(size=(300, 16))[y] + rng.normal(scale=1.5, size=(len(y), 16))
         ).astype(np.float32)
    ks = (1, 10, 100, 1000)
    got, expected = retrieval_metrics(x, y, ks), brute_force(x, y, ks)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-5), name
    assert "recall_at_2" not in got


def test_nmi_with_thousands_of_classes_uses_one_cluster_per_class():
    from sklearn.metrics import normalized_mutual_info_score

    from vizkit.compute.evaluation import MANY_CLUSTERS, cluster_for_nmi

    rng = np.random.default_rng(2)
    n_classes = MANY_CLUSTERS + 44
    y = np.repeat(np.arange(n_classes), 3)
    x = (rng.normal(size=(n_classes, 8)) * 10)[y] + rng.normal(size=(len(y), 8))
    assign = cluster_for_nmi(x.astype(np.float32), n_classes)
    assert assign.shape == y.shape and assign.max() < n_classes
    assert normalized_mutual_info_score(y, assign) > 0.9  # well-separated classes found


def test_spectrum_explained_variance_sums_to_one_and_truncation(digits):
    x, y = digits
    spec = spectrum(x)
    assert spec.explained.sum() == pytest.approx(1.0, abs=1e-9)
    assert (np.diff(spec.singular_values) <= 1e-9).all()
    assert np.allclose(keep_top(spec, x.shape[1]), x, atol=1e-3)  # nothing dropped
    assert truncation_ks(24) == [24, 12, 6, 3, 1]
    recall = recall_after_truncation(x, y, get_registry().metric("cosine"))
    assert recall[24] == pytest.approx(brute_force(x, y)["recall_at_1"], abs=1e-9)
    assert recall[1] < recall[24] - 0.3  # one direction cannot separate ten digits

"""Metrics equal scipy's cdist; search equals a brute-force ranking."""
import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from vizkit.compute.nearest import all_pairs_topk, retrieval_score, topk
from vizkit.registry import get_registry

SCIPY = {
    "cosine": lambda a, b: 1 - cdist(a, b, "cosine"),
    "dot": lambda a, b: a @ b.T,
    "euclidean": lambda a, b: cdist(a, b, "euclidean"),
    "sqeuclidean": lambda a, b: cdist(a, b, "sqeuclidean"),
    "manhattan": lambda a, b: cdist(a, b, "minkowski", p=1),
    "minkowski3": lambda a, b: cdist(a, b, "minkowski", p=3),
}


@pytest.fixture
def vectors():
    rng = np.random.default_rng(0)
    return rng.normal(size=(37, 24)).astype(np.float32), rng.normal(size=(53, 24)).astype(
        np.float32)


@pytest.mark.parametrize("name", sorted(SCIPY))
def test_metric_equals_scipy(name, vectors):
    a, b = vectors
    metric = get_registry().metric(name)
    expected = SCIPY[name](a.astype(np.float64), b.astype(np.float64))
    got = metric.pairwise(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    exact = metric.exact(torch.from_numpy(b))(torch.from_numpy(a)).numpy()
    np.testing.assert_allclose(exact, expected, rtol=1e-4, atol=1e-4)


def test_every_metric_is_tested():
    assert {m.name for m in get_registry().metrics()} == set(SCIPY)


@pytest.mark.parametrize("name", sorted(SCIPY))
def test_search_equals_brute_force(name, vectors):
    a, b = vectors
    metric = get_registry().metric(name)
    idx, scores = topk(metric, a, b, 10)
    full = SCIPY[name](a.astype(np.float64), b.astype(np.float64))
    order = np.argsort(-full if metric.higher_is_more_similar else full, axis=1,
                       kind="stable")[:, :10]
    np.testing.assert_allclose(scores, np.take_along_axis(full, order, 1), rtol=1e-4,
                               atol=1e-4)
    # ties aside, the same images come back
    assert (idx == order).mean() > 0.98


@pytest.mark.parametrize("name", ["cosine", "euclidean", "manhattan"])
def test_all_pairs_excludes_self_and_matches_brute_force(name, vectors):
    x = np.concatenate(vectors)
    metric = get_registry().metric(name)
    nbr, score = all_pairs_topk(metric, x, 5, block=16)
    full = SCIPY[name](x.astype(np.float64), x.astype(np.float64))
    np.fill_diagonal(full, -np.inf if metric.higher_is_more_similar else np.inf)
    order = np.argsort(-full if metric.higher_is_more_similar else full, axis=1)[:, :5]
    assert not (nbr == np.arange(len(x))[:, None]).any()
    np.testing.assert_array_equal(nbr, order)
    np.testing.assert_allclose(score, np.take_along_axis(full, order, 1), rtol=1e-4, atol=1e-4)


def test_retrieval_score_weights_rank():
    assert retrieval_score(1, np.array([1, 1, 1])) == pytest.approx(1.0)
    assert retrieval_score(1, np.array([0, 0, 0])) == 0.0
    early = retrieval_score(1, np.array([1, 0, 0]))
    late = retrieval_score(1, np.array([0, 0, 1]))
    assert early > late > 0
    assert np.isnan(retrieval_score(-1, np.array([1])))

"""Search at scale: features as memory-mapped files (shared, not copied), a killed shard
write invisible and redone, older stores moved to files, every index plugin's recall at
least its stored figure with exact scores after re-ranking, exact fallback for metrics an
index cannot serve, neighbour lists through an index, and the synthetic dataset."""
from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest

from vizkit.compute.indexes import (
    ExactSearcher,
    _top_k_above_block_bound,
    recall_at_k,
    top_k,
)
from vizkit.errors import BadArgumentError
from vizkit.jobs.index import build_index
from vizkit.read.catalog import Reader
from vizkit.read.indexes import answer_for
from vizkit.read.query import Query, search
from vizkit.registry import get_registry
from vizkit.store import Store


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim)).astype(np.float32)
    return (centres[rng.integers(0, 40, n)] + 0.5 * rng.normal(size=(n, dim))).astype(
        np.float32)


def features_store(tmp_path, n=6000, dim=32, with_images=False) -> tuple[Store, dict]:
    """A store with one features result of ``n`` clustered vectors (and, optionally, the
    digits' image table so that searches can describe their results)."""
    store = Store(tmp_path / "s.duckdb")
    key = "digits#0"
    if with_images:
        from vizkit.jobs.ingest import ensure_dataset

        ds = get_registry().open_dataset(f"digits[:{n}]")
        key = ensure_dataset(store, ds, progress=False)
    meta = {"result_key": "f-scale", "dataset_key": key, "model": "bench", "weights": "random",
            "weights_fp": "fp", "layer": "x", "params": "{}"}
    store.put_features(meta, clustered(n, dim))
    return store, store.result("f-scale")


def rss_anon_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _best_values_by_sorting(values: np.ndarray, k: int, best_high: bool) -> np.ndarray:
    """Brute force: each row sorted whole, best first, NaN last."""
    keyed = -values if best_high else values
    return np.take_along_axis(values, np.argsort(keyed, axis=1, kind="stable")[:, :k], 1)


@pytest.mark.parametrize("best_high", [True, False])
@pytest.mark.parametrize("n, k", [(5000, 10), (3000, 50), (700, 10), (40, 5), (6, 10)])
@pytest.mark.parametrize("with_nan", [False, True])
def test_top_k_equals_sorting_whole_rows(n, k, best_high, with_nan):
    """Whichever path top_k takes (a bound from blocks' best values, taken where rows are
    long enough; or a row partition), it returns what sorting each row whole returns, each
    column once: ties (rounded values), excluded entries (-inf/+inf) and all-tied rows
    included; NaN last, rows with fewer numbers than k included."""
    rng = np.random.default_rng(n + k)
    values = np.round(rng.normal(size=(12, n)), 2).astype(np.float32)  # many ties
    values[0, : n // 2] = -np.inf if best_high else np.inf  # half excluded
    values[1] = 1.0  # all tied
    if with_nan:
        values[2, ::7] = np.nan
        values[3, 3:] = np.nan  # fewer numbers than k
    bounded = _top_k_above_block_bound(values, min(k, n), best_high)
    assert (bounded is not None) == (not with_nan and n >= 8 * k * 4)  # the path taken
    idx, got = top_k(values, k, best_high)
    want = _best_values_by_sorting(values, min(k, n), best_high)
    np.testing.assert_array_equal(got, want)  # NaN where they are too
    np.testing.assert_array_equal(np.take_along_axis(values, idx, 1), want)
    assert all(len(set(row)) == len(row) for row in idx.tolist())


def test_features_are_files_that_every_reader_maps_instead_of_copying(tmp_path):
    store, _ = features_store(tmp_path, n=400_000, dim=64)  # 102 MB
    files = store.shard_files("f-scale")
    assert files["features"].path.stat().st_size > 400_000 * 64 * 4
    before = rss_anon_mb()
    totals = []
    for _ in range(2):  # two pages, each with its own reader
        matrix = Reader(store).matrix("f-scale")
        assert not matrix.flags.writeable and isinstance(matrix.base, np.memmap | type(None)) \
            or isinstance(matrix, np.memmap)
        totals.append(float(matrix.sum(dtype=np.float64)))
    grew = rss_anon_mb() - before
    assert totals[0] == totals[1]
    assert grew < 0.25 * matrix.nbytes / 2**20, f"private memory grew by {grew:.0f} MB"


def test_a_shard_written_but_not_committed_stays_invisible_and_is_redone(tmp_path,
                                                                         monkeypatch):
    store = Store(tmp_path / "s.duckdb")
    store.put_features({"result_key": "f-other"}, np.ones((3, 2), np.float32))
    x = clustered(500, 8)
    real_write = Store.write

    def killed(self):
        raise KeyboardInterrupt  # the job dies after the file, before the commit

    monkeypatch.setattr(Store, "write", killed)
    with pytest.raises(KeyboardInterrupt):
        store.put_features({"result_key": "f-new"}, x)
    monkeypatch.setattr(Store, "write", real_write)
    assert (tmp_path / "shards" / "f-new" / "features.npy").is_file()  # on disk ...
    assert store.result("f-new") is None and "f-new" not in Reader(store).catalog().files
    store.put_features({"result_key": "f-new"}, x)  # ... and redone whole
    np.testing.assert_array_equal(Reader(store).matrix("f-new"), x)


def test_an_older_store_is_moved_to_files_on_its_next_write(tmp_path):
    path = tmp_path / "v4.duckdb"
    x = clustered(50, 6)
    store = Store(path)
    store.put_features({"result_key": "f-old"}, np.zeros((1, 1), np.float32))
    con = duckdb.connect(str(path))  # make it what a v4 store was: features as rows
    con.executemany("INSERT INTO features VALUES ('f-old', ?, ?)",
                    [[i, row.tolist()] for i, row in enumerate(x)])
    con.execute("DROP TABLE shards")
    con.execute("UPDATE vizkit_meta SET value = '4' WHERE key = 'schema_version'")
    con.close()
    np.testing.assert_array_equal(Store(path).features("f-old"), x)  # readable as it is
    Store(path).put_features({"result_key": "f-next"}, x)  # the write migrates it
    assert "features" in Store(path).shard_files("f-old")
    np.testing.assert_array_equal(Store(path).features("f-old"), x)
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM features").fetchall() == [(0,)]
    con.close()


@pytest.mark.parametrize("kind", ["exact", "faiss-ivf", "faiss-hnsw"])
def test_each_index_reaches_its_stored_recall_with_exact_scores(tmp_path, kind):
    store, frow = features_store(tmp_path, n=6000, dim=32, with_images=False)
    cosine = get_registry().metric("cosine")
    row = build_index(store, frow, cosine, get_registry().index(kind), progress=False)
    params = json.loads(row["params"])
    reader = Reader(store)
    answer = answer_for(reader, reader.features("f-scale"), cosine)
    assert answer.exact == (kind == "exact") and answer.index.kind == kind
    matrix = reader.matrix("f-scale")
    queries = np.random.default_rng(5).choice(6000, 300, replace=False)  # another sample
    truth, truth_scores = ExactSearcher(cosine, matrix).search(matrix[queries], 50,
                                                               exclude=queries)
    if kind == "exact":
        found, scores = answer.searcher.search(matrix[queries], 50, exclude=queries)
        np.testing.assert_array_equal(found, truth)
        return
    from vizkit.compute.indexes import rerank

    candidates, _ = answer.searcher.search(matrix[queries], 100)
    candidates = np.where(candidates == queries[:, None], -1, candidates)
    found, scores = rerank(cosine, matrix, matrix[queries], candidates, 50)
    assert recall_at_k(found, truth) >= params["recall"] - 0.02  # the stored figure
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    exact = np.einsum("qd,qkd->qk", unit[queries], unit[found])
    np.testing.assert_allclose(scores, exact, atol=1e-5)  # re-ranked: exact scores


def test_search_says_which_index_answered_and_falls_back_to_exact(tmp_path):
    store, frow = features_store(tmp_path, n=1797, dim=16, with_images=True)
    reg = get_registry()
    build_index(store, frow, reg.metric("cosine"), reg.index("faiss-ivf"), progress=False)
    with pytest.raises(BadArgumentError, match="cannot serve manhattan"):
        build_index(store, frow, reg.metric("manhattan"), reg.index("faiss-ivf"),
                    progress=False)
    reader = Reader(store)
    row = reader.features("f-scale")
    found = search(reader, row, reg.metric("cosine"), Query(idx=3), 20)
    assert found.attrs["answered_by"].startswith("faiss-ivf (recall@50")
    assert 3 not in set(found["idx"]) and len(found) == 20
    exact = search(reader, row, reg.metric("manhattan"), Query(idx=3), 20)
    assert exact.attrs["answered_by"] == "exact"
    matrix = reader.matrix("f-scale")
    brute = np.abs(matrix - matrix[3]).sum(1)
    brute[3] = np.inf
    np.testing.assert_array_equal(exact["idx"].to_numpy(), np.argsort(brute, kind="stable")[:20])


def test_neighbour_lists_through_an_approximate_index(tmp_path):
    from vizkit.jobs.neighbors import neighbor_lists

    store, frow = features_store(tmp_path, n=3000, dim=16)
    cosine = get_registry().metric("cosine")
    build_index(store, frow, cosine, get_registry().index("faiss-hnsw"), progress=False)
    nbr, score = neighbor_lists(Reader(store), "f-scale", cosine, 10, tmp_path / "stage",
                                progress=False)
    matrix = Reader(store).matrix("f-scale")
    truth, _ = ExactSearcher(cosine, matrix).search(matrix, 10, exclude=np.arange(3000))
    assert not (nbr == np.arange(3000)[:, None]).any()
    assert recall_at_k(nbr, truth) > 0.95


def test_the_synthetic_dataset_is_the_same_image_whatever_the_batch():
    ds = get_registry().open_dataset("synthetic:50000")
    assert len(ds) == 50_000 and ds.classes[3] == "ring" and ds.labels[13] == 3
    whole = ds.batch_images(np.arange(100, 164))
    assert whole.shape == (64, 32, 32, 3) and whole.dtype == np.uint8
    np.testing.assert_array_equal(ds.image_array(150), whole[50])
    np.testing.assert_array_equal(ds.batch_images(np.array([163, 100])), whole[[63, 0]])
    assert set(ds.splits[:7]) == {"train", "test"}
    other = get_registry().open_dataset("synthetic:50000,7")
    assert other.fingerprint != ds.fingerprint and not np.array_equal(
        other.image_array(150), ds.image_array(150))
    with pytest.raises(BadArgumentError, match="number of images"):
        get_registry().open_dataset("synthetic:lots")

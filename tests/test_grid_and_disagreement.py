"""The model x layer grid (curated layers, one extraction pass per model) and where two
embeddings disagree (overlap of their top-k, against brute force)."""
import numpy as np
import pytest

from vizkit.compute.disagreement import most_disagreeing, overlap_per_query
from vizkit.registry import get_registry
from vizkit.runtime.models import load_model
from vizkit.store import Store


@pytest.mark.parametrize("name,expected", [
    ("resnet18", ["act1", "layer1", "layer2", "layer3", "layer4", "pre_logits"]),
    ("vgg11", ["features.1", "features.4", "features.9", "features.14", "features.19",
               "features.20", "pre_logits"]),
    ("densenet121", ["features.norm0", "features.denseblock1", "features.denseblock2",
                     "features.denseblock3", "features.norm5", "pre_logits"]),
    ("mobilenetv3_small_100", ["bn1", "blocks.0", "blocks.1", "blocks.3", "blocks.5",
                               "pre_logits"]),
    ("efficientnet_b0", ["blocks.0", "blocks.1", "blocks.2", "blocks.4", "blocks.6",
                         "pre_logits"]),
    ("convnext_atto", ["stages.0", "stages.1", "stages.2", "stages.3", "pre_logits"]),
    ("vizkit_small_cnn", ["stages.0", "stages.1", "stages.2", "pre_logits"]),
])
def test_auto_layers_are_each_stage_and_the_pooled_features(name, expected):
    model = get_registry().load_model(name, "random", input_size=64)
    assert model.curated_layers() == expected


def test_the_grid_extracts_each_model_once_for_all_its_layers(tmp_path, monkeypatch):
    from vizkit.cli import main
    from vizkit.runtime.loaded import LoadedModel

    passes: dict[str, int] = {}
    real = LoadedModel._activations

    def counted(self, x, layers):
        passes[self.name] = passes.get(self.name, 0) + 1
        return real(self, x, layers)
    monkeypatch.setattr(LoadedModel, "_activations", counted)
    store = tmp_path / "s.duckdb"
    code = main(["--store", str(store), "precompute", "--dataset", "digits[:300]", "--models",
                 "vizkit_small_cnn,resnet18", "--weights", "random", "--input-size", "32",
                 "--layers", "auto", "--metrics", "cosine", "--batch-size", "100", "--quiet"])
    assert code == 0
    # one forward pass per batch of 100 per model (plus one dry pass for the layer shapes)
    assert passes == {"vizkit_small_cnn": 3, "resnet18": 3}
    features = Store(store).results("features")
    by_model = features.groupby("model")["layer"].apply(set)
    assert by_model["resnet18"] == {"act1", "layer1", "layer2", "layer3", "layer4",
                                    "pre_logits"}
    assert by_model["vizkit_small_cnn"] == {"stages.0", "stages.1", "stages.2", "pre_logits"}


def test_overlap_per_query_equals_brute_force():
    rng = np.random.default_rng(0)
    a = np.stack([rng.permutation(50)[:12] for _ in range(300)])
    b = np.where(rng.random(a.shape) < 0.5, a, rng.integers(0, 50, a.shape))
    for k in (1, 5, 10):
        got = overlap_per_query(a, b, k)
        expected = [len(set(x[:k]) & set(y[:k])) / k for x, y in zip(a, b)]
        assert np.allclose(got, expected)
    order = most_disagreeing(got)
    assert np.all(np.diff(got[order]) >= 0)


TIE = 1e-6  # similarities closer than this may order either way in float32


def brute_top(matrix: np.ndarray, i: int, k: int) -> tuple[np.ndarray, bool]:
    """Query ``i``'s ``k`` most cosine-similar other rows (float64), and whether the k-th
    and the next are within :data:`TIE` (a boundary float32 may draw either way)."""
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    sims = unit @ unit[i]
    sims[i] = -np.inf
    order = np.argsort(-sims, kind="stable")
    return order[:k], bool(sims[order[k - 1]] - sims[order[k]] < TIE)


def trained_rows(reader):
    """The evolved store's features of digits[test] by checkpoint of the trained run t."""
    return {r.checkpoint: r for r in reader.features_rows()
            if r.dataset.name == "digits[test]" and r.run == "t" and r.layer == "embedding"}


def test_disagreement_table_equals_brute_force(evolved_store):
    from vizkit.read.catalog import Reader
    from vizkit.read.disagreement import disagreement_table

    reader = Reader(Store(evolved_store))
    rows = trained_rows(reader)
    cosine = get_registry().metric("cosine")
    a, b = rows["t:1"], rows["t:2"]  # the same run one epoch apart
    table = disagreement_table(reader, (a, cosine), (b, cosine), k=10, queries=200)
    ma, mb = np.asarray(reader.matrix(a.result_key)), np.asarray(reader.matrix(b.result_key))
    assert len(table) == 200 and table["overlap"].is_monotonic_increasing
    assert 0 < table["overlap"].mean() < 1
    checked = 0
    for r in table.itertuples():
        (ta, tie_a), (tb, tie_b) = brute_top(ma, r.idx, 10), brute_top(mb, r.idx, 10)
        if not (tie_a or tie_b):
            assert r.overlap == pytest.approx(len(set(ta) & set(tb)) / 10), r.idx
            checked += 1
    assert checked > 180


def test_auto_layers_give_channel_images_only_for_spatial_stages(tmp_path):
    model = load_model("vizkit_small_cnn", "random")
    spatial = [n for n in model.curated_layers() if model.layer(n).spatial]
    assert spatial == ["stages.0", "stages.1", "stages.2"]


def test_grid_numbers_equal_a_direct_computation(evolved_store):
    from vizkit.read.catalog import Reader
    from vizkit.read.grid import configurations, quality_table

    reader = Reader(Store(evolved_store))
    table = quality_table(reader, "digits[test]", get_registry().metric("cosine"), queries=300)
    assert len(table) == len(configurations(reader, "digits[test]")) >= 3
    trained = {r.result_key for ck, r in trained_rows(reader).items() if ck != "t:0"}
    labels = reader.images(trained_rows(reader)["t:2"].dataset).labels
    weights = 1.0 / np.log2(np.arange(2, 52))
    for r in table.itertuples():
        m = np.asarray(reader.matrix(r.result_key), np.float64)
        recall, ndcg, ties = [], [], 0
        for i in range(300):
            top, tied = brute_top(m, i, 50)
            ties += tied or brute_top(m, i, 1)[1]
            hits = labels[top] == labels[i]
            recall.append(hits[0])
            ndcg.append((hits * weights).sum() / weights.sum())
        # equal, but for queries whose ranking has a float32-sized tie at its boundary
        assert r.recall_at_1 == pytest.approx(np.mean(recall), abs=ties / 300 + 1e-9), r.layer
        assert r.ndcg_at_50 == pytest.approx(np.mean(ndcg), abs=ties / 300 + 1e-4), r.layer
        if r.result_key in trained:
            assert ties < 15, (r.model, ties)
    assert table.groupby("model")["depth"].apply(list).map(
        lambda d: d == list(range(1, len(d) + 1))).all()


def test_the_grid_page_reads_the_stored_top_50_lists_the_grid_job_made(tmp_path,
                                                                      monkeypatch):
    """With the grid job's top-50 lists stored, the page's scores are looked up (no search)
    and equal those of searching the same queries."""
    from vizkit.compute.indexes import ExactSearcher
    from vizkit.jobs.precompute import precompute
    from vizkit.read.catalog import Reader
    from vizkit.read.grid import quality_table

    store = Store(tmp_path / "s.duckdb")
    model = load_model("vizkit_small_cnn", "random")
    precompute(store, get_registry().open_dataset("digits[:400]"), model,
               ["stages.2", "embedding"], ["cosine"], k=50, progress=False)
    cosine = get_registry().metric("cosine")
    searched = quality_table(Reader(store), "digits[:400]", cosine, queries=300)

    def no_search(*args, **kwargs):
        raise AssertionError("searched although the top-50 lists are stored")
    monkeypatch.setattr(ExactSearcher, "search", no_search)  # every exact search
    looked_up = quality_table(Reader(store), "digits[:400]", cosine, queries=300)
    assert len(looked_up) == 2
    for a, b in zip(searched.itertuples(), looked_up.itertuples()):
        assert b.recall_at_1 == pytest.approx(a.recall_at_1, abs=2 / 300)
        assert b.ndcg_at_50 == pytest.approx(a.ndcg_at_50, abs=1e-3)
    with pytest.raises(AssertionError, match="searched"):  # no lists for dot: a search
        quality_table(Reader(store), "digits[:400]", get_registry().metric("dot"), 300)


def test_channel_images_take_one_model(tmp_path, capsys):
    from vizkit.cli import main

    code = main(["--store", str(tmp_path / "s.duckdb"), "precompute", "--dataset", "digits",
                 "--models", "vizkit_small_cnn,resnet18", "--weights", "random",
                 "--channel-vis", "--layers", "auto"])
    assert code == 2 and "one model's channels" in capsys.readouterr().err

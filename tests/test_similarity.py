"""Similarity maps: the maps sum exactly to the score, on random tensors and real models."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from vizkit.compute.mapservice import MapService
from vizkit.compute.similarity import (
    Decomposer,
    NotDecomposableError,
    SpatialFeatures,
    pair_maps,
    query_maps,
)
from vizkit.read.overlay import legend, shared_scale, signed_overlay
from vizkit.registry import get_registry


def _features(rng, h, w, d, head=None):
    a = np.maximum(rng.normal(size=(h * w, d)), 0)  # ReLU-like spatial features
    if head is not None:
        weight, bias = head
        a = a @ weight.T + bias  # per-position projection by an affine head
    return SpatialFeatures(a, h, w, np.zeros((4, 4), np.uint8))


def _score(a: SpatialFeatures, b: SpatialFeatures, metric: str) -> float:
    fa, fb = torch.from_numpy(a.pooled), torch.from_numpy(b.pooled)
    if metric == "cosine":
        return float(F.cosine_similarity(fa, fb, dim=0))
    return float(fa @ fb)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), hq=st.integers(1, 9), wq=st.integers(1, 9),
       hr=st.integers(1, 9), wr=st.integers(1, 9), d=st.integers(1, 48),
       metric=st.sampled_from(["cosine", "dot"]), linear_head=st.booleans())
def test_maps_sum_to_the_score(seed, hq, wq, hr, wr, d, metric, linear_head):
    rng = np.random.default_rng(seed)
    head = (rng.normal(size=(16, d)), rng.normal(size=16)) if linear_head else None
    a, b = _features(rng, hq, wq, d, head), _features(rng, hr, wr, d, head)
    maps = pair_maps(a, b, metric)
    score = _score(a, b, metric)
    assert maps.query.shape == (hq, wq) and maps.result.shape == (hr, wr)
    tol = 1e-5 * max(1.0, abs(score))
    assert maps.query.sum() == pytest.approx(score, abs=tol)
    assert maps.result.sum() == pytest.approx(score, abs=tol)
    assert maps.score == pytest.approx(score, abs=tol)


def test_batched_maps_equal_pairwise_ones():
    rng = np.random.default_rng(1)
    q = _features(rng, 5, 3, 8)
    results = [_features(rng, 4, 6, 8) for _ in range(4)]
    for batched, r in zip(query_maps(q, results, "cosine"), results):
        single = pair_maps(q, r, "cosine")
        np.testing.assert_allclose(batched.query, single.query, rtol=1e-12)
        np.testing.assert_allclose(batched.result, single.result, rtol=1e-12)


def test_a_linear_head_gives_signed_contributions():
    rng = np.random.default_rng(2)
    head = (rng.normal(size=(8, 6)), np.zeros(8))
    maps = pair_maps(_features(rng, 4, 4, 6, head), _features(rng, 4, 4, 6, head), "cosine")
    assert maps.query.min() < 0 < maps.query.max()


def test_distances_have_no_additive_map():
    rng = np.random.default_rng(3)
    with pytest.raises(NotDecomposableError, match="cosine map"):
        pair_maps(_features(rng, 2, 2, 3), _features(rng, 2, 2, 3), "euclidean")


@pytest.mark.parametrize("name,size,layer,mode", [
    ("vizkit_small_cnn", None, "stages.2", "spatial"),
    ("vizkit_small_cnn", None, "embedding", "head"),   # linear embedding on pooled features
    ("resnet18", 64, "layer3", "spatial"),
    ("resnet18", 64, "pre_logits", "head"),
])
def test_real_models_maps_sum_to_the_stored_kind_of_score(name, size, layer, mode):
    """The sums equal the score of the very features search uses (embed_images)."""
    model = get_registry().load_model(name, "random", input_size=size)
    decomposer = Decomposer(model, layer)
    assert decomposer.mode == mode
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 52, 3), dtype=np.uint8),
              rng.integers(0, 256, (30, 30), dtype=np.uint8),
              rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)]
    spatial = decomposer.images(images)
    embedded = torch.from_numpy(model.embed_images(images, [layer])[layer]).double()
    for metric in ("cosine", "dot"):
        expected = get_registry().metric(metric).pairwise(embedded[:1], embedded[1:])[0]
        for maps, score in zip(query_maps(spatial[0], spatial[1:], metric), expected):
            tol = 1e-5 * max(1.0, abs(float(score)))
            assert maps.query.sum() == pytest.approx(float(score), abs=tol)
            assert maps.result.sum() == pytest.approx(float(score), abs=tol)


def test_whole_images_give_non_square_maps_that_still_sum_to_the_score():
    model = get_registry().load_model("resnet18", "random", input_size=64)
    decomposer = Decomposer(model, "layer3")
    rng = np.random.default_rng(4)
    wide = rng.integers(0, 256, (64, 160, 3), dtype=np.uint8)
    tall = rng.integers(0, 256, (120, 64, 3), dtype=np.uint8)
    a, b = decomposer.images([wide, tall], crop=False)
    assert (a.h, a.w) == (4, 10) and (b.h, b.w) == (8, 4)
    maps = pair_maps(a, b, "cosine")
    with torch.inference_mode():
        fa = model.pooled_features(model.preprocess.whole(wide), ["layer3"])["layer3"][0]
        fb = model.pooled_features(model.preprocess.whole(tall), ["layer3"])["layer3"][0]
    score = float(F.cosine_similarity(fa.double(), fb.double(), dim=0))
    assert maps.query.sum() == pytest.approx(score, abs=1e-5)
    assert maps.result.sum() == pytest.approx(score, abs=1e-5)


def test_a_non_linear_head_is_refused_with_the_layers_to_use():
    model = get_registry().load_model("convnext_atto", "random", input_size=64)
    with pytest.raises(NotDecomposableError, match="not affine.*Pick a spatial layer"):
        Decomposer(model, "pre_logits")
    assert Decomposer(model, "stages").mode == "spatial"


def test_noise_on_half_of_the_query_moves_the_map_to_the_other_half(fashion_model):
    """Behaviour, not a snapshot: with a briefly trained model (the session's small CNN,
    two epochs on 12,000 Fashion-MNIST images), replacing the right half of a query (whose
    result is the clean image) by noise shifts the query map's share of the similarity to
    the left half."""
    model, ds = fashion_model
    decomposer = Decomposer(model, "embedding")
    rng = np.random.default_rng(0)

    def left_share(m: np.ndarray) -> float:
        half = m.shape[1] // 2
        return m[:, :half].sum() / (np.abs(m[:, :half]).sum() + np.abs(m[:, -half:]).sum())

    moved = []
    for i in range(30):
        clean = ds.image_array(i)
        noisy = clean.copy()
        noisy[:, 14:] = rng.integers(0, 256, (28, 14))
        q_noisy, result, q_clean = decomposer.images([noisy, clean, clean])
        moved.append(left_share(pair_maps(q_noisy, result, "cosine").query) -
                     left_share(pair_maps(q_clean, result, "cosine").query))
    assert np.mean(np.array(moved) > 0) >= 0.8 and np.median(moved) > 0.05


def test_map_service_reuses_what_it_computed():
    ds = get_registry().open_dataset("digits")
    model = get_registry().load_model("vizkit_small_cnn", "random")
    service = MapService(Decomposer(model, "stages.2"), ds, cache_size=8)
    first = service.dataset_features([3, 4, 5])
    again = service.dataset_features([5, 3])
    assert again[0] is first[2] and again[1] is first[0]
    service.dataset_features(range(10, 20))
    assert len(service._cache) == 8
    upload = np.full((20, 30), 90, np.uint8)
    assert service.image_features(upload) is service.image_features(upload.copy())
    assert service.image_features(upload, crop=False).w > service.image_features(upload).w
    results, maps = service.maps(first[0], [4, 5], "euclidean")  # drawn as cosine maps
    assert len(results) == 2 and maps[0].query.sum() == pytest.approx(maps[0].score)


def test_overlays_share_one_signed_scale():
    maps = [np.array([[1.0, -2.0]]), np.array([[0.5]])]
    assert shared_scale(maps) == 2.0 and shared_scale([np.zeros((2, 2))]) == 1.0
    png = signed_overlay(np.full((28, 28), 128, np.uint8), maps[0], 2.0, width=56)
    from io import BytesIO

    from PIL import Image
    img = np.asarray(Image.open(BytesIO(png)))
    assert img.shape == (56, 56, 3)
    left, right = img[28, 2].astype(int), img[28, 53].astype(int)
    assert left[2] > left[0] and right[0] > right[2]  # positive blue, negative red
    assert Image.open(BytesIO(legend(2.0))).size == (320, 14)


# three chunks of queries and their results: a query of one chunk is a result of another,
# results recur within and across chunks, and a chunk needs an image only a chunk before saw
STREAM_CHUNKS = [
    ([0, 1, 2], [[1, 10, 11, 12], [0, 10, 13, 14], [3, 11, 15, 16]]),
    ([3, 4], [[11, 17, 0, 18], [10, 19, 20, 5]]),
    ([5, 6, 7], [[11, 21, 22, 3], [23, 24, 25, 26], [27, 28, 29, 13]]),
]


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_a_stream_of_chunks_gets_each_pairs_maps_forwarding_each_image_once(metric):
    """Every pair's maps, query side and result side, equal query_maps' of the same two
    images; over all chunks each image is forwarded once, and nothing is kept after the
    last chunk that needs it."""
    from vizkit.compute.pairstream import PairMapStream

    data = get_registry().open_dataset("digits[:40]")
    decomposer = Decomposer(get_registry().load_model("vizkit_small_cnn", "random"),
                            "stages.2")
    every = decomposer.images(list(data.batch_images(np.arange(30))))
    forwarded: list[int] = []
    positions = decomposer.positions
    decomposer.positions = lambda images: forwarded.append(len(images)) or positions(images)
    last = {i: c for c, (q, r) in enumerate(STREAM_CHUNKS) for i in [*q, *np.ravel(r)]}
    stream = PairMapStream(decomposer, data, metric, batch_size=4)
    for c, (queries, results) in enumerate(STREAM_CHUNKS):
        seen = {*queries, *np.ravel(results).tolist()}
        mq, mr = stream.chunk(np.array(queries), np.array(results),
                              {i for i in seen if last[i] > c})
        assert mq.shape == mr.shape == (len(queries), 4, 49) and stream.grid == (7, 7)
        for q, row, aq, ar in zip(queries, results, mq, mr):
            for maps, a, b in zip(query_maps(every[q], [every[r] for r in row], metric),
                                  aq, ar):
                scale = max(np.abs(maps.query).max(), np.abs(maps.result).max())
                np.testing.assert_allclose(a, maps.query.ravel(), atol=1e-5 * scale)
                np.testing.assert_allclose(b, maps.result.ravel(), atol=1e-5 * scale)
    assert sum(forwarded) == len(last) and max(forwarded) <= 4
    assert not stream._kept
    with pytest.raises(NotDecomposableError):
        PairMapStream(decomposer, data, "euclidean")

"""Why similar, by channel: the score splits exactly over channels and, per channel, over
the pixels of both images; removing a channel lowers the dot product by its contribution."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vizkit.compute.channelsplit import channel_maps, channel_split
from vizkit.compute.similarity import Decomposer, NotDecomposableError, SpatialFeatures, pair_maps
from vizkit.registry import get_registry


def _features(rng, h, w, d, signed=False):
    a = rng.normal(size=(h * w, d))
    return SpatialFeatures(a if signed else np.maximum(a, 0), h, w, np.zeros((4, 4), np.uint8))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), hq=st.integers(1, 8), wq=st.integers(1, 8),
       hr=st.integers(1, 8), wr=st.integers(1, 8), d=st.integers(1, 40),
       metric=st.sampled_from(["cosine", "dot"]), signed=st.booleans())
def test_channels_and_positions_sum_to_the_score(seed, hq, wq, hr, wr, d, metric, signed):
    rng = np.random.default_rng(seed)
    a, b = _features(rng, hq, wq, d, signed), _features(rng, hr, wr, d, signed)
    split = channel_split(a, b, metric)
    score = pair_maps(a, b, metric).score
    tol = 1e-9 * max(1.0, abs(score))
    assert split.contributions.shape == (d,)
    assert split.score == pytest.approx(score, abs=tol)
    assert split.contributions.sum() == pytest.approx(score, abs=tol)
    for c in range(d):  # sum over channels and positions of both images
        on_a, on_b = channel_maps(a, b, metric, c)
        assert on_a.shape == (hq, wq) and on_b.shape == (hr, wr)
        assert on_a.sum() == pytest.approx(split.contributions[c], abs=1e-9)
        assert on_b.sum() == pytest.approx(split.contributions[c], abs=1e-9)


def test_removing_the_top_channel_lowers_the_score_by_its_contribution():
    rng = np.random.default_rng(3)
    a, b = _features(rng, 4, 5, 24), _features(rng, 3, 3, 24)
    split = channel_split(a, b, "dot")
    top = split.most_for(1)[0]
    assert top == int(np.argmax(split.contributions))
    keep = np.ones(24)
    keep[top] = 0
    without = SpatialFeatures(a.positions * keep, a.h, a.w, a.view), \
        SpatialFeatures(b.positions * keep, b.h, b.w, b.view)
    assert pair_maps(*without, "dot").score == pytest.approx(
        split.score - split.contributions[top], rel=1e-12)
    # signed features (a linear head) have channels against the similarity too
    s = channel_split(_features(rng, 2, 2, 16, True), _features(rng, 2, 2, 16, True), "cosine")
    against = s.most_against(3)
    assert against and all(s.contributions[c] < 0 for c in against)
    assert s.contributions[against[0]] == s.contributions.min()
    with pytest.raises(NotDecomposableError):
        channel_split(a, b, "euclidean")


def test_a_real_models_channels_sum_to_the_cosine_search_uses():
    model = get_registry().load_model("vizkit_small_cnn", "random")
    ds = get_registry().open_dataset("digits")
    images = list(ds.batch_images(np.arange(2)))
    a, b = Decomposer(model, "stages.2").images(images)
    f = model.embed_images(images, ["stages.2"])["stages.2"].astype(np.float64)
    cosine = float(f[0] @ f[1] / np.linalg.norm(f[0]) / np.linalg.norm(f[1]))
    split = channel_split(a, b, "cosine")
    assert split.contributions.shape == (f.shape[1],)
    assert split.contributions.sum() == pytest.approx(cosine, abs=1e-5)

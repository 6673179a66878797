"""The model explorer: channel images by optimisation (torch-lucent through vizkit's
wrapper), top-activating images, feature maps, the explorer's own tables, and the CLI."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from vizkit.compute.channels import (
    channel_activation,
    feature_maps,
    render_channel,
    render_channels,
    sample_channels,
    top_activations,
)
from vizkit.compute.lucent_compat import _translate, lucent
from vizkit.errors import VizkitError
from vizkit.registry import get_registry
from vizkit.runtime.models import load_model
from vizkit.store import Store
from vizkit.store import explorer as explorer_store

CLI = [sys.executable, "-m", "vizkit.cli"]


@pytest.fixture(scope="module")
def trained(evolved_store):
    """The small CNN trained 2 epochs on digits (grayscale, 28 px) and the digits test split."""
    store = Store(evolved_store)
    return load_model(None, checkpoint="t:2", store=store), \
        get_registry().open_dataset("digits[test]")


def test_optimised_image_excites_its_channel_far_more_than_noise_or_an_average_image(
        fashion_model):
    model, data = fashion_model
    images = data.batch_images(np.arange(2000))
    average = images.astype(np.float32).mean(0).round().astype(np.uint8)
    rng = np.random.default_rng(0)
    grey_noise = np.clip(128 + rng.normal(0, 40, (28, 28)), 0, 255).astype(np.uint8)
    full_noise = (rng.random((28, 28)) * 255).astype(np.uint8)  # the hardest baseline
    ratios = []
    for channel in sample_channels(64, 6, seed=0):
        item = render_channel(model, "stages.2", channel, steps=256, seed=1)
        assert item.image.shape == (28, 28, 1) and item.image.dtype == np.uint8
        act = channel_activation(model, "stages.2", channel, [item.image[:, :, 0]])[0]
        grey, avg, full = channel_activation(model, "stages.2", channel,
                                             [grey_noise, average, full_noise])
        # some channels are texture detectors that full-contrast noise excites more than any
        # dataset image: the optimised image still beats it, and is far above grey noise
        # and the average image across channels
        assert act > full, (channel, act, full)
        ratios.append(act / max(grey, avg, 1e-6))
    assert min(ratios) > 1.0 and np.median(ratios) > 1.5, ratios
    again = render_channel(model, "stages.2", channel, steps=256, seed=1)
    assert np.array_equal(item.image, again.image)  # reproducible with the seed


def test_a_batched_render_gives_each_channel_its_own_image(fashion_model):
    model, _ = fashion_model
    channels = sample_channels(64, 6, seed=0)
    items = render_channels(model, "stages.2", channels, steps=256, seed=1)
    assert [item.channel for item in items] == channels
    # row: a channel; column: an image of the batch
    excites = np.array([[channel_activation(model, "stages.2", c, [item.image[:, :, 0]])[0]
                         for item in items] for c in channels])
    own = np.diag(excites)
    others = (excites.sum(axis=1) - own) / (len(channels) - 1)
    # each image is its own channel's: it fires that channel more than the others' images
    assert (own > others).all() and np.median(own / others) > 1.5, excites.round(2)
    alone = np.array([channel_activation(model, "stages.2", c, [render_channel(
        model, "stages.2", c, steps=256, seed=1).image[:, :, 0]])[0] for c in channels])
    assert np.median(own / alone) > 0.85, (own, alone)  # as good as rendering it alone


def test_rgb_224_model_renders_and_objectives(trained):
    model = get_registry().load_model("resnet18", "random")
    item = render_channel(model, "layer1", 5, size=224, steps=3)
    assert item.image.shape == (224, 224, 3) and item.image.std() > 0
    small, _ = trained
    tiled = render_channel(small, "stages.1", 2, steps=4, objective="diversity")
    assert tiled.image.shape == (56, 56, 1)
    assert render_channel(small, "stages.1", 2, steps=4, objective="neuron").image.shape == \
        (28, 28, 1)


def test_bad_layers_channels_and_sizes_are_clear_errors(trained):
    model, _ = trained
    with pytest.raises(VizkitError, match="pre_logits"):
        render_channel(model, "pre_logits", 0, steps=2)
    with pytest.raises(VizkitError, match="has 128 channels"):
        render_channel(model, "stages.2", 128, steps=2)
    with pytest.raises(VizkitError, match="no spatial output"):
        feature_maps(model, "head", np.zeros((28, 28), np.uint8))
    with pytest.raises(VizkitError, match="Image size"):
        render_channel(model, "stages.2", 0, size=4, steps=2)


def test_top_activations_equal_a_brute_force_ranking(trained):
    model, test = trained
    top = top_activations(model, test, ["stages.1"], k=5, batch_size=64, progress=False)[
        "stages.1"]
    with torch.inference_mode():
        acts = model.activations(model.preprocess(test.batch_images(np.arange(len(test)))),
                                 ["stages.1"])["stages.1"].float().numpy()
    flat = acts.reshape(len(acts), acts.shape[1], -1)
    for pooling, scores in (("max", flat.max(2)), ("mean", flat.mean(2))):
        for c in (0, 7, 63):
            expected = np.sort(scores[:, c])[::-1][:5]
            assert np.allclose(top.value[pooling][c], expected, atol=1e-5)
            assert np.allclose(scores[top.idx[pooling][c], c], expected, atol=1e-5)
            # each stored map is that image's activation map of the channel
            assert np.allclose(top.maps[pooling][c, 0], acts[top.idx[pooling][c, 0], c],
                               atol=1e-5)


def test_feature_maps_of_one_image(trained):
    model, test = trained
    maps = feature_maps(model, "stages.1", test.image_array(0))
    assert maps.shape == (64, 7, 7) and (maps >= 0).all()  # after ReLU and max-pooling


def test_lucent_transforms_are_exact_on_this_torch():
    x = torch.arange(25, dtype=torch.float32).reshape(1, 1, 5, 5)
    assert torch.allclose(_translate(x, torch.tensor([[0.0, 0.0]])), x, atol=1e-5)
    shifted = _translate(x, torch.tensor([[1.0, 0.0]]))
    assert torch.allclose(shifted[..., 1:], x[..., :-1], atol=1e-4)  # one pixel right
    assert lucent().transform.translate is _translate  # what lucent's jitter now calls
    import kornia  # the real one lucent pins: its rotation is right on torch 2

    centre = torch.tensor([[2.0, 2.0]])
    m = kornia.get_rotation_matrix2d(centre, torch.tensor([0.0]), torch.ones(1, 2))
    assert torch.allclose(kornia.warp_affine(x, m, dsize=(5, 5)), x, atol=1e-4)
    m = kornia.get_rotation_matrix2d(centre, torch.tensor([90.0]), torch.ones(1, 2))
    turned = kornia.warp_affine(x, m, dsize=(5, 5))
    assert torch.allclose(turned, torch.rot90(x, 1, dims=(2, 3)), atol=1e-4)


def test_explorer_tables_belong_to_the_explorer(evolved_store, tmp_path):
    import shutil

    copy = tmp_path / "s.duckdb"
    shutil.copy(evolved_store, copy)  # with its checkpoints: the store refers to them
    shutil.copytree(evolved_store.parent / "checkpoints", tmp_path / "checkpoints")
    store = Store(copy)
    fp = load_model(None, checkpoint="t:2", store=store).weights_fingerprint
    assert len(explorer_store.channel_images(store, fp, "stages.2")) == 3
    before = store.summary()
    explorer_store.drop_tables(store)
    assert explorer_store.channel_images(store, fp).empty
    assert explorer_store.top_activation_rows(store, fp, "stages.2", 0, "max").empty
    assert store.summary() == before  # nothing else touched


def test_cli_channel_vis_resumes_and_rejects_bad_layers(tmp_path, capsys):
    store = tmp_path / "s.duckdb"
    args = ["--store", str(store), "precompute", "--dataset", "digits[:200]", "--model",
            "vizkit_small_cnn", "--weights", "random", "--channel-vis", "--layers",
            "stages.2", "--channels", "2", "--steps", "8", "--quiet"]
    done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "stages.2 2" in done.stdout
    from vizkit.cli import main  # the rest in this process, as the command runs it

    capsys.readouterr()
    assert main(args[:12] + ["--channels", "3", "--steps", "8", "--quiet"]) == 0
    assert "stages.2 3" in capsys.readouterr().out  # one more, two kept
    for layers, message in (("head", "no spatial output"), ("stagez", "Unknown layer")):
        code = main(args[:11] + [layers, "--quiet"])
        err = capsys.readouterr().err
        assert code != 0 and message in err and "Traceback" not in err

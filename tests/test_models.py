"""Models: layers with shapes, preprocessing from the model's config, pooled features."""
import numpy as np
import pytest
import torch

from vizkit.errors import UnknownNameError, WeightsUnavailableError
from vizkit.registry import get_registry
from vizkit.runtime.models import load_model


@pytest.mark.parametrize("name,size", [("resnet18", 32), ("efficientnet_b0", 32),
                                       ("vizkit_small_cnn", None)])
def test_layers_have_shapes_that_match_a_forward(name, size):
    model = load_model(name, "random", input_size=size)
    layers = model.layers()
    assert layers and layers[-1].name == "pre_logits"
    x = torch.zeros(2, model.config.channels, model.config.height, model.config.width)
    acts = model.activations(x, [layers[0].name, layers[-1].name])
    assert tuple(acts[layers[0].name].shape[1:]) == layers[0].shape
    feats = model.pooled_features(x, [li.name for li in layers if li.spatial][-2:])
    for n, t in feats.items():
        assert t.shape == (2, model.layer(n).channels)


def test_several_layers_in_one_pass_equal_one_at_a_time():
    model = load_model("resnet18", "random", input_size=32)
    x = model.preprocess(np.random.default_rng(0).integers(0, 255, (3, 20, 20), np.uint8))
    both = model.pooled_features(x, ["layer2", "layer4"])
    alone = model.pooled_features(x, ["layer4"])
    torch.testing.assert_close(both["layer4"], alone["layer4"])


def test_preprocessing_follows_the_model_config_and_channels():
    rgb = load_model("resnet18", "random")
    assert (rgb.config.height, rgb.config.channels) == (224, 3)
    assert rgb.config.mean == pytest.approx((0.485, 0.456, 0.406))
    gray = np.full((2, 28, 28), 255, np.uint8)
    x = rgb.preprocess(gray)
    assert x.shape == (2, 3, 224, 224)
    torch.testing.assert_close(x[0, 0, 100, 100], torch.tensor((1 - 0.485) / 0.229))
    small = load_model("vizkit_small_cnn", "random")
    colour = np.zeros((1, 56, 56, 3), np.uint8)
    assert small.preprocess(colour).shape == (1, 1, 28, 28)
    mixed = [np.zeros((10, 12, 3), np.uint8), np.zeros((30, 20), np.uint8)]
    assert small.preprocess(mixed).shape == (2, 1, 28, 28)


def test_unknown_model_and_layer_suggest_names():
    with pytest.raises(UnknownNameError, match="Did you mean 'resnet18'"):
        get_registry().model_provider("resnt18")
    model = load_model("resnet18", "random", input_size=32)
    with pytest.raises(UnknownNameError, match="Did you mean 'layer4'"):
        model.layer("layr4")


def test_pretrained_weights_offline_name_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # read when huggingface_hub is imported, which an earlier test may have done: without
    # this, the hub retries the missing network for ~45 s before the same error
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match="--weights random"):
        load_model("resnet18", "pretrained")


def test_weights_file_loads_and_changes_the_fingerprint(tmp_path):
    a = load_model("resnet18", "random", input_size=32)
    sd = {k: v + 0.5 if v.is_floating_point() else v for k, v in a.module.state_dict().items()}
    torch.save(sd, tmp_path / "w.pth")
    b = load_model("resnet18", str(tmp_path / "w.pth"), input_size=32)
    assert b.weights == "file" and b.weights_fingerprint != a.weights_fingerprint
    torch.testing.assert_close(b.module.conv1.weight, sd["conv1.weight"])
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        load_model("resnet18", str(tmp_path / "missing.pth"))
    torch.save({"nothing": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsUnavailableError, match="does not hold weights"):
        load_model("resnet18", str(tmp_path / "bad.pth"))

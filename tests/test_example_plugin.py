"""The worked plugin example, examples/vizkit-efficientnet-lite0, installed with pip (as
scripts/setup.sh does) like any third-party plugin: its model, its weight mapping (checked
on the temple photo), its page and its command."""
import importlib.util

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_sample_image

from vizkit.errors import WeightsUnavailableError
from vizkit.registry import get_registry

NAME = "efficientnet_lite0.imagenet"
INSTALL = "pip install ./examples/vizkit-efficientnet-lite0 (scripts/setup.sh does it)"

if importlib.util.find_spec("vizkit_efficientnet_lite0") is None:  # fail, never skip
    pytest.fail(f"the example plugin is not installed: {INSTALL}", pytrace=False)


@pytest.fixture(scope="module")
def model():
    return get_registry().load_model(NAME, "pretrained")


def test_it_registers_through_its_entry_point():
    registry = get_registry()
    assert NAME in registry.model_names()
    assert registry.model_provider(NAME).name == "efficientnet-lite0"
    assert "imagenet" in [v.name for v in registry.visualizers()]
    assert "imagenet-top5" in [c.name for c in registry.commands()]


def test_the_mapped_weights_see_a_temple_in_the_temple_photo(model):
    from timm.data import ImageNetInfo

    photo = torch.from_numpy(load_sample_image("china.jpg").copy()).permute(2, 0, 1)[None]
    x = F.interpolate(photo.float() / 255, size=(224, 224), mode="bilinear", antialias=True)
    mean, std = model.config.mean, model.config.std
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        top = model.module(x).topk(3).indices[0]
    names = {ImageNetInfo().index_to_description(int(i)).split(",")[0] for i in top}
    assert names == {"church", "bell cote", "palace"}
    state = model.module.state_dict()  # 296 tensors, 4,694,073 numbers (buffers included)
    assert len(state) == 296 and sum(v.numel() for v in state.values()) == 4_694_073


def test_a_mismatched_state_dict_is_refused_naming_the_misfit(model):
    from vizkit_efficientnet_lite0.weights import mapped_state_dict

    target = model.module.state_dict()
    source = {f"w{i}": v.clone() for i, v in enumerate(target.values())}
    assert list(mapped_state_dict(source, target)) == list(target)
    bad = dict(source)
    bad["w5"] = torch.zeros(3, 3)
    with pytest.raises(WeightsUnavailableError, match=r"w5 \(3, 3\) would become"):
        mapped_state_dict(bad, target)
    with pytest.raises(WeightsUnavailableError, match="295 tensors"):
        mapped_state_dict(dict(list(source.items())[:-1]), target)


def test_its_layers_and_a_new_head_for_training(model):
    assert model.curated_layers() == ["blocks.0", "blocks.1", "blocks.2", "blocks.4",
                                      "blocks.6", "pre_logits"]
    head = get_registry().load_model(NAME, "pretrained", model_kwargs={"num_classes": 64})
    assert head.module.classifier.out_features == 64
    same = [torch.equal(a, b) for (k, a), b in zip(head.module.state_dict().items(),
                                                   model.module.state_dict().values())
            if not k.startswith("classifier")]
    assert all(same)


def test_its_command_and_its_page(tmp_path, capsys, digits_store, monkeypatch):
    from PIL import Image
    from streamlit.testing.v1 import AppTest

    from vizkit.cli import main

    photo = tmp_path / "temple.jpg"
    Image.fromarray(load_sample_image("china.jpg")).save(photo)
    assert main(["imagenet-top5", str(photo)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{photo}: ") and out.count("%") == 5
    monkeypatch.setenv("VIZKIT_STORE", str(digits_store))
    at = AppTest.from_string("from vizkit.app.router import run_page\nrun_page('imagenet')",
                             default_timeout=120).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    table = at.dataframe[0].value
    assert len(table) == 5 and np.all(np.diff(table["probability"].to_numpy()) <= 0)
    # the model is the plugin's: the page offers a dataset, no model/layer/metric that
    # would change nothing
    assert [s.key for s in at.selectbox] == ["imagenet_dataset"]

"""The plugin API end to end: a third-party package (installed as a real distribution with
an entry point) adds a model provider, a page, and the command that fills the page; the
CLI runs the command, the app draws the page from what it stored. Every hook is documented
and has a test — checked over the plugin manager's own hooks, with no exemptions."""
from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_plugins import make_distribution

from vizkit import plugins
from vizkit.registry import get_registry

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "vizkit.cli"]

BRIGHTNESS = '''
    """A page and the job that fills it: the mean brightness of every image of a dataset."""
    import numpy as np
    import torch

    from vizkit import Command, ModelProvider, Visualizer, hookimpl
    from vizkit.cli import args as a


    def _arguments(parser):
        parser.add_argument("--dataset", required=True)
        a.add_quiet(parser)


    def _run(args):
        from vizkit.jobs.ingest import ensure_dataset

        dataset, store = a.dataset(args), a.store(args)
        key = ensure_dataset(store, dataset, progress=False)
        values = np.concatenate([b.images.reshape(len(b.ids), -1).mean(1)
                                 for b in dataset.iter_batches(512)]).astype(np.float32)
        store.put_features({"result_key": "brightness-" + key, "dataset_key": key,
                            "model": "brightness", "weights": "none", "weights_fp": "none",
                            "layer": "mean", "params": "{}"}, values[:, None])
        print(f"brightness of {len(values)} images stored")


    def _page():
        import streamlit as st

        from vizkit.app import data

        rows = [r for r in data.reader().features_rows() if r.model == "brightness"]
        if not rows:
            st.info("Nothing yet: run `vizkit brightness --dataset D`.")
            return
        values = data.reader().matrix(rows[-1].result_key)[:, 0]
        st.metric("Mean brightness", f"{values.mean():.2f}")
        st.bar_chart(np.histogram(values, 16)[0])


    class TinyNet(torch.nn.Module):
        pretrained_cfg = {"input_size": (1, 16, 16), "mean": (0.5,), "std": (0.25,),
                          "crop_pct": 1.0, "interpolation": "bilinear"}

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)

        def forward(self, x):
            return self.conv(x).mean(dim=(2, 3))


    @hookimpl
    def register_commands(register):
        register(Command("brightness", "mean brightness of every image", _arguments, _run))


    @hookimpl
    def register_visualizers(register):
        register(Visualizer("brightness", "Brightness", _page, order=90,
                            command="brightness", example="--dataset D"))


    @hookimpl(tryfirst=True)
    def register_models(register):
        register(ModelProvider("tiny", "a tiny conv net", names=lambda: ["tinynet"],
                               accepts=lambda name: name == "tinynet",
                               build=lambda name, **kw: TinyNet()))
'''

CLASH = '''
    from vizkit import Command, hookimpl

    @hookimpl
    def register_commands(register):
        register(Command("search", "mine", lambda p: None, lambda a: 0))
'''


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the CLI, run as a subprocess
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("vizkit_api_")]:
        del sys.modules[name]


def test_a_plugin_adds_a_page_and_the_command_that_fills_it(site, monkeypatch):
    make_distribution(site, "vizkit-brightness", "vizkit_api_brightness", BRIGHTNESS,
                      "brightness")
    store = site / "s.duckdb"
    env = dict(os.environ, PYTHONPATH=str(site))
    listed = subprocess.run(CLI + ["list", "commands"], capture_output=True, text=True,
                            env=env)
    assert "brightness  mean brightness of every image  brightness" in listed.stdout
    pages = subprocess.run(CLI + ["list", "visualizers"], capture_output=True, text=True,
                           env=env)
    assert "Brightness  vizkit brightness --dataset D" in pages.stdout
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VIZKIT_STORE", str(store))
    page = "from vizkit.app.router import run_page\nrun_page('brightness')"
    at = AppTest.from_string(page, default_timeout=120).run()
    assert any("vizkit brightness" in i.value for i in at.info)  # what to run
    done = subprocess.run(CLI + ["--store", str(store), "brightness", "--dataset", "digits"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "brightness of 1797 images stored" in done.stdout
    bad = subprocess.run(CLI + ["brightness"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "--dataset" in bad.stderr
    plugins.reset()
    at = AppTest.from_string(page, default_timeout=120).run()
    assert not at.exception and not at.error
    digits = get_registry().open_dataset("digits")
    assert float(at.metric[0].value) == pytest.approx(float(digits.images.mean()), abs=0.01)


def test_a_plugin_model_provider_answers_before_timm(site):
    make_distribution(site, "vizkit-brightness", "vizkit_api_brightness2",
                      BRIGHTNESS.replace("brightness", "brightness2"), "brightness2")
    reg = get_registry()
    assert reg.model_provider("tinynet").name == "tiny"
    assert reg.model_provider("resnet18").name == "timm"
    model = reg.load_model("tinynet", "random")
    assert (model.config.height, model.config.channels) == (16, 1)
    assert [i.name for i in model.layers()] == ["conv"]


def test_a_plugin_command_may_not_take_a_built_in_name(site):
    make_distribution(site, "vizkit-clash", "vizkit_api_clash", CLASH, "clash")
    reg = get_registry()
    assert reg.owners["command"]["search"] == "vizkit.cli.builtin"
    (failure,) = plugins.failures()
    assert failure.plugin == "clash" and "Duplicate command name: search" in failure.error


def test_every_hook_is_documented_and_tested():
    """Over the plugin manager's own hooks: a docstring that says when it is called, its
    parameter and what it returns; a test plugin implementing it; a documentation entry."""
    pm = plugins.get_plugin_manager()
    hooks = sorted(name for name in dir(pm.hook) if not name.startswith("_")
                   and getattr(pm.hook, name).has_spec())
    assert hooks, "no hooks found"
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    docs = (ROOT / "README.md").read_text() + "\n".join(
        p.read_text() for p in (ROOT / "docs").glob("*.md"))
    for name in hooks:
        spec = getattr(pm.hook, name).spec.function
        doc = inspect.getdoc(spec) or ""
        assert "Called" in doc and "Returns" in doc and ":param register:" in doc, name
        assert "Callable[[" in str(inspect.signature(spec)), f"{name}: register is untyped"
        assert f"def {name}(" in tests, f"no test plugin implements {name}"
        assert f"`{name}`" in docs, f"{name} is not documented in README.md or docs/"


NUMPY_INDEX = '''
    import numpy as np

    from vizkit import Index, hookimpl


    class Searcher:
        def __init__(self, features):
            self.unit = features / np.linalg.norm(features, axis=1, keepdims=True)

        def search(self, queries, k):  # candidates; vizkit re-ranks them exactly
            q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
            scores = q @ self.unit.T
            idx = np.argsort(-scores, axis=1)[:, :k]
            return idx, np.take_along_axis(scores, idx, 1)


    def build(features, metric, folder, options):
        (folder / "built.txt").write_text("numpy needs no files")
        return {"recall": 1.0, "recall_k": 50, "recall_queries": 0}


    @hookimpl
    def register_indexes(register):
        register(Index("numpy-cosine", "brute force in numpy", exact=False,
                       serves=lambda metric: metric.name == "cosine", build=build,
                       open=lambda features, metric, folder, params: Searcher(features)))
'''


def test_a_plugin_index_answers_searches(site, tmp_path):
    import numpy as np

    from vizkit.jobs.index import build_index
    from vizkit.jobs.ingest import ensure_dataset
    from vizkit.read.catalog import Reader
    from vizkit.read.query import Query, search
    from vizkit.store import Store

    make_distribution(site, "vizkit-numpy-index", "vizkit_api_index", NUMPY_INDEX, "npindex")
    reg = get_registry()
    store = Store(tmp_path / "s.duckdb")
    key = ensure_dataset(store, reg.open_dataset("digits"), progress=False)
    x = np.random.default_rng(0).normal(size=(1797, 12)).astype(np.float32)
    store.put_features({"result_key": "f-x", "dataset_key": key, "model": "m",
                        "weights": "random", "weights_fp": "fp", "layer": "l"}, x)
    build_index(store, store.result("f-x"), reg.metric("cosine"), reg.index("numpy-cosine"),
                progress=False)
    reader = Reader(store)
    found = search(reader, reader.features("f-x"), reg.metric("cosine"), Query(idx=0), 5)
    assert found.attrs["answered_by"].startswith("numpy-cosine")
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    best = np.argsort(-(unit @ unit[0]))[1:6]
    assert found["idx"].tolist() == best.tolist()

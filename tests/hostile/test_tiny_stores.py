"""No page shows a traceback, or a failure it did not foresee, on the smallest stores: an
initialised store with no images, a dataset of one image, of two, and one without labels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from vizkit.registry import get_registry

STORES = ("empty", "one", "two", "unlabelled")


def _folder(root: Path, layout: dict[str, int]) -> Path:
    """A folder dataset: {sub-folder ('' for flat): number of images}."""
    rng = np.random.default_rng(0)
    for sub, n in layout.items():
        (root / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(
                root / sub / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def tiny_stores(tmp_path_factory) -> dict[str, Path]:
    """Each kind of tiny store, made by the real precompute job (features, neighbours under
    two metrics, an index)."""
    from vizkit.jobs.precompute import precompute
    from vizkit.runtime.models import load_model
    from vizkit.store import Store

    root = tmp_path_factory.mktemp("tiny")
    empty = Store(root / "empty" / "vizkit.duckdb")
    empty.path.parent.mkdir()
    empty._create()
    out = {"empty": empty.path}
    model = load_model("vizkit_small_cnn", "random")
    for name, layout in (("one", {"a": 1}), ("two", {"a": 1, "b": 1}),
                         ("unlabelled", {"": 3})):
        store = Store(root / name / "vizkit.duckdb")
        ds = get_registry().open_dataset(f"folder:{_folder(root / name / 'images', layout)}")
        precompute(store, ds, model, ["stages.2", "embedding"], ["cosine", "euclidean"],
                   k=50, progress=False)
        out[name] = store.path
    return out


def _page_names() -> list[str]:
    return [v.name for v in get_registry().visualizers()]


@pytest.mark.parametrize("kind", STORES)
def test_every_page_draws_on_a_tiny_store(tiny_stores, kind, monkeypatch):
    monkeypatch.setenv("VIZKIT_STORE", str(tiny_stores[kind]))
    for name in _page_names():
        at = AppTest.from_string("from vizkit.app.router import run_page\n"
                                 f"run_page({name!r})", default_timeout=120).run()
        assert not at.exception, (kind, name, at.exception)
        unforeseen = [e.value for e in at.error if "failed:" in e.value]
        assert not unforeseen, (kind, name, unforeseen)

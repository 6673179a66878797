"""The light app: the pages that read precomputed results import neither torch nor timm —
neither when their modules are imported nor when they are drawn against a real store
(search by a dataset image, precomputed maps, projections, training pages, the atlas and
a run's atlas frames: the hosted app's server stays light). Checked in a
fresh interpreter, where nothing else has imported torch yet."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from vizkit.app.pages import PAGES

# pages that load a model: the explorer (a model's layers, feature maps of any image) and
# compare (maps of two configurations, on demand); the similarity page needs one only
# where no maps are stored
MODEL_PAGES = {"explorer", "compare"}
READ_ONLY_PAGES = [p.name for p in PAGES if p.name not in MODEL_PAGES]
ON_DEMAND_MAPS = {"similarity"}
HEAVY = ("torch", "timm", "lucent", "pytorch_metric_learning", "umap")

DRAW_PAGES = """
import json, sys
from streamlit.testing.v1 import AppTest
failures, heavy, atlas = {}, {}, []
for name in sys.argv[1].split(","):
    at = AppTest.from_string(
        f"from vizkit.app.router import run_page\\nrun_page({name!r})", default_timeout=120)
    at.run()
    drawings = [r for r in at.radio if r.label == "Draw" and "atlas" in r.options]
    if drawings and not at.exception:  # where a page offers the atlas, draw it too
        drawings[0].set_value("atlas").run()
        atlas.append(name)
    if at.exception:
        failures[name] = [e.message for e in at.exception]
    loaded = [m for m in sys.argv[2].split(",") if m in sys.modules]
    if loaded:
        heavy[name] = loaded
        break
print(json.dumps({"failures": failures, "heavy": heavy, "atlas": atlas}))
"""


def _fresh_python(code: str, *args: str, store=None) -> str:
    env = dict(os.environ)
    if store is not None:
        env["VIZKIT_STORE"] = str(store)
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_importing_the_app_and_its_read_only_pages_imports_no_torch():
    code = ("import sys, importlib\n"
            "from vizkit.app.router import navigation\n"
            "from vizkit.app.pages import PAGES\n"
            "from vizkit.registry import get_registry\n"
            "get_registry().visualizers(); get_registry().metric('cosine')\n"
            "for p in PAGES:\n"
            f"    if p.name not in {sorted(MODEL_PAGES)!r}:\n"
            "        importlib.import_module('vizkit.app.' + p.page.__name__)\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    assert _fresh_python(code) == "[]"


def test_the_cli_starts_without_torch():
    code = ("import sys\nfrom vizkit.cli import main\n"
            "try:\n    main(['list', 'metrics'])\nexcept SystemExit:\n    pass\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    assert _fresh_python(code) == "[]"


@pytest.fixture(scope="module")
def maps_store(tmp_path_factory):
    """Digits features of the small CNN with precomputed maps of 6 queries."""
    from vizkit.jobs.maps import precompute_maps
    from vizkit.registry import get_registry
    from vizkit.store import Store

    store = Store(tmp_path_factory.mktemp("maps") / "vizkit.duckdb")
    precompute_maps(store, get_registry().open_dataset("digits"),
                    get_registry().load_model("vizkit_small_cnn", "random"), "stages.2",
                    "cosine", k=5, queries="first:6", progress=False)
    return store.path


@pytest.mark.parametrize("store_fixture", ["digits_store", "evolved_store", "maps_store",
                                           "evolved_atlas_store"])
def test_read_only_pages_draw_a_real_store_without_torch(store_fixture, request):
    store = request.getfixturevalue(store_fixture)
    pages = [p for p in READ_ONLY_PAGES if store_fixture == "maps_store"
             or p not in ON_DEMAND_MAPS]
    result = json.loads(_fresh_python(DRAW_PAGES, ",".join(pages), ",".join(HEAVY),
                                      store=store))
    assert result["failures"] == {}
    assert result["heavy"] == {}
    if store_fixture == "evolved_atlas_store":  # a run's atlas frames drawn, still light
        assert "evolution" in result["atlas"], result


def test_a_search_on_stored_features_runs_on_numpy(digits_store):
    code = ("import sys\n"
            "from vizkit.read.catalog import Reader\n"
            "from vizkit.read.query import Query, search\n"
            "from vizkit.registry import get_registry\n"
            "reader = Reader(sys.argv[1])\n"
            "frow = [f for f in reader.features_rows() if f.layer == 'embedding'][0]\n"
            "table = search(reader, frow, get_registry().metric('cosine'), Query(idx=3), k=5)\n"
            "assert 3 not in set(table['idx']) and len(table) == 5\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    assert _fresh_python(code, str(digits_store)) == "[]"

"""`vizkit maps`: precomputed maps equal on-demand ones, and the page serves them when the
images are gone; stores older than maps are migrated on the next write."""
import shutil
import sys

import duckdb
import numpy as np
import pytest
from conftest import here
from PIL import Image
from streamlit.testing.v1 import AppTest

from vizkit import plugins
from vizkit.compute.mapservice import MapService
from vizkit.compute.similarity import Decomposer
from vizkit.jobs.maps import precompute_maps
from vizkit.read.catalog import Reader
from vizkit.read.maps import stored_maps, stored_maps_row
from vizkit.registry import get_registry
from vizkit.store import Store
from vizkit.store.schema import SCHEMA_VERSION

CLI = [sys.executable, "-m", "vizkit.cli"]


def _image_folder(root, n_per_class=6):
    """A real folder dataset: digits upscaled to 32 px PNGs in two class folders."""
    digits = get_registry().open_dataset("digits")
    for label in (0, 1):
        (root / f"class{label}").mkdir(parents=True)
        for j, i in enumerate(np.flatnonzero(digits.labels == label)[:n_per_class]):
            Image.fromarray(digits.image_array(int(i))).resize((32, 32)).save(
                root / f"class{label}" / f"{j}.png")
    return f"folder:{root}"


def test_stored_maps_equal_on_demand_maps_and_sum_to_scores(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    ds = get_registry().open_dataset("digits[:200]")
    model = get_registry().load_model("vizkit_small_cnn", "random")
    row = precompute_maps(store, ds, model, "stages.2", "cosine", k=5, queries="first:12",
                          progress=False)
    assert row["n"] == 12 and row["kind"] == "simmaps"
    assert store.map_queries(row["result_key"]) == list(range(12))
    reader = Reader(store)
    mrow = stored_maps_row(reader, reader.features(row["source_key"]), "cosine")
    nbr, score, maps = stored_maps(reader, mrow, 7)
    service = MapService(Decomposer(model, "stages.2"), ds)
    _, fresh = service.maps(service.dataset_features([7])[0], nbr, "cosine")
    for stored, new, s in zip(maps, fresh, score):
        np.testing.assert_allclose(stored.query, new.query, atol=1e-6)
        np.testing.assert_allclose(stored.result, new.result, atol=1e-6)
        assert stored.query.sum() == pytest.approx(s, abs=1e-5)
    again = precompute_maps(store, ds, model, "stages.2", "cosine", k=5, queries="first:12",
                            progress=False)
    assert again["result_key"] == row["result_key"]  # already there: not recomputed


def test_cli_maps_and_bad_input(tmp_path):
    env_store = ["--store", str(tmp_path / "s.duckdb")]
    base = CLI + env_store + ["maps", "--dataset", "digits[:60]", "--model", "vizkit_small_cnn",
                              "--weights", "random", "--k", "4"]
    ok = here(base + ["--layer", "embedding", "--queries", "first:5", "--quiet"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "maps of 5 queries x top-4" in ok.stdout
    wrong = here(base + ["--layer", "embeding"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "Did you mean 'embedding'" in wrong.stderr
    split = here(base + ["--layer", "embedding", "--queries", "validation"],
                           capture_output=True, text=True)
    assert split.returncode == 2 and "no images in split 'validation'" in split.stderr


def test_stored_maps_split_the_focused_pair_over_channels_on_request(tmp_path, monkeypatch):
    path = tmp_path / "s.duckdb"
    precompute_maps(Store(path), get_registry().open_dataset("digits[:300]"),
                    get_registry().load_model("vizkit_small_cnn", "random"), "stages.2",
                    "cosine", k=5, queries="first:3", progress=False)
    plugins.reset()
    monkeypatch.setenv("VIZKIT_STORE", str(path))
    at = AppTest.from_string("from vizkit.app.router import run_page\nrun_page('similarity')",
                             default_timeout=120).run()
    assert at.radio(key="simmap_maps_from").value == "precomputed"
    assert not [c for c in at.caption if "channel contributions" in c.value]  # not unasked
    at.toggle(key="simmap_stored_channels").set_value(True).run()
    at.button(key="simmap_focus_next").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    focus = float(next(m.value for m in at.markdown if m.value.startswith("**#2**"))
                  .split("cosine ")[1].split()[0])  # the second result's, above its column
    note = next(c.value for c in at.caption if "channel contributions" in c.value)
    assert float(note.split("score ")[1].split(" is")[0]) == pytest.approx(focus, abs=2e-4)


def test_page_serves_stored_maps_when_the_images_are_gone(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    name = _image_folder(folder)
    path = tmp_path / "s.duckdb"
    store = Store(path)
    ds = get_registry().open_dataset(name)
    model = get_registry().load_model("vizkit_small_cnn", "random")
    precompute_maps(store, ds, model, "stages.2", "cosine", k=5, queries="all",
                    progress=False)
    shutil.rmtree(folder)
    plugins.reset()
    monkeypatch.setenv("VIZKIT_STORE", str(path))
    at = AppTest.from_string("from vizkit.app.router import run_page\nrun_page('similarity')",
                             default_timeout=120).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert at.radio(key="simmap_maps_from").value == "precomputed"  # no model needed
    assert len([c for c in at.caption if "Σ map" in c.value]) == 5
    at.radio(key="simmap_maps_from").set_value("any image").run()  # needs the images: gone
    assert any("not available here" in i.value and "precomputed" in i.value for i in at.info)
    assert len([c for c in at.caption if "Σ map" in c.value]) == 5
    at.radio(key="simmap_maps_from").set_value("precomputed").run()
    at.toggle(key="simmap_stored_channels").set_value(True).run()  # needs the images too
    assert not at.exception and any("by channel needs the model" in i.value for i in at.info)
    at.selectbox(key="simmap_stored_query").select(4).run()
    assert not at.exception and len([c for c in at.caption if "Σ map" in c.value]) == 5
    at.selectbox(key="simmap_metric").select("dot").run()  # no maps stored for dot
    assert not at.exception and any("not available here" in e.value for e in at.error)


def test_a_store_older_than_maps_reads_and_is_migrated_on_write(tmp_path):
    path = tmp_path / "v1.duckdb"
    Store(path).put_features({"result_key": "f"}, np.zeros((1, 2), np.float32))
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE similarity_maps")
    for table in ("projections", "clusters", "predictions"):  # added in v3
        con.execute(f"DROP TABLE {table}")
    con.execute("UPDATE vizkit_meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    assert Store(path).map_queries("m") == [] and Store(path).maps("m", 0).empty
    assert Store(path).per_image("projections", "p").empty
    Store(path).put_features({"result_key": "g"}, np.zeros((1, 2), np.float32))
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT value FROM vizkit_meta WHERE key = 'schema_version'"
                       ).fetchall() == [(str(SCHEMA_VERSION),)]
    for table in ("similarity_maps", "projections", "clusters", "predictions"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)]
    con.close()

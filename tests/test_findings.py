"""Findings (issue 25): object regions follow the image through the model's crop and resize;
every figure equals a brute-force computation on a tiny case; bootstrap intervals are
seeded, and the stored numbers equal the computation redone by hand; the CLI refuses a
dataset without regions before any work; the Findings page states A against B."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from conftest import here
from PIL import Image
from streamlit.testing.v1 import AppTest

from vizkit import plugins
from vizkit.compute.findings import (
    bootstrap_ci,
    paired_diff_ci,
    positive_share,
    region_on_grid,
)
from vizkit.jobs.findings import object_centricity, part_attention
from vizkit.registry import get_registry
from vizkit.runtime.models import load_model
from vizkit.store import Store

CLI = [sys.executable, "-m", "vizkit.cli"]


def _overlap(lo: float, hi: float, a: float, b: float) -> float:
    return max(0.0, min(hi, b) - max(lo, a))


def test_a_region_follows_a_non_square_image_through_crop_and_resize():
    model = load_model("vizkit_small_cnn", "random")  # 28 px, square
    mask = np.zeros((40, 80), bool)
    mask[10:30, 45:70] = True  # a box right of the centre
    top, left, ch, cw = model.preprocess.crop_box(40, 80)
    assert (ch, cw) == (40, 40) and left == 20  # the centre square, as the pixels
    grid = region_on_grid(mask, (top, left, ch, cw), (7, 7))
    # brute force: each cell's exact share of the cropped box, from the overlap of the
    # cell's span with the box's span on each axis (the box is separable)
    rows, cols = (10 - top, 30 - top), (45 - left, 70 - left)
    for i in range(7):
        for j in range(7):
            y0, y1 = i * ch / 7, (i + 1) * ch / 7
            x0, x1 = j * cw / 7, (j + 1) * cw / 7
            want = _overlap(y0, y1, *rows) * _overlap(x0, x1, min(cols[0], cw),
                                                      min(cols[1], cw)) / ((y1 - y0) * (x1 - x0))
            assert grid[i, j] == pytest.approx(want, abs=1e-5), (i, j)
    assert grid[:, :3].sum() == 0 and grid[3, 5:].min() > 0.999  # right of centre, as drawn


def test_the_figures_equal_brute_force_on_a_tiny_case():
    values = np.array([[0.4, -0.2], [0.1, 0.5]])
    region = np.array([[1.0, 1.0], [0.5, 0.0]])
    # positive mass 0.4 + 0.1 + 0.5 = 1.0; on the object 0.4 + 0.5 * 0.1 = 0.45
    assert positive_share(values, region) == pytest.approx(0.45)
    assert np.isnan(positive_share(-np.ones((2, 2)), region))
    x = np.array([0.2, 0.4, 0.9, 0.5, 0.6])
    lo, hi = bootstrap_ci(x, seed=3)
    assert (lo, hi) == bootstrap_ci(x, seed=3)  # seeded: reproducible
    assert lo < x.mean() < hi and (lo, hi) != bootstrap_ci(x, seed=4)
    rng = np.random.default_rng(3)  # the same resamples by hand
    means = x[rng.integers(0, 5, (2000, 5))].mean(1)
    assert (lo, hi) == (np.percentile(means, 2.5), np.percentile(means, 97.5))
    a, b = np.array([0.5, 0.6, np.nan, 0.7]), np.array([0.4, 0.4, 0.1, 0.5])
    assert paired_diff_ci(a, b, 0) == pytest.approx(bootstrap_ci(a[[0, 1, 3]] - b[[0, 1, 3]], 0))


def test_the_stored_shares_equal_a_computation_by_hand(tmp_path):
    """The job's per-query numbers, redone step by step from the query's top k: each
    pair's maps, each image's mask carried onto the map grid, the shares averaged."""
    from vizkit.compute.nearest import topk
    from vizkit.compute.pairmaps import query_maps
    from vizkit.compute.similarity import Decomposer

    store = Store(tmp_path / "s.duckdb")
    data = get_registry().open_dataset("digits[test]")
    model = load_model("vizkit_small_cnn", "random")
    row = object_centricity(store, data, model, "stages.2", queries=6, k=3, progress=False)
    files = store.shard_files(row["result_key"])
    share, area = (np.load(files[n].path) for n in ("share", "area"))
    feats = np.asarray(store.features(row["source_key"]))
    # the neighbours as search finds them (random weights make near-ties in float32)
    nbrs, _ = topk(get_registry().metric("cosine"), feats[:6], feats, 3, exclude=np.arange(6))
    decomposer = Decomposer(model, "stages.2")
    for q, nbr in enumerate(nbrs):
        spatial = decomposer.images(list(data.batch_images(np.array([q, *nbr]))))
        maps = query_maps(spatial[0], spatial[1:], "cosine")
        masks = data.object_masks(np.array([q, *nbr]))
        shares, areas = [], []
        for n, m in enumerate(maps, 1):
            for image, values in ((0, m.query), (n, m.result)):
                region = region_on_grid(masks[image], model.preprocess.crop_box(8, 8),
                                        values.shape)
                shares.append(positive_share(values, region))
                areas.append(region.mean())
        assert share[q] == pytest.approx(np.nanmean(shares), abs=1e-5), q
        assert area[q] == pytest.approx(np.mean(areas), abs=1e-6), q


@pytest.mark.parametrize("finding", ["object", "parts"])
def test_chunks_of_queries_and_batches_of_masks_change_no_number(tmp_path, monkeypatch,
                                                                  finding):
    """A finding measured two queries at a time (images kept from chunk to chunk), its
    masks read and carried to the grid a few at a time, stores the numbers one chunk does."""
    data = get_registry().open_dataset("synthetic:120")
    model = load_model("vizkit_small_cnn", "random", input_size=32)
    job, name = (object_centricity, "share") if finding == "object" else \
        (part_attention, "ratio")

    def measured(folder: str, **chunking) -> np.ndarray:
        store = Store(tmp_path / folder / "s.duckdb")
        row = job(store, data, model, "stages.2", queries=7, k=4, progress=False, **chunking)
        return np.load(store.shard_files(row["result_key"])[name].path)
    whole = measured("whole")
    monkeypatch.setattr("vizkit.jobs.findings.MASK_IMAGES", 3)
    monkeypatch.setattr("vizkit.compute.findings.GRID_PIXELS", 2 * 32 * 32)
    np.testing.assert_allclose(measured("chunked", chunk=2), whole, rtol=1e-6)
    assert np.isfinite(whole).any()


def test_an_embedding_trained_on_the_shapes_looks_at_them_more_than_chance_and_untrained(
        tmp_path):
    """In synthetic:N the class is the shape's kind; position, size, colour, background
    and noise are drawn independently of it, so the class signal is only inside the object.
    The small CNN trained on it (cross-entropy, 8 epochs; test Recall@1 about 0.83) puts
    clearly more of its embedding's similarity on the shapes than chance, and than the same
    network untrained, paired over the same queries, and looks at the shape's centre more
    than at a background corner. (Trained 2 epochs it did not: an undertrained embedding's
    similarity sits on the flat backgrounds every image shares.)"""
    from conftest import run_here

    store = tmp_path / "s.duckdb"
    run_here("train", "--dataset", "synthetic:2000", "--loss", "cross-entropy", "--epochs",
             8, "--eval-images", 100, "--run", "shapes", "--quiet", store=store)
    out = run_here("findings", "object", "--dataset", "synthetic:2000[test]", "--checkpoint",
                   "shapes", "--layer", "embedding", "--queries", 120, "--k", 5, "--compare",
                   "--b-model", "vizkit_small_cnn", "--b-weights", "random",
                   "--b-input-size", 32, "--json", "--quiet", store=store)
    found = json.loads(out.stdout)
    assert found["ci95"][0] > found["area_share"] + 0.01, found  # clearly above chance
    assert found["b"]["ci95"][0] < found["b"]["area_share"] < found["b"]["ci95"][1]
    assert found["diff_ci95"][0] > 0.02, found  # and above the untrained network, paired
    out = run_here("findings", "parts", "--dataset", "synthetic:2000[test]", "--checkpoint",
                   "shapes", "--layer", "embedding", "--queries", 120, "--k", 5, "--compare",
                   "--b-model", "vizkit_small_cnn", "--b-weights", "random",
                   "--b-input-size", 32, "--json", "--quiet", store=store)
    parts = json.loads(out.stdout)
    centre, corner = parts["parts"]["centre"], parts["parts"]["background"]
    assert centre["ci95"][0] > 1.2 and corner["ci95"][1] < 1, parts  # the shape, not the corner
    assert parts["diff"]["centre"]["diff_ci95"][0] > 0.2, parts  # more than untrained


def _folder(root, n: int = 12):
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(n // 2):
            Image.new("RGB", (24, 16), (40 * i, 100, 30)).save(root / c / f"{i}.png")
    return f"folder:{root}"


def test_a_dataset_without_regions_is_refused_before_any_work(tmp_path):
    name = _folder(tmp_path / "photos")
    out = here(CLI + ["--store", str(tmp_path / "s.duckdb"), "findings", "object",
                                "--dataset", name, "--model", "vizkit_small_cnn",
                                "--weights", "random", "--layer", "embedding"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "provides no object regions" in out.stderr
    assert "fashion-mnist" in out.stderr and "synthetic:N" in out.stderr
    assert not (tmp_path / "s.duckdb").exists()  # nothing written


def test_cli_json_and_compare_then_the_page_states_a_against_b(tmp_path, monkeypatch):
    store = tmp_path / "s.duckdb"
    base = CLI + ["--store", str(store), "findings", "object", "--dataset", "digits[test]",
                  "--model", "vizkit_small_cnn", "--weights", "random", "--layer",
                  "stages.2", "--queries", "40", "--k", "4", "--quiet", "--json"]
    one = here(base, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    assert list(json.loads(one.stdout)) == ["object_share", "area_share", "ci95",
                                            "n_queries", "per_class"]
    two = here(base + ["--compare", "--b-layer", "stages.1"], capture_output=True,
                         text=True)
    assert two.returncode == 0, two.stderr
    out = json.loads(two.stdout)
    assert {"b", "diff_ci95"} <= set(out) and out["n_queries"] == out["b"]["n_queries"] == 40
    lo, hi = out["diff_ci95"]
    assert lo <= out["object_share"] - out["b"]["object_share"] <= hi
    same = here(base + ["--compare"], capture_output=True, text=True)
    assert same.returncode == 2 and "what B changes" in same.stderr
    plugins.reset()
    monkeypatch.setenv("VIZKIT_STORE", str(store))
    at = AppTest.from_string("from vizkit.app.router import run_page\nrun_page('findings')",
                             default_timeout=120).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    said = next(m.value for m in at.markdown if m.value.startswith("**A**"))
    assert f"{out['object_share']:.1%}" in said and "**B**" in said and "Chance" in said
    assert any("paired queries" in i.value for i in at.info)
    assert {m.label for m in at.metric} >= {"A on the object", "chance", "A − B (paired)"}


@pytest.mark.parametrize("rows,said", [
    ("a/0.png,1,1,4,4\nz/9.png,0,0,2,2\n", "row 3: 'z/9.png' is not an image of this folder"),
    ("a/0.png,20,2,10,4\n", "row 2: the box x=20 y=2 w=10 h=4 is not inside a/0.png (24 x 16"),
    ("a/0.png,one,2,3,4\n", "row 2: give path,x,y,w,h"),
])
def test_a_bad_boxes_file_is_one_line_naming_the_row(tmp_path, rows, said):
    name = _folder(tmp_path / "photos")
    (tmp_path / "photos" / "boxes.csv").write_text("path,x,y,w,h\n" + rows)
    out = here(CLI + ["--store", str(tmp_path / "s.duckdb"), "findings", "object",
                                "--dataset", name, "--model", "vizkit_small_cnn",
                                "--weights", "random", "--layer", "stages.2"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and said in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "s.duckdb").exists()


def test_boxes_mark_the_object_of_a_folder_image(tmp_path):
    name = _folder(tmp_path / "photos")
    (tmp_path / "photos" / "boxes.csv").write_text(
        "path,x,y,w,h\na/0.png,16,4,8,8\nb/1.png,0,0,24,16\n")
    data = get_registry().open_dataset(name)
    masks = data.object_masks(np.arange(len(data)))
    first, second = data.ids.index("a/0.png"), data.ids.index("b/1.png")
    assert masks[first].shape == (16, 24) and masks[first].sum() == 64
    assert masks[first][4:12, 16:24].all() and masks[second].all()
    assert sum(m is not None for m in masks) == 2 and data.regions == "box"
    row = object_centricity(Store(tmp_path / "s.duckdb"), data,
                            load_model("vizkit_small_cnn", "random"), "stages.2", queries=12,
                            k=2, progress=False)
    assert json.loads(row["params"])["n_queries"] >= 1  # only pairs with a box count


def test_a_batch_of_queries_scores_as_its_maps_one_by_one():
    """The job's batched figures equal the per-map ones averaged over each query's maps,
    with images lacking a region or a part left out and all-negative maps as NaN."""
    from vizkit.compute.findings import (
        part_ratio,
        positive_share,
        query_object_shares,
        query_part_ratios,
    )

    rng = np.random.default_rng(3)
    b, k, n, parts = 5, 4, 12, 3
    mq, mr = rng.normal(size=(b, k, n)), rng.normal(size=(b, k, n))
    mq[0, 1] = -1  # no positive mass
    cells = rng.uniform(size=(b, k + 1, n)) * (rng.uniform(size=(b, k + 1, n)) > .5)
    has = rng.uniform(size=(b, k + 1)) > .3
    has[4] = False  # no image of this query has a region
    covers = rng.uniform(size=(b, k + 1, parts, n)) * (rng.uniform(size=(b, k + 1, parts, n)) > .6)
    covers[1, 0, 0] = 0  # the disc outside the crop
    visible = rng.uniform(size=(b, k + 1, parts)) > .3
    share, area = query_object_shares(mq, mr, cells, has)
    ratios = query_part_ratios(mq, mr, covers, visible)
    for q in range(b):
        sides = [(mq[q, j], 0) for j in range(k)] + [(mr[q, j], j + 1) for j in range(k)]
        kept = [(m, i) for m, i in sides if has[q, i]]
        want = [positive_share(m, cells[q, i]) for m, i in kept]
        want_area = [cells[q, i].mean() for _, i in kept]
        if not want or np.isnan(want).all():
            assert np.isnan(share[q])
        else:
            np.testing.assert_allclose(share[q], np.nanmean(want))
        np.testing.assert_allclose(area[q], np.mean(want_area) if kept else np.nan)
        for p in range(parts):
            got = [part_ratio(m, covers[q, i, p]) for m, i in sides if visible[q, i, p]]
            if not got or np.isnan(got).all():
                assert np.isnan(ratios[q, p])
            else:
                np.testing.assert_allclose(ratios[q, p], np.nanmean(got))

"""Part attention (issue 25, item 3) and the datasets' annotations it reads: the CUB and Cars
readers give boxes and visible part points from their official layouts (splits unchanged);
a part point follows a non-square image through the model's crop and resize; every figure
equals a brute-force computation; the CLI's JSON, A against B, and its refusals; a bad
``parts.csv`` is one line naming the row."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from conftest import here
from PIL import Image
from replicas import CUB_PARTS, cub_box, cub_part, make_cars, make_cub
from streamlit.testing.v1 import AppTest

from vizkit import plugins
from vizkit.compute.findings import disc_mask, discs_on_grid, part_ratio, region_on_grid
from vizkit.jobs.findings import part_attention
from vizkit.registry import get_registry
from vizkit.runtime.models import load_model
from vizkit.store import Store

CLI = [sys.executable, "-m", "vizkit.cli"]


def test_the_cub_reader_gives_boxes_and_only_visible_parts_and_keeps_its_split(tmp_path):
    plain = get_registry().open_dataset(f"cub200:{make_cub(tmp_path / 'plain', annotations=False)}")
    ds = get_registry().open_dataset(f"cub200:{make_cub(tmp_path)}")
    assert (ds.splits == plain.splits).all() and ds.ids == plain.ids  # split unchanged
    assert not plain.regions and plain.part_names == () and plain.part_points([0]) is None
    assert ds.regions == "box" and list(ds.part_names) == CUB_PARTS
    n = len(ds)
    masks = ds.object_masks(np.arange(n))
    points = ds.part_points(np.arange(n))
    for i in range(n):  # image ids are 1-based, in images.txt order
        x, y, w, h = cub_box(i + 1)
        want = np.zeros((30, 40), bool)
        want[int(y): int(y + h), int(x): int(x + w)] = True
        assert (masks[i] == want).all(), i
        visible = {CUB_PARTS[k - 1]: cub_part(i + 1, k)[:2] for k in range(1, 16)
                   if cub_part(i + 1, k)[2]}
        assert points[i] == visible and len(visible) < 15, i  # invisible parts left out
    sub = get_registry().open_dataset(f"cub200:{tmp_path / 'CUB_200_2011'}[test]")
    assert sub.part_names == ds.part_names
    assert sub.part_points([0]) == [points[int(np.flatnonzero(ds.splits == "test")[0])]]


def test_the_cars_reader_gives_each_annotation_box(tmp_path):
    ds = get_registry().open_dataset(f"cars196:{make_cars(tmp_path)}")
    mask = ds.object_masks([0])[0]
    assert ds.regions == "box" and mask.shape == (32, 48)
    # bbox_x1=1, y1=1, x2=40, y2=30 in MATLAB's 1-based, both corners included
    assert mask.sum() == 40 * 30 and mask[0:30, 0:40].all()
    assert ds.part_names == () and ds.part_points([0]) is None


def _folder(root, parts: str | None):
    (root / "a").mkdir(parents=True)
    Image.new("RGB", (80, 40), (90, 30, 200)).save(root / "a" / "wide.png")
    Image.new("RGB", (24, 16), (20, 90, 20)).save(root / "a" / "small.png")
    if parts is not None:
        (root / "parts.csv").write_text("path,part,x,y\n" + parts)
    return f"folder:{root}"


def _brute_cover(mask: np.ndarray, crop, grid) -> np.ndarray:
    """Each cell's share covered by ``mask`` after the crop, pixel by pixel."""
    top, left, ch, cw = crop
    sub = mask[top: top + ch, left: left + cw]
    out = np.zeros(grid)
    for i in range(grid[0]):
        for j in range(grid[1]):
            y0, y1 = i * ch / grid[0], (i + 1) * ch / grid[0]
            x0, x1 = j * cw / grid[1], (j + 1) * cw / grid[1]
            for y, x in zip(*np.nonzero(sub)):
                out[i, j] += max(0, min(y1, y + 1) - max(y0, y)) * \
                    max(0, min(x1, x + 1) - max(x0, x))
            out[i, j] /= (y1 - y0) * (x1 - x0)
    return out


def test_a_part_point_follows_a_non_square_image_through_crop_and_resize(tmp_path):
    data = get_registry().open_dataset(_folder(tmp_path / "p", "a/wide.png,eye,50,20\n"))
    wide = data.ids.index("a/wide.png")
    assert data.part_points([wide]) == [{"eye": (50.0, 20.0)}]
    assert data.part_points([1 - wide]) == [None] and data.image_sizes([wide]) == [(40, 80)]
    model = load_model("vizkit_small_cnn", "random")
    crop = model.preprocess.crop_box(40, 80)
    assert crop == (0, 20, 40, 40)  # the centre square, as the pixels
    disc = disc_mask((40, 80), (50.0, 20.0), 40 / 16)
    # pixel centres lie 0.5, 1.5, 2.5 px off the point on each axis; within 2.5 px:
    # (0.5, 0.5) x4, (0.5, 1.5) x8, (1.5, 1.5) x4 — (0.5, 2.5) is 2.55 px away
    assert disc.sum() == 16 and disc[18:22, 48:52].sum() == 16 and disc[19:21, 48:52].all()
    cells = region_on_grid(disc, crop, (7, 7))
    assert cells == pytest.approx(_brute_cover(disc, crop, (7, 7)), abs=1e-9)
    # x = 50 - 20 = 30 of the 40-px crop: column 30 / 40 * 7 = 5.25; y = 20: row 3.5
    assert np.unravel_index(cells.argmax(), cells.shape) == (3, 5)
    assert cells[:, :4].sum() < cells[:, 5].sum() and cells[:, :3].sum() == 0


@pytest.mark.parametrize("pixels", [1 << 22, 40 * 80 + 1])  # all at once; one disc a batch
def test_the_discs_of_many_images_equal_each_disc_carried_alone(pixels, monkeypatch):
    """discs_on_grid (images of several sizes, square and not, each size's discs drawn
    together) gives each visible part the cover disc_mask + region_on_grid give it; an
    invisible part, an unnamed part and an image without points cover nothing."""
    monkeypatch.setattr("vizkit.compute.findings.GRID_PIXELS", pixels)
    crop = load_model("vizkit_small_cnn", "random").preprocess.crop_box
    sizes = [(40, 80), (32, 32), (40, 80), (90, 60)]
    points = [{"eye": (50.0, 20.0), "tail": (79.5, 0.2)}, {"eye": (3.0, 30.0)}, None,
              {"tail": (30.0, 45.0), "wing": (1.0, 1.0)}]
    covers, visible = discs_on_grid(points, sizes, ("eye", "tail"), 1 / 16, crop, (7, 5))
    assert covers.shape == (4, 2, 35)
    assert visible.tolist() == [[True, True], [True, False], [False, False], [False, True]]
    for image, (parts, size) in enumerate(zip(points, sizes)):
        for j, name in enumerate(("eye", "tail")):
            if parts and name in parts:
                alone = region_on_grid(disc_mask(size, parts[name], min(size) / 16),
                                       crop(*size), (7, 5))
                assert covers[image, j] == pytest.approx(alone.ravel(), abs=1e-12)
                assert alone.sum() > 0 or name == "tail"  # a point may fall outside the crop
            else:
                assert not covers[image, j].any()


def test_the_part_ratio_equals_brute_force_on_a_tiny_case():
    values = np.array([[0.6, -0.2], [0.2, 0.0]])
    cover = np.array([[0.5, 0.0], [0.0, 0.0]])
    # positive mean (0.6 + 0.2) / 4 = 0.2; on the part 0.6 * 0.5 / 0.5 = 0.6: ratio 3
    assert part_ratio(values, cover) == pytest.approx(3.0)
    assert part_ratio(values, np.full((2, 2), 0.25)) == pytest.approx(1.0)  # everywhere
    assert np.isnan(part_ratio(-np.ones((2, 2)), cover))  # no positive mass
    assert np.isnan(part_ratio(values, np.zeros((2, 2))))  # outside the crop


def test_the_stored_ratios_equal_a_computation_by_hand(tmp_path):
    from vizkit.compute.nearest import topk
    from vizkit.compute.pairmaps import query_maps
    from vizkit.compute.similarity import Decomposer

    store = Store(tmp_path / "s.duckdb")
    data = get_registry().open_dataset("synthetic:120")
    model = load_model("vizkit_small_cnn", "random", input_size=32)
    row = part_attention(store, data, model, "stages.2", queries=5, k=3, progress=False)
    ratio = np.load(store.shard_files(row["result_key"])["ratio"].path)
    assert ratio.shape == (5, 2) and list(json.loads(row["params"])["parts"]) == \
        ["centre", "background"]
    feats = np.asarray(store.features(row["source_key"]))
    nbrs, _ = topk(get_registry().metric("cosine"), feats[:5], feats, 3, exclude=np.arange(5))
    decomposer = Decomposer(model, "stages.2")
    for q, nbr in enumerate(nbrs):
        images = np.array([q, *nbr])
        spatial = decomposer.images(list(data.batch_images(images)))
        maps = query_maps(spatial[0], spatial[1:], "cosine")
        points = data.part_points(images)
        for j, part in enumerate(("centre", "background")):
            values = []
            for n, m in enumerate(maps, 1):
                for image, side in ((0, m.query), (n, m.result)):
                    disc = disc_mask((32, 32), points[image][part], 2.0)
                    cover = region_on_grid(disc, model.preprocess.crop_box(32, 32), side.shape)
                    values.append(part_ratio(side, cover))
            assert ratio[q, j] == pytest.approx(np.nanmean(values), rel=1e-4), (q, part)


def test_cli_parts_json_a_against_b_and_refusals(tmp_path, monkeypatch):
    store = tmp_path / "s.duckdb"
    base = CLI + ["--store", str(store), "findings", "parts", "--dataset", "synthetic:200",
                  "--model", "vizkit_small_cnn", "--weights", "random", "--input-size", "32",
                  "--layer", "stages.2", "--queries", "30", "--k", "3", "--quiet", "--json"]
    two = here(base + ["--compare", "--b-layer", "stages.1"], capture_output=True,
                         text=True)
    assert two.returncode == 0, two.stderr
    out = json.loads(two.stdout)
    assert set(out) == {"parts", "n_queries", "radius", "b", "diff"}
    for side in (out, out["b"]):
        assert set(side["parts"]) == {"centre", "background"}
        for s in side["parts"].values():
            assert set(s) == {"ratio", "ci95", "n"} and s["ci95"][0] <= s["ratio"] <= \
                s["ci95"][1] and s["n"] == 30
    for part, d in out["diff"].items():
        lo, hi = d["diff_ci95"]
        assert lo <= out["parts"][part]["ratio"] - out["b"]["parts"][part]["ratio"] <= hi
    plugins.reset()
    monkeypatch.setenv("VIZKIT_STORE", str(store))
    at = AppTest.from_string("from vizkit.app.router import run_page\nrun_page('findings')",
                             default_timeout=120).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    said = next(m.value for m in at.markdown if m.value.startswith("**A**"))
    best = max(out["parts"], key=lambda p: out["parts"][p]["ratio"])
    assert f"looks most at the **{best}**: {out['parts'][best]['ratio']:.2f}×" in said
    clear = [p for p, d in out["diff"].items()
             if d["diff_ci95"][0] > 0 or d["diff_ci95"][1] < 0]
    info = " ".join(i.value for i in at.info)
    assert all(f"the {p} than B" in info for p in clear) and (clear or "no part" in info)
    assert any("No object finding stored" in c.value for c in at.caption)
    at.selectbox(key="find_part").select("background").run()
    assert not at.exception and at.selectbox(key="find_part").value == "background"
    assert len(at.selectbox(key="find_part_open").options) == 12  # its driving queries
    empty = tmp_path / "e.duckdb"
    refused = here(CLI + ["--store", str(empty), "findings", "parts", "--dataset",
                                    "digits", "--model", "vizkit_small_cnn", "--weights",
                                    "random", "--layer", "stages.2"],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "names no parts" in refused.stderr
    assert "cub200" in refused.stderr and "parts.csv" in refused.stderr
    assert not empty.exists()  # nothing written
    radius = here(base + ["--radius", "0.9"], capture_output=True, text=True)
    assert radius.returncode == 2 and "--radius" in radius.stderr


@pytest.mark.parametrize("rows,said", [
    ("a/wide.png,eye,1,2\nz/9.png,eye,0,0\n", "row 3: 'z/9.png' is not an image of this folder"),
    ("a/small.png,eye,30,2\n", "row 2: the point x=30 y=2 is not inside a/small.png (24 x 16"),
    ("a/wide.png,,3,4\n", "row 2: give path,part,x,y"),
    ("a/wide.png,eye,one,4\n", "row 2: give path,part,x,y"),
])
def test_a_bad_parts_file_is_one_line_naming_the_row(tmp_path, rows, said):
    name = _folder(tmp_path / "photos", rows)
    out = here(CLI + ["--store", str(tmp_path / "s.duckdb"), "findings", "parts",
                                "--dataset", name, "--model", "vizkit_small_cnn",
                                "--weights", "random", "--layer", "stages.2"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and said in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "s.duckdb").exists()


def test_parts_are_dissection_concepts_equal_to_a_count_by_hand(tmp_path):
    """On synthetic:N (shapes and their two named points): the IoU of each channel with
    each part's disc, summed over the images, equals a count pixel by pixel."""
    import torch.nn.functional as F

    from vizkit.jobs.dissect import _parts, dissect

    data = get_registry().open_dataset("synthetic:64")
    model = load_model("vizkit_small_cnn", "random", input_size=32)
    row = dissect(Store(tmp_path / "s.duckdb"), data, model, "stages.1", progress=False)
    params = json.loads(row["params"])
    assert params["concepts"][-2:] == ["part: centre", "part: background"]
    iou = np.load(Store(tmp_path / "s.duckdb").shard_files(row["result_key"])["iou"].path)
    thresholds = np.load(Store(tmp_path / "s.duckdb").shard_files(
        row["result_key"])["thresholds"].path)
    idx = np.arange(len(data))
    acts = model.activations(model.preprocess(data.batch_images(idx)), ["stages.1"])["stages.1"]
    on = (F.interpolate(acts.float(), size=(32, 32), mode="bilinear", align_corners=False)
          > torch.from_numpy(thresholds).view(1, -1, 1, 1)).numpy()  # [N, C, 32, 32]
    discs = _parts(data, model, idx).numpy()  # [N, 2, 32, 32]
    for c in (0, 5, 17):
        for p in range(2):
            inter = (on[:, c] & discs[:, p]).sum()
            union = (on[:, c] | discs[:, p]).sum()
            assert iou[c, -2 + p] == pytest.approx(inter / union if union else 0, rel=1e-5)
    # a part is the disc of pixel centres within 2 px (1/16 of 32) of its point: 12 pixels
    # around the background point (a pixel corner), centred on the shape's drawn centre
    assert (discs[:, 1].sum(axis=(1, 2)) == 12).all()
    for n, point in enumerate(data.part_points(idx[:8])):
        yy, xx = np.nonzero(discs[n, 0])
        assert abs(xx.mean() + 0.5 - point["centre"][0]) < 0.5
        assert abs(yy.mean() + 0.5 - point["centre"][1]) < 0.5


def test_a_researcher_compares_two_embeddings_on_cub_by_object_and_parts(tmp_path,
                                                                         monkeypatch):
    """The issue's path on the CUB layout (the replica): findings object and parts, A
    against B, each as one command with JSON — then both on the Findings page."""
    root = make_cub(tmp_path)
    store = tmp_path / "s.duckdb"
    common = ["--dataset", f"cub200:{root}", "--model",
              "vizkit_small_cnn", "--weights", "random", "--input-size", "32", "--layer",
              "stages.2", "--queries", "16", "--k", "3", "--compare", "--b-layer", "stages.1",
              "--quiet", "--json"]
    found = {}
    for finding in ("object", "parts"):
        out = here(CLI + ["--store", str(store), "findings", finding] + common,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        found[finding] = json.loads(out.stdout)
    assert 0 < found["object"]["area_share"] < 1 and "diff_ci95" in found["object"]
    assert set(found["parts"]["parts"]) <= set(CUB_PARTS) and found["parts"]["diff"]
    assert all(s["n"] <= 16 for s in found["parts"]["parts"].values())  # visible ones only
    plugins.reset()
    monkeypatch.setenv("VIZKIT_STORE", str(store))
    at = AppTest.from_string("from vizkit.app.router import run_page\nrun_page('findings')",
                             default_timeout=120).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    said = [m.value for m in at.markdown if m.value.startswith("**A**")]
    assert len(said) == 2 and "on the object" in said[0] and "looks most at the" in said[1]

"""The image atlas (``vizkit atlas``): its geometry against brute force, the stored pyramid
(every image once at the deepest level, every level's cells the images nearest their
centres), a killed job resumed to the same bytes, the read side's bounds, and bad input."""
from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pytest
from conftest import run_here
from PIL import Image

from vizkit.compute import atlas as geometry
from vizkit.errors import BadArgumentError
from vizkit.read import atlas as read_atlas
from vizkit.read.catalog import Reader


def _brute_representatives(world, size):
    w = geometry.WORLD / size
    best: dict[int, tuple[float, int]] = {}
    for i, (x, y) in enumerate(world.astype(np.float64)):
        col, row = min(int(x // w), size - 1), min(int(y // w), size - 1)
        d = (x - (col + .5) * w) ** 2 + (y - (row + .5) * w) ** 2
        cell = row * size + col
        if cell not in best or (d, i) < best[cell]:
            best[cell] = (d, i)
    return {c: i for c, (_, i) in best.items()}


@pytest.mark.parametrize("size", [1, 8, 16, 64])
def test_each_cell_shows_the_image_nearest_its_centre(size):
    rng = np.random.default_rng(size)
    xy = np.concatenate([rng.normal(size=(300, 2)), rng.normal(size=(100, 2)) * .1 + 3])
    world = geometry.world_coords(xy)
    cells, images = geometry.representatives(world, size)
    assert dict(zip(cells.tolist(), images.tolist())) == _brute_representatives(world, size)
    assert (np.diff(cells) > 0).all()


def test_at_the_deepest_level_every_image_has_a_cell_of_its_own():
    rng = np.random.default_rng(0)
    xy = np.concatenate([rng.normal(size=(2000, 2)), rng.normal(size=(1000, 2)) * .05])
    world = geometry.world_coords(xy)
    level = geometry.deepest_level(world, 8)
    size = geometry.grid_size(level, 8)
    own = geometry.own_cells(world, size)
    assert len(np.unique(own)) == len(world) and own.min() >= 0 and own.max() < size ** 2
    # the image nearest a cell's centre keeps that cell; the others move to a cell nearby
    home = dict(_brute_representatives(world, size))
    for cell, image in home.items():
        assert own[image] == cell
    # each other image, in index order, took the free cell whose centre is nearest its point
    taken = np.zeros(size * size, bool)
    taken[list(home)] = True
    centres = (np.stack(np.divmod(np.arange(size * size), size)[::-1], 1) + .5) \
        * geometry.WORLD / size
    losers = sorted(set(range(len(world))) - set(home.values()))
    assert 0 < len(losers) <= .25 * len(world)
    for i in losers:
        d = ((centres - world[i].astype(np.float64)) ** 2).sum(1)
        d[taken] = np.inf
        assert own[i] == d.argmin()
        taken[own[i]] = True


def test_the_layout_is_put_in_the_world_square_and_bad_layouts_are_refused():
    world = geometry.world_coords(np.array([[0., 0.], [10., 5.], [4., -5.]]))
    assert (world >= 0).all() and (world < geometry.WORLD).all()
    assert world[1, 1] < world[2, 1]  # y points down: the higher point has the smaller y
    with pytest.raises(ValueError, match="finite"):
        geometry.world_coords(np.array([[0., np.nan], [1., 1.]]))


def test_a_lasso_selects_the_points_inside_it():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 10, size=(5000, 2))
    square = np.array([[2., 2.], [6., 2.], [6., 7.], [2., 7.]])
    expected = (xy[:, 0] > 2) & (xy[:, 0] < 6) & (xy[:, 1] > 2) & (xy[:, 1] < 7)
    assert (geometry.inside_polygon(xy, square) == expected).all()
    triangle = np.array([[0., 0.], [10., 0.], [0., 10.]])
    assert (geometry.inside_polygon(xy, triangle) == (xy.sum(1) < 10)).all()


def _atlas(store_path):
    reader = Reader(store_path)
    (atlas,) = reader.catalog().atlases
    return reader, atlas


def _occupied(reader, atlas, level):
    """Cells (row * size + col) of ``level`` whose tile pixels show an image."""
    size, px, cells = geometry.grid_size(level, atlas.cells), atlas.cell_px, atlas.cells
    keys = [f"{level}/{x}/{y}" for y in range(2 ** level) for x in range(2 ** level)]
    found = set()
    for lo in range(0, len(keys), read_atlas.MAX_TILES_PER_REQUEST):
        for key, data in read_atlas.tiles(reader, atlas, keys[lo: lo + 48]).items():
            if data is None:
                continue
            _, tx, ty = (int(v) for v in key.split("/"))
            alpha = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))[..., 3]
            centres = alpha[px // 2::px, px // 2::px] > 0
            for r, c in zip(*np.nonzero(centres)):
                found.add((ty * cells + r) * size + tx * cells + c)
    return found


def test_the_stored_pyramid_shows_every_image_once_at_the_deepest_level(atlas_store):
    reader, atlas = _atlas(atlas_store)
    table = read_atlas.points(reader, atlas)
    assert table.num_rows == atlas.n == 1797
    assert table["idx"].to_pylist() == list(range(1797))
    labels = reader.images(Reader(atlas_store).catalog().features[
        next(iter(reader.catalog().features))].dataset).table["label"].to_numpy()
    assert (table["label"].to_numpy() == labels).all()
    world = np.stack([table["x"].to_numpy(), table["y"].to_numpy()], 1)
    deepest = atlas.levels - 1
    cell = table["cell"].to_numpy()
    assert len(np.unique(cell)) == 1797
    assert _occupied(reader, atlas, deepest) == set(cell.tolist())
    for level in range(deepest):  # each cell above shows the image nearest its centre
        expected = _brute_representatives(world, geometry.grid_size(level, atlas.cells))
        assert _occupied(reader, atlas, level) == set(expected)


def test_the_points_are_the_stored_layout_in_world_units(atlas_store):
    reader, atlas = _atlas(atlas_store)
    (layout,) = [r for r in reader.catalog().layouts if r.result_key == atlas.layout_key]
    xy = reader.per_image("projections", layout.result_key)[["x", "y"]].to_numpy()
    table = read_atlas.points(reader, atlas)
    world = np.stack([table["x"].to_numpy(), table["y"].to_numpy()], 1)
    assert np.allclose(world, geometry.world_coords(xy), atol=1e-4)


def test_tiles_are_asked_for_within_bounds(atlas_store):
    reader, atlas = _atlas(atlas_store)
    assert read_atlas.tiles(reader, atlas, ["0/0/0"])["0/0/0"][:4] == b"RIFF"  # WebP
    hostile = ["0/0/1", f"{atlas.levels}/0/0", "../x", "0/0/0/0", 7, None, "1/-1/0",
               "99999999/1/1"]
    assert read_atlas.tiles(reader, atlas, hostile) == {}
    assert read_atlas.tiles(reader, atlas, "0/0/0") == {}
    many = [f"{atlas.levels - 1}/{i % 4}/{i // 4 % 4}" for i in range(500)]
    assert len(read_atlas.tiles(reader, atlas, many)) <= read_atlas.MAX_TILES_PER_REQUEST


def test_a_lasso_from_the_browser_lists_the_images_inside_it(atlas_store):
    reader, atlas = _atlas(atlas_store)
    table = read_atlas.points(reader, atlas)
    world = np.stack([table["x"].to_numpy(), table["y"].to_numpy()], 1)
    poly = [[0, 0], [128, 0], [128, 256], [0, 256]]
    got = read_atlas.lasso(reader, atlas, poly)
    assert set(got.tolist()) == set(np.flatnonzero(world[:, 0] < 128).tolist()) != set()
    for bad in (None, "x", [[0, 0], [1, 1]], [[0, 0], [1, 1], [np.nan, 2]],
                [[0, 0]] * 600, [[[0]]]):
        assert len(read_atlas.lasso(reader, atlas, bad)) == 0


def test_a_click_opens_the_image_its_cell_shows_at_every_level(atlas_store):
    """What the browser asks on a click (a level and a world point) gives the image that
    cell shows: the nearest to the centre above the deepest level (brute force), the image
    placed there at the deepest; nothing for an empty cell or a malformed request."""
    reader, atlas = _atlas(atlas_store)
    table = read_atlas.points(reader, atlas)
    world = np.stack([table["x"].to_numpy(), table["y"].to_numpy()], 1)
    for level in range(atlas.levels):
        size = geometry.grid_size(level, atlas.cells)
        w = atlas.world / size
        shown = _brute_representatives(world, size) if level < atlas.levels - 1 else \
            dict(zip(table["cell"].to_numpy().tolist(), table["idx"].to_numpy().tolist()))
        rng = np.random.default_rng(level)
        for cell in rng.choice(size * size, min(size * size, 60), replace=False):
            row, col = divmod(int(cell), size)
            x, y = (col + rng.uniform(.05, .95)) * w, (row + rng.uniform(.05, .95)) * w
            assert read_atlas.image_at(reader, atlas, level, x, y) == shown.get(int(cell))
    for bad in ((atlas.levels, 1, 1), (-1, 1, 1), (0, -1, 5), (0, 5, atlas.world),
                (0, float("nan"), 1), ("x", 1, 1), (None, None, None), (0, [1], 2)):
        assert read_atlas.image_at(reader, atlas, *bad) is None


def test_the_browser_gets_narrow_points_and_a_large_atlas_a_spread_sample_first(
        atlas_store, monkeypatch):
    reader, atlas = _atlas(atlas_store)
    table, sent = read_atlas.points(reader, atlas), read_atlas.browser_points(reader, atlas)
    assert sent.column_names == ["x", "y", "label", "cluster", "predicted", "correct", "kd"]
    assert sent["label"].type == pa.int8()  # ten digits
    for name in sent.column_names:
        np.testing.assert_array_equal(sent[name].to_numpy(), table[name].to_numpy())
    assert read_atlas.browser_sample(reader, atlas) is None  # 1,797 points draw at once
    monkeypatch.setattr(read_atlas, "FIRST_POINTS", 300)
    reader = Reader(atlas_store)
    first = read_atlas.browser_sample(reader, atlas)
    step = -(-len(table) // 300)
    rows = np.sort(table["kd"].to_numpy()[::step])
    assert first.num_rows == len(rows) <= 300 and "kd" not in first.column_names
    np.testing.assert_array_equal(first["x"].to_numpy(), table["x"].to_numpy()[rows])
    # spread like the points: each quarter of the map holds about its share of them
    world = np.stack([table["x"].to_numpy(), table["y"].to_numpy()], 1)
    middle = np.median(world, 0)
    for qx in (0, 1):
        for qy in (0, 1):
            def share(xy):
                return np.mean(((xy[:, 0] >= middle[0]) == qx) & ((xy[:, 1] >= middle[1]) == qy))
            assert abs(share(world[rows]) - share(world)) < 0.05


def _layout_of_digits(store):
    from vizkit.jobs.layouts import project_model
    from vizkit.registry import get_registry
    from vizkit.runtime.models import load_model

    ds = get_registry().open_dataset("digits[:300]")
    rows = project_model(store, ds, load_model("vizkit_small_cnn", "random"), "embedding",
                         "pca", progress=False)
    return ds, rows


def test_a_killed_atlas_job_resumes_to_the_same_tiles(tmp_path, monkeypatch):
    from vizkit.jobs import atlas as job
    from vizkit.jobs import atlas_tiles
    from vizkit.store import Store

    monkeypatch.setattr(atlas_tiles, "TILES_PER_PACK", 4)  # many packs
    whole = Store(tmp_path / "whole" / "vizkit.duckdb")
    ds, rows = _layout_of_digits(whole)
    done = job.build_atlas(whole, rows["projection"], rows["coords"], ds.labels,
                           progress=False)
    killed = Store(tmp_path / "killed" / "vizkit.duckdb")
    _, rows_k = _layout_of_digits(killed)
    real, calls = atlas_tiles.compose_pack, []

    def dies_after_five(*args, **kwargs):
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(atlas_tiles, "compose_pack", dies_after_five)
    with pytest.raises(KeyboardInterrupt):
        job.build_atlas(killed, rows_k["projection"], rows_k["coords"], ds.labels,
                        progress=False)
    assert killed.result(done["result_key"]) is None  # nothing cataloged
    monkeypatch.setattr(atlas_tiles, "compose_pack", lambda *a, **k: (calls.append(1), real(
        *a, **k))[1])
    again = job.build_atlas(killed, rows_k["projection"], rows_k["coords"], ds.labels,
                            progress=False)
    packs = len([n for n in whole.shard_files(done["result_key"]) if n.endswith(".index")])
    assert len(calls) == packs  # five before the kill, the rest after: none twice
    assert again["result_key"] == done["result_key"]
    a, b = whole.shard_files(done["result_key"]), killed.shard_files(again["result_key"])
    assert {n: s.sha256 for n, s in a.items()} == {n: s.sha256 for n, s in b.items()}
    assert json.loads(again["params"])["levels"] >= 2


def test_the_ray_engine_renders_the_same_tiles(tmp_path):
    pytest.importorskip("ray")
    from vizkit.jobs import atlas as job
    from vizkit.store import Store

    stores = {e: Store(tmp_path / e / "vizkit.duckdb") for e in ("local", "ray")}
    rows = {}
    for engine, store in stores.items():
        ds, layout = _layout_of_digits(store)
        rows[engine] = job.build_atlas(store, layout["projection"], layout["coords"],
                                       ds.labels, engine=engine, progress=False)
    files = {e: {n: s.sha256 for n, s in stores[e].shard_files(rows[e]["result_key"]).items()}
             for e in stores}
    assert files["local"] == files["ray"]


def test_bad_layouts_get_a_clear_message_and_store_nothing(tmp_path):
    from vizkit.jobs import atlas as job
    from vizkit.store import Store

    store = Store(tmp_path / "vizkit.duckdb")
    ds, rows = _layout_of_digits(store)
    coords = rows["coords"].copy()
    coords[3] = np.nan
    with pytest.raises(BadArgumentError, match="finite"):
        job.build_atlas(store, rows["projection"], coords, ds.labels, progress=False)
    with pytest.raises(BadArgumentError, match="at least 2"):
        job.build_atlas(store, rows["projection"], coords[:1] * 0, ds.labels[:1],
                        progress=False)
    assert store.results("atlas").empty
    # no labels at all: the atlas is made, every point unlabelled and "correct" unknown
    row = job.build_atlas(store, rows["projection"], rows["coords"],
                          np.full(len(coords), -1), progress=False)
    points = pa.ipc.open_file(str(store.shard_files(row["result_key"])["points"].path)
                              ).read_all()
    assert set(points["label"].to_pylist()) == {-1} == set(points["correct"].to_pylist())


def test_the_command_refuses_a_dataset_too_small_to_lay_out(tmp_path):
    done = run_here("atlas", "--dataset", "digits[:1]", "--model", "vizkit_small_cnn",
                    "--weights", "random", "--layer", "embedding", "--quiet",
                    store=tmp_path / "vizkit.duckdb", ok=False)
    assert done.returncode == 2 and "at least 10" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_runs_atlases_share_one_frame(evolved_atlas_store):
    """``vizkit atlas --run``: an atlas per checkpoint, each of its aligned layout, all placed
    in the union of the layouts' extents (an image's place means the same in every frame)."""
    reader = Reader(evolved_atlas_store)
    atlases = reader.catalog().atlases
    layouts = {r.result_key: r for r in reader.catalog().layouts}
    frames = {layouts[a.layout_key].features.epoch: a for a in atlases}
    assert sorted(frames) == [0, 1, 2]
    xy = {e: reader.per_image("projections", frames[e].layout_key)[["x", "y"]].to_numpy()
          for e in frames}
    stacked = np.concatenate(list(xy.values()))
    bounds = np.stack([stacked.min(0), stacked.max(0)])
    for epoch, atlas in frames.items():
        assert layouts[atlas.layout_key].aligned and layouts[atlas.layout_key].series.run == "t"
        table = read_atlas.points(reader, atlas)
        world = np.stack([table["x"].to_numpy(), table["y"].to_numpy()], 1)
        assert np.allclose(world, geometry.world_coords(xy[epoch], bounds), atol=1e-3)
    done = run_here("atlas", "--run", "t", "--dataset", "digits[test]", "--layer",
                    "embedding", "--method", "pca", "--quiet", store=evolved_atlas_store)
    assert "3 atlases of run t" in done.stdout  # stored already: nothing redone
    assert len(Reader(evolved_atlas_store).catalog().atlases) == 3
    both = run_here("atlas", "--run", "t", "--checkpoint", "t:1", "--dataset", "digits[test]",
                    "--layer", "embedding", store=evolved_atlas_store, ok=False)
    assert both.returncode == 2 and "not both" in both.stderr


def test_the_atlas_travels_in_a_bundle(atlas_store, tmp_path):
    """``vizkit bundle`` carries the atlas's files: the hosted app opens the bundle and serves
    the same points and tiles, verified against the SHA-256 the store recorded."""
    from vizkit.store.bundle import open_bundle, write_bundle

    write_bundle(atlas_store, tmp_path / "atlas.vizkit", checkpoints=False)
    reader, atlas = _atlas(open_bundle(tmp_path / "atlas.vizkit"))
    original, same = _atlas(atlas_store)
    assert atlas == same
    assert read_atlas.points(reader, atlas).equals(read_atlas.points(original, same))
    keys = [f"{atlas.levels - 1}/{x}/{y}" for x in range(4) for y in range(4)]
    assert read_atlas.tiles(reader, atlas, keys) == read_atlas.tiles(original, same, keys)


def _kdbush_range(ids, coords, node_size, x0, y0, x1, y1):
    """KDBush's range query as the vendored bundle runs it (regl-scatterplot's lasso and
    hover ask it), over an index laid out in the order the job computed."""
    stack, found = [0, len(ids) - 1, 0], []
    while stack:
        axis, right, left = stack.pop(), stack.pop(), stack.pop()
        if right - left <= node_size:
            found += [ids[i] for i in range(left, right + 1)
                      if x0 <= coords[2 * i] <= x1 and y0 <= coords[2 * i + 1] <= y1]
            continue
        m = (left + right) >> 1
        x, y = coords[2 * m], coords[2 * m + 1]
        if x0 <= x <= x1 and y0 <= y <= y1:
            found.append(ids[m])
        if (x0 <= x) if axis == 0 else (y0 <= y):
            stack += [left, m - 1, 1 - axis]
        if (x1 >= x) if axis == 0 else (y1 >= y):
            stack += [m + 1, right, 1 - axis]
    return sorted(int(i) for i in found)


@pytest.mark.parametrize("n", [2, 17, 3000])
def test_the_spatial_index_order_answers_range_queries_like_a_brute_force_scan(n):
    """The points file's ``kd`` order is a valid KDBush layout of the coordinates the
    browser draws: every range query over it finds exactly the points a scan finds (ties
    on a coarse grid included)."""
    from vizkit.compute.kd_order import KD_NODE_SIZE, kd_order, view_coords
    from vizkit.jobs.atlas import points_table

    rng = np.random.default_rng(n)
    world = np.round(rng.random((n, 2)) * 40) / 40 * 256
    table = points_table(world, np.arange(n), np.zeros(n, int), None, None)
    order = table["kd"].to_numpy()
    nx, ny = view_coords(table["x"].to_numpy(), table["y"].to_numpy(), 256.0)
    assert np.array_equal(order, kd_order(nx, ny)) and sorted(order) == list(range(n))
    coords = np.stack([nx[order], ny[order]], 1).ravel()
    for _ in range(40):
        (x0, x1), (y0, y1) = np.sort(rng.random(2) * 2.2 - 1.1), np.sort(rng.random(2) * 2 - 1)
        inside = (nx >= x0) & (nx <= x1) & (ny >= y0) & (ny <= y1)
        assert _kdbush_range(order, coords, KD_NODE_SIZE, x0, y0, x1, y1) == \
            np.flatnonzero(inside).tolist()

"""Issue 22's defects, each a test that failed on the code before: one epoch control per
page (the animations keep their play button, not a second slider that disagrees), the
triplet scatter's axis titles once per axis and its data filling the panels, the cluster
flow's labels readable, a render that says it is starting, pairs named by role, the grid's
defaults, the explorer's channel buttons opening their tab."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest
from test_links import page


@pytest.fixture
def evolved(evolved_store, monkeypatch):
    monkeypatch.setenv("VIZKIT_STORE", str(evolved_store))


def values(v) -> list[float]:
    """A figure's array as numbers: a JSON list, or Plotly's typed array (dtype, bdata)."""
    import base64

    import numpy as np

    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), v["dtype"]).tolist()
    return [x for x in (v or []) if isinstance(x, (int, float))]


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_the_evolution_page_has_one_epoch_control(evolved):
    at = page("evolution").run()
    assert not at.exception
    assert [s.key for s in at.select_slider] == ["evo_epoch"]
    animated = [f for f in figures(at) if f.get("frames")]
    assert animated, "the animation is drawn"
    assert all(not f["layout"].get("sliders") for f in animated)
    at.select_slider(key="evo_epoch").set_value(1).run()
    shown = next(f for f in figures(at) if f.get("frames"))
    frame = next(fr for fr in shown["frames"] if str(fr["name"]) == "1")
    assert shown["data"][0]["x"] == frame["data"][0]["x"]  # the figure shows that epoch


def test_the_triplet_page_has_one_epoch_control_and_readable_axes(evolved):
    at = page("triplets").run()
    assert not at.exception
    assert [s.key for s in at.select_slider] == ["trip_epoch"]
    for fig in figures(at):
        assert not fig["layout"].get("sliders")
    scatter = figures(at)[0]
    titles = [v.get("title", {}).get("text") for k, v in scatter["layout"].items()
              if k.startswith("yaxis") and isinstance(v, dict)]
    rows = sum(1 for k in scatter["layout"] if k.startswith("yaxis"))
    shown = [t for t in titles if t]
    assert rows > 1 and len(shown) < rows  # titles on the outer panels only
    lo, hi = scatter["layout"]["yaxis"]["range"]
    neg = [y for trace in scatter["data"] if trace.get("marker", {}).get("symbol") != "star"
           for y in values(trace.get("y"))]
    assert neg and hi - lo < 1.5 * (max(neg) - min(neg)) + 0.2  # the data fill the panel


def test_the_cluster_flow_labels_say_cluster_and_epoch():
    import numpy as np

    from vizkit import palette
    from vizkit.app.plots import cluster_flow

    fig = cluster_flow(np.array([[5, 1], [0, 7]]), "e1", "e2")
    sankey = fig.data[0]
    assert list(sankey.node.label) == ["c0 (e1)", "c1 (e1)", "c0 (e2)", "c1 (e2)"]
    assert sankey.textfont.color == palette.INK
    assert list(sankey.link.color)[0] == palette.translucent(palette.cluster_colour(0), 0.35)


def test_a_render_before_its_first_step_says_it_is_starting():
    from vizkit.app.explorer_page import render_progress_text

    assert "0/0" not in render_progress_text(0, 0) and "Starting" in render_progress_text(0, 0)
    assert render_progress_text(12, 256) == "Rendering… step 12 of 256"


def test_a_pair_named_by_role_is_not_numbered(evolved):
    """The triplet page's traced anchor shows its positive and negative as such, not as
    "#positive"."""
    at = page("triplets").run()
    first = at.selectbox(key="trip_anchor").options[1]
    at.selectbox(key="trip_anchor").set_value(first).run()
    toggle = next(t for t in at.toggle if t.key.startswith("trip_maps_"))
    toggle.set_value(True).run()
    assert not at.exception
    heads = [m.value for m in at.markdown if "positive" in m.value or "negative" in m.value]
    assert any(h.startswith("**positive**") for h in heads), heads
    assert not any("#positive" in h or "#negative" in h for h in heads)


def test_models_x_layers_opens_on_the_fullest_dataset_and_offers_the_best_first(
        tmp_path, monkeypatch):
    """A store whose first dataset has one cell (a checkpoint's one layer, as the demo's
    runs) and whose second has two layers of two models: the page opens on the second, and
    its "Open a configuration" box on the best cell, not the worst."""
    from vizkit.jobs.precompute import precompute
    from vizkit.registry import get_registry
    from vizkit.runtime.models import load_model
    from vizkit.store import Store

    store = Store(tmp_path / "vizkit.duckdb")
    small = load_model("vizkit_small_cnn", "random")
    precompute(store, get_registry().open_dataset("digits[:60]"), small, ["embedding"], [],
               progress=False)
    grid = get_registry().open_dataset("digits[:300]")
    precompute(store, grid, small, ["stages.1", "stages.2"], [], progress=False)
    precompute(store, grid, load_model("resnet18", "random", input_size=32),
               ["layer2", "layer3"], [], progress=False)
    monkeypatch.setenv("VIZKIT_STORE", str(store.path))
    at = page("grid").run()
    assert not at.exception
    assert at.selectbox(key="grid_dataset").value == "digits[:300]"
    box = at.selectbox(key="grid_pick")
    scores = [float(label.rsplit("· ", 1)[1]) for label in box.options]  # shown labels
    assert len(scores) == 4 and scores == sorted(scores, reverse=True)
    assert box.index == 0


def test_opening_a_channel_from_the_rendered_grid_shows_its_tab(evolved):
    at = page("explorer").run()
    assert not at.exception
    assert [t.label for t in at.tabs][:3] == ["Channel", "Feature maps of an image",
                                              "All rendered channels"]
    at.session_state["exp_tab"] = "All rendered channels"  # the user is on that tab
    at.run()
    button = [b for b in at.button if b.key and b.key.startswith("exp_grid_")][-1]
    button.click().run()
    assert not at.exception
    assert at.session_state["exp_channel"] == int(button.key.rsplit("_", 1)[1])
    assert at.session_state["exp_tab"] == "Channel"  # and sees it, not another tab


def test_the_spectrum_never_says_one_directions(evolved):
    at = page("spectrum").run()
    assert not at.exception
    assert not [c.value for c in at.caption if " 1 directions" in c.value]

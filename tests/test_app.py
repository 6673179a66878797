"""Every page under Streamlit's AppTest, on a real store made by the precompute job."""
import io
import json
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


def results_of(at: AppTest) -> list[int]:
    """The search page's results (their captions), as listed by its keyboard picker (the
    grid itself is one browser-drawn element; tests/test_browser.py clicks it)."""
    found = [s for s in at.selectbox if s.key == "search_open"]
    return [o for o in found[0].options if o != "—"] if found else []


def page(name: str) -> AppTest:
    return AppTest.from_string(f"from vizkit.app.router import run_page\nrun_page({name!r})",
                               default_timeout=120)


@pytest.fixture
def with_store(digits_store, monkeypatch):
    monkeypatch.setenv("VIZKIT_STORE", str(digits_store))
    return digits_store


def test_home_lists_store_and_plugins(with_store):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["datasets"] == "1" and labels["images"] == "1,797"
    assert not at.error


def test_home_without_a_store_says_what_to_run():
    at = page("home").run()
    assert not at.exception and any("vizkit demo" in i.value for i in at.info)


def test_search_without_a_store_says_what_to_run():
    at = page("search").run()
    assert not at.exception and any("vizkit demo" in i.value for i in at.info)


def test_search_click_a_result_and_switch_layers(with_store):
    at = page("search").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="search_dataset").value == "digits"
    results = results_of(at)
    assert len(results) == 50
    score = {m.label: m.value for m in at.metric}
    assert float(score["Retrieval score (nDCG@50)"]) >= 0
    assert results[3].startswith("#4 · ")  # "#4 · class · digit/0123": digits' ids are idx
    target = int(results[3].rsplit("/", 1)[1])
    at.selectbox(key="search_open").select_index(4).run()  # option 0 is "—"
    assert not at.exception and at.session_state.search_query_idx == target
    at.selectbox(key="search_layer").select("layer3").run()
    at.selectbox(key="search_metric").select("manhattan").run()
    assert not at.exception and len(results_of(at)) == 50


def test_search_uploads_bad_then_good(with_store):
    at = page("search").run()
    at.radio(key="search_source").set_value("Upload an image").run()
    assert any("Upload an image" in i.value for i in at.info)
    at.file_uploader(key="search_upload").set_value(("x.png", b"not an image",
                                                     "image/png")).run()
    assert not at.exception
    assert any("not a readable image" in e.value for e in at.error)
    buf = io.BytesIO()
    Image.new("L", (8, 8), 200).save(buf, format="PNG")
    at.file_uploader(key="search_upload").set_value(("digit.png", buf.getvalue(),
                                                     "image/png")).run()
    assert not at.exception and not at.error
    assert len(results_of(at)) == 50


def test_similarity_maps_page_sums_match_scores_and_metric_note(with_store):
    at = page("similarity").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    heads = [m.value for m in at.markdown if m.value.startswith("**#")]
    sums = [c.value for c in at.caption if "Σ map" in c.value]
    assert len(heads) == 20 and len(sums) == 20
    for head, note in zip(heads, sums):  # cosine: each map's sum is the score shown above
        assert head.split("· ")[1].startswith("cosine ")
        shown = float(head.split("· ")[1].split()[-1])
        assert abs(shown - float(note.split("Σ map = cosine ")[1].split()[0])) < 2e-4
    legend = [c.value for c in at.caption if "each map sums to" in c.value]
    assert "the score beside it" in legend[0]  # the focus view's, its numbers beside it
    assert "the score above it" in legend[-1]  # the panel's, the scores above the columns
    at.selectbox(key="simmap_metric").select("euclidean").run()
    assert not at.exception and any("No exact additive map" in i.value for i in at.info)
    heads = [m.value for m in at.markdown if m.value.startswith("**#")]
    assert heads and all("· euclidean " in h for h in heads)  # the distance, named
    legend = [c.value for c in at.caption if "each map sums to" in c.value]
    assert "the score above it" not in legend[0]  # a distance is not what the maps sum to
    assert "The score above is the euclidean" in legend[0]
    at.selectbox(key="simmap_model").select_index(1).run()
    at.selectbox(key="simmap_layer").select("embedding").run()
    assert not at.exception and not at.error
    assert len([c for c in at.caption if "Σ map" in c.value]) == 20


def test_similarity_page_splits_a_pair_over_channels(with_store):
    at = page("similarity").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    heads = [float(m.value.split("· ")[1].split()[-1]) for m in at.markdown
             if m.value.startswith("**#")]  # "**#3** · cosine 0.9812"

    def split_score() -> float:
        note = next(c.value for c in at.caption if "channel contributions" in c.value)
        return float(note.split("score ")[1].split(" is")[0])
    assert split_score() == pytest.approx(heads[0], abs=2e-4)  # the first result's score
    assert any(m.value.startswith("**channel ") for m in at.markdown)
    at.button(key="simmap_focus_next").click().run()  # the split follows the focused result
    assert not at.exception and split_score() == pytest.approx(heads[1], abs=2e-4)
    at.selectbox(key="simmap_focus_at").select_index(5).run()
    assert not at.exception and split_score() == pytest.approx(heads[5], abs=2e-4)
    assert any(m.value == "**Why similar, by channel** · result #6" for m in at.markdown)


def test_similarity_maps_page_with_an_uploaded_wide_image(with_store):
    at = page("similarity").run()
    at.radio(key="simmap_source").set_value("Upload an image").run()
    at.file_uploader(key="simmap_upload").set_value(("bad.jpg", b"\x00" * 10,
                                                     "image/jpeg")).run()
    assert not at.exception and any("not a readable image" in e.value for e in at.error)
    buf = io.BytesIO()
    Image.new("RGB", (60, 20), (30, 200, 90)).save(buf, format="PNG")
    at.file_uploader(key="simmap_upload").set_value(("wide.png", buf.getvalue(),
                                                     "image/png")).run()
    at.checkbox(key="simmap_whole").check().run()
    assert not at.exception and not at.error
    assert len([c for c in at.caption if "Σ map" in c.value]) == 20


def test_compare_page_four_panels_and_overlap(with_store):
    at = page("compare").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert at.selectbox(key="cmp_a_model").value != at.selectbox(key="cmp_b_model").value
    heads = [s.value for s in at.subheader]
    assert heads[0] == "One result at a time"  # the focus first, the panels as overview
    assert [h[:1] for h in heads[1:]] == ["1", "2", "3", "4"]
    overlap = {m.label: m.value for m in at.metric if m.label.startswith("Overlap")}
    assert set(overlap) == {"Overlap@1", "Overlap@5", "Overlap@10", "Overlap@20"}
    focus = {m.label: m.value for m in at.metric}
    assert focus["rank under A"] == "#1" and focus["A score"] and focus["B score"]
    first = focus["A score"]
    at.button(key="cmp_focus_next").click().run()  # the next result, large
    focus = {m.label: m.value for m in at.metric}
    assert focus["rank under A"] == "#2" and focus["A score"] <= first
    notes = [c.value for c in at.caption if "Σ map" in c.value]
    assert len(notes) == 80 and sum("B rank" in n for n in notes) == 40
    # the result in focus is framed in every panel that holds it: #2 in both A rankings,
    # its B rank in both B rankings when B ranks it in the top 20
    framed = [c.value for c in at.caption if c.value.startswith("The result in focus")]
    b_rank = int(focus["rank under B"].lstrip("#"))
    in_b = f"framed: #{b_rank} here." if b_rank <= 20 else "not among these 20."
    assert [f.split("focus is ")[1] for f in framed] == ["framed: #2 here."] * 2 + [in_b] * 2
    heads = [m.value for m in at.markdown if m.value.endswith("· **in focus**")]
    assert len(heads) == (4 if b_rank <= 20 else 2) and heads[0].startswith("**#2**")
    at.selectbox(key="cmp_b_model").select(at.selectbox(key="cmp_a_model").value).run()
    at.selectbox(key="cmp_b_layer").select(at.selectbox(key="cmp_a_layer").value).run()
    assert {m.label: m.value for m in at.metric}["Overlap@20"] == "100%"


def test_compare_page_with_an_uploaded_query(with_store):
    at = page("compare").run()
    at.radio(key="cmp_source").set_value("Upload an image").run()
    assert any("Upload an image" in i.value for i in at.info)
    buf = io.BytesIO()
    Image.new("L", (16, 16), 90).save(buf, format="PNG")
    at.file_uploader(key="cmp_upload").set_value(("q.png", buf.getvalue(), "image/png")).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    notes = [c.value for c in at.caption if "Σ map" in c.value]
    assert len(notes) == 80 and sum("A rank" in n for n in notes) == 40


@pytest.fixture
def with_evolution(evolved_store, monkeypatch):
    monkeypatch.setenv("VIZKIT_STORE", str(evolved_store))
    return evolved_store


@pytest.mark.parametrize("name", ["projection", "evolution", "confusion"])
def test_layout_pages_without_results_say_what_to_run(with_store, name):
    from vizkit.registry import get_registry

    at = page(name).run()
    assert not at.exception and not at.error
    command = next(v for v in get_registry().visualizers() if v.name == name).command_line
    said = [i.value for i in at.info if "vizkit demo" in i.value]
    assert len(said) == 1 and f"`{command}` for this one" in said[0], (said, command)


def test_projection_page_colours_clusters_and_opens_search(with_evolution):
    at = page("projection").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert at.selectbox(key="proj_dataset").value == "digits[test]"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Clusters (k-means)"] == "10" and 0 < float(metrics["NMI"]) <= 1
    for colour in ("cluster", "predicted", "correct"):
        at.radio(key="proj_color").set_value(colour).run()
        assert not at.exception
    at.radio(key="proj_draw").set_value("images").run()  # thumbnails at their positions
    assert not at.exception and not at.error
    spec = at.get("plotly_chart")[0].proto.spec
    # every test image of digits, composed once into one picture over the plot (one image
    # per point took the browser minutes for 1,500)
    assert spec.count(";base64,") == 1
    assert json.loads(spec)["layout"]["meta"]["thumbnails"] == len(range(4, 1797, 5))
    at.radio(key="proj_draw").set_value("hover").run()  # points that show their image
    assert not at.exception and not at.error
    assert hover_images(at) == len(range(4, 1797, 5))
    at.radio(key="proj_draw").set_value("points").run()
    at.selectbox(key="proj_method").select("umap").run()
    at.selectbox(key="proj_cluster").select_index(2).run()
    buttons = [b for b in at.button if b.key.startswith("proj_centre_")]
    assert len(buttons) == 16
    target = int(buttons[0].key.rsplit("_", 1)[1])
    buttons[0].click().run()
    assert at.session_state["search_query_idx_next"] == target
    assert at.session_state["search_dataset"] == "digits[test]"


def hover_images(at: AppTest) -> int:
    """How many points of the page's Vega-Lite scatter carry a thumbnail for the tooltip
    (whose ``image`` field vega-tooltip draws as an image)."""
    import pyarrow as pa

    (chart,) = [c for c in at.get("vega_lite_chart")
                if '"field":"image"' in c.proto.spec.replace(" ", "")]
    tables = [pa.ipc.open_stream(d.data.data).read_all() for d in chart.proto.datasets]
    uris = [u for t in tables if "image" in t.column_names for u in t["image"].to_pylist()]
    assert all(u.startswith("data:image/png;base64,") for u in uris)
    return len(uris)


def test_evolution_page_slider_curves_and_moved_images(with_evolution):
    at = page("evolution").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert at.select_slider(key="evo_epoch").value == 2
    at.select_slider(key="evo_epoch").set_value(1).run()
    assert not at.exception and any("epoch 0 → 1" in s.value for s in at.subheader)
    at.selectbox(key="evo_pair").select_index(1).run()
    assert not at.exception and [b for b in at.button if b.key.startswith("evo_moved_")]
    at.selectbox(key="evo_method").select("umap").run()
    assert not at.exception and not at.error
    at.radio(key="evo_draw").set_value("images").run()  # epoch 1's map as thumbnails
    assert not at.exception and not at.error
    spec = at.get("plotly_chart")[0].proto.spec
    assert spec.count(";base64,") == 1
    assert json.loads(spec)["layout"]["meta"]["thumbnails"] == len(range(4, 1797, 5))
    at.radio(key="evo_draw").set_value("hover").run()
    assert not at.exception and not at.error and hover_images(at) == len(range(4, 1797, 5))


def test_confusion_page_opens_a_cell_with_neighbours_of_the_predicted_class(with_evolution):
    at = page("confusion").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert float({m.label: m.value for m in at.metric}["Accuracy"]) > 0.5
    cell = at.selectbox(key="conf_cell")
    cell.select_index(0).run()
    true, predicted = at.session_state["conf_cell"]
    heading = [s.value for s in at.subheader][-1]
    assert f"{true} predicted as {predicted}" in heading
    # one mistake at a time, beside its 7 nearest of the predicted class; the others as an
    # overview of thumbnails, not a wall of "Search" buttons
    assert not [b for b in at.button if b.label == "Search"]
    assert at.button(key="conf_search").label == "Search with this image"
    nearest = [c.value for c in at.caption if c.value.startswith(f"{predicted} · ")]
    assert len(nearest) == 7
    focus = at.selectbox(key=f"conf_focus_{true}_{predicted}_at")
    if len(focus.options) > 1:
        at.button(key=f"conf_focus_{true}_{predicted}_next").click().run()
        assert at.session_state[f"conf_focus_{true}_{predicted}_at"] == 1
    at.select_slider(key="conf_model").set_value(at.select_slider(key="conf_model").options[0]
                                                 ).run()
    assert not at.exception and not at.error


def test_training_page_charts_runs_and_metrics(with_evolution):
    at = page("training").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert at.multiselect(key="train_runs").value == ["t", "t-epshn"]
    at.multiselect(key="train_metrics").set_value(["recall_at_2", "nmi"]).run()
    at.multiselect(key="train_splits").set_value(["test", "train"]).run()
    assert not at.exception and not at.error
    at.multiselect(key="train_runs").set_value([]).run()
    assert any("Pick one or more runs" in i.value for i in at.info)


def test_triplet_page_two_runs_trace_an_anchor_and_move_the_epoch(with_evolution):
    at = page("triplets").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert at.selectbox(key="trip_run_b").value == "t-epshn"
    assert at.select_slider(key="trip_epoch").value == 2
    shares = [c.value for c in at.caption if c.value.startswith("Below the diagonal")]
    assert shares and "t-epshn test" in shares[0]
    at.selectbox(key="trip_anchor").select_index(1).run()
    assert not at.exception and not at.error
    captions = [c.value for c in at.caption]
    assert sum(c.startswith("anchor") for c in captions) == 2  # one per run
    assert any(c.startswith("closest negative") for c in captions)
    traced = at.session_state["trip_anchor"]
    # the triplet's similarity maps: anchor vs its closest positive and negative
    # (run t: its pre_logits split exactly; t-epshn's cosine-classifier head does not, and
    # says so)
    toggle = next(t for t in at.toggle if t.key.startswith("trip_maps_t_"))
    toggle.set_value(True).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    heads = [m.value for m in at.markdown if m.value.startswith("**positive")
             or m.value.startswith("**negative")]  # named by role, not "#positive"
    sums = [float(c.value.split("Σ map = cosine ")[1].split()[0]) for c in at.caption
            if "Σ map" in c.value]
    assert len(heads) == 2 and len(sums) == 2
    for head, total in zip(heads, sums):  # each map sums to the stored cosine
        assert float(head.split("· ")[1].split()[-1]) == pytest.approx(total, abs=2e-3)
    at.select_slider(key="trip_epoch").set_value(0).run()
    assert not at.exception and at.session_state["trip_anchor"] == traced
    at.selectbox(key="trip_run_b").select("(none)").run()
    assert not at.exception and not at.error


def test_spectrum_page_variance_extremes_and_truncated_recall(with_evolution):
    at = page("spectrum").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert "64 dimensions" in at.caption[0].value  # run t: pre_logits of the small CNN
    at.selectbox(key="spec_run").select("t-epshn").run()
    assert not at.exception and "32 dimensions" in at.caption[0].value
    at.selectbox(key="spec_split").select("train").run()
    at.select_slider(key="spec_epoch").set_value(0).run()
    assert not at.exception and not at.error


@pytest.mark.parametrize("name", ["training", "triplets", "spectrum"])
def test_training_pages_without_runs_say_what_to_run(with_store, name):
    at = page(name).run()
    assert not at.exception and not at.error
    assert any("vizkit train" in i.value for i in at.info)


def test_explorer_page_layer_channel_top_images_feature_maps_and_compare(with_evolution):
    at = page("explorer").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert at.selectbox(key="exp_model").value == "vizkit_small_cnn @ t:2"  # it has renders
    assert at.selectbox(key="exp_layer").value == "stages.2"
    captions = [c.value for c in at.caption]
    assert any(c.startswith("channel, 64 steps at 28 px") for c in captions)
    assert any("The 8 images of digits[test] with the highest max activation" in c
               for c in captions)
    opened = [b for b in at.button if b.key.startswith("exp_grid_")]
    assert len(opened) == 3
    target = int(opened[-1].key.rsplit("_", 1)[1])
    opened[-1].click().run()
    assert not at.exception and at.number_input(key="exp_channel").value == target
    at.radio(key="exp_pooling").set_value("mean").run()
    assert any("highest mean activation" in c.value for c in at.caption)
    # feature maps of a dataset image; open the strongest channel
    strongest = at.selectbox(key="exp_open").options[1]
    at.selectbox(key="exp_open").select_index(1).run()
    assert not at.exception and f"channel {at.number_input(key='exp_channel').value} " in \
        strongest + " "
    at.radio(key="exp_order").set_value("mean").run()
    at.radio(key="exp_source").set_value("Upload an image").run()
    assert any("see its feature maps" in i.value for i in at.info)
    assert [b for b in at.button if b.key.startswith("exp_grid_")]  # other tabs still drawn
    at.file_uploader(key="exp_upload").set_value(("x.png", b"not an image", "image/png")).run()
    assert not at.exception and any("not a readable image" in e.value for e in at.error)
    buf = io.BytesIO()
    Image.new("RGB", (50, 30), (10, 200, 30)).save(buf, format="PNG")
    at.file_uploader(key="exp_upload").set_value(("wide.png", buf.getvalue(), "image/png")).run()
    assert not at.exception and not at.error
    assert [s for s in at.selectbox if s.key == "exp_open"]  # its maps, ready to open
    # a layer with nothing rendered says what to run; a channel out of range cannot be set
    at.selectbox(key="exp_layer").select("stages.0").run()
    assert any("--channel-vis --layers stages.0" in i.value for i in at.info)
    assert at.number_input(key="exp_channel").max == 31
    assert at.selectbox(key="exp_layer_b_stages.0").value == "stages.0"


def test_compare_page_opens_a_query_where_a_and_b_disagree(with_store):
    at = page("compare").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    at.toggle(key="cmp_disagree").set_value(True).run()
    box = at.selectbox(key="cmp_disagree_open")  # one readable list, not ten cut-off buttons
    assert len(box.options) == 21 and not [b for b in at.button if b.key and
                                           b.key.startswith("cmp_disagree_")]
    target = int(box.options[4].split(" · ")[0].rsplit("/", 1)[-1])  # "digit/0123 · ..."
    box.select_index(4).run()
    assert not at.exception and at.session_state.cmp_query_idx == target
    assert any("Mean overlap@10" in c.value for c in at.caption)


def test_models_by_layers_page_opens_a_configuration_in_search(with_store):
    at = page("grid").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert any(s.value.startswith("Best: ") for s in at.success)
    first = at.selectbox(key="grid_pick").options[0]  # as shown: "model · layer · score"
    at.radio(key="grid_score").set_value("recall_at_1").run()
    assert not at.exception
    at.button(key="grid_open").click().run()
    assert not at.exception
    assert at.session_state.search_layer == first.split(" · ")[1]
    assert at.session_state.search_metric == at.selectbox(key="grid_metric").value



@pytest.mark.parametrize("name,prefix", [("search", "search"), ("similarity", "simmap"),
                                         ("compare", "cmp")])
def test_the_gallery_picks_the_query_by_class_and_split(with_store, name, prefix):
    at = page(name).run()
    at.toggle(key=f"{prefix}_gallery").set_value(True).run()
    at.selectbox(key=f"{prefix}_gallery_class").select("7").run()
    uses = [b for b in at.button if b.key and b.key.startswith(f"{prefix}_gallery_use_")]
    assert len(uses) == 24 and not at.exception
    target = int(uses[5].key.rsplit("_", 1)[1])
    uses[5].click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert at.session_state[f"{prefix}_query_idx"] == target
    from sklearn.datasets import load_digits

    assert load_digits().target[target] == 7  # digits' class names are the digits


def test_the_gallery_filters_by_the_layers_clusters(with_evolution):
    """Where k-means clusters of the chosen features are stored, the gallery filters by
    cluster too: every image it offers is of the chosen cluster."""
    from vizkit.read.catalog import Reader
    from vizkit.read.layouts import clusters_of

    at = page("search").run()
    at.selectbox(key="search_dataset").select("digits[test]").run()
    at.selectbox(key="search_model").select("vizkit_small_cnn @ t:2").run()
    at.selectbox(key="search_layer").select("embedding").run()  # evolve clustered it
    at.toggle(key="search_gallery").set_value(True).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    reader = Reader(with_evolution)
    frow = next(r for r in reader.features_rows() if r.dataset.name == "digits[test]" and
                r.label == at.selectbox(key="search_model").value and
                r.layer == at.selectbox(key="search_layer").value)
    clusters = clusters_of(reader, frow)["cluster"].to_numpy()
    at.selectbox(key="search_gallery_cluster").select(3).run()
    assert not at.exception
    uses = [int(b.key.rsplit("_", 1)[1]) for b in at.button
            if b.key and b.key.startswith("search_gallery_use_")]
    assert uses and len(uses) == min(24, int((clusters == 3).sum()))
    assert set(clusters[uses]) == {3}


def test_a_chart_carries_thumbnails_only_up_to_its_byte_budget(digits_store):
    """Hover and images drawings carry thumbnails in sample order until the chart's byte
    budget is spent (a folder of large photos cannot make one chart tens of megabytes)."""
    from vizkit.app.scatter_view import IMAGE_BYTES, thumbnails_within
    from vizkit.read.catalog import Reader

    reader = Reader(digits_store)
    frow = reader.features_rows()[0]
    idxs = list(range(100, 140))
    every = reader.thumbnails(frow.dataset, idxs)
    budget = sum(len(every[i]) for i in idxs[:10])
    assert list(thumbnails_within(reader, frow, idxs, budget)) == idxs[:10]
    assert thumbnails_within(reader, frow, idxs) == every  # 40 digits: far under the budget
    assert sum(map(len, every.values())) < IMAGE_BYTES

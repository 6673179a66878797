"""Every page under Streamlit's AppTest, on a real store made by the precompute job."""
import io
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


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
    results = [b for b in at.button if b.key.startswith("use_")]
    assert len(results) == 50
    score = {m.label: m.value for m in at.metric}
    assert float(score["Retrieval score (nDCG@50)"]) >= 0
    target = int(results[3].key.removeprefix("use_"))
    results[3].click().run()
    assert not at.exception and at.session_state.search_query_idx == target
    at.selectbox(key="search_layer").select("layer3").run()
    at.selectbox(key="search_metric").select("manhattan").run()
    assert not at.exception and len([b for b in at.button if b.key.startswith("use_")]) == 50


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
    assert len([b for b in at.button if b.key.startswith("use_")]) == 50


def test_similarity_maps_page_sums_match_scores_and_metric_note(with_store):
    at = page("similarity").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    heads = [m.value for m in at.markdown if m.value.startswith("**#")]
    sums = [c.value for c in at.caption if "Σ map" in c.value]
    assert len(heads) == 20 and len(sums) == 20
    for head, note in zip(heads, sums):  # cosine: each map's sum is the score shown above
        assert abs(float(head.split("· ")[1]) - float(note.split("Σ map ")[1].split()[0])) < 2e-4
    at.selectbox(key="simmap_metric").select("euclidean").run()
    assert not at.exception and any("No exact additive map" in i.value for i in at.info)
    at.selectbox(key="simmap_model").select_index(1).run()
    at.selectbox(key="simmap_layer").select("embedding").run()
    assert not at.exception and not at.error
    assert len([c for c in at.caption if "Σ map" in c.value]) == 20


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
    assert [s.value[:1] for s in at.subheader] == ["1", "2", "3", "4"]
    overlap = {m.label: m.value for m in at.metric}
    assert set(overlap) == {"Overlap@1", "Overlap@5", "Overlap@10", "Overlap@20"}
    notes = [c.value for c in at.caption if "Σ map" in c.value]
    assert len(notes) == 80 and sum("B rank" in n for n in notes) == 40
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

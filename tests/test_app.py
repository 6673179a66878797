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

"""The bad-image corpus through every door: decoding, the CLI, a folder dataset and the
app's upload — each file decodes within bounds or is refused with one clear line, and no
file costs more than a fixed amount of memory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import NON_UTF8_NAME, corpus, write_corpus
from PIL import Image

from vizkit.errors import ImageDecodeError
from vizkit.images import MAX_ASPECT, WORK_SHORT_SIDE, decode_image

HERE = Path(__file__).parent
CLI = [sys.executable, "-m", "vizkit.cli"]
PEAK_BOUND_MB = 200  # what decoding and embedding one image may add to the process


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("corpus")
    return folder, write_corpus(folder)


@pytest.mark.parametrize("name", sorted(corpus()))
def test_each_file_decodes_within_bounds_or_is_refused_clearly(name):
    data, expected = corpus()[name]
    if expected == "refused":
        with pytest.raises(ImageDecodeError) as e:
            decode_image(data)
        assert "object at 0x" not in str(e.value)  # no Python reprs in messages
        return
    img = decode_image(data)
    assert img.mode in ("L", "RGB")
    w, h = img.size
    assert min(w, h) <= WORK_SHORT_SIDE and max(w, h) <= MAX_ASPECT * min(w, h)


def test_large_photos_are_reduced_while_decoding_not_after(tmp_path):
    big = Image.linear_gradient("L").resize((9000, 7000)).convert("RGB")  # 63 MP
    big.save(tmp_path / "big.jpg", quality=85)
    img = decode_image(tmp_path / "big.jpg")
    assert min(img.size) >= WORK_SHORT_SIDE and min(img.size) < 2 * WORK_SHORT_SIDE
    assert decode_image(tmp_path / "big.jpg", short_side=100).size[1] < 200
    with pytest.raises(ImageDecodeError, match="is a folder"):
        decode_image(tmp_path)


def test_peak_memory_per_image_is_bounded(corpus_dir, tmp_path):
    """In a fresh process with a 224-px model loaded: every corpus file and a 63-MP photo,
    decoded and embedded, raise the peak RSS by less than the bound together."""
    folder, expected = corpus_dir
    Image.linear_gradient("L").resize((9000, 7000)).convert("RGB").save(
        tmp_path / "photo_63mp.jpg", quality=85)
    files = [str(tmp_path / "photo_63mp.jpg")] + sorted(
        str(folder / name) for name in corpus())
    done = subprocess.run([sys.executable, str(HERE / "embed_peak.py"), "resnet18", "224",
                           *files], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    grew = report["after_mb"] - report["before_mb"]
    assert grew < PEAK_BOUND_MB, report
    for f, outcome in report["outcome"].items():
        name = Path(f).name
        want = "decodes" if name == "photo_63mp.jpg" else expected[name]
        assert outcome.startswith(want), (name, outcome)


def test_folder_dataset_over_the_corpus_lists_what_it_skips(corpus_dir, tmp_path):
    folder, expected = corpus_dir
    store = tmp_path / "s.duckdb"
    done = subprocess.run(CLI + ["--store", str(store), "precompute", "--dataset",
                                 f"folder:{folder}", "--model", "vizkit_small_cnn", "--weights",
                                 "random", "--layers", "embedding", "--metrics", "cosine",
                                 "--k", "5", "--quiet"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    refused = sorted(n for n, o in expected.items() if o == "refused")
    assert f"{len(refused)} files skipped" in done.stderr
    for name in refused:
        assert done.stderr.count(name) == 1, name  # named once, with its reason
    from vizkit.store import Store

    table = Store(store).image_table(Store(store).datasets()["dataset_key"][0])
    assert sorted(table["image_id"]) == sorted(n for n, o in expected.items() if o == "decodes")


def test_a_file_changed_after_the_scan_is_skipped_and_listed(tmp_path):
    from vizkit.registry import get_registry

    for i in range(4):
        Image.new("L", (12, 12), 40 * i).save(tmp_path / f"{i}.png")
    ds = get_registry().open_dataset(f"folder:{tmp_path}")
    (tmp_path / "2.png").write_bytes(b"replaced by something else entirely")
    os.remove(tmp_path / "3.png")
    images = list(ds.iter_batches(8))[0].images
    assert len(images) == 4 and images[2].shape == ds.PLACEHOLDER.shape
    assert set(ds.changed) == {"2.png", "3.png"}
    assert "changed after the folder was scanned" in ds.changed["2.png"]


def test_non_utf8_file_names_are_read_and_shown_escaped(tmp_path):
    from vizkit.registry import get_registry

    with open(bytes(tmp_path) + b"/" + NON_UTF8_NAME, "wb") as fh:
        Image.new("RGB", (10, 10), (1, 2, 3)).save(fh, format="PNG")
    ds = get_registry().open_dataset(f"folder:{tmp_path}")
    assert ds.ids == ["caf\\xe9-latin1.png"]
    assert ds.image_array(0).shape == (10, 10, 3)


def test_every_corpus_file_as_an_upload_in_the_app(digits_store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VIZKIT_STORE", str(digits_store))
    at = AppTest.from_string("from vizkit.app.router import run_page\nrun_page('search')",
                             default_timeout=120).run()
    at.radio(key="search_source").set_value("Upload an image").run()
    for name, (data, outcome) in sorted(corpus().items()):
        at.file_uploader(key="search_upload").set_value(
            (name, data, "image/png")).run()
        assert not at.exception, (name, at.exception)
        results = [o for s in at.selectbox if s.key == "search_open" for o in s.options
                   if o != "—"]
        if outcome == "refused":
            assert any(e.value.startswith(name + ":") for e in at.error), name
            assert not results
        else:
            assert not at.error, (name, [e.value for e in at.error])
            assert len(results) == 50, name

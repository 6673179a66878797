"""Channel dissection (issue 25, item 4): the IoU counts equal a brute-force loop on a tiny
case, the CLI prints every channel's concept as JSON and refuses a dataset without regions,
and the model explorer shows a channel's concept beside its images."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import here
from streamlit.testing.v1 import AppTest

from vizkit import plugins
from vizkit.compute.dissection import IoUCounts, best_concepts, detector_counts

CLI = [sys.executable, "-m", "vizkit.cli"]


@pytest.mark.parametrize("n_in,n_out", [(7, 28), (2, 4), (13, 28), (7, 30), (14, 224),
                                         (28, 28), (9, 4)])
def test_bilinear_matrices_resample_as_torchs_bilinear_kernel(n_in, n_out):
    from vizkit.compute.dissection import bilinear_matrix

    maps = torch.from_numpy(np.random.default_rng(n_in).normal(size=(3, 5, n_in, n_in + 1))
                            .astype(np.float32))
    ours = bilinear_matrix(n_in, n_out) @ maps @ bilinear_matrix(n_in + 1, n_out + 2).T
    torchs = F.interpolate(maps, size=(n_out, n_out + 2), mode="bilinear", align_corners=False)
    assert torch.allclose(ours, torchs, atol=1e-5), (ours - torchs).abs().max()  # float32


def test_iou_counts_equal_a_loop_over_images_and_concepts():
    rng = np.random.default_rng(0)
    acts = torch.from_numpy(rng.normal(size=(5, 3, 2, 2)).astype(np.float32))
    objects = torch.from_numpy(rng.random((5, 4, 4)) > 0.5)
    labels = np.array([0, 1, 1, -1, 0])
    thresholds = torch.tensor([0.0, 0.5, -0.2])
    counts = IoUCounts.empty(3, 2)
    counts.add(acts[:3], thresholds, objects[:3], labels[:3])  # two batches
    counts.add(acts[3:], thresholds, objects[3:], labels[3:])
    on = F.interpolate(acts, size=(4, 4), mode="bilinear", align_corners=False) > \
        thresholds.view(1, -1, 1, 1)
    for c in range(3):
        for k, concept in enumerate(["object", 0, 1]):
            inter = union = 0
            for n in range(5):
                region = objects[n] if concept == "object" or labels[n] == concept \
                    else torch.zeros(4, 4, dtype=torch.bool)
                inter += (on[n, c] & region).sum().item()
                union += (on[n, c] | region).sum().item()
            assert counts.iou()[c, k] == (inter / union if union else 0), (c, k)
    found = best_concepts(counts.iou(), ["object", "a", "b"])
    assert [f["channel"] for f in found] == [0, 1, 2]
    assert sum(detector_counts(found, ["object", "a", "b"], 0.0).values()) == 3


def test_cli_json_then_the_explorer_shows_the_concept(tmp_path, monkeypatch):
    from vizkit.jobs.precompute import precompute
    from vizkit.registry import get_registry
    from vizkit.runtime.models import load_model
    from vizkit.store import Store

    store = tmp_path / "s.duckdb"
    precompute(Store(store), get_registry().open_dataset("synthetic:300"),  # the explorer's
               load_model("vizkit_small_cnn", "random"), ["stages.1"], [], progress=False)
    out = here(CLI + ["--store", str(store), "dissect", "--dataset", "synthetic:300",
                                "--model", "vizkit_small_cnn", "--weights", "random",
                                "--layer", "stages.1", "--sample", "100", "--quiet", "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert list(found) == ["channels", "summary"] and len(found["channels"]) == 64
    concepts = {"object", "disk", "square", "triangle", "ring", "cross", "horizontal bar",
                "vertical bar", "stripes", "checks", "dots", "part: centre", "part: background"}
    assert set(found["summary"]) == concepts
    assert all(c["concept"] in concepts and 0 <= c["iou"] <= 1 for c in found["channels"])
    assert any(c["iou"] > 0 for c in found["channels"])
    plugins.reset()
    monkeypatch.setenv("VIZKIT_STORE", str(store))
    at = AppTest.from_string("from vizkit.app.router import run_page\nrun_page('explorer')",
                             default_timeout=120)
    at.query_params["model"] = "vizkit_small_cnn"
    at.query_params["weights"] = "random"
    at.query_params["layer"] = "stages.1"
    at.query_params["channel"] = "3"
    at.run()
    assert not at.exception and not at.error, (at.exception, at.error)
    said = [m.value for m in at.markdown if m.value.startswith("Dissection:")]
    want = found["channels"][3]
    assert said and f"**{want['concept']}**, IoU {want['iou']:.3f}" in said[0], said


def test_a_dataset_without_regions_is_refused(tmp_path):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (20, 20), (i * 60, 0, 0)).save(folder / f"{i}.png")
    out = here(CLI + ["--store", str(tmp_path / "s.duckdb"), "dissect", "--dataset",
                                f"folder:{folder}", "--model", "vizkit_small_cnn",
                                "--weights", "random", "--layer", "stages.1"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "provides no object regions or parts" in out.stderr
    assert not (tmp_path / "s.duckdb").exists()


def test_the_findings_page_lists_the_detectors_and_opens_the_explorer(tmp_path, monkeypatch):
    from vizkit.jobs.dissect import dissect
    from vizkit.jobs.findings import object_centricity
    from vizkit.registry import get_registry
    from vizkit.runtime.models import load_model
    from vizkit.store import Store

    store = Store(tmp_path / "s.duckdb")
    data = get_registry().open_dataset("digits[test]")
    model = load_model("vizkit_small_cnn", "random")
    object_centricity(store, data, model, "stages.2", queries=20, k=3, progress=False)
    row = dissect(store, data, model, "stages.1", sample=100, progress=False)
    found = json.loads(row["params"])["channels"]
    plugins.reset()
    monkeypatch.setenv("VIZKIT_STORE", str(store.path))
    at = AppTest.from_string("from vizkit.app.router import run_page\nrun_page('findings')",
                             default_timeout=120).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    detectors = sum(c["iou"] > 0.04 for c in found)
    assert any(m.value.startswith(f"**{detectors} of {len(found)}** channels of stages.1")
               for m in at.markdown)
    best = max(found, key=lambda c: c["iou"])
    assert at.selectbox(key="find_dissect_open").value == best["channel"]
    from vizkit.app.findings_page import explorer_link
    from vizkit.read.catalog import Reader

    reader = Reader(store.path)
    link = explorer_link(reader, reader.catalog().dissections[-1], best["channel"])
    explorer = AppTest.from_string(
        "from vizkit.app.router import run_page\nrun_page('explorer')", default_timeout=120)
    for k, v in link.items():
        explorer.query_params[k] = v
    explorer.run()  # the link lands on that channel, with its concept beside it
    assert not explorer.exception and explorer.session_state["exp_channel"] == best["channel"]
    assert any(m.value.startswith(f"Dissection: **{best['concept']}**")
               for m in explorer.markdown)

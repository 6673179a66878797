"""A broken plugin takes nothing else down; the app starts no unbounded work for a visitor:
rendering is a background job (one at a time), or absent on a read-only app."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
from test_plugins import make_distribution

from vizkit import plugins
from vizkit.registry import get_registry

CLI = [sys.executable, "-m", "vizkit.cli"]

MISSPELLED = """
    from vizkit import hookimpl
    from vizkit.api.metrics import Metric

    @hookimpl
    def register_metric(register):  # the hook is register_metrics
        register(Metric("never", True, lambda a, b: a @ b.T))
"""

HALF_DUPLICATE = """
    from vizkit import hookimpl
    from vizkit.api.metrics import Metric

    @hookimpl
    def register_metrics(register):
        register(Metric("mine-only", True, lambda a, b: a @ b.T))
        register(Metric("cosine", True, lambda a, b: a @ b.T))  # taken by a built-in
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # for the CLI in a subprocess
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("vizkit_hostile_")]:
        del sys.modules[name]


def test_a_misspelled_hook_is_reported_and_everything_else_works(site, monkeypatch):
    make_distribution(site, "vizkit-typo", "vizkit_hostile_typo", MISSPELLED, "typo")
    reg = get_registry()
    assert "cosine" in reg.items["metric"] and "never" not in reg.items["metric"]
    (failure,) = plugins.failures()
    assert failure.plugin == "typo" and "did you mean 'register_metrics'" in failure.error
    done = subprocess.run(CLI + ["list", "metrics"], capture_output=True, text=True)
    assert done.returncode == 0 and "cosine" in done.stdout
    assert "plugin typo failed" in done.stderr and "Traceback" not in done.stderr
    from streamlit.testing.v1 import AppTest

    plugins.reset()
    monkeypatch.setenv("VIZKIT_STORE", str(site / "none.duckdb"))
    at = AppTest.from_string("from vizkit.app.router import run_page\nrun_page('home')",
                             default_timeout=120).run()
    assert not at.exception
    assert any("typo" in e.value and "register_metrics" in e.value for e in at.error)


def test_a_plugin_refused_for_a_taken_name_registers_nothing(site):
    make_distribution(site, "vizkit-half", "vizkit_hostile_half", HALF_DUPLICATE, "half")
    reg = get_registry()
    assert "mine-only" not in reg.items["metric"]  # all or nothing
    assert reg.owners["metric"]["cosine"] == "vizkit_plugins.metrics"
    (failure,) = plugins.failures()
    assert failure.plugin == "half" and "Duplicate metric name: cosine" in failure.error


def _explorer(store, monkeypatch, read_only: bool):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VIZKIT_STORE", str(store))
    if read_only:
        monkeypatch.setenv("VIZKIT_READ_ONLY", "1")
    return AppTest.from_string("from vizkit.app.router import run_page\nrun_page('explorer')",
                               default_timeout=120).run()


def test_a_read_only_app_offers_no_rendering(evolved_store, monkeypatch):
    at = _explorer(evolved_store, monkeypatch, read_only=True)
    assert not at.exception and not at.error
    assert not [b for b in at.button if b.key == "exp_render"]


def test_rendering_from_the_app_is_a_background_job_that_writes_the_store(
        evolved_store, tmp_path, monkeypatch):
    """The page starts `vizkit render` and shows its progress; the job, not the page,
    stores the image; a second render while one runs is refused."""
    import shutil

    from vizkit import background
    from vizkit.runtime.models import load_model
    from vizkit.store import Store
    from vizkit.store import explorer as explorer_store

    shutil.copytree(evolved_store.parent, tmp_path / "copy")
    path = tmp_path / "copy" / evolved_store.name
    fp = load_model(None, checkpoint="t:2", store=Store(path)).weights_fingerprint
    before = explorer_store.channel_images(Store(path), fp, "stages.2")
    at = _explorer(path, monkeypatch, read_only=False)
    at.number_input(key="exp_channel").set_value(5).run()  # not among the rendered three
    assert 5 not in set(before["channel"])
    at.button(key="exp_render").click().run()
    assert not at.exception
    job = "render-stages.2-5"
    assert background.running(path) == job
    with pytest.raises(background.JobBusyError):
        background.start(path, "another", ["status"])
    deadline = time.monotonic() + 240
    while background.running(path) and time.monotonic() < deadline:
        time.sleep(0.5)
    status = background.status(path, job)
    assert status is not None and status.state == "done", status
    after = explorer_store.channel_images(Store(path), fp, "stages.2")
    assert 5 in set(after["channel"]) and len(after) == len(before) + 1

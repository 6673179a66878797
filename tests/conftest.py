"""Shared fixtures: an isolated data folder per test session and a small real store."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Each test gets its own data folder (store, caches, checkpoints) and fresh registry."""
    monkeypatch.setenv("VIZKIT_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("VIZKIT_STORE", raising=False)
    from vizkit import plugins

    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture(scope="session")
def digits_store(tmp_path_factory) -> Path:
    """A store with digits features/neighbours of the random-weight small CNN (28 px, 7x7
    maps) and of a random-weight resnet18 at 32 px (newest, so the pickers' default), made
    once per session by the real precompute job."""
    from vizkit.jobs.precompute import precompute
    from vizkit.registry import get_registry
    from vizkit.runtime.models import load_model
    from vizkit.store import Store

    path = tmp_path_factory.mktemp("digits") / "vizkit.duckdb"
    store = Store(path)
    ds = get_registry().open_dataset("digits")
    small = load_model("vizkit_small_cnn", "random")
    precompute(store, ds, small, ["stages.2", "embedding"], ["cosine"], k=20, progress=False)
    model = load_model("resnet18", "random", input_size=32)
    precompute(store, ds, model, ["layer3", "pre_logits"], ["cosine", "euclidean", "dot"],
               k=20, progress=False)
    return path


@pytest.fixture(scope="session")
def evolved_store(tmp_path_factory) -> Path:
    """A store with a small CNN trained 2 epochs on digits (run ``t``, checkpoints 0-2) and
    its evolution on the digits test split: PCA and UMAP layouts (aligned and independent),
    k-means clusters and predictions per checkpoint; and a second run ``t-epshn`` (EPSHN
    loss, 32-d embedding) for the training pages; and the model explorer's channel images
    (3 channels of stages.1 and stages.2 of ``t:2``) and top images over digits[test] —
    made by the real jobs."""
    from vizkit.jobs.layouts import evolve_run
    from vizkit.jobs.train import TrainConfig, train
    from vizkit.registry import get_registry
    from vizkit.store import Store

    root = tmp_path_factory.mktemp("evolved")
    store = Store(root / "vizkit.duckdb")
    train(store, get_registry().open_dataset("digits"),
          TrainConfig(model="vizkit_small_cnn", dataset="digits", epochs=2, batch_size=64),
          "t", checkpoint_dir=root / "checkpoints", progress=False)
    train(store, get_registry().open_dataset("digits"),
          TrainConfig(model="vizkit_small_cnn", dataset="digits", epochs=2, loss="epshn",
                      embedding_dim=32, classes_per_batch=10, anchors=200),
          "t-epshn", checkpoint_dir=root / "checkpoints", progress=False)
    test_split = get_registry().open_dataset("digits[test]")
    for method in ("pca", "umap"):
        evolve_run(store, test_split, "t", "embedding", method, clusters=10, progress=False)
    from vizkit.jobs.explore import explore
    from vizkit.runtime.models import load_model

    explore(store, test_split, load_model(None, checkpoint="t:2", store=store),
            ["stages.1", "stages.2"], channels=3, steps=64, top_k=8, progress=False)
    return store.path


@pytest.fixture(scope="session")
def atlas_store(tmp_path_factory) -> Path:
    """A store with the atlas of all 1,797 digits under the random-weight small CNN (a PCA
    layout: seconds), made by the real command."""
    path = tmp_path_factory.mktemp("atlas") / "vizkit.duckdb"
    run_here("atlas", "--dataset", "digits", "--model", "vizkit_small_cnn", "--weights",
             "random", "--layer", "embedding", "--method", "pca", "--quiet", store=path)
    return path


@pytest.fixture(scope="session")
def evolved_atlas_store(tmp_path_factory, evolved_store) -> Path:
    """A copy of ``evolved_store`` with an atlas per checkpoint of run ``t`` on its aligned
    PCA layouts (``vizkit atlas --run``): the training evolution page's frames."""
    import shutil

    root = tmp_path_factory.mktemp("evolved-atlas")
    path = root / "vizkit.duckdb"
    shutil.copyfile(evolved_store, path)  # with its checkpoints and shards beside it
    for folder in ("checkpoints", "shards"):
        if (evolved_store.parent / folder).exists():
            shutil.copytree(evolved_store.parent / folder, root / folder)
    run_here("atlas", "--run", "t", "--dataset", "digits[test]", "--layer", "embedding",
             "--method", "pca", "--quiet", store=path)
    return path


# Stores that one test builds as a user would and others may read afterwards: the cold-start
# test's reduced demo (all 70,000 Fashion-MNIST images searchable) is the 70k browser test's
# store, so the suite builds it once. See pytest_collection_modifyitems.
BUILT_BY_TESTS: dict[str, Path] = {}


def pytest_collection_modifyitems(session, config, items):
    """Run the cold-start test first: the store it builds serves later tests."""
    first = [i for i in items if i.nodeid.startswith("tests/test_cold_start.py::test_a_clean")]
    items[:] = first + [i for i in items if i not in first]


def run_here(*args, store=None, ok: bool = True):
    """``vizkit [--store STORE] ARGS`` as the command runs it (its ``main``), in this
    process — no interpreter start-up or torch import per call: its exit code and what it
    printed, as a ``CompletedProcess``. (The installed command's own process is tested in
    tests/hostile/test_arguments.py, tests/test_wheel.py and the cold-start tests.)"""
    import contextlib
    import io
    import subprocess
    import sys

    from vizkit.cli import main

    argv = (["--store", str(store)] if store else []) + [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's own exit for a bad value
            code = e.code if isinstance(e.code, int) else 2
    done = subprocess.CompletedProcess([sys.executable, "-m", "vizkit.cli", *argv], code,
                                       out.getvalue(), err.getvalue())
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def here(cmd: list, **_subprocess_options):
    """What ``subprocess.run(cmd, capture_output=True, text=True)`` of ``python -m
    vizkit.cli ARGS`` gives, from :func:`run_here` in this process."""
    import sys

    assert cmd[:3] == [sys.executable, "-m", "vizkit.cli"], cmd[:3]
    return run_here(*cmd[3:], ok=False)


def fashion_mnist_available() -> bool:
    return Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").is_file()


def require_fashion_mnist():
    """Skip locally without the Debian package; in CI (CI set) it must be there."""
    if not fashion_mnist_available():
        if os.environ.get("CI"):
            pytest.fail("dataset-fashion-mnist is not installed in CI")
        pytest.skip("dataset-fashion-mnist not installed")


def pytest_sessionfinish(session, exitstatus):
    """In CI (``CI`` set, as .ci/run sets it) a skipped test is a failure: CI installs
    everything the suite needs, so a skip there is a test that silently does not exist."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") and skipped and exitstatus == 0:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped, which CI does not allow:",
                            red=True)
        for report in skipped[:20]:
            reporter.write_line(f"  {report.nodeid}: {report.longrepr[-1]}")
        session.exitstatus = 1


@pytest.fixture(scope="session")
def fashion_model(tmp_path_factory):
    """The small CNN (the demo's widths) trained two epochs on 12,000 Fashion-MNIST images,
    and those images."""
    from vizkit.jobs.train import TrainConfig, train
    from vizkit.registry import get_registry
    from vizkit.runtime.models import load_model
    from vizkit.store import Store

    require_fashion_mnist()
    root = tmp_path_factory.mktemp("fashion")
    name = "fashion-mnist[:12000]"
    store = Store(root / "s.duckdb")
    train(store, get_registry().open_dataset(name),
          TrainConfig(model="vizkit_small_cnn", dataset=name, epochs=2, eval_images=500,
                      anchors=10, model_kwargs={"widths": [16, 32, 64]}),  # the demo's widths
          "f", checkpoint_dir=root / "ck", progress=False)
    return load_model(None, checkpoint="f", store=store), get_registry().open_dataset(name)

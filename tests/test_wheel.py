"""`pip install cnn-vizkit` gives every feature: the wheel built from this repository,
installed by pip alone (no setup script) into a fresh virtual environment, runs
`vizkit --help`, a tiny precompute and one channel image (torch-lucent comes with it).

The fresh environment sees this environment's site-packages (as plain path entries, after
its own) for the third-party dependencies — tests have no network to download torch; the
wheel itself is installed
with pip into the new environment, and the test checks that vizkit, its built-in plugins
and its entry points come from there, and that pip finds every declared dependency met."""
from __future__ import annotations

import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(*cmd, cwd: Path, timeout: int = 600) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_the_wheel_installed_by_pip_alone_gives_every_feature(tmp_path):
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", dist, ROOT, cwd=tmp_path)
    wheel = next(dist.glob("cnn_vizkit-*.whl"))
    env = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False).create(env)
    py = env / "bin" / "python"
    own = Path(_run(py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                    cwd=tmp_path).strip())
    (own / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run(sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index",
         "--ignore-installed",
         "-q", wheel, cwd=tmp_path)
    where = _run(py, "-c", "import vizkit, vizkit_plugins, lucent, kornia; "
                 "print(vizkit.__file__); print(vizkit_plugins.__file__)", cwd=tmp_path)
    assert all(line.startswith(str(env)) for line in where.split()), where
    # every dependency the wheel declares is met (torch-lucent and the kornia it pins too)
    requires = _run(py, "-c", "from importlib.metadata import requires, version\n"
                    "from packaging.requirements import Requirement\n"
                    "for r in map(Requirement, requires('cnn-vizkit')):\n"
                    "    if r.marker is None:\n"
                    "        assert r.specifier.contains(version(r.name), prereleases=True),"
                    " (r, version(r.name))\n"
                    "        print(r.name)", cwd=tmp_path)
    assert "torch-lucent" in requires.split()
    vizkit = env / "bin" / "vizkit"
    assert "precompute" in _run(vizkit, "--help", cwd=tmp_path)
    store = tmp_path / "s.duckdb"
    _run(vizkit, "--store", store, "precompute", "--dataset", "digits[:64]", "--model",
         "vizkit_small_cnn", "--weights", "random", "--layers", "embedding", "--metrics",
         "cosine", "--quiet", cwd=tmp_path)
    out = _run(vizkit, "--store", store, "render", "--model", "vizkit_small_cnn", "--weights",
               "random", "--layer", "stages.1", "--channel", "3", "--steps", "8", "--quiet",
               cwd=tmp_path)
    assert "channel 3 of stages.1: 8 steps" in out
    assert _channel_images(py, store, tmp_path) == 1


def _channel_images(py: Path, store: Path, cwd: Path) -> int:
    return int(_run(py, "-c", "import duckdb, sys; print(duckdb.connect(sys.argv[1], "
                    "read_only=True).execute('SELECT count(*) FROM channel_images')"
                    ".fetchone()[0])", store, cwd=cwd).strip())

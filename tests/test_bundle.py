"""A store travels as one file: `vizkit bundle` in one folder, `--store FILE` /
`VIZKIT_STORE=FILE` from another, with and without checkpoints; damaged and hostile
archives are refused and unpack nothing."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vizkit.store import Store
from vizkit.store.bundle import MANIFEST, open_bundle

PAGES = ("search", "training", "triplets", "spectrum", "evolution", "projection")


def _vizkit(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vizkit.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def bundles(evolved_store, tmp_path_factory):
    """A copy of the evolved store made in its own folder (checkpoints beside it), bundled
    with and without checkpoints; the folder is then removed."""
    work = tmp_path_factory.mktemp("made-here")
    shutil.copytree(Path(evolved_store).parent, work / "project")
    out = tmp_path_factory.mktemp("bundles")
    for name, extra in (("full.vizkit", []), ("light.vizkit", ["--no-checkpoints"])):
        done = _vizkit("--store", "project/vizkit.duckdb", "bundle", "--out",
                       str(out / name), "--quiet", *extra, cwd=work)
        assert done.returncode == 0, done.stderr
        assert "Open it anywhere" in done.stdout
    shutil.rmtree(work)
    return out


def _pages_draw() -> None:
    """Every page in PAGES draws the store VIZKIT_STORE names with no exception or error."""
    for page in PAGES:
        at = AppTest.from_string(f"from vizkit.app.router import run_page\nrun_page({page!r})",
                                 default_timeout=120).run()
        assert not at.exception and not at.error, (page, at.exception, at.error)


def test_a_bundle_opens_from_another_folder_and_serves_the_pages(bundles, tmp_path,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIZKIT_BUNDLE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VIZKIT_STORE", str(bundles / "full.vizkit"))
    _pages_draw()
    # a checkpoint in the bundle loads (verified against its recorded SHA-256)
    from vizkit.runtime.models import load_model
    model = load_model(None, checkpoint="t:2", store=Store(bundles / "full.vizkit"))
    assert model.checkpoint == "t:2"
    status = _vizkit("--store", str(bundles / "full.vizkit"), "status", cwd=tmp_path,
                     env={"VIZKIT_BUNDLE_CACHE": str(tmp_path / "cache")})
    assert status.returncode == 0 and "runs 2, checkpoints 6" in status.stdout, status.stderr
    assert status.stdout.startswith(f"{bundles / 'full.vizkit'} (a bundle")


def test_a_bundle_without_checkpoints_serves_precomputed_pages_and_says_what_needs_them(
        bundles, tmp_path, monkeypatch):
    monkeypatch.setenv("VIZKIT_BUNDLE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VIZKIT_STORE", str(bundles / "light.vizkit"))
    _pages_draw()
    assert not list((tmp_path / "cache").glob("*/checkpoints"))
    from PIL import Image
    Image.new("L", (8, 8), 128).save(tmp_path / "q.png")
    done = _vizkit("--store", str(bundles / "light.vizkit"), "search", "--checkpoint", "t:2",
                   "--dataset", "digits[test]", "--layer", "embedding", "--image",
                   str(tmp_path / "q.png"),
                   cwd=tmp_path, env={"VIZKIT_BUNDLE_CACHE": str(tmp_path / "cache")})
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "bundled without checkpoints" in done.stderr, done.stderr


def test_a_bundle_is_read_only(bundles, tmp_path):
    done = _vizkit("--store", str(bundles / "full.vizkit"), "precompute", "--dataset",
                   "digits[:20]", "--model", "vizkit_small_cnn", "--weights", "random",
                   "--quiet", cwd=tmp_path, env={"VIZKIT_BUNDLE_CACHE": str(tmp_path / "c")})
    assert done.returncode == 1 and "read-only" in done.stderr and "Traceback" not in \
        done.stderr, done.stderr


def _rewrite(source: Path, target: Path, change) -> None:
    """Copy a bundle, passing each (name, bytes) through ``change`` (None drops it)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            item = change(info.filename, zin.read(info.filename))
            if item is not None:
                zout.writestr(item[0], item[1])


def _manifest_with(data: bytes, name: str, size: int | None = None) -> bytes:
    import hashlib

    manifest = json.loads(data)
    manifest["files"][name] = {"bytes": size if size is not None else 4,
                               "sha256": hashlib.sha256(b"evil").hexdigest()}
    return json.dumps(manifest).encode()


@pytest.mark.parametrize("case", ["altered", "path-escape", "absolute", "bomb", "missing",
                                  "not-a-bundle-manifest", "truncated"])
def test_damaged_or_hostile_bundles_are_refused_and_unpack_nothing(bundles, tmp_path,
                                                                   monkeypatch, case):
    cache = tmp_path / "cache"
    monkeypatch.setenv("VIZKIT_BUNDLE_CACHE", str(cache))
    bad = tmp_path / "bad.vizkit"
    src = bundles / "light.vizkit"
    if case == "altered":
        _rewrite(src, bad, lambda n, b: (n, b + b"x" if n == "store.duckdb" else b))
    elif case == "path-escape":
        _rewrite(src, bad, lambda n, b: (n, _manifest_with(b, "shards/../../evil.py"))
                 if n == MANIFEST else (n, b))
        with zipfile.ZipFile(bad, "a") as zf:
            zf.writestr("shards/../../evil.py", b"evil")
    elif case == "absolute":
        _rewrite(src, bad, lambda n, b: (n, _manifest_with(b, "/tmp/evil.py"))
                 if n == MANIFEST else (n, b))
    elif case == "bomb":  # declares 4 bytes, inflates to 50 MB
        _rewrite(src, bad, lambda n, b: (n, _manifest_with(b, "shards/x/bomb.npy"))
                 if n == MANIFEST else (n, b))
        with zipfile.ZipFile(bad, "a", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("shards/x/bomb.npy", b"\0" * (50 << 20))
    elif case == "missing":
        _rewrite(src, bad, lambda n, b: None if n.startswith("shards/") else (n, b))
    elif case == "not-a-bundle-manifest":
        _rewrite(src, bad, lambda n, b: (n, b"[1, 2]") if n == MANIFEST else (n, b))
    else:
        data = src.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    done = _vizkit("--store", str(bad), "status", cwd=tmp_path,
                   env={"VIZKIT_BUNDLE_CACHE": str(cache)})
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert str(bad) in done.stderr
    assert not list(cache.glob("*/store.duckdb")) and not (tmp_path / "evil.py").exists()
    assert not Path("/tmp/evil.py").exists()


def test_a_bundle_is_unpacked_once_per_content(bundles, tmp_path, monkeypatch):
    monkeypatch.setenv("VIZKIT_BUNDLE_CACHE", str(tmp_path / "cache"))
    first = open_bundle(bundles / "light.vizkit")
    copy = tmp_path / "copy.vizkit"
    shutil.copy(bundles / "light.vizkit", copy)
    assert open_bundle(copy) == first
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_fetch_bundle_keeps_only_a_bundle_that_opens(bundles, tmp_path):
    env = {"VIZKIT_BUNDLE_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "got.vizkit"
    done = _vizkit("fetch-bundle", (bundles / "light.vizkit").as_uri(), "--out", str(out),
                   "--quiet", cwd=tmp_path, env=env)
    assert done.returncode == 0 and out.is_file(), done.stderr
    assert out.read_bytes() == (bundles / "light.vizkit").read_bytes()
    not_bundle = tmp_path / "page.html"
    not_bundle.write_text("<html>not found</html>")
    for url, says, code in ((not_bundle.as_uri(), "not a vizkit bundle", 1),
                            ((tmp_path / "absent.vizkit").as_uri(), "Could not fetch", 1),
                            ("ftp://example.invalid/x.vizkit", "give a URL starting", 2)):
        done = _vizkit("fetch-bundle", url, "--out", str(tmp_path / "x.vizkit"), "--quiet",
                       cwd=tmp_path, env=env)
        assert done.returncode == code and says in done.stderr, (url, done.stderr)
        assert "Traceback" not in done.stderr and not (tmp_path / "x.vizkit").exists()
    assert not list(tmp_path.glob(".x.vizkit*"))  # no partial download left behind


def test_an_unwritable_bundle_cache_is_one_clear_line(bundles, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    done = _vizkit("--store", str(bundles / "light.vizkit"), "status", cwd=tmp_path,
                   env={"VIZKIT_BUNDLE_CACHE": str(blocker / "cache")})
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "VIZKIT_BUNDLE_CACHE" in done.stderr and "Cannot unpack" in done.stderr

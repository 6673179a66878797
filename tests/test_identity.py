"""One typed identity for what results are keyed by (vizkit/identity.py): its codec
round-trips every key kind a real store holds, no other module builds or splits those
strings, and a checkpoint is resolved from the catalog the reader already holds."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from vizkit.identity import CheckpointId, DatasetId, ImageRef

ROOT = Path(__file__).resolve().parents[1]
# the other "a:b" strings of the code, which are not identities: a device ("cuda:1"), a
# dataset spec ("synthetic:N"), --queries ("test:40"), a process's key, an error message
NOT_IDENTITIES = {"vizkit/runtime/devices.py", "vizkit/registry.py", "vizkit/jobs/maps.py",
                  "vizkit/jobs/recipes.py", "vizkit/background.py", "vizkit/read/query.py"}


def test_the_codec_round_trips_and_refuses_other_forms():
    assert DatasetId.parse("fashion-mnist[test]#ab12").name == "fashion-mnist[test]"
    assert DatasetId.parse(DatasetId("digits", "f00").key) == DatasetId("digits", "f00")
    assert CheckpointId.parse("demo") == CheckpointId("demo", None)
    assert CheckpointId.parse("demo:3") == CheckpointId("demo", 3)
    assert CheckpointId.parse("my:run:2") == CheckpointId("my:run", 2)
    assert CheckpointId("demo", 0).label == "demo:0" and CheckpointId("demo").label == "demo"
    assert ImageRef.parse(ImageRef("test", 42).text) == ImageRef("test", 42)
    for bad in ("demo:", ":3", "demo:x", ""):
        with pytest.raises(ValueError, match="RUN or RUN:EPOCH"):
            CheckpointId.parse(bad)
    for bad in ("test", "test:", ":4", "test:-1"):
        with pytest.raises(ValueError, match="SPLIT:INDEX"):
            ImageRef.parse(bad)


def test_every_key_a_real_store_holds_round_trips(evolved_store):
    from vizkit.store import Store

    store = Store(evolved_store)
    keys = list(store.datasets()["dataset_key"])
    assert keys and all(DatasetId.parse(k).key == k for k in keys)
    labels = [c for c in store.results("features")["checkpoint"] if isinstance(c, str) and c]
    assert labels and all(CheckpointId.parse(c).label == c for c in labels)
    for r in store.checkpoints().itertuples():
        assert CheckpointId.parse(CheckpointId(r.run, int(r.epoch)).label) == \
            CheckpointId(r.run, int(r.epoch))


def _identity_strings(tree: ast.AST) -> list[int]:
    """Lines that format ``{a}:{b}`` / ``{a}#{b}`` or split on ":" / "#"."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = node.values
            for i in range(1, len(parts) - 1):
                if isinstance(parts[i], ast.Constant) and parts[i].value in (":", "#") and \
                        isinstance(parts[i - 1], ast.FormattedValue) and \
                        isinstance(parts[i + 1], ast.FormattedValue):
                    found.append(node.lineno)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in (
                "split", "rsplit", "partition", "rpartition") and node.args and \
                isinstance(node.args[0], ast.Constant) and node.args[0].value in (":", "#"):
            found.append(node.lineno)
    return found


def test_no_module_but_the_codec_builds_or_splits_identity_strings():
    offenders = []
    for path in sorted((ROOT / "vizkit").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in NOT_IDENTITIES or rel == "vizkit/identity.py":
            continue
        offenders += [f"{rel}:{line}" for line in _identity_strings(ast.parse(path.read_text()))]
    assert offenders == []


def test_the_scan_finds_a_hand_made_checkpoint_label():
    bad = 'def f(run, epoch):\n    return f"{run}:{epoch}", "a#b".rpartition("#")\n'
    assert _identity_strings(ast.parse(bad)) == [2, 2]


def test_an_upload_resolves_its_checkpoint_from_the_catalog(evolved_store, monkeypatch):
    from vizkit.read.catalog import Reader
    from vizkit.runtime import models
    from vizkit.store.connection import StoreFile

    reader = Reader(evolved_store)
    frow = next(f for f in reader.features_rows() if f.checkpoint)
    monkeypatch.setattr(models, "_shared", type(models._shared)())  # nothing loaded yet
    opened = []
    connect = StoreFile._connect
    monkeypatch.setattr(StoreFile, "_connect",
                        lambda self, *a, **k: opened.append(1) or connect(self, *a, **k))
    model = models.model_for(reader, frow)
    assert model.checkpoint == frow.checkpoint and model.weights_fingerprint == frow.weights_fp
    assert opened == []  # the catalog the reader holds names the file and its digest

"""The store: round-trip, idempotence, a killed job resumed, concurrent reader, old files."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from vizkit.errors import ResultMissingError, StoreError
from vizkit.store import Store

CLI = [sys.executable, "-m", "vizkit.cli"]


def test_round_trip_features_and_neighbors(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    x = np.random.default_rng(0).normal(size=(30, 7)).astype(np.float32)
    store.put_features({"result_key": "f-1", "dataset_key": "d#1", "layer": "l"}, x)
    np.testing.assert_array_equal(store.features("f-1"), x)
    nbr = np.arange(60).reshape(30, 2) % 30
    store.put_neighbors({"result_key": "n-1", "source_key": "f-1", "metric": "cosine"},
                        nbr, nbr * 0.5)
    got_n, got_s = store.neighbors("n-1", 3)
    np.testing.assert_array_equal(got_n, nbr[3])
    np.testing.assert_allclose(got_s, nbr[3] * 0.5)
    assert store.result("f-1")["dim"] == 7 and store.result("n-1")["k"] == 2
    # writing the same key again changes nothing
    store.put_features({"result_key": "f-1"}, x * 0)
    np.testing.assert_array_equal(store.features("f-1"), x)


def _same_row(a: dict, b: dict) -> bool:
    keys = ("result_key", "kind", "n", "dim", "created_at")
    return {k: a.get(k) for k in keys} == {k: b.get(k) for k in keys}


def test_a_write_returns_the_row_it_wrote(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    row = store.put_features({"result_key": "f1", "dataset_key": "d#1"},
                             np.ones((4, 3), np.float32))
    assert _same_row(row, store.result("f1")) and (row["n"], row["dim"]) == (4, 3)
    again = store.put_features({"result_key": "f1", "dataset_key": "d#1"},
                               np.zeros((4, 3), np.float32))  # already there: that one
    assert _same_row(again, row) and np.asarray(store.features("f1")).sum() == 12
    xy = store.put_per_image("projections", {"result_key": "p1", "source_key": "f1"},
                             np.arange(4), np.zeros(4), np.ones(4))
    assert _same_row(xy, store.result("p1")) and xy["kind"] == "projections" and xy["n"] == 4
    rows = store.put_many_features([({"result_key": "f2"}, np.ones((2, 2), np.float32)),
                                    ({"result_key": "f1"}, np.ones((4, 3), np.float32))])
    assert [r["result_key"] for r in rows] == ["f2", "f1"] and _same_row(rows[1], row)


def test_several_layers_are_stored_in_one_transaction_all_or_none(tmp_path):
    """The grid job stores all its layers of a model at once: a failure in any of them
    leaves none in the catalog; stored again, all are there, each once."""
    store = Store(tmp_path / "s.duckdb")
    x = np.random.default_rng(0).normal(size=(30, 7)).astype(np.float32)
    store.put_features({"result_key": "f-0", "dataset_key": "d#1", "layer": "l0"}, x)
    good = ({"result_key": "f-1", "dataset_key": "d#1", "layer": "l1"}, x)
    bad = ({"result_key": "f-2", "dataset_key": "d#1", "no_such_column": 1}, x)
    with pytest.raises(duckdb.Error):
        store.put_many_features([good, bad])
    assert set(store.results_of(["f-0", "f-1", "f-2"])) == {"f-0"}
    store.put_many_features([good, ({"result_key": "f-2", "layer": "l2"}, x * 2)])
    assert set(store.results_of(["f-0", "f-1", "f-2", "f-3"])) == {"f-0", "f-1", "f-2"}
    np.testing.assert_array_equal(store.features("f-2"), x * 2)
    assert len(store.results("features")) == 3


def test_a_new_store_is_published_whole_leaving_no_temporary(tmp_path):
    """A finished creation is moved into place in one step (a kill leaves the temporary or
    the store, never both); another process's store stays, a zero-byte one is replaced."""
    from vizkit.store.connection import _publish
    tmp, path = tmp_path / ".s.duckdb.1.creating", tmp_path / "s.duckdb"
    tmp.write_bytes(b"first")
    _publish(tmp, path)
    assert path.read_bytes() == b"first" and not tmp.exists()
    tmp.write_bytes(b"second")
    _publish(tmp, path)
    assert path.read_bytes() == b"first"  # the caller removes its own temporary
    path.write_bytes(b"")
    _publish(tmp, path)
    assert path.read_bytes() == b"second" and not tmp.exists()


def test_held_reads_share_one_connection_and_a_write_releases_it(tmp_path, monkeypatch):
    """A job's run of reads opens the file once; a write inside still works and is seen by
    the reads after it; on exit the file is free for another process's writer."""
    store = Store(tmp_path / "s.duckdb")
    store.put_features({"result_key": "f1"}, np.ones((3, 2), np.float32))
    opened = []
    connect = store._connect
    monkeypatch.setattr(store, "_connect", lambda read_only, path=None: (
        opened.append(read_only), connect(read_only, path))[1])
    with store.held():
        assert store.result("f1")["n"] == 3 and store.result("f2") is None
        np.testing.assert_array_equal(store.features("f1"), np.ones((3, 2)))
        assert opened == [True]  # three reads, one connection
        store.put_features({"result_key": "f2"}, np.zeros((5, 2), np.float32))
        assert store.result("f2")["n"] == 5
        assert opened == [True, False, True]
    duckdb.connect(str(store.path)).close()  # no connection of this process holds the file
    store.result("f1")
    assert opened == [True, False, True, True]  # outside: one per read again


def test_this_process_reads_share_the_file_and_a_write_waits_for_them(tmp_path):
    """Reads of several Store objects and threads share one attachment of the file; a write
    from another thread waits until they have finished, and one that would wait longer than
    the store's lock wait says why; once every connection is closed none holds the file."""
    import threading

    from vizkit.errors import StoreBusyError

    store = Store(tmp_path / "s.duckdb")
    store.put_features({"result_key": "f1"}, np.ones((3, 2), np.float32))
    count = "SELECT count(*) FROM results"
    written = []
    writer = threading.Thread(target=lambda: written.append(store.put_features(
        {"result_key": "f2"}, np.zeros((2, 2), np.float32))["n"]))
    with store.read() as one, Store(store.path).read() as other:
        assert one.execute(count).fetchone() == other.execute(count).fetchone() == (1,)
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and not written  # waiting for the two reads
    writer.join(30)
    assert written == [2] and store.result("f2")["n"] == 2
    impatient = Store(store.path, lock_wait_s=0.3)
    with store.read():
        with pytest.raises(StoreBusyError, match="reads of this process"):
            impatient.put_features({"result_key": "f3"}, np.zeros((2, 2), np.float32))
    assert store.result("f3") is None
    duckdb.connect(str(store.path)).close()  # no connection of this process holds the file


def test_precompute_twice_computes_once(digits_store):
    from vizkit.jobs import precompute as job
    from vizkit.registry import get_registry
    from vizkit.runtime.models import load_model

    store = Store(digits_store)
    before = store.summary()
    calls = []
    original = job.extract_features
    job.extract_features = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        job.precompute(store, get_registry().open_dataset("digits"),
                       load_model("resnet18", "random", input_size=32), ["layer3", "pre_logits"],
                       ["cosine"], k=20, progress=False)
    finally:
        job.extract_features = original
    assert calls == [] and store.summary() == before


def test_changed_weights_get_new_results():
    import torch

    from vizkit.jobs.keys import features_meta
    from vizkit.registry import get_registry
    from vizkit.runtime.loaded import weights_fingerprint
    from vizkit.runtime.models import load_model

    ds = get_registry().open_dataset("digits")
    a = load_model("resnet18", "random", input_size=32)
    b = load_model("resnet18", "random", input_size=32)
    assert a.weights_fingerprint == b.weights_fingerprint  # same seed, same random weights
    with torch.no_grad():
        next(b.module.parameters()).add_(0.01)
    b.weights_fingerprint = weights_fingerprint(b.module)
    assert features_meta(ds, a, "layer3")["result_key"] != \
        features_meta(ds, b, "layer3")["result_key"]


def _precompute_cmd(store: Path, layers: str = "layer4,pre_logits") -> list[str]:
    return CLI + ["--store", str(store), "precompute", "--dataset", "digits", "--model",
                  "resnet18", "--weights", "random", "--input-size", "40", "--layers", layers,
                  "--metrics", "cosine", "--k", "10", "--batch-size", "64"]


def test_killed_job_leaves_nothing_partial_and_resumes(tmp_path, monkeypatch):
    store_path = tmp_path / "s.duckdb"
    env = dict(os.environ, VIZKIT_EXTRACT_CHUNK="128")
    proc = subprocess.Popen(_precompute_cmd(store_path), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    staging = tmp_path / "staging"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(staging.glob("*/part-*.npz"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    parts = list(staging.glob("*/part-*.npz"))
    assert len(parts) >= 3, "the job never staged a part"
    store = Store(store_path)
    assert store.results().empty  # nothing partial is visible
    done = subprocess.run(_precompute_cmd(store_path), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "features" in done.stderr  # progress bar shown
    assert len(store.results("features")) == 2 and len(store.results("neighbors")) == 2
    assert not list(staging.glob("*/part-*.npz"))  # staging cleared once committed
    # the resumed result equals an uninterrupted run's
    fresh = tmp_path / "fresh.duckdb"
    from vizkit.cli import main

    monkeypatch.setenv("VIZKIT_EXTRACT_CHUNK", "128")
    assert main(_precompute_cmd(fresh)[3:] + ["--quiet"]) == 0  # in this process: no kill
    for layer in ("layer4", "pre_logits"):
        key = store.results("features").set_index("layer").loc[layer, "result_key"]
        np.testing.assert_allclose(store.features(key), Store(fresh).features(key), rtol=1e-5,
                                   atol=1e-6)


def test_reader_keeps_answering_while_a_job_writes(tmp_path, digits_store):
    import shutil

    store_path = tmp_path / "s.duckdb"
    shutil.copy(digits_store, store_path)
    store = Store(store_path)
    before = len(store.results("features"))
    proc = subprocess.Popen(_precompute_cmd(store_path, "layer1,layer2,layer4"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    reads = 0
    while proc.poll() is None:
        assert store.summary()["datasets"] == 1
        reads += 1
    assert proc.returncode == 0, proc.stderr.read()
    assert reads > 5
    assert len(store.results("features")) == before + 3


def test_missing_store_says_what_to_run(tmp_path):
    with pytest.raises(ResultMissingError, match="vizkit demo"):
        Store(tmp_path / "none.duckdb").summary()


def test_older_schema_is_refused_clearly(tmp_path):
    path = tmp_path / "old.duckdb"
    Store(path).put_features({"result_key": "f"}, np.zeros((1, 2), np.float32))
    con = duckdb.connect(str(path))
    con.execute("UPDATE vizkit_meta SET value = '0' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(StoreError, match="older vizkit"):
        Store(path).summary()


def test_foreign_files_are_refused_clearly(tmp_path):
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE sales (x INT)")
    con.close()
    with pytest.raises(StoreError, match="not a vizkit store"):
        Store(other).summary()
    with pytest.raises(StoreError, match="not a vizkit store"):
        Store(other).put_features({"result_key": "f"}, np.zeros((1, 2), np.float32))
    text = tmp_path / "notes.duckdb"
    text.write_text("hello")
    with pytest.raises(StoreError, match="cannot be opened"):
        Store(text).summary()

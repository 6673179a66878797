"""Every bad argument is exit 2 with the valid range or names, in one line, never a
traceback; nothing runs on a bad value (no silent "all 70,000 images" for --limit 0)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from vizkit.cli import main

CLI = [sys.executable, "-m", "vizkit.cli"]
SEARCH = ["search", "--dataset", "digits", "--model", "resnet18", "--weights", "random",
          "--input-size", "32", "--layer", "layer3", "--query-id", "1"]
PRECOMPUTE = ["precompute", "--dataset", "digits", "--model", "vizkit_small_cnn", "--weights",
              "random", "--metrics", "", "--quiet"]


def run(capsys, argv) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own exit for a bad value
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize("argv,says", [
    (PRECOMPUTE + ["--k", "0"], "use from 1 to 10,000"),
    (PRECOMPUTE + ["--k", "-5"], "use from 1 to 10,000"),
    (PRECOMPUTE + ["--limit", "0"], "use at least 1"),
    (PRECOMPUTE + ["--limit", "-1"], "use at least 1"),
    (PRECOMPUTE + ["--batch-size", "0"], "use from 1"),
    (PRECOMPUTE + ["--input-size", "-3"], "use from 8 to 2,048"),
    (PRECOMPUTE + ["--input-size", "0"], "use from 8 to 2,048"),
    (PRECOMPUTE + ["--k", "ten"], "is not a whole number"),
    (SEARCH + ["--k", "-5"], "use from 1 to 10,000"),
    (SEARCH + ["--k", "0"], "use from 1 to 10,000"),
    (["train", "--dataset", "digits", "--run", "../../etc"], "letters, digits"),
    (["train", "--dataset", "digits", "--run", "x", "--lr", "0"], "above 0"),
    (["train", "--dataset", "digits", "--run", "x", "--epochs", "-1"], "from 0"),
    (["train", "--dataset", "digits", "--run", "x", "--lr", "nan"], "out of range"),
    (["sweep", "--dataset", "digits", "--prefix", "x", "--lrs", "1e-3,-1"], "above 0"),
    (["render", "--model", "vizkit_small_cnn", "--layer", "stages.2", "--channel", "-1"],
     "at least 0"),
])
def test_bad_values_exit_2_before_any_work(capsys, argv, says):
    code, err = run(capsys, argv)
    assert code == 2 and says in err, err


def test_dataset_slices_and_checkpoint_epochs(capsys, digits_store, evolved_store):
    code, err = run(capsys, ["--store", str(digits_store)] + PRECOMPUTE[:2] + ["digits[:0]"]
                    + PRECOMPUTE[3:])
    assert code == 2 and "N must be at least 1" in err
    code, err = run(capsys, ["--store", str(evolved_store), "project", "--dataset",
                             "digits[test]", "--checkpoint", "t:abc", "--layer", "embedding"])
    assert code == 2 and "Unknown checkpoint 't:abc'" in err and "t:2" in err
    code, err = run(capsys, ["--store", str(evolved_store), "render", "--checkpoint", "t",
                             "--layer", "stages.2", "--channel", "999"])
    assert code == 2 and "has 128 channels" in err
    code, err = run(capsys, ["--store", str(digits_store), "maps", "--dataset", "digits",
                             "--model", "vizkit_small_cnn", "--weights", "random", "--layer",
                             "stages.2", "--queries", "first:abc"])
    assert code == 2 and "must be a whole number" in err


@pytest.mark.parametrize("change,kind,suggestion", [
    (("--dataset", "digts"), "dataset", "digits"),
    (("--model", "resnet81"), "model", "resnet18"),
    (("--layer", "layr3"), "layer", "layer3"),
])
def test_search_unknown_names_exit_2_with_did_you_mean(capsys, digits_store, change, kind,
                                                       suggestion):
    argv = list(SEARCH)
    argv[argv.index(change[0]) + 1] = change[1]
    code, err = run(capsys, ["--store", str(digits_store)] + argv)
    assert code == 2 and f"Unknown {kind}" in err and f"Did you mean '{suggestion}'" in err


def test_a_valid_layer_without_features_says_how_to_make_them(capsys, digits_store):
    argv = list(SEARCH)
    argv[argv.index("--layer") + 1] = "layer1"
    code, err = run(capsys, ["--store", str(digits_store)] + argv)
    assert code == 1 and "vizkit precompute" in err


def test_unwritable_outputs_and_folders_as_images(capsys, digits_store, tmp_path):
    code, err = run(capsys, ["--store", str(digits_store), "export-features", "--dataset",
                             "digits", "--model", "resnet18", "--weights", "random",
                             "--layer", "layer3", "--out", "/proc/x.npy"])
    assert code == 1 and "/proc" in err and len(err.strip().splitlines()) == 1
    argv = [a for a in SEARCH if a not in ("--query-id", "1")] + ["--image", str(tmp_path)]
    code, err = run(capsys, ["--store", str(digits_store)] + argv)
    assert code == 2 and "is a folder" in err


def test_an_uploaded_query_is_embedded_at_the_stored_size_or_asks(capsys, digits_store,
                                                                  tmp_path):
    """Features at one input size: the query uses it. At two: say which."""
    import shutil

    from PIL import Image

    from vizkit.jobs.precompute import precompute
    from vizkit.registry import get_registry
    from vizkit.runtime.models import load_model
    from vizkit.store import Store

    Image.fromarray(get_registry().open_dataset("digits").image_array(7)).save(
        tmp_path / "q.png")
    argv = [a for a in SEARCH if a not in ("--query-id", "1", "--input-size", "32")]
    code, _ = run(capsys, ["--store", str(digits_store)] + argv +
                  ["--image", str(tmp_path / "q.png"), "--k", "3", "--json"])
    out = capsys.readouterr().out
    assert code == 0  # found at the stored 32 px, not the model's default 224
    copy = tmp_path / "s.duckdb"
    shutil.copy(digits_store, copy)
    precompute(Store(copy), get_registry().open_dataset("digits"),
               load_model("resnet18", "random", input_size=48), ["layer3"], [],
               progress=False)
    code, err = run(capsys, ["--store", str(copy)] + argv +
                    ["--image", str(tmp_path / "q.png")])
    assert code == 2 and "32 px, 48 px" in err and "--input-size" in err
    del out


def test_the_installed_command_reports_in_one_line(tmp_path):
    """The real entry point in a subprocess: argparse errors and vizkit errors alike."""
    done = subprocess.run(CLI + PRECOMPUTE + ["--k", "-5"], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    done = subprocess.run(CLI + ["--store", str(tmp_path / "s.duckdb"), "search", "--dataset",
                                 "digits", "--model", "nosuchmodel", "--layer", "x",
                                 "--query-id", "1"], capture_output=True, text=True)
    assert done.returncode == 2 and "Unknown model 'nosuchmodel'" in done.stderr
    assert "Traceback" not in done.stderr

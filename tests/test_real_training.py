"""Real training: devices (every path on the CPU), starting weights, augmentation, worker
data loading, out-of-memory recovery, the benchmark dataset plugins on tiny replicas in their
authors' layouts, and ``vizkit reproduce`` on those replicas."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import run_here
from replicas import make_cars, make_cub, make_sop

from vizkit.compute.augment import Augmenter, random_resized_box
from vizkit.errors import BadArgumentError, DatasetMissingError, VizkitError
from vizkit.jobs.train import TrainConfig, train
from vizkit.registry import get_registry
from vizkit.runtime import devices
from vizkit.runtime.models import load_model
from vizkit.store import Store

CLI = [sys.executable, "-m", "vizkit.cli"]
SMALL = dict(model="vizkit_small_cnn", dataset="digits", epochs=1, batch_size=64,
             batches_per_epoch=4, eval_images=200, anchors=50)
JOBS = ["precompute", "maps", "project", "evolve", "render", "train", "sweep", "demo",
        "reproduce"]


def cli(*args, store=None, ok=True):
    cmd = CLI + (["--store", str(store)] if store else []) + [str(a) for a in args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if ok:
        assert done.returncode == 0, done.stderr[-2000:]
    return done


def cli_here(*args, store) -> str:
    """``vizkit --store STORE ARGS`` in this process (no interpreter start-up); its stdout
    (what it wrote to stderr goes on to stderr, where capsys sees it)."""
    done = run_here(*args, store=store)
    sys.stderr.write(done.stderr)
    return done.stdout


# -- devices --------------------------------------------------------------------------
def test_device_choice_is_in_one_place_and_names_what_is_valid():
    assert devices.resolve("cpu") == torch.device("cpu")
    assert devices.resolve("auto").type == ("cuda" if torch.cuda.is_available() else
                                            "mps" if torch.backends.mps.is_available()
                                            else "cpu")
    for bad in ("tpu", "cuda:x", "gpu0", ""):
        with pytest.raises(BadArgumentError, match="auto, cpu, cuda, cuda:N, mps"):
            devices.resolve(bad)
    if not torch.cuda.is_available():
        with pytest.raises(BadArgumentError, match="no CUDA device"):
            devices.resolve("cuda:1")
    assert devices.autocast(torch.device("cpu"), amp=True).__class__.__name__ == \
        "nullcontext"  # --amp is a CUDA feature; on the CPU the job says so and runs fp32


@pytest.mark.parametrize("job", JOBS)
def test_every_job_takes_device_and_amp(job):
    from vizkit.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[job]
    options = {s for a in sub._actions for s in a.option_strings}
    assert {"--device", "--amp"} <= options, job


def test_an_unknown_device_is_exit_2_with_the_valid_ones(tmp_path, capsys):
    done = cli("train", "--dataset", "digits", "--run", "r", "--device", "tpu",
               store=tmp_path / "s.duckdb", ok=False)
    assert done.returncode == 2 and "auto, cpu, cuda, cuda:N, mps" in done.stderr
    assert "Traceback" not in done.stderr
    if not torch.cuda.is_available():  # a device this machine lacks: exit 2, what it has
        from vizkit.cli import main

        code = main(["--store", str(tmp_path / "s.duckdb"), "precompute", "--dataset",
                     "digits", "--model", "vizkit_small_cnn", "--weights", "random",
                     "--device", "cuda"])
        assert code == 2 and "no CUDA device" in capsys.readouterr().err


def test_cpu_and_auto_give_the_same_results_and_say_the_device(tmp_path, capsys):
    outs = {}
    for dev in ("cpu", "auto"):
        store = tmp_path / f"{dev}.duckdb"
        cli_here("precompute", "--dataset", "digits", "--model", "vizkit_small_cnn",
                 "--weights", "random", "--layers", "embedding", "--metrics", "cosine",
                 "--limit", "300", "--device", dev, "--data-workers", "0", "--quiet",
                 store=store)
        assert capsys.readouterr().err.lstrip().startswith("device: cpu")
        s = Store(store)
        row = s.results("features").iloc[0]
        outs[dev] = (row["result_key"], np.asarray(s.features(row["result_key"])))
    assert outs["cpu"][0] == outs["auto"][0]  # the device is not part of the key
    assert np.array_equal(outs["cpu"][1], outs["auto"][1])
    ds = get_registry().open_dataset("digits")
    fps = []
    for dev in ("cpu", "auto"):
        s = Store(tmp_path / f"t-{dev}.duckdb")
        train(s, ds, TrainConfig(**SMALL), "r", progress=False, device=devices.resolve(dev))
        fps.append(s.checkpoints("r")["weights_fp"].tolist())
    assert fps[0] == fps[1]


def test_extraction_halves_its_batch_after_running_out_of_memory(capsys):
    model = load_model("vizkit_small_cnn", "random").to(torch.device("cpu"))
    x = model.preprocess(get_registry().open_dataset("digits").batch_images(np.arange(40)))
    expected = model.pooled_features(x, ["embedding"])["embedding"]
    real = model._activations
    sizes = []

    def tight(xs, layers):  # an accelerator that holds at most 12 images
        sizes.append(len(xs))
        if len(xs) > 12:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(xs, layers)
    model._activations = tight
    got = model.pooled_features(x, ["embedding"])["embedding"]
    assert torch.allclose(got, expected, atol=1e-6)
    assert sizes[:3] == [40, 20, 10] and max(sizes[3:]) <= 10
    assert "Out of memory on cpu with a batch of 40; continuing with 20" in capsys.readouterr().err


def test_training_halves_its_batch_after_running_out_of_memory(tmp_path, capsys):
    import vizkit.jobs.train as job

    original = job._Trainer.step

    def tight(self, x, labels):
        if len(x) > 32:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return original(self, x, labels)
    job._Trainer.step = tight
    try:
        store = Store(tmp_path / "s.duckdb")
        history = train(store, get_registry().open_dataset("digits"), TrainConfig(**SMALL),
                        "r", progress=True)
    finally:
        job._Trainer.step = original
    assert history[-1]["batch_limit"] == 32 and np.isfinite(history[-1]["loss"])
    assert "Out of memory on cpu with a batch of 64; continuing with batches of 32" in \
        capsys.readouterr().err


# -- starting weights -----------------------------------------------------------------
def test_training_from_a_weights_file_starts_from_exactly_those_weights(tmp_path):
    ds = get_registry().open_dataset("digits")
    source = load_model("vizkit_small_cnn", "random")
    with torch.no_grad():  # weights no seed would give
        for p in source.module.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    file = tmp_path / "mine.pt"
    torch.save(source.module.state_dict(), file)
    image = ds.batch_images(np.arange(5))
    want = source.embed_images(image, ["pre_logits", "stages.2"])
    store = Store(tmp_path / "s.duckdb")
    train(store, ds, TrainConfig(**dict(SMALL, epochs=0), weights=str(file)), "f",
          progress=False)
    start = load_model(None, checkpoint="f:0", store=store)
    got = start.embed_images(image, ["pre_logits", "stages.2"])
    for layer in want:
        assert np.array_equal(got[layer], want[layer]), layer
    # a metric loss makes a new 32-d head; everything else is the file's
    train(store, ds, TrainConfig(**dict(SMALL, epochs=0), loss="epshn", embedding_dim=32,
                                 classes_per_batch=10, weights=str(file)), "g",
          progress=False)
    state = torch.load(store.file(store.checkpoints("g")["path"].iloc[0]),
                       weights_only=True)["state_dict"]
    original = source.module.state_dict()
    assert state["head.weight"].shape[0] == 32
    assert all(torch.equal(state[k], v) for k, v in original.items() if not k.startswith(
        "head."))
    # weights of another model are refused, naming the misfit
    other = tmp_path / "other.pt"
    torch.save(load_model("resnet18", "random").module.state_dict(), other)
    with pytest.raises(VizkitError, match="does not fit vizkit_small_cnn"):
        train(store, ds, TrainConfig(**SMALL, weights=str(other)), "h", progress=False)


def test_init_continues_from_another_runs_checkpoint(tmp_path):
    ds = get_registry().open_dataset("digits")
    store = Store(tmp_path / "s.duckdb")
    train(store, ds, TrainConfig(**SMALL), "a", progress=False)
    train(store, ds, TrainConfig(**dict(SMALL, epochs=0), init="a:1"), "b", progress=False)
    assert store.checkpoints("b")["weights_fp"].iloc[0] == \
        store.checkpoints("a")["weights_fp"].iloc[-1]
    with pytest.raises(VizkitError, match="Unknown checkpoint"):
        train(store, ds, TrainConfig(**SMALL, init="a:7"), "c", progress=False)


def test_pretrained_weights_offline_say_how_to_get_them(tmp_path, monkeypatch, capsys):
    from vizkit.cli import main

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # no retries
    code = main(["--store", str(tmp_path / "s.duckdb"), "train", "--dataset", "digits",
                 "--model", "resnet18", "--weights", "pretrained", "--run", "p", "--epochs",
                 "0", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "pretrained weights" in err and "--weights random" in err


# -- augmentation, workers, frozen batch norm, head learning rate ---------------------
def test_augmentation_is_seeded_bounded_and_at_the_model_size():
    model = load_model("resnet18", "random", input_size=48)
    images = [np.random.default_rng(i).integers(0, 255, (60 + 7 * i, 90, 3), np.uint8)
              for i in range(4)]
    for mode in ("standard", "crop", "none"):
        aug = Augmenter(model.preprocess, mode)
        a = aug(images, np.random.default_rng(5))
        b = aug(images, np.random.default_rng(5))
        assert a.shape == (4, 3, 48, 48) and torch.equal(a, b)
    assert not torch.equal(Augmenter(model.preprocess, "standard")(images,
                                                                   np.random.default_rng(5)),
                           Augmenter(model.preprocess, "none")(images, None))
    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w = rng.integers(1, 400, 2)
        top, left, ch, cw = random_resized_box(int(h), int(w), rng)
        assert 0 <= top and top + ch <= h and 0 <= left and left + cw <= w and ch and cw
    with pytest.raises(BadArgumentError):
        Augmenter(model.preprocess, "mixup")


def test_worker_processes_give_the_same_run(tmp_path):
    ds = get_registry().open_dataset("digits")
    config = TrainConfig(**SMALL, augment="standard", freeze_bn=True, head_lr=1e-2)
    fps = []
    for workers in (0, 2):
        store = Store(tmp_path / f"w{workers}.duckdb")
        train(store, ds, config, "r", progress=False, workers=workers)
        fps.append(store.checkpoints("r")["weights_fp"].tolist())
    assert fps[0] == fps[1]


def test_frozen_batch_norm_keeps_its_statistics_and_the_head_has_its_own_rate(tmp_path):
    ds = get_registry().open_dataset("digits")
    store = Store(tmp_path / "s.duckdb")
    train(store, ds, TrainConfig(**SMALL, freeze_bn=True, head_lr=0.05), "r", progress=False)
    states = [torch.load(store.file(p), weights_only=True)["state_dict"]
              for p in store.checkpoints("r")["path"]]
    stats = [k for k in states[0] if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(states[0][k], states[1][k]) for k in stats)
    assert not torch.equal(states[0]["head.weight"], states[1]["head.weight"])
    opt = torch.load(store.file(store.checkpoints("r")["path"].iloc[-1]).with_suffix(
        ".opt.pt"), weights_only=True)["optimizer"]
    assert [g["lr_scale"] for g in opt["param_groups"]] == [1.0, pytest.approx(0.05 / 3e-3)]


# -- the benchmark datasets -----------------------------------------------------------
@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    root = tmp_path_factory.mktemp("benchmarks")
    return {"cub200": make_cub(root), "cars196": make_cars(root), "sop": make_sop(root)}


@pytest.mark.parametrize("kind,train_classes,test_classes", [
    ("cub200", {0, 1, 2, 3}, {100, 101, 102, 103}),
    ("cars196", {0, 1, 2, 3}, {98, 99, 100, 101}),
    ("sop", set(range(6)), set(range(6, 12))),
])
def test_benchmarks_read_their_layout_with_class_disjoint_splits(replicas, kind, train_classes,
                                                                 test_classes):
    ds = get_registry().open_dataset(f"{kind}:{replicas[kind]}")
    assert set(ds.labels[ds.splits == "train"]) == train_classes
    assert set(ds.labels[ds.splits == "test"]) == test_classes
    assert len(set(ds.ids)) == len(ds) and all(not i.startswith("/") for i in ds.ids)
    assert ds.image_array(0).ndim == 3 and ds.changed == {}
    if kind == "cub200":
        assert len(ds.classes) == 200 and ds.classes[100] == "101.Bird_101"
        assert ds.ids[0] == "images/001.Bird_1/Bird_1_0000_100.jpg"
    elif kind == "cars196":
        assert len(ds.classes) == 196 and ds.ids[0] == "car_ims/000001.jpg"
    else:
        assert ds.recall_ks == (1, 10, 100, 1000)
        assert ds.classes[0] == "bicycle 1" and ds.metadata["super_class"][:4].tolist() == \
            [1, 1, 1, 2]
        test = get_registry().open_dataset(f"sop:{replicas['sop']}[test]")
        assert test.recall_ks == (1, 10, 100, 1000) and len(test.metadata["super_class"]) == 18


@pytest.mark.parametrize("kind,remove,named", [
    ("cub200", "image_class_labels.txt", "image_class_labels.txt"),
    ("cars196", "cars_annos.mat", "cars_annos.mat"),
    ("sop", "Ebay_test.txt", "Ebay_test.txt"),
    ("cub200", "images/104.Bird_104/Bird_104_0003_10403.jpg", "1 of the 32 images"),
])
def test_a_missing_benchmark_file_is_named_with_where_to_put_it(tmp_path, kind, remove, named):
    root = {"cub200": make_cub, "cars196": make_cars, "sop": make_sop}[kind](tmp_path)
    (root / remove).unlink()
    with pytest.raises(DatasetMissingError, match=named) as e:
        get_registry().open_dataset(f"{kind}:{root}")
    assert "extract" in str(e.value).lower()


# -- recipes --------------------------------------------------------------------------
SMOKE = ["--weights", "random", "--epochs", "1", "--batches-per-epoch", "1", "--input-size",
         "32", "--classes-per-batch", "2", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def reproduced(replicas, tmp_path_factory):
    """Every recipe run for one short epoch on the replicas (the small CNN, except one
    recipe on its real ResNet-50), in one store."""
    from vizkit.jobs.recipes import RECIPES

    store = tmp_path_factory.mktemp("reproduce") / "vizkit.duckdb"
    outputs = {}
    for name, r in RECIPES.items():
        model = [] if name == "epshn-cub" else ["--model", "vizkit_small_cnn"]
        per_class = ["--images-per-class", "2" if r.dataset == "sop" else "4"]
        outputs[name] = cli_here("reproduce", name, "--data", replicas[r.dataset], *SMOKE,
                                 *model, *per_class, store=store)
    return store, outputs


def test_reproduce_runs_every_recipe_and_prints_published_beside_measured(reproduced):
    from vizkit.jobs.recipes import RECIPES

    store, outputs = reproduced
    s = Store(store)
    for name, r in RECIPES.items():
        out = outputs[name]
        assert out.startswith(f"{name}: ") and "not comparable" in out
        for run, change in r.run_names():
            assert s.checkpoints(run)["epoch"].tolist() == [0, 1], run
            config = json.loads(s.runs().set_index("run").loc[run, "config"])
            assert config["loss"] == change.get("loss", r.config["loss"])
        for metric, value in r.expected.items():
            assert f"published {value:.3f}, measured " in out
    runs = s.runs().set_index("run")
    assert json.loads(runs.loc["epshn-cub", "config"])["model"] == "resnet50.tv_in1k"
    sop = s.checkpoints("epshn-sop")
    assert "test_recall_at_10" in json.loads(sop["metrics"].iloc[-1])
    assert len(RECIPES["ep-epshn-lr-sweep"].run_names()) == 10
    done = cli("reproduce", "no-such", ok=False)
    assert done.returncode == 2 and "epshn-cub" in done.stderr
    done = cli("reproduce", "epshn-cub", ok=False)
    assert done.returncode == 2 and "--data" in done.stderr


def test_sweep_chart_and_start_and_end_points(reproduced):
    from vizkit.read.catalog import Reader
    from vizkit.read.runs import anchor_table, start_and_ends, sweep_curves

    store, _ = reproduced
    reader = Reader(Store(store))
    runs = [r for r, _ in __import__("vizkit.jobs.recipes", fromlist=["RECIPES"])
            .RECIPES["ep-epshn-lr-sweep"].run_names()]
    curves = sweep_curves(reader, runs)
    assert len(curves) == 10 and set(curves["loss"]) == {"ep", "epshn"}
    assert curves.groupby("loss")["lr"].apply(list).map(lambda v: v == sorted(v)).all()
    two = runs[:2]
    points = start_and_ends(anchor_table(reader, two), two)
    assert list(dict.fromkeys(points["point"])) == ["start (epoch 0)", f"{two[0]} end (epoch 1)",
                                                    f"{two[1]} end (epoch 1)"]
    assert sweep_curves(reader, runs[:1]).empty

"""Training and extraction throughput on the device in use, each ÷ the bare model on that
device in the same run, and the per-epoch evaluation time; the device is printed first.

Bare training: the preprocessed batch already on the device, ``model(x)`` (autocast with
--amp), a trivial loss, backward and an optimiser step. Job: vizkit's training loop for the
same number of batches (N x M sampling, decoding, augmentation in --workers processes,
moving to the device, the loss with its mining, bookkeeping).
Bare extraction: ``model(x)`` in inference mode on a batch already on the device. Job:
vizkit.jobs.extract.extract_features over the same number of images (decoding,
preprocessing, pooling, copying back, staging parts).
Evaluation: one checkpoint's evaluation of the test split (embedding, Recall@K + MAP@R +
NMI, storing the embedding and the anchors).
Usage: python bench/bench_train.py [--device auto] [--amp] [--model vizkit_small_cnn]
       [--input-size N] [--augment standard] [--workers N] [--batches 60]
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vizkit.compute.evaluation import retrieval_metrics
from vizkit.jobs.extract import extract_features
from vizkit.jobs.ingest import ensure_dataset
from vizkit.jobs.loading import default_workers
from vizkit.jobs.train import TrainConfig, _Trainer, embed
from vizkit.registry import get_registry
from vizkit.runtime import devices
from vizkit.runtime.loaded import LoadedModel
from vizkit.store import Store


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_training(trainer: _Trainer, batches: int) -> float:
    module, device = trainer.model.module.train(), trainer.device
    idx = np.sort(trainer.batches(1)[0])
    x = trainer.model.preprocess(trainer.dataset.batch_images(idx)).to(device)
    opt = torch.optim.AdamW(module.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        with devices.autocast(device, trainer.amp):
            loss = module(x).float().square().mean()
        loss.backward()
        opt.step()
    for _ in range(3):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(batches):
        step()
    sync(device)
    return batches * len(x) / (time.perf_counter() - t0)


def job_training(trainer: _Trainer) -> float:
    n = sum(len(b) for b in trainer.batches(1))
    t0 = time.perf_counter()
    trainer.train_epoch(1)
    sync(trainer.device)
    return n / (time.perf_counter() - t0)


def bare_extraction(model: LoadedModel, dataset, batch: int, batches: int) -> float:
    x = model.preprocess(dataset.batch_images(np.arange(batch))).to(model.device)
    with torch.inference_mode(), devices.autocast(model.device, model.amp):
        for _ in range(2):
            model.module(x)
        sync(model.device)
        t0 = time.perf_counter()
        for _ in range(batches):
            model.module(x)
        sync(model.device)
    return batches * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--amp", action="store_true")
    ap.add_argument("--model", default="vizkit_small_cnn")
    ap.add_argument("--input-size", type=int)
    ap.add_argument("--augment", default="standard")
    ap.add_argument("--workers", type=int)
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--dataset", default="fashion-mnist")
    args = ap.parse_args()
    device = devices.resolve(args.device)
    devices.announce(device, args.amp, "bench_train")
    workers = default_workers(device) if args.workers is None else args.workers
    ds = get_registry().open_dataset(args.dataset)
    print(f"model {args.model}, input {args.input_size or 'its own'} px, augment "
          f"{args.augment}, {workers} data workers")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "b.duckdb")
        for loss, extra in (("cross-entropy", {}),
                            ("epshn", {"classes_per_batch": 10, "images_per_class": 16})):
            cfg = TrainConfig(model=args.model, dataset=args.dataset, loss=loss,
                              batches_per_epoch=args.batches, epochs=1, augment=args.augment,
                              input_size=args.input_size, **extra)
            trainer = _Trainer(store, ds, cfg, f"bench-{loss}", Path(tmp) / "ck", False,
                               device, args.amp, workers)
            bare = bare_training(trainer, args.batches)
            job = job_training(trainer)
            bare_again = bare_training(trainer, args.batches)
            print(f"train {loss:<14} batch {len(trainer.batches(1)[0])}: job {job:,.0f} img/s, "
                  f"bare fwd+bwd {bare:,.0f} / {bare_again:,.0f} img/s (before / after) -> "
                  f"ratio {job / ((bare + bare_again) / 2):.2f}")
        # extraction of the same model's pooled features
        model = LoadedModel(args.model, trainer.model.module, "file",
                            input_size=args.input_size).to(device, args.amp)
        layer = trainer.layer
        n = min(len(ds), 256 * args.batches)
        part = get_registry().open_dataset(f"{args.dataset}[:{n}]")
        bare = bare_extraction(model, part, 256, max(4, n // 256))
        t0 = time.perf_counter()
        extract_features(part, model, [layer], Path(tmp) / "staging", 256, False, workers)
        sync(device)
        job = n / (time.perf_counter() - t0)
        bare_again = bare_extraction(model, part, 256, max(4, n // 256))
        print(f"extract {n:,} images: job {job:,.0f} img/s, bare forward {bare:,.0f} / "
              f"{bare_again:,.0f} img/s -> ratio {job / ((bare + bare_again) / 2):.2f}")
        # evaluation of one checkpoint on the test split
        test = trainer.eval_sets["test"]
        t0 = time.perf_counter()
        feats = embed(model, test, np.arange(len(test)), layer, workers=workers)
        t1 = time.perf_counter()
        retrieval_metrics(feats, test.labels, test.recall_ks)
        t2 = time.perf_counter()
        print(f"evaluation on {len(test):,} test images: embedding {t1 - t0:.1f} s, "
              f"Recall@K + MAP@R + NMI {t2 - t1:.1f} s")
        for evaluation_set in trainer.eval_sets.values():
            ensure_dataset(store, evaluation_set, progress=False)
        t0 = time.perf_counter()
        trainer.evaluate(0)
        print(f"whole per-checkpoint evaluation (test {len(test):,} + train "
              f"{len(trainer.eval_sets['train']):,} images, store writes, anchors): "
              f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

"""Training throughput ÷ a bare forward+backward of the same model and batch, and the
per-epoch evaluation time on the 10,000 Fashion-MNIST test images, in one run.

Bare: the preprocessed batch already in memory, ``model(x)``, a trivial loss, backward and
an optimiser step. Job: vizkit's training loop for the same number of batches (sampling
N x M batches from the dataset, preprocessing, the loss with its mining, bookkeeping).
Evaluation: vizkit.jobs.train's per-checkpoint evaluation of the full test split (embedding,
Recall@1/2/4/8 + MAP@R + NMI, storing the embedding and 1,000 anchors).
Usage: python bench/bench_train.py [--batches 60] [--model vizkit_small_cnn]
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vizkit.api.loaded import LoadedModel
from vizkit.compute.evaluation import retrieval_metrics
from vizkit.jobs.train import TrainConfig, _Trainer, embed
from vizkit.registry import get_registry
from vizkit.store import Store


def bare_images_per_second(trainer: _Trainer, batches: int) -> float:
    module = trainer.model.module.train()
    idx = trainer.batches(1)[0]
    x = trainer.model.preprocess(trainer.dataset.batch_images(np.sort(idx)))
    opt = torch.optim.AdamW(module.parameters(), lr=1e-4)
    for _ in range(3):
        module(x).square().mean().backward()
    t0 = time.perf_counter()
    for _ in range(batches):
        opt.zero_grad(set_to_none=True)
        module(x).square().mean().backward()
        opt.step()
    return batches * len(x) / (time.perf_counter() - t0)


def job_images_per_second(trainer: _Trainer, batches: int) -> float:
    n = sum(len(b) for b in trainer.batches(1))
    t0 = time.perf_counter()
    trainer.train_epoch(1)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--model", default="vizkit_small_cnn")
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    ds = get_registry().open_dataset("fashion-mnist")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "b.duckdb")
        for loss, extra in (("cross-entropy", {}),
                            ("epshn", {"classes_per_batch": 10, "images_per_class": 16})):
            cfg = TrainConfig(model=args.model, dataset="fashion-mnist", loss=loss,
                              batches_per_epoch=args.batches, epochs=1, **extra)
            trainer = _Trainer(store, ds, cfg, f"bench-{loss}", Path(tmp) / "ck", False)
            bare = bare_images_per_second(trainer, args.batches)
            job = job_images_per_second(trainer, args.batches)
            bare_again = bare_images_per_second(trainer, args.batches)
            print(f"{loss:<14} batch {len(trainer.batches(1)[0])}: job {job:,.0f} img/s, bare "
                  f"fwd+bwd {bare:,.0f} / {bare_again:,.0f} img/s (before / after) -> ratio "
                  f"{job / ((bare + bare_again) / 2):.2f}")
        # evaluation of one checkpoint on the whole test split
        cfg = TrainConfig(model=args.model, dataset="fashion-mnist", loss="epshn",
                          eval_images=10_000, anchors=1000)
        trainer = _Trainer(store, ds, cfg, "bench-eval", Path(tmp) / "ck", False)
        test = trainer.eval_sets["test"]
        loaded = LoadedModel(args.model, trainer.model.module, "file")
        t0 = time.perf_counter()
        feats = embed(loaded, test, np.arange(len(test)), trainer.layer)
        t1 = time.perf_counter()
        retrieval_metrics(feats, test.labels)
        t2 = time.perf_counter()
        print(f"evaluation on {len(test):,} test images: embedding {t1 - t0:.1f} s, "
              f"Recall@K + MAP@R + NMI {t2 - t1:.1f} s")
        from vizkit.jobs.ingest import ensure_dataset

        for evaluation_set in trainer.eval_sets.values():
            ensure_dataset(store, evaluation_set, progress=False)
        t0 = time.perf_counter()
        trainer.evaluate(0)
        print(f"whole per-checkpoint evaluation (test {len(test):,} + train "
              f"{len(trainer.eval_sets['train']):,} images, store writes, anchors): "
              f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

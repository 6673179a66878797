"""Preparing batches off the main process: decoding, augmentation and preprocessing in
worker processes (torch's DataLoader), pinned memory when the model is on a GPU.

A job describes its batches as a list; ``prepare(i)`` makes batch ``i`` from that alone
(its randomness seeded by the job), so the result is the same with any number of workers,
and batches come back in order.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

MAX_AUTO_WORKERS = 8


def default_workers(device: torch.device) -> int:
    """Worker processes when ``--data-workers`` is not given: none on the CPU (they would
    compete with the model for the same cores), up to 8 beside an accelerator."""
    if device.type == "cpu":
        return 0
    return max(1, min(MAX_AUTO_WORKERS, (os.cpu_count() or 2) - 1))


class _Prepared(TorchDataset):
    def __init__(self, prepare: Callable[[int], tuple], n: int):
        self.prepare, self.n = prepare, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return self.prepare(i)


def _worker_threads(_worker_id: int) -> None:
    torch.set_num_threads(1)  # each worker one core: the model keeps the rest


def prepared_batches(prepare: Callable[[int], tuple], n: int, workers: int,
                     device: torch.device) -> Iterator[tuple]:
    """``prepare(0) ... prepare(n - 1)`` in order, made by ``workers`` processes (none: in
    this one), their tensors in pinned memory when ``device`` is CUDA."""
    if workers <= 0:
        for i in range(n):
            yield prepare(i)
        return
    loader = DataLoader(_Prepared(prepare, n), batch_size=None, shuffle=False,
                        num_workers=workers, pin_memory=device.type == "cuda",
                        prefetch_factor=2, worker_init_fn=_worker_threads,
                        persistent_workers=False)
    yield from loader

"""Timing that can be trusted, shared by the benchmark scripts.

- :func:`compare` warms every side, then runs the sides in alternation for several rounds
  and reports medians with their spread: no side is timed once, first, or cold.
- :func:`read_floor` is the memory-bandwidth floor of a pass over an array: a read of the
  same bytes with every core (torch's multi-threaded sum), the fastest anything that reads
  them can go.
- :func:`scratch` is a temporary folder for everything a benchmark writes (never ``data/``).
"""
from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Timing:
    """Seconds per call over the rounds: median, and the fastest and slowest round."""

    median: float
    low: float
    high: float
    rounds: int

    def __str__(self) -> str:
        return f"{self.median * 1000:.1f} ms [{self.low * 1000:.1f}-{self.high * 1000:.1f}]"

    def ratio(self, other: Timing) -> str:
        """``self ÷ other`` as median [range over rounds paired in order]."""
        return f"{self.median / other.median:.2f} [{self.low / other.high:.2f}-" \
               f"{self.high / other.low:.2f}]"


def time_once(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def compare(sides: dict[str, Callable[[], object]], rounds: int = 7, warmup: int = 1,
            per_call: int = 1) -> dict[str, Timing]:
    """Warm each side ``warmup`` times, then ``rounds`` rounds of each side in turn (each
    timing ``per_call`` calls, reported per call)."""
    for fn in sides.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, fn in sides.items():
            samples[name].append(time_once(lambda: [fn() for _ in range(per_call)])
                                 / per_call)
    return {name: Timing(statistics.median(s), min(s), max(s), rounds)
            for name, s in samples.items()}


def percentiles(fn: Callable[[], object], calls: int, warmup: int = 3) -> dict[str, float]:
    """p50 and p95 (seconds) of ``calls`` timed calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = sorted(time_once(fn) for _ in range(calls))
    return {"p50": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))]}


def read_floor(array) -> Timing:
    """Seconds to read ``array`` once with every core (the memory-bandwidth floor)."""
    import numpy as np
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return compare({"read": lambda: float(tensor.sum())}, rounds=9, warmup=2)["read"]


def scratch(prefix: str = "vizkit-bench-") -> tempfile.TemporaryDirectory:
    """A temporary folder for a benchmark's stores and files (removed afterwards)."""
    return tempfile.TemporaryDirectory(prefix=prefix)


def store_in(folder: str | Path) -> Path:
    return Path(folder) / "vizkit.duckdb"

"""What results are keyed by, as frozen types, and the one codec to and from the strings the
store, the command line and the URL hold:

- a stored dataset, ``name#fingerprint`` (:class:`DatasetId`);
- a checkpoint, ``run`` (its last epoch) or ``run:epoch`` (:class:`CheckpointId`);
- one evaluation image of a run, ``split:idx`` (:class:`ImageRef`).

No other module builds or splits these strings (``tests/test_identity.py`` checks the source).
A leaf module: it imports nothing of vizkit.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetId:
    """A dataset as the store knows it: its name (a spec such as ``fashion-mnist[test]``)
    and the fingerprint of its content, which changes when the images change."""

    name: str
    fingerprint: str

    @property
    def key(self) -> str:
        """``name#fingerprint``, the store's ``dataset_key``."""
        return f"{self.name}#{self.fingerprint}"

    @classmethod
    def parse(cls, key: str) -> DatasetId:
        """The identity a stored ``dataset_key`` names (a key without ``#`` is all name)."""
        name, _, fingerprint = key.rpartition("#")
        return cls(name, fingerprint) if name else cls(key, "")


@dataclass(frozen=True)
class CheckpointId:
    """A training run's checkpoint: ``epoch`` None means the run's last one."""

    run: str
    epoch: int | None = None

    @property
    def label(self) -> str:
        """``run:epoch`` (``run`` alone for the last epoch)."""
        return self.run if self.epoch is None else f"{self.run}:{self.epoch}"

    @staticmethod
    def run_of(text: str) -> str:
        """The run part of ``run`` or ``run:anything`` (to name the run when its epoch is
        not a number)."""
        return str(text).rpartition(":")[0] if ":" in str(text) else str(text)

    @classmethod
    def parse(cls, text: str) -> CheckpointId:
        """``run`` or ``run:epoch``; ValueError (saying the form) for anything else."""
        run, colon, epoch = str(text).rpartition(":") if ":" in str(text) else \
            (str(text), "", "")
        if not run or (colon and not epoch.isdigit()):
            raise ValueError(f"{text!r}: give RUN or RUN:EPOCH, e.g. demo or demo:3")
        return cls(run, int(epoch) if colon else None)


@dataclass(frozen=True)
class ImageRef:
    """One image of a split, by its index in that split's evaluation set."""

    split: str
    idx: int

    @property
    def text(self) -> str:
        """``split:idx``."""
        return f"{self.split}:{self.idx}"

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """The image ``split:idx`` names; ValueError for anything else."""
        split, colon, idx = str(text).partition(":")
        if not split or not colon or not idx.isdigit():
            raise ValueError(f"{text!r}: give SPLIT:INDEX, e.g. test:42")
        return cls(split, int(idx))

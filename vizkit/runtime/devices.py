"""Where models run: the one place that turns ``--device`` / ``--amp`` into a torch device,
an autocast context, and recovery from running out of accelerator memory.

``auto`` is CUDA when there is one, then Apple's MPS, then the CPU. Results never depend on
the device in their keys: the same model and data give the same result key on any device.
"""
from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable

import torch

from vizkit.errors import BadArgumentError

DEVICE_FORMS = "auto, cpu, cuda, cuda:N, mps"
_SPEC = re.compile(r"auto|cpu|mps|cuda(:\d{1,2})?")


def check_spec(text: str) -> str:
    """``text`` if it names a device form vizkit knows; :class:`BadArgumentError` (exit 2)
    listing the valid forms otherwise. Says nothing about whether this machine has it."""
    if not _SPEC.fullmatch(text or ""):
        raise BadArgumentError(f"Unknown device {text!r}. Valid devices: {DEVICE_FORMS}.")
    return text


def resolve(spec: str = "auto") -> torch.device:
    """The torch device ``spec`` names on this machine: ``auto`` picks CUDA, then MPS, then
    the CPU. A device this machine lacks is a :class:`BadArgumentError` naming what it has."""
    spec = check_spec(spec)
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else
                            "mps" if has_mps else "cpu")
    if spec.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= count:
            raise BadArgumentError(f"--device {spec}: this machine has {count or 'no'} CUDA "
                                   f"device{'s' if count != 1 else ''}. Use one of: "
                                   f"{', '.join(available())}.")
    if spec == "mps" and not has_mps:
        raise BadArgumentError(f"--device mps: this machine has no MPS device. Use one of: "
                               f"{', '.join(available())}.")
    return torch.device(spec)


def available() -> list[str]:
    """The device names this machine can use (``cpu`` always)."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps and mps.is_available():
        names.append("mps")
    return names


def describe(device: torch.device) -> str:
    """One line for a person: the device and what it is."""
    if device.type == "cuda":
        index = device.index or 0
        props = torch.cuda.get_device_properties(index)
        return f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def announce(device: torch.device, amp: bool, what: str = "") -> None:
    """The first line of a job that runs a model: which device (and precision) it uses.
    Written to stderr, so that a command's output stays parseable."""
    precision = amp_dtype(device) if amp else None
    note = (f", mixed precision {str(precision).removeprefix('torch.')}" if precision else
            ", float32 (--amp works on CUDA only)" if amp else "")
    print(f"{what + ' ' if what else ''}device: {describe(device)}{note}", file=sys.stderr,
          flush=True)


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast type ``--amp`` uses on ``device``: bf16 where the GPU has it, else fp16;
    ``None`` (no autocast) off CUDA."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, amp: bool):
    """A context that runs the forward pass in mixed precision when ``amp`` is on and the
    device supports it; a no-op otherwise."""
    dtype = amp_dtype(device) if amp else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(device: torch.device, amp: bool) -> torch.amp.GradScaler:
    """A gradient scaler, enabled only for fp16 autocast (bf16 needs none)."""
    return torch.amp.GradScaler(device.type, enabled=amp_dtype(device) == torch.float16
                                if amp else False)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an accelerator (or MPS) running out of memory."""
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower())


def release(device: torch.device) -> None:
    """Give cached accelerator memory back after an out-of-memory error."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


class HalvingRunner:
    """Runs ``fn`` over a batch in pieces of at most :attr:`rows` images, halving that
    after an out-of-memory error (saying so once per halving) and retrying. Per-image work
    in eval mode gives the same result in any piece size."""

    def __init__(self, device: torch.device, what: str = "batch"):
        self.device, self.what, self.rows = device, what, sys.maxsize

    def __call__(self, fn: Callable[[torch.Tensor], dict[str, torch.Tensor]],
                 x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``fn`` of the whole of ``x``, its outputs concatenated along the first axis."""
        parts: list[dict[str, torch.Tensor]] = []
        lo = 0
        while lo < len(x):
            piece = x[lo: lo + self.rows]
            try:
                parts.append(fn(piece))
            except Exception as e:  # noqa: BLE001 - only out-of-memory is handled
                if not is_out_of_memory(e) or len(piece) == 1:
                    raise
                release(self.device)
                self.rows = max(1, len(piece) // 2)
                print(f"Out of memory on {self.device} with a {self.what} of {len(piece)}; "
                      f"continuing with {self.rows}.", file=sys.stderr, flush=True)
                continue
            lo += len(piece)
        if len(parts) == 1:
            return parts[0]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


@contextlib.contextmanager
def blas_beside_torch():
    """For a loop that interleaves numpy's matrix products with torch forwards on the CPU:
    numpy's BLAS on one thread, so that its idle threads do not spin beside torch's
    (measured in bench/bench_findings.py: each forward 2.7 times slower otherwise)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield

"""What a training run costs: wall time per step, peak memory added, size of what was saved.

Shared by fine-tuning (:mod:`genai_course.finetune`) and ``benchmarks/``. Peak memory is the memory a
block of code *added* above the level at its start:

- on a CUDA device, ``torch.cuda.max_memory_allocated`` after resetting the peak counter;
- on the CPU (Linux), the kernel's resident-set high-water mark (``VmHWM``), reset at the start by
  writing ``5`` to ``/proc/self/clear_refs``; where that is not allowed, a background thread samples the
  resident set (``/proc/self/statm``) every few milliseconds; elsewhere ``resource.getrusage``.
  Freed memory is handed back to the OS first (``malloc_trim``) so an earlier run's leftovers do not hide
  this run's allocations. RSS counts everything the process touches, so compare runs measured the same
  way (the benchmark runs each method in a fresh process).
"""

from __future__ import annotations

import ctypes
import gc
import os
import resource
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import TrainerCallback

from genai_course.models import pick_device

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


@dataclass
class RunCost:
    """What a training run cost. ``peak_memory_mb`` is memory added above the run's starting level."""

    seconds: float
    peak_memory_mb: float
    saved_mb: float
    memory_method: str
    steps: int = 0
    seconds_per_step: float = 0.0  # median over steps (the first, warm-up, step excluded when possible)
    # The tensors training holds, measured: {"weights", "gradients", "optimizer"} in MiB (see TrainingState).
    training_state_mb: dict[str, float] | None = None

    def as_dict(self) -> dict:
        """The numbers the lab records (seconds, peak memory, saved size and the training state)."""
        out = {"seconds": self.seconds, "peak_memory_mb": self.peak_memory_mb, "saved_mb": self.saved_mb}
        if self.training_state_mb is not None:
            out["training_state_mb"] = dict(self.training_state_mb)
        return out


def release_freed_memory() -> None:
    """Return freed heap memory to the OS so RSS growth reflects new allocations (glibc only)."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _maxrss_bytes() -> int:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024  # Linux reports KiB, macOS bytes


class PeakMemory:
    """Measures the peak memory a block of code adds; see the module docstring for the method."""

    def __init__(self, device: torch.device | str | None = None, interval: float = 0.005):
        self.device = torch.device(device) if device is not None else pick_device("auto")
        self.interval = interval
        self.method = ""
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        release_freed_memory()
        if self.device.type == "cuda":
            self.method = "cuda max_memory_allocated"
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        elif self._reset_high_water_mark():
            self.method = "process RSS high-water mark (VmHWM)"
            self._start = _status_kb("VmRSS") * 1024
        elif os.path.exists("/proc/self/statm"):
            self.method = f"process RSS sampled every {self.interval * 1000:.0f} ms"
            self._start = self._sampled_peak = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        else:
            self.method = "process peak RSS (getrusage; only a new lifetime peak is seen)"
            self._start = _maxrss_bytes()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        elif self.method.startswith("process RSS high"):
            peak = _status_kb("VmHWM") * 1024
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            peak = max(self._sampled_peak, _rss_bytes())
        else:
            peak = _maxrss_bytes()
        self.peak_bytes = max(peak - self._start, 0)

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20

    @staticmethod
    def _reset_high_water_mark() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            _status_kb("VmHWM")
            return True
        except (OSError, KeyError):
            return False

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._sampled_peak = max(self._sampled_peak, _rss_bytes())


LONG_RUN_S = 120.0  # a run forecast to take longer than this says so once its first steps are timed
FORECAST_AFTER = 5  # steps timed (after the first, warm-up one) before the forecast


def forecast(done: int, total: int, seconds_per_step: float, what: str = "steps") -> str | None:
    """ "about 12 min left ..." for the ``total - done`` steps still to run at ``seconds_per_step``, or None
    when that is under :data:`LONG_RUN_S` (a short run needs no warning; its progress bar shows the rest)."""
    left = max(total - done, 0) * seconds_per_step
    if left < LONG_RUN_S:
        return None
    return (
        f"[genai-course] {done} of {total} {what} done at {seconds_per_step:.3g} s each: about "
        f"{left / 60:.0f} min left at this pace"
    )


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step, for ``seconds_per_step`` and the benchmark; a long run prints
    its forecast once its first steps are timed (:func:`forecast`)."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.durations.append(time.perf_counter() - self._start)
        if len(self.durations) == FORECAST_AFTER + 1 and state.is_world_process_zero:
            line = forecast(state.global_step, state.max_steps, self.median(), "training steps")
            if line:
                print(line, flush=True)

    def median(self) -> float:
        """The median step time, leaving out the first (warm-up) step when there are others."""
        steps = self.durations[1:] if len(self.durations) > 1 else self.durations
        return float(sorted(steps)[len(steps) // 2]) if steps else 0.0


def _tensor_mb(tensors) -> float:
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


class TrainingState(TrainerCallback):
    """The memory of what training keeps between steps, measured from the tensors themselves: the
    weights, the gradients of the trainable ones, and the optimizer's state (AdamW: two moments each).

    This is the part of training memory that full fine-tuning and LoRA differ in, and, unlike the
    process's peak memory, it does not depend on the allocator or on activations; read right after an
    optimizer step, while the gradients still exist.
    """

    def __init__(self) -> None:
        self.mb: dict[str, float] | None = None

    def on_optimizer_step(self, args, state, control, model=None, optimizer=None, **kwargs):
        if self.mb is not None or model is None or optimizer is None:
            return
        moments = [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v) and v.dim() > 0]
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        self.mb = {
            "weights": _tensor_mb(model.parameters()),
            "gradients": _tensor_mb(grads),
            "optimizer": _tensor_mb(moments),
        }


def training_state_estimate_mb(model: torch.nn.Module, *, weight_bytes: int = 4, adam_moments: int = 2) -> dict:
    """What :class:`TrainingState` would measure for ``model``, from its parameter counts alone: every
    weight, a gradient per trainable weight and ``adam_moments`` float32 moments per trainable weight.

    Works on a model built on the ``meta`` device (no memory), so the lab can show what flan-t5-base's
    training would hold without loading it.
    """
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "weights": total * weight_bytes / 2**20,
        "gradients": trainable * weight_bytes / 2**20,
        "optimizer": trainable * 4 * adam_moments / 2**20,
    }


def saved_size_mb(path: str | Path) -> float:
    """Size of the weight files under ``path`` (safetensors/bin), in MiB: what a model or adapter weighs."""
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files if p.name.endswith(WEIGHT_SUFFIXES)) / 2**20


__all__ = [
    "WEIGHT_SUFFIXES",
    "RunCost",
    "PeakMemory",
    "LONG_RUN_S",
    "StepTimer",
    "forecast",
    "TrainingState",
    "training_state_estimate_mb",
    "saved_size_mb",
]

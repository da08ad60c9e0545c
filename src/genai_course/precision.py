"""The dtype policy: which floating-point format models run and train in, and why.

- **bfloat16 only where the hardware has it natively**: CUDA GPUs of compute capability 8.0 or newer
  (Ampere: A100, RTX 30xx, and later). ``torch.cuda.is_bf16_supported()`` is not the test: it answers True
  on a T4 (7.5) or a V100 (7.0) too, where bf16 is *emulated* and runs slower than float32.
- **float32 everywhere else** (older GPUs, Apple's MPS, the CPU). On a CPU bf16 is used only when asked
  for explicitly (``dtype="bfloat16"``): most laptop CPUs have no bf16 matrix units, so it is slower and
  lossier than float32 there, but it is a valid way to halve memory. Server CPUs with AVX-512 BF16 or AMX
  (:func:`cpu_bf16_units`) do have them: there bf16 weights generated 2.06x faster than fp32 on the
  flan-t5-base shape with identical greedy outputs (benchmarks/README.md), and the reason says so.
- **float16 is refused for T5** (the course's summarizers) unless forced: T5's feed-forward activations
  overflow float16's range and the output turns to NaN (see :data:`genai_course.choices.HALF_PRECISION_T5`).

:func:`choose_dtype` returns the dtype together with the reason, so ``genai-course doctor`` and the logs
can say why; the loaders (:mod:`genai_course.models`) and the training configs (``bf16`` of
:mod:`genai_course.finetune.configs` and :mod:`genai_course.rlhf.grpo`) all follow it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genai_course.choices import check_dtype

NATIVE_BF16_CAPABILITY = (8, 0)  # Ampere; earlier GPUs emulate bf16 (slowly) and report it as "supported"


@dataclass(frozen=True)
class DtypeChoice:
    """A dtype and the human-readable reason it was chosen."""

    dtype: torch.dtype
    reason: str

    @property
    def name(self) -> str:
        return str(self.dtype).removeprefix("torch.")


CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo's names for native bf16 matrix units


def _cpuinfo_field(name: str, cpuinfo: str | None = None) -> str:
    """The first value of ``name`` in Linux's ``/proc/cpuinfo`` (or the text given); "" where unknown."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as file:
                cpuinfo = file.read()
        except OSError:  # not Linux: unknown, so no claim
            return ""
    lines = (line.split(":", 1) for line in cpuinfo.splitlines() if ":" in line)
    return next((value.strip() for key, value in lines if key.strip() == name), "")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags as Linux lists them (``/proc/cpuinfo``); empty where unknown."""
    return set(_cpuinfo_field("flags", cpuinfo).split())


def cpu_vendor(cpuinfo: str | None = None) -> str:
    """The CPU's vendor as Linux names it (``GenuineIntel``, ``AuthenticAMD``); "" where unknown."""
    return _cpuinfo_field("vendor_id", cpuinfo)


def cpu_bf16_units(cpuinfo: str | None = None) -> list[str]:
    """The CPU's native bf16 units (AMX, AVX-512 BF16) by its Linux flags; [] where unknown."""
    flags = cpu_flags(cpuinfo)
    return [flag for flag in CPU_BF16_FLAGS if flag in flags]


_CPU_BF16_OPT_IN = "on the CPU bf16 is used only when asked for (dtype='bfloat16')"


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """Whether ``device`` computes in bfloat16 natively, and why (by CUDA compute capability)."""
    if device.type == "cpu":
        units = cpu_bf16_units()
        if "amx_bf16" in units:
            return False, (
                f"{_CPU_BF16_OPT_IN}; this CPU has native bf16 ({', '.join(units)}): with AMX, bf16 weights "
                "generated about 2x faster (benchmarks/README.md)"
            )
        # Measured (benchmarks/README.md): AMD's Zen 4 runs AVX-512 BF16 matmuls at twice its fp32 rate,
        # an Intel Xeon without AMX at about half of it, so the same flag means opposite advice.
        if units and cpu_vendor() == "AuthenticAMD":
            return False, (
                f"{_CPU_BF16_OPT_IN}; this CPU has {', '.join(units)}: on an AMD EPYC with it, bf16 weights "
                "generated 1.55x faster than float32 (benchmarks/README.md)"
            )
        if units:
            return False, (
                f"{_CPU_BF16_OPT_IN}; this CPU has {', '.join(units)} but no AMX: on an Intel Xeon like it, "
                "bf16 weights generated no faster than float32 (0.99x, benchmarks/README.md)"
            )
        return False, f"{_CPU_BF16_OPT_IN}: most CPUs have no bf16 matrix units, so it is slower than float32"
    if device.type != "cuda":
        return False, f"{device.type} (the course keeps float32 there)"
    major, minor = torch.cuda.get_device_capability(device)
    name = torch.cuda.get_device_name(device)
    if (major, minor) >= NATIVE_BF16_CAPABILITY:
        return True, f"{name} (compute capability {major}.{minor}) has native bf16"
    wanted = ".".join(map(str, NATIVE_BF16_CAPABILITY))
    return False, f"{name} (compute capability {major}.{minor} < {wanted}) only emulates bf16, slower than fp32"


def cuda_has_native_bf16() -> bool:
    """Whether the default CUDA GPU exists and has native bf16 (for trainers' ``bf16`` flag)."""
    return torch.cuda.is_available() and native_bf16(torch.device("cuda"))[0]


def choose_dtype(device: torch.device, requested: str = "auto", *, allow_float16: bool = False) -> DtypeChoice:
    """The dtype to load a model in on ``device``, and why.

    ``requested`` is ``"auto"`` (the policy above), ``"float32"`` or ``"bfloat16"`` (honoured as asked, with
    a warning in the reason where bf16 is emulated), or ``"float16"`` where ``allow_float16`` (not for T5).
    Raises :class:`~genai_course.choices.SettingError` for anything else.
    """
    requested = check_dtype(requested or "auto", allow_float16=allow_float16)
    native, why = native_bf16(device)
    if requested == "bfloat16":
        caveat = "" if native else f"; note: {why}"
        return DtypeChoice(torch.bfloat16, f"bfloat16 as requested{caveat}")
    if requested != "auto":
        return DtypeChoice(getattr(torch, requested), f"{requested} as requested")
    if native:
        return DtypeChoice(torch.bfloat16, f"bfloat16: {why}")
    return DtypeChoice(torch.float32, f"float32: {why}")


def train_in_bf16(device: torch.device, requested: str = "auto") -> bool:
    """The ``bf16`` (mixed precision) flag of a trainer on ``device`` under the same policy as loading."""
    return choose_dtype(device, requested).dtype is torch.bfloat16

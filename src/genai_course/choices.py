"""The valid values of the ``device`` and ``dtype`` settings, checked where they are set and where used.

Checking them when a profile is made (not deep inside a model load) turns ``device="gpu"`` or
``dtype="int8"`` into a message that lists what is valid, instead of torch's or transformers' own.
"""

from __future__ import annotations

import re

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
DTYPES = ("auto", "float32", "bfloat16")
# T5's feed-forward activations overflow float16's range (max 65504): the outputs become NaN/inf.
HALF_PRECISION_T5 = (
    "float16 is refused for T5 models (this course's summarizers): their activations overflow it and the "
    "output turns to NaN. Use bfloat16 (same memory, a float32-sized range) or float32; to try it anyway, "
    "load_summarizer(..., dtype='float16', force_float16=True)."
)
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class SettingError(ValueError):
    """A setting with an invalid value; the message lists the valid ones."""


def check_device(device: object) -> str:
    """``device`` if it is one of :data:`DEVICES` (``cuda:N`` with N a number), else :class:`SettingError`."""
    if not isinstance(device, str) or not _DEVICE_PATTERN.match(device):
        raise SettingError(f"Unknown device {device!r}; valid devices: {', '.join(DEVICES)} (N a GPU index).")
    return device


def check_dtype(dtype: object, *, allow_float16: bool = False) -> str:
    """``dtype`` if it is one of :data:`DTYPES` (plus ``float16`` where allowed), else :class:`SettingError`."""
    if dtype == "float16" and not allow_float16:
        raise SettingError(HALF_PRECISION_T5)
    valid = DTYPES + (("float16",) if allow_float16 else ())
    if dtype not in valid:
        raise SettingError(f"Unknown dtype {dtype!r}; valid dtypes: {', '.join(valid)}.")
    return str(dtype)

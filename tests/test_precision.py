"""The dtype policy on mocked devices: bf16 only with native hardware support (compute capability >= 8.0)."""

from __future__ import annotations

import pytest
import torch

from genai_course import doctor, precision
from genai_course.choices import SettingError
from genai_course.finetune import FullFinetuneConfig, LoraFinetuneConfig
from genai_course.finetune import configs as finetune_configs
from genai_course.models import ModelLoadError, pick_dtype
from genai_course.profiles import get_profile
from genai_course.rlhf import grpo

GPUS = {"T4": (7, 5), "V100": (7, 0), "A100": (8, 0), "H100": (9, 0)}
CUDA = torch.device("cuda")
CPU = torch.device("cpu")


@pytest.fixture
def gpu(monkeypatch):
    """Pretend a CUDA GPU of a given name is present; is_bf16_supported says True, as torch does on all."""

    def install(name: str) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: GPUS[name])
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: f"Tesla {name}")
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # emulation counts, for torch

    return install


@pytest.mark.parametrize(
    "name,expected",
    [("T4", torch.float32), ("V100", torch.float32), ("A100", torch.bfloat16), ("H100", torch.bfloat16)],
)
def test_auto_uses_bf16_only_from_compute_capability_8(gpu, name, expected):
    gpu(name)
    choice = precision.choose_dtype(CUDA)
    assert choice.dtype is expected
    major, minor = GPUS[name]
    assert f"Tesla {name} (compute capability {major}.{minor}" in choice.reason
    assert ("emulates" in choice.reason) == (expected is torch.float32)
    assert pick_dtype(CUDA) is expected


def test_explicit_bf16_on_an_emulating_gpu_is_honoured_with_a_caveat(gpu):
    gpu("T4")
    choice = precision.choose_dtype(CUDA, "bfloat16")
    assert choice.dtype is torch.bfloat16 and "as requested" in choice.reason and "emulates" in choice.reason


def test_cpu_bf16_units_are_read_from_the_flags():
    assert precision.cpu_bf16_units("flags\t: fpu sse avx512f avx512_bf16 amx_bf16 amx_tile\n") == [
        "amx_bf16",
        "avx512_bf16",
    ]
    assert precision.cpu_bf16_units("flags\t: fpu sse avx2\n") == []
    assert precision.cpu_bf16_units("") == []
    assert {"avx2", "sse"} <= precision.cpu_flags("flags\t: fpu sse avx2\n")


def test_cpu_is_float32_unless_bf16_is_requested():
    default = precision.choose_dtype(CPU)
    assert default.dtype is torch.float32
    assert default.reason.startswith("float32: on the CPU bf16 is used only when asked for")
    asked = precision.choose_dtype(CPU, "bfloat16")
    assert asked.dtype is torch.bfloat16 and asked.reason.startswith("bfloat16 as requested")
    assert precision.choose_dtype(CPU, "float32").dtype is torch.float32
    assert not precision.train_in_bf16(CPU) and precision.train_in_bf16(CPU, "bfloat16")


def test_float16_is_refused_for_t5_unless_forced():
    with pytest.raises(SettingError, match=r"float16 is refused for T5.*force_float16=True"):
        precision.choose_dtype(CPU, "float16")
    assert precision.choose_dtype(CPU, "float16", allow_float16=True).dtype is torch.float16
    with pytest.raises(ModelLoadError, match="Unknown dtype"):
        pick_dtype(CPU, "float8")


@pytest.mark.parametrize("name,expected", [("T4", False), ("V100", False), ("A100", True)])
def test_training_configs_follow_the_policy(gpu, monkeypatch, name, expected):
    gpu(name)
    monkeypatch.setattr(finetune_configs, "pick_device", lambda requested: CUDA)  # no real GPU to place on
    profile = get_profile("full", verbose=False)
    assert finetune_configs.FullFinetuneConfig._profile_fields(profile)["bf16"] is expected
    assert finetune_configs.LoraFinetuneConfig._profile_fields(profile)["bf16"] is expected
    assert finetune_configs.FullFinetuneConfig._profile_fields(profile.replace(dtype="float32"))["bf16"] is False
    assert precision.cuda_has_native_bf16() is expected


def test_cpu_training_configs_use_bf16_only_when_asked():
    profile = get_profile("full", verbose=False, device="cpu")
    assert FullFinetuneConfig.for_profile(profile, output_dir="unused").bf16 is False
    assert LoraFinetuneConfig.for_profile(profile.replace(dtype="bfloat16"), output_dir="unused").bf16 is True


def test_grpo_trains_in_bf16_only_on_native_hardware(gpu):
    gpu("T4")
    assert grpo.cuda_has_native_bf16() is False  # the flag its GRPOConfig gets
    gpu("A100")
    assert grpo.cuda_has_native_bf16() is True


def test_doctor_prints_the_choice_and_reason(gpu, monkeypatch):
    gpu("T4")
    monkeypatch.setattr(doctor, "pick_device", lambda requested: CUDA)
    expected = "float32: Tesla T4 (compute capability 7.5 < 8.0) only emulates bf16, slower than fp32"
    assert doctor._dtype_row() == expected


@pytest.mark.parametrize(
    ("units", "vendor", "says"),
    [
        (["amx_bf16", "avx512_bf16"], "GenuineIntel", "with AMX, bf16 weights generated about 2x faster"),
        (["avx512_bf16"], "GenuineIntel", "no AMX: on an Intel Xeon like it, bf16 weights generated no faster"),
        (["avx512_bf16"], "AuthenticAMD", "on an AMD EPYC with it, bf16 weights generated 1.55x faster"),
        ([], "AuthenticAMD", "most CPUs have no bf16 matrix units"),
    ],
)
def test_the_cpu_bf16_advice_follows_what_was_measured_on_each_kind_of_unit(monkeypatch, units, vendor, says):
    monkeypatch.setattr(precision, "cpu_bf16_units", lambda: units)
    monkeypatch.setattr(precision, "cpu_vendor", lambda: vendor)
    native, reason = precision.native_bf16(CPU)
    assert native is False and says in reason


def test_the_cpu_vendor_and_flags_come_from_cpuinfo():
    cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx512f avx512_bf16\n\nprocessor\t: 1\n"
    assert precision.cpu_vendor(cpuinfo) == "AuthenticAMD"
    assert precision.cpu_flags(cpuinfo) == {"fpu", "avx512f", "avx512_bf16"}
    assert precision.cpu_bf16_units(cpuinfo) == ["avx512_bf16"]
    assert precision.cpu_vendor("") == "" and precision.cpu_flags("") == set()

"""Profiles: everything that differs between a real run on a GPU (``full``), a real run on a laptop
without one (``cpu``) and an offline smoke run (``tiny``).

One :class:`Profile` names the models, the dataset, the sizes of every lab step, the device and the
dtype. ``auto`` picks ``full`` when the Hugging Face Hub answers and a CUDA GPU is visible, ``cpu`` when
the Hub answers but there is no GPU, and ``tiny`` when the Hub does not answer; it says which and why.
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
from dataclasses import dataclass, field, fields

import torch

from genai_course.choices import SettingError, check_device, check_dtype
from genai_course.tiny.paths import tiny_world_dir

PROFILE_ENV = "GENAI_COURSE_PROFILE"
PROFILE_NAMES = ("tiny", "cpu", "full", "auto")
HUB_HOST = "huggingface.co"


class ProfileError(ValueError):
    """A profile name, override or value that does not exist or is out of range."""


TEXT_FIELDS = ("name", "summarizer", "reward_model", "dataset")
POSITIVE_INTS = (
    "n_eval",
    "eval_batch_size",
    "max_new_tokens",
    "train_batch_size",
    "lora_r",
    "ppo_steps",
    "ppo_batch_size",
    "ppo_mini_batch_size",
    "ppo_epochs",
    "n_toxicity_eval",
)
POSITIVE_NUMBERS = ("full_ft_lr", "full_ft_epochs", "lora_lr", "lora_epochs", "ppo_lr")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int to Python, not to us


def _check_number(name: str, value: object, *, zero_allowed: bool = False) -> None:
    ok = (_is_int(value) or isinstance(value, float)) and math.isfinite(value)
    ok = ok and (value >= 0 if zero_allowed else value > 0)
    if not ok:
        kind = "a number >= 0" if zero_allowed else "a positive number"
        raise ProfileError(f"Profile field {name} must be {kind}, got {value!r}.")


def check_field(name: str, value: object) -> None:
    """Raise :class:`ProfileError` unless ``value`` suits the profile field ``name`` (type and range)."""
    if name in TEXT_FIELDS and not (isinstance(value, str) and value.strip()):
        raise ProfileError(f"Profile field {name} must be a non-empty string, got {value!r}.")
    if name == "finetuned_summarizer" and value is not None and not (isinstance(value, str) and value.strip()):
        raise ProfileError(f"Profile field {name} must be a path/Hub id or None, got {value!r}.")
    if name in POSITIVE_INTS and not (_is_int(value) and value > 0):
        raise ProfileError(f"Profile field {name} must be a positive integer, got {value!r}.")
    if name == "train_examples" and value is not None and not (_is_int(value) and value > 0):
        raise ProfileError(f"Profile field train_examples must be a positive integer or None, got {value!r}.")
    if name == "ppo_init_kl_coef":
        _check_number(name, value, zero_allowed=True)  # beta 0 is PPO without the KL penalty
    if name == "seed" and not (_is_int(value) and value >= 0):
        raise ProfileError(f"Profile field seed must be an integer >= 0, got {value!r}.")
    if name in POSITIVE_NUMBERS:
        _check_number(name, value)
    try:
        if name == "device":
            check_device(value)
        elif name == "dtype":
            check_dtype(value)  # the summarizers are T5: float16 is refused with the reason
    except SettingError as error:
        raise ProfileError(f"Profile field {name}: {error}") from error


@dataclass
class Profile:
    """The models, data and budgets of one way to run the labs.

    Every field can be overridden: ``get_profile("full", summarizer="/my/flan-t5-base")``.
    """

    name: str
    summarizer: str
    reward_model: str
    dataset: str
    # The model Lab 3 starts from (the course downloaded its Lab 2 result); None: what Lab 2 saved in the
    # folder Lab 3 runs in, else ``summarizer`` (see :mod:`genai_course.handoff`).
    finetuned_summarizer: str | None = None
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", "mps"
    dtype: str = "auto"  # "auto" (precision.choose_dtype: bf16 on native-bf16 GPUs, else fp32), "float32", "bfloat16"
    seed: int = 42
    # Lab 1: prompting and generation
    n_eval: int = 100  # test dialogues scored per strategy
    eval_batch_size: int = 16
    max_new_tokens: int = 50
    # Lab 2: fine-tuning
    train_examples: int | None = None  # None: the whole train split
    train_batch_size: int = 8
    full_ft_lr: float = 1e-5
    full_ft_epochs: float = 1.0
    lora_lr: float = 1e-3
    lora_epochs: float = 1.0
    lora_r: int = 32
    # Lab 3: PPO detoxification
    ppo_steps: int = 10
    ppo_batch_size: int = 16
    ppo_mini_batch_size: int = 4
    ppo_epochs: int = 1
    ppo_lr: float = 1.41e-5
    ppo_init_kl_coef: float = 0.2  # beta, the KL penalty's weight at the start (the course's value)
    n_toxicity_eval: int = 100
    notes: list[str] = field(default_factory=list)

    def __setattr__(self, name: str, value: object) -> None:
        # Checked when set (at creation, by replace() and by assignment), not when a lab first uses it.
        check_field(name, value)
        super().__setattr__(name, value)

    @property
    def is_tiny(self) -> bool:
        return self.name == "tiny"

    def replace(self, **overrides) -> Profile:
        """A copy with some fields changed; unknown field names are an error, not ignored."""
        _check_override_names(overrides)
        return dataclasses.replace(self, **overrides)

    def describe(self) -> str:
        """A one-line summary for notebooks and logs."""
        return (
            f"profile '{self.name}': summarizer={self.summarizer}, dataset={self.dataset}, "
            f"reward_model={self.reward_model}, device={self.device}, dtype={self.dtype}"
        )


def tiny_profile() -> Profile:
    """The offline tiny world: small models built by our own code, CPU, minutes."""
    root = tiny_world_dir()
    return Profile(
        name="tiny",
        summarizer=str(root / "t5-tiny"),
        finetuned_summarizer=str(root / "t5-tiny-dialogsum"),
        reward_model=str(root / "roberta-hate-tiny"),
        dataset="tiny",
        device="cpu",
        dtype="float32",
        n_eval=120,
        eval_batch_size=40,
        max_new_tokens=40,
        train_examples=None,
        train_batch_size=32,
        # Measured on tiny world v2 (seed 0): 1 epoch at 3e-4 left 47% of summaries with a wrong fact, 1.5 epochs at
        # 2e-3 3% (but 13% on world seed 2, names), 2 epochs at 1e-3 none. LoRA: 1.5 epochs at 1e-2, within 0.02.
        full_ft_lr=1e-3,
        full_ft_epochs=2.0,
        lora_lr=1e-2,
        lora_epochs=1.5,
        lora_r=16,  # r=32 on q,v would be ~7% of this narrow model; 16 keeps LoRA under 5%
        ppo_steps=20,  # world v3, seeds 0-2, two CPU types: -76% to -91% toxicity, ROUGE-L within 0.011 (lab README)
        ppo_batch_size=32,
        ppo_mini_batch_size=8,
        ppo_epochs=2,
        ppo_lr=1e-3,
        # beta 0.2 let the policy drift 2.5-4.9 nats from the reference in 20 steps at lr 1e-3: ROUGE-L
        # fell by up to 0.029 on an AMD EPYC (0.015 on an Intel Xeon); 0.4 keeps it within 0.9-2.4 nats.
        ppo_init_kl_coef=0.4,
        n_toxicity_eval=120,
    )


def full_profile() -> Profile:
    """The course's real models from the Hugging Face Hub, sized for one consumer GPU."""
    return Profile(
        name="full",
        summarizer="google/flan-t5-base",
        finetuned_summarizer=None,
        reward_model="facebook/roberta-hate-speech-dynabench-r4-target",
        dataset="knkarthick/dialogsum",
        n_eval=200,
        eval_batch_size=16,
        max_new_tokens=50,
        train_examples=None,
        train_batch_size=8,
        full_ft_lr=1e-5,
        full_ft_epochs=1.0,
        lora_lr=1e-3,
        lora_epochs=1.0,
        lora_r=32,
        ppo_steps=10,
        ppo_batch_size=16,
        ppo_mini_batch_size=4,
        ppo_epochs=1,
        ppo_lr=1.41e-5,
        n_toxicity_eval=100,
    )


def cpu_profile() -> Profile:
    """The course's real models with budgets a 4-core laptop without a GPU finishes in 20 minutes a lab or less.

    flan-t5-base, not flan-t5-small: it is the course's own model (Lab 1's prompting differences and Lab
    2's comparison are the course's), and it fits once the training set is cut; flan-t5-small is
    ~3.2-3.7x faster but a different, smaller model than the one the course teaches with. Measured on
    this project's 2-core development machine
    (shapes built from their configs, random weights, float32, one thread, medians of 2-3 runs;
    ``benchmarks/bench_cpu_profile.py``, ``benchmarks/cpu_profile.md``):

    ========================================  ===============  ===============
    work                                      flan-t5-small    flan-t5-base
    ========================================  ===============  ===============
    full fine-tuning step (batch 8, 200+40)   4.6 s            17.3 s
    LoRA step (r=32 on q and v)               2.9 s            9.3 s
    50 new tokens for 16 prompts of 200       4.0 s            12.6 s
    reward model, 32 texts of 128 tokens      5.3 s (roberta-base shape)
    ========================================  ===============  ===============

    Assumed: a 4-core laptop is 2x this machine's two cores, and two cores are 1.65x one thread (the
    LoRA step's two-thread speed-up, 1.63-1.68x; the other two-thread figures were spoilt by other jobs),
    so 3.3x the table. :mod:`genai_course.lab_budget` turns that into about 7 min for Lab 1 (100 dialogues
    x 10 strategies), 14 min for Lab 2 (640 training examples: 80 full and 80 LoRA steps, three models
    scored on 100 dialogues) and 11 min for Lab 3 (10 PPO steps of 16, 100 dialogues scored before and
    after); still under 20 min (9, 18 and 14) if the laptop were only 2.5x. A slower or busy laptop
    takes longer: lower ``train_examples`` first.
    """
    return full_profile().replace(
        name="cpu",
        device="cpu",
        # float32 by default; dtype="bfloat16" is the opt-in for CPUs with AMX or AVX-512 BF16
        # (precision.cpu_bf16_units), where it generates about 2x faster (benchmarks/README.md).
        dtype="float32",
        n_eval=100,
        train_examples=640,
    )


def hub_reachable(timeout: float = 2.0) -> tuple[bool, str]:
    """Whether the Hugging Face Hub answers, and a reason to show the learner."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False, "HF_HUB_OFFLINE is set"
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True, f"{HUB_HOST} answered"
    except OSError as error:
        return False, f"{HUB_HOST} is unreachable ({error.__class__.__name__}: {error})"


def choose_profile() -> tuple[str, str]:
    """What ``auto`` resolves to, and why: real models need the Hub; their full budgets need a GPU."""
    online, why = hub_reachable()
    if not online:
        return "tiny", why
    if torch.cuda.is_available():
        return "full", f"{why} and a CUDA GPU is visible"
    return "cpu", f"{why} but no CUDA GPU is visible (the real models with laptop-sized budgets)"


def get_profile(name: str | None = None, *, verbose: bool = True, **overrides) -> Profile:
    """Resolve a profile by name (or ``$GENAI_COURSE_PROFILE``, or ``auto``) and apply overrides.

    ``auto`` follows :func:`choose_profile` and prints what it chose and why.
    """
    requested = name or os.environ.get(PROFILE_ENV) or "auto"
    key = requested.strip().lower()
    if key not in PROFILE_NAMES:
        source = "argument" if name else f"${PROFILE_ENV}"
        raise ProfileError(
            f"Unknown profile {requested!r} (from the {source}). Valid profiles: {', '.join(PROFILE_NAMES)}."
        )
    _check_override_names(overrides)
    notes: list[str] = []
    if key == "auto":
        key, why = choose_profile()
        notes.append(f"auto chose '{key}' because {why}")
        if verbose:
            print(f"[genai-course] profile auto -> {key}: {why}")
    profile = {"tiny": tiny_profile, "cpu": cpu_profile, "full": full_profile}[key]()
    profile.notes = notes
    return profile.replace(**overrides) if overrides else profile


def _check_override_names(overrides: dict) -> None:
    known = {f.name for f in fields(Profile)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ProfileError(f"Unknown profile field(s) {', '.join(unknown)}. Known fields: {', '.join(sorted(known))}.")

"""Lab 2 -> Lab 3: the model PPO starts from, found where Lab 2 saved it, loaded, and said what it is.

The course's Lab 3 started from the summarizer its Lab 2 fine-tuned (the PEFT model) and kept PPO close to
that same model, frozen, with the KL penalty. Lab 2 here saves its results under ``runs/lab2/lora/final``
(the adapter) and ``runs/lab2/full/final`` (the whole model), relative to where the notebook runs.
:func:`load_starting_point` decides which model Lab 3 starts from, loads it, and says what and why.

**What is chosen** (the notebook's ``LAB2_RESULT``):

- ``None`` (auto): the profile's ``finetuned_summarizer`` when it names one (the tiny profile: the tiny
  world's fine-tuned sibling, whose numbers the lab README reports, so tiny runs do not depend on whether
  Lab 2 ran first); otherwise Lab 2's saved result when there is one, the LoRA adapter first; otherwise the
  base summarizer, with a note saying so and how to change it.
- ``"lora"`` or ``"full"``: Lab 2's saved result of that method (any profile, tiny included); an error if
  Lab 2 has not saved one.
- ``"base"``: the profile's base summarizer.
- a folder: a LoRA adapter (``adapter_config.json``), a whole model (``config.json``), or a Lab 2 output
  folder that holds ``final/``.

**Why the LoRA adapter first**: the course's Lab 3 started from Lab 2's PEFT model, and LoRA is what Lab 2
recommends keeping (a small adapter, within a few hundredths of ROUGE-1 of full fine-tuning by Lab 2's own
check). Either can be asked for by name.

**The KL reference is the model PPO starts from, frozen: the Lab 2 model, not the model before Lab 2.** An
adapter is merged into a copy of the base weights, so the policy is a plain model that *is* the Lab 2
model; :class:`~genai_course.rlhf.ppo.Seq2SeqPPOTrainer` then trains a fresh LoRA adapter on a copy of it,
and its ``disable_adapter()`` reference is the Lab 2 model: the KL starts at exactly 0 and measures how far
PPO moved from what Lab 2 taught. The alternative, handing the trainer Lab 2's ``PeftModel`` to train in
place, would make ``disable_adapter()`` give the base model from *before* Lab 2: the KL would start at the
whole distance Lab 2 travelled, and the penalty would pull the policy back towards the un-fine-tuned model
(undoing Lab 2) while the adaptive controller read that distance as PPO's own drift.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from peft import PeftModel
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from genai_course.finetune.lora import quiet_peft
from genai_course.finetune.run_folder import FINAL, STATE_FILE, check_weight_files
from genai_course.models import load_summarizer
from genai_course.profiles import Profile

LAB2_METHODS = ("lora", "full")  # the order auto looks in: see the module's docstring for why LoRA first
# Where Lab 2 saved its results, relative to the current folder: the notebook run in one folder, and
# `genai-course run`, which runs each lab in its own folder (<out>/lab2 next to <out>/lab3).
LAB2_SEARCH = (Path("runs/lab2"), Path("../lab2/runs/lab2"))
ADAPTER_FILE, MODEL_FILE = "adapter_config.json", "config.json"
CHOICES = ("lora", "full", "base")


class HandoffError(ValueError):
    """A Lab 2 result that was asked for but cannot be found or loaded, with what to do."""


@dataclass(frozen=True)
class Lab2Result:
    """A finished Lab 2 result on disk: its method, its ``final/`` folder and what its state file says."""

    method: str  # "lora" or "full"
    path: Path
    steps: int | None = None  # training steps, from trainer_state.json (None: no readable state file)
    base: str | None = None  # the adapter's base model as recorded by peft (LoRA only)

    def describe(self) -> str:
        kind = "LoRA adapter" if self.method == "lora" else "fully fine-tuned model"
        steps = f", {self.steps} training steps" if self.steps is not None else ""
        return f"Lab 2's {kind} ({self.path}{steps})"


@dataclass
class StartingPoint:
    """The model Lab 3's PPO starts from, its tokenizer, and what it is and why it was chosen."""

    model: PreTrainedModel  # a plain seq2seq model (an adapter is merged), in eval mode
    tokenizer: PreTrainedTokenizerBase
    source: str  # "lab2-lora", "lab2-full", "profile" (its finetuned_summarizer), "base" or "folder-…"
    path: str  # the folder or Hub id loaded
    reason: str
    reference: str  # what the KL reference will be, in words
    notes: list[str] = field(default_factory=list)

    @property
    def from_lab2(self) -> bool:
        return self.source in ("lab2-lora", "lab2-full")

    def describe(self) -> str:
        lines = [f"policy starts from: {self.path} ({self.source})", f"why: {self.reason}"]
        lines += [f"note: {note}" for note in self.notes]
        lines.append(f"KL reference: {self.reference}")
        return "\n".join(lines)


def _kind(folder: Path) -> str | None:
    if (folder / ADAPTER_FILE).is_file():
        return "lora"
    if (folder / MODEL_FILE).is_file():
        return "full"
    return None


def _read_result(method: str, folder: Path) -> Lab2Result:
    steps = base = None
    try:
        steps = int(json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # a folder someone copied without its state file is still a model; the count is only shown
    if method == "lora":
        try:
            base = json.loads((folder / ADAPTER_FILE).read_text(encoding="utf-8")).get("base_model_name_or_path")
        except (OSError, ValueError):
            pass  # peft's own load reports a damaged adapter_config.json with its reason
    return Lab2Result(method, folder, steps, base)


def find_lab2_result(method: str | None = None, *, search: Sequence[str | Path] = LAB2_SEARCH) -> Lab2Result | None:
    """Lab 2's finished result: ``<search>/<method>/final`` holding an adapter (LoRA) or a model (full).

    ``method=None`` looks for the LoRA adapter first, then the full model, in each search folder in turn
    (relative ones from the current folder). Only ``final/`` counts: Lab 2 writes it atomically when a run
    finishes, so a run interrupted at a checkpoint is never picked up as finished. None when nothing is found.
    """
    methods = LAB2_METHODS if method is None else (method,)
    unknown = [m for m in methods if m not in LAB2_METHODS]
    if unknown:
        raise HandoffError(f"Unknown Lab 2 method {unknown[0]!r}; choose one of {', '.join(LAB2_METHODS)}.")
    for root in search:
        for name in methods:
            folder = Path(root).expanduser() / name / FINAL
            if _kind(folder) == name:
                return _read_result(name, folder)
    return None


def _searched(search: Sequence[str | Path]) -> str:
    return ", ".join(str(Path(root).expanduser().resolve()) for root in search)


def _merged_adapter(base: PreTrainedModel, folder: Path) -> PreTrainedModel:
    """``base`` with the adapter at ``folder`` folded into its weights: a plain model equal to the PeftModel.

    ``base`` was loaded for this purpose alone, so it is wrapped in place (no copy of a large model)."""
    check_weight_files(folder)
    try:
        with quiet_peft():
            merged = PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
    except (RuntimeError, ValueError, OSError) as error:  # size mismatches are RuntimeErrors in torch
        raise HandoffError(
            f"Could not load the LoRA adapter {folder} onto the summarizer: {error}. An adapter only fits the "
            "model it was trained on: run Lab 3 with the profile Lab 2 used, or pass that model's own folder."
        ) from error
    return merged.eval()


def _same_model(recorded: str | None, summarizer: str) -> bool:
    if not recorded:
        return True  # peft recorded nothing: nothing to compare
    as_path = [Path(name).expanduser() for name in (recorded, summarizer)]
    if all(p.exists() for p in as_path):
        return as_path[0].resolve() == as_path[1].resolve()
    return recorded == summarizer


def _load_lab2(profile: Profile, result: Lab2Result, source: str, reason: str) -> StartingPoint:
    notes = []
    if result.method == "lora":
        base, tokenizer = load_summarizer(profile)
        if not _same_model(result.base, profile.summarizer):
            notes.append(
                f"the adapter records {result.base} as its base model, the profile's summarizer is "
                f"{profile.summarizer}; they must be the same model for the adapter to mean anything"
            )
        model = _merged_adapter(base, result.path)
        what = f"{profile.summarizer} with the adapter merged into a copy of its weights"
    else:
        model, tokenizer = load_summarizer(str(result.path), device=profile.device, dtype=profile.dtype)
        what = "the fully fine-tuned model"
    reference = (
        f"this starting model ({what}), frozen: PPO trains a fresh adapter on a copy of it and "
        "disable_adapter() gives the Lab 2 model back, not the base model from before Lab 2"
    )
    return StartingPoint(model, tokenizer, source, str(result.path), reason, reference, notes)


def _base_reference(name: str) -> str:
    return (
        f"this starting model ({name}), frozen: PPO trains a fresh adapter on a copy of it and "
        "disable_adapter() gives it back"
    )


def _from_folder(profile: Profile, folder: Path) -> StartingPoint:
    if _kind(folder) is None and _kind(folder / FINAL) is not None:
        folder = folder / FINAL  # a Lab 2 output folder: its finished result
    method = _kind(folder)
    if method is None:
        raise HandoffError(
            f"{folder} holds neither a LoRA adapter ({ADAPTER_FILE}) nor a saved model ({MODEL_FILE}), nor a "
            f"{FINAL}/ folder with one. Pass the folder Lab 2 saved (e.g. runs/lab2/lora/final)."
        )
    reason = f"LAB2_RESULT names the folder {folder}, which holds a {'LoRA adapter' if method == 'lora' else 'model'}"
    return _load_lab2(profile, _read_result(method, folder), f"folder-{method}", reason)


def load_starting_point(
    profile: Profile, choice: str | Path | None = None, *, search: Sequence[str | Path] = LAB2_SEARCH
) -> StartingPoint:
    """The model Lab 3 starts from, following ``choice`` (the notebook's ``LAB2_RESULT``; see the module
    docstring): None (auto), ``"lora"``, ``"full"``, ``"base"`` or a folder. Loaded on the profile's device
    and dtype, in eval mode; :meth:`StartingPoint.describe` says what was loaded, why, and what the KL
    reference will be. Lab 2's results are looked for in ``search`` (relative folders from the current one).
    """
    if isinstance(choice, str) and choice.strip().lower() in CHOICES:
        choice = choice.strip().lower()
    elif choice is not None:
        folder = Path(choice).expanduser()
        if not folder.is_dir():
            raise HandoffError(
                f"LAB2_RESULT={str(choice)!r} is neither one of {', '.join(CHOICES)} (or None) nor an existing "
                f"folder (looked for {folder.resolve()})."
            )
        return _from_folder(profile, folder)
    if choice in LAB2_METHODS:
        result = find_lab2_result(choice, search=search)
        if result is None:
            raise HandoffError(
                f"LAB2_RESULT={choice!r}, but Lab 2 has saved no {choice} result here (looked in "
                f"{_searched(search)} for {choice}/{FINAL}/). Run Lab 2 in this folder first, pass the folder it "
                "saved, or set LAB2_RESULT = None."
            )
        return _load_lab2(profile, result, f"lab2-{choice}", f"LAB2_RESULT={choice!r}: {result.describe()}")
    if choice == "base":
        model, tokenizer = load_summarizer(profile)
        reason = "LAB2_RESULT='base': the profile's base summarizer, not fine-tuned by Lab 2"
        return StartingPoint(model, tokenizer, "base", profile.summarizer, reason, _base_reference("the base model"))
    return _auto(profile, search)


def _auto(profile: Profile, search: Sequence[str | Path]) -> StartingPoint:
    if profile.finetuned_summarizer:
        model, tokenizer = load_summarizer(profile.finetuned_summarizer, device=profile.device, dtype=profile.dtype)
        reason = f"LAB2_RESULT=None on the {profile.name} profile: its finetuned_summarizer"
        if profile.is_tiny:
            reason += " (the tiny world's fine-tuned sibling, whose numbers the lab README reports)"
        found = find_lab2_result(search=search)
        notes = [f"{found.describe()} is also here: LAB2_RESULT={found.method!r} starts from it"] if found else []
        reference = _base_reference("the fine-tuned model")
        return StartingPoint(model, tokenizer, "profile", profile.finetuned_summarizer, reason, reference, notes)
    result = find_lab2_result(search=search)
    if result is not None:
        reason = f"LAB2_RESULT=None on the {profile.name} profile: {result.describe()} was found"
        point = _load_lab2(profile, result, f"lab2-{result.method}", reason)
        other = find_lab2_result("full", search=search) if result.method == "lora" else None
        if other is not None:
            point.notes.append(
                f"{other.describe()} is here too; the LoRA adapter is preferred (the course's Lab 3 started "
                "from its PEFT model): LAB2_RESULT='full' starts from the full model instead"
            )
        return point
    model, tokenizer = load_summarizer(profile)
    reason = (
        f"LAB2_RESULT=None on the {profile.name} profile and no Lab 2 result was found (looked in "
        f"{_searched(search)} for lora/{FINAL}/ and full/{FINAL}/): starting from the base summarizer, which "
        "Lab 2 did not fine-tune. Run Lab 2 in this folder first, or set LAB2_RESULT to the folder it saved"
    )
    return StartingPoint(model, tokenizer, "base", profile.summarizer, reason, _base_reference("the base model"))

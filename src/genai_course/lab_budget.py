"""How long each lab takes for a profile's budgets, from measured step times: the check behind ``cpu``.

A lab's time is dominated by a few kinds of work, each measured by ``benchmarks/bench_cpu_profile.py``:
training steps (full and LoRA, batch 8, 200+40 tokens), batched generation (50 new tokens, prompts of
~200 tokens, batches of 16) and reward-model forward passes. :func:`lab_minutes` counts how many of each
a lab performs with a profile's sizes (the notebooks' own loops: Lab 1's ten prompting strategies, Lab
2's three models scored twice, Lab 3's PPO steps and before/after evaluation) and adds a fixed allowance
for loading models and data. It is an estimate to size budgets with, not a promise: see
``benchmarks/cpu_profile.md`` for the figures and their assumptions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from genai_course.profiles import Profile

LAB1_STRATEGIES = 10  # no_prompt, instruction, flan, one_shot, few_shot and 0/1/2/3/5 shots
SHOT_PROMPT_COST = 1.5  # few-shot prompts fill up to 512 tokens: ~1.5x the work of a 200-token prompt
SINGLE_PROMPT_COST = 1.6  # one prompt at a time costs ~1.6x its batched share (benchmarks/README.md)
LAB1_SINGLE_PROMPTS = 20  # the worked examples and the sampling presets, generated one by one
TOPIC_TOKENS = 12  # Lab 2's topic answers
SAMPLES_PER_DIALOGUE = 4  # Lab 3 scores 1 greedy + 4 sampled summaries per dialogue, before and after
FULL_CHECKPOINTS = 11  # a checkpoint every tenth of the run plus final/, each a full copy of the weights
PPO_TARGET_FACTOR = 50 / 40  # PPO trains on 50-token responses; the step time was measured with 40


@dataclass(frozen=True)
class StepTimes:
    """Seconds on the machine the estimate is for (not necessarily the one measured on)."""

    full_step: float  # one full fine-tuning step, batch 8, 200-token inputs, 40-token targets
    lora_step: float  # one LoRA step (r=32 on q, v) on the same batch
    generate_per_prompt: float  # 50 new tokens for one ~200-token prompt, generated in batches of 16
    classify_per_text: float  # one reward-model forward for a ~128-token text, batched
    load: float = 60.0  # per lab: loading the models and the (cached) dataset
    save_full: float = 3.0  # writing one full checkpoint (~1 GB for flan-t5-base)

    def scaled(self, factor: float) -> StepTimes:
        """The same work on a machine ``factor`` times faster."""
        return StepTimes(
            self.full_step / factor,
            self.lora_step / factor,
            self.generate_per_prompt / factor,
            self.classify_per_text / factor,
            self.load,
            self.save_full,
        )


def _generation(times: StepTimes, prompts: float, new_tokens: int) -> float:
    return prompts * times.generate_per_prompt * new_tokens / 50  # decoding dominates: linear in tokens


def lab1_seconds(profile: Profile, times: StepTimes) -> float:
    """Ten strategies over ``n_eval`` dialogues, plus the worked examples one prompt at a time."""
    batched = _generation(times, LAB1_STRATEGIES * profile.n_eval * SHOT_PROMPT_COST, profile.max_new_tokens)
    singles = _generation(times, LAB1_SINGLE_PROMPTS * SINGLE_PROMPT_COST, profile.max_new_tokens)
    return times.load + batched + singles


def train_steps(profile: Profile, epochs: float, examples: int) -> int:
    """Optimizer steps of one Lab 2 method: the examples used, times epochs, over the batch size."""
    used = min(profile.train_examples or examples, examples)
    return math.ceil(used * epochs / profile.train_batch_size)


def lab2_seconds(profile: Profile, times: StepTimes, train_split: int = 12_460) -> float:
    """Scoring three models (summaries and topics), full fine-tuning, LoRA and the adapter checks."""
    per_batch = profile.train_batch_size / 8  # step times were measured at batch 8
    full = train_steps(profile, profile.full_ft_epochs, train_split) * times.full_step * per_batch
    lora = train_steps(profile, profile.lora_epochs, train_split) * times.lora_step * per_batch
    scoring = 3 * (
        _generation(times, profile.n_eval, profile.max_new_tokens) + _generation(times, profile.n_eval, TOPIC_TOKENS)
    )
    checks = _generation(times, 16, profile.max_new_tokens)  # reloaded and merged adapter, 8 prompts each
    return times.load + full + FULL_CHECKPOINTS * times.save_full + lora + scoring + checks


def ppo_step_seconds(profile: Profile, times: StepTimes) -> float:
    """One PPO step: generate a batch, score it, and train the LoRA policy ``ppo_epochs`` times on it (the
    rollout's forward passes of policy, reference and value head count as about one more step)."""
    batch = profile.ppo_batch_size
    rollout = _generation(times, batch, profile.max_new_tokens) + batch * times.classify_per_text
    training = (profile.ppo_epochs + 1) * times.lora_step * batch / 8 * PPO_TARGET_FACTOR
    return rollout + training


def lab3_seconds(profile: Profile, times: StepTimes, train_pool: int = 6_000) -> float:
    """Selecting dialogues with the reward model, scoring before and after, and the PPO steps."""
    pool = min(10 * profile.ppo_batch_size * profile.ppo_steps, train_pool) + 5 * profile.n_toxicity_eval
    summaries = 2 * profile.n_toxicity_eval * (1 + SAMPLES_PER_DIALOGUE)
    evaluation = _generation(times, summaries, profile.max_new_tokens) + summaries * times.classify_per_text
    return (
        times.load + pool * times.classify_per_text + evaluation + profile.ppo_steps * ppo_step_seconds(profile, times)
    )


def lab_minutes(profile: Profile, times: StepTimes) -> dict[str, float]:
    """Estimated minutes of each lab with ``profile``'s budgets at ``times``."""
    return {
        "lab1": lab1_seconds(profile, times) / 60,
        "lab2": lab2_seconds(profile, times) / 60,
        "lab3": lab3_seconds(profile, times) / 60,
    }


# Measured with benchmarks/bench_cpu_profile.py on the project's 2-core development machine, one thread,
# float32, random weights: the median of the runs in benchmarks/cpu_profile.md (three for base, two for
# small); the reward model is roberta-base-shaped for both.
MEASURED_ONE_THREAD = {
    "google/flan-t5-small": StepTimes(
        full_step=4.63, lora_step=2.94, generate_per_prompt=4.01 / 16, classify_per_text=5.30 / 32
    ),
    "google/flan-t5-base": StepTimes(
        full_step=17.29, lora_step=9.28, generate_per_prompt=12.64 / 16, classify_per_text=5.30 / 32
    ),
}
# A 4-core laptop as 2x this machine's two cores, and two cores as 1.65x one (the LoRA step's measured
# two-thread speed-up): an assumption, stated in cpu_profile.md, not a measurement of a laptop.
LAPTOP_SPEEDUP = 2 * 1.65
CPU_PROFILE_MINUTES = 20  # the cpu profile's promise per lab on such a laptop


def laptop_times(model: str) -> StepTimes:
    """The measured step times of ``model`` scaled to the 4-core laptop the ``cpu`` profile is sized for."""
    return MEASURED_ONE_THREAD[model].scaled(LAPTOP_SPEEDUP)

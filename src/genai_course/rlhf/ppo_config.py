"""The settings of Lab 3's PPO (:class:`PPOConfig`) and the fresh LoRA adapter a plain policy gets.

Kept apart from the trainer in :mod:`genai_course.rlhf.ppo` (which re-exports both) so that each
module holds one concept: what PPO is told, and how it runs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from transformers import PreTrainedModel

from genai_course.profiles import Profile


@dataclass
class PPOConfig:
    """Settings of :class:`~genai_course.rlhf.ppo.Seq2SeqPPOTrainer`.

    The PPO defaults are the legacy trl ``PPOConfig`` values the course relied on: ``gamma`` 1 (no
    discounting inside a short response), ``lam`` 0.95 (GAE's bias/variance trade-off), ``cliprange``
    and ``cliprange_value`` 0.2 (the trust region of policy and critic), ``vf_coef`` 0.1 (the
    critic's weight in the shared loss) and the adaptive KL controller (``init_kl_coef`` 0.2,
    ``target`` 6 nats, ``horizon`` 10,000 samples). Batch sizes, epochs and learning rate are the
    course's Lab 3 values (``learning_rate`` 1.41e-5, ``batch_size`` 16, ``mini_batch_size`` 4,
    ``ppo_epochs`` 1); profiles override them. Sampling is pure (``top_k`` 0, ``top_p`` 1): PPO needs
    the responses to come from the policy whose log-probabilities it computes. ``temperature`` and
    ``min_new_tokens`` are scored as sampled; ``top_k`` and ``top_p`` only take their pure values.
    """

    # optimisation
    learning_rate: float = 1.41e-5
    batch_size: int = 16  # rollouts per PPO step
    mini_batch_size: int = 4  # rollouts per gradient step
    ppo_epochs: int = 1  # passes over each batch
    max_grad_norm: float | None = None  # legacy default: no clipping
    # PPO (legacy trl defaults)
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    adap_kl_ctrl: bool = True
    init_kl_coef: float = 0.2
    target: float = 6.0  # nats of KL per response the adaptive controller aims for
    horizon: int = 10_000  # samples over which the controller closes the gap
    # guards
    max_kl: float | None = 50.0  # stop when the mean KL per response exceeds this (runaway policy)
    # sampling rollouts
    max_new_tokens: int = 50
    min_new_tokens: int = 0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    generation_batch_size: int = 64  # 1 reproduces the course's one-prompt-at-a-time rollouts
    packed_weights: bool = False  # MKL-prepacked decoder weights for rollouts (genai_course.packed_weights)
    forward_batch_size: int = 32  # rollouts per no-grad scoring pass
    # the fresh LoRA adapter put on a plain model
    lora_r: int = 32
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] = ("q", "v")
    value_head_dropout: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        positive = (
            "learning_rate",
            "batch_size",
            "mini_batch_size",
            "ppo_epochs",
            "max_new_tokens",
            "generation_batch_size",
            "forward_batch_size",
            "horizon",
            "target",
            "temperature",
        )
        bad = [f"{name}={getattr(self, name)}" for name in positive if not getattr(self, name) > 0]
        if bad:
            raise ValueError(f"PPOConfig values must be > 0: {', '.join(bad)}.")
        if self.mini_batch_size > self.batch_size:
            raise ValueError(f"mini_batch_size ({self.mini_batch_size}) cannot exceed batch_size ({self.batch_size}).")
        if not 0 <= self.lam <= 1 or not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma and lam must be in [0, 1], got gamma={self.gamma}, lam={self.lam}.")
        if self.init_kl_coef < 0:
            raise ValueError(f"init_kl_coef must be >= 0, got {self.init_kl_coef}.")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ValueError(
                f"min_new_tokens must be in [0, max_new_tokens={self.max_new_tokens}], got {self.min_new_tokens}."
            )
        # Why refuse rather than score top-k/top-p: PPO's log-probs must be those of the distribution the
        # responses were sampled from, and a truncated one gives every token outside the policy's top-k or
        # nucleus probability 0. Scored that way, the reference (truncated to its own top-k or nucleus) gives
        # log-prob -inf to tokens the policy may sample, so the KL penalty is infinite; scored untruncated,
        # the ratio and the KL describe a distribution nobody sampled from. Pure sampling, as in the course.
        if self.top_k not in (0, None) or self.top_p != 1.0:
            raise ValueError(
                f"PPO samples purely: top_k must be 0 and top_p 1.0, got top_k={self.top_k}, top_p={self.top_p}. "
                "Truncated sampling would make the log-probs PPO scores (and the KL to the reference) those of "
                "a distribution the responses were not drawn from; use temperature to sharpen sampling instead."
            )

    @classmethod
    def from_profile(cls, profile: Profile, **overrides) -> PPOConfig:
        """The PPO budgets of a :class:`~genai_course.profiles.Profile` (steps are passed to ``train``)."""
        values = dict(
            learning_rate=profile.ppo_lr,
            batch_size=profile.ppo_batch_size,
            mini_batch_size=profile.ppo_mini_batch_size,
            ppo_epochs=profile.ppo_epochs,
            init_kl_coef=profile.ppo_init_kl_coef,
            max_new_tokens=profile.max_new_tokens,
            generation_batch_size=max(profile.eval_batch_size, 1),
            seed=profile.seed,
        )
        values.update(overrides)
        return cls(**values)


def add_fresh_adapter(model: PreTrainedModel, config: PPOConfig) -> PeftModel:
    """A copy of ``model`` with a new, zero-effect LoRA adapter (``B = 0``): ``model`` is untouched.

    peft injects adapter layers into the model it wraps, so wrapping the caller's model directly
    would change it under their feet (the course's Lab 2 bug); the copy costs memory once.
    """
    lora = LoraConfig(
        task_type=TaskType.SEQ_2_SEQ_LM,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_target_modules),
        bias="none",
    )
    return get_peft_model(copy.deepcopy(model), lora)

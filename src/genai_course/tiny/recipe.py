"""The tiny world's recipe: every size, seed and training budget of a build, in one frozen value.

The builders take a recipe instead of importing constants back from the build, so the parts depend on
the recipe and the build depends on the parts, never in a circle. A world seed shifts every seed of the
recipe at once: ``benchmarks/lessons.py`` builds worlds of several seeds to show that the labs' lessons
are not the luck of one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The pre-training mix: task -> share of examples. See ``tiny.pretraining`` for what each task teaches.
PRETRAINING_MIX: tuple[tuple[str, float], ...] = (
    ("span_corruption", 0.04),
    ("continuation", 0.05),
    ("topic", 0.06),
    ("instruction", 0.07),
    ("flan", 0.05),
    ("slot_question", 0.20),
    ("repeat_turn", 0.03),
    ("k_shot", 0.50),
)


@dataclass(frozen=True)
class TinyT5Spec:
    """Size of the tiny T5: about 2M parameters, so CPU training takes seconds per hundred steps.

    T5's relative positions stop telling distances apart beyond ``relative_attention_max_distance``
    (128 by default); a few-shot prompt runs to ~400 tokens, and with the default the encoder cannot
    tell the last dialogue (the one to summarize) from the worked examples before it.
    """

    d_model: int = 128
    d_ff: int = 512
    num_layers: int = 3
    num_heads: int = 4
    d_kv: int = 32
    # Copying facts out of the dialogue is the skill a tiny model learns last. Measured on the slot
    # questions alone (300 steps): untied head 0.18 exact match, tied (T5 v1.0 style, decoder output
    # rescaled) 0.42, tied without dropout 0.66. A build this short has nothing to regularize against.
    tie_word_embeddings: bool = True
    dropout_rate: float = 0.0
    relative_attention_num_buckets: int = 128
    relative_attention_max_distance: int = 512


@dataclass(frozen=True)
class Recipe:
    """Sizes, seeds and budgets of one tiny-world build."""

    world_seed: int = 0
    sizes: dict = field(default_factory=lambda: {"pretrain_pool": 6000, "train": 3200, "validation": 240, "test": 400})
    # Room for every word of the world as one token (BPE stops at ~1,300 here; at 1,000, "Mike" was
    # "M" + "ike"): a fact is easier to copy when it is one token.
    vocab_size: int = 2000
    pretrain_mix: tuple[tuple[str, float], ...] = PRETRAINING_MIX
    pretrain_passes: int = 2  # examples drawn per pool dialogue (each pass draws its own tasks)
    pretrain_steps: int = 1000
    pretrain_batch_size: int = 16
    pretrain_lr: float = 1e-3
    finetune_steps: int = 150  # 1.5 epochs, as Lab 2's tiny profile: enough to copy facts reliably
    finetune_batch_size: int = 32
    finetune_lr: float = 2e-3
    classifier_sentences: dict = field(default_factory=lambda: {"train": 4000, "held_out": 1000})
    model: TinyT5Spec = TinyT5Spec()
    # torch's thread count decides the order of floating-point sums, and hundreds of training steps
    # amplify those last bits into different weights; pinned, a build is bitwise the same on every run of
    # the same CPU type.
    build_threads: int = 2

    def seed(self, part: str) -> int:
        """The seed of one part of the build, shifted by the world seed."""
        base = {"pretrain_pool": 101, "train": 1, "validation": 2, "test": 3, "model": 0, "classifier": 7}
        return base[part] + 1000 * self.world_seed

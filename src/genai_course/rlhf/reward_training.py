"""Training a reward model on preference pairs with trl's ``RewardTrainer``, and judging it.

The reward model is a ``RobertaForSequenceClassification`` with one output (``num_labels=1``): a score
per text. trl's ``RewardTrainer`` puts each pair's chosen and rejected texts through it and minimises the
Bradley–Terry loss ``-log sigmoid(r_chosen - r_rejected)``: only score *differences* are learned, so the
scale and offset of a reward are arbitrary. The model takes the tiny classifier's architecture and
tokenizer but starts from random weights by default: started from the classifier's own weights, its
"agreement with the classifier" would be inherited, not learned from the labels.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from scipy.stats import spearmanr
from transformers import (
    AutoConfig,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PrinterCallback,
    RobertaForSequenceClassification,
)
from trl import RewardConfig, RewardTrainer

from genai_course.rlhf.preferences import check_pairs, flip_share, simulate_labelers
from genai_course.rlhf.reward import RewardModel
from genai_course.threads import pinned_threads

INITS = ("scratch", "classifier_body")
NOISE_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4)


@dataclass
class RewardTrainingConfig(RewardConfig):
    """trl's ``RewardConfig`` with the course's defaults for a tiny reward model on a CPU.

    Every Trainer and trl setting keeps its name; re-declared here are only the defaults that differ
    (no checkpoints, no reporting, fp32, no gradient checkpointing: a 2-layer model gains nothing from
    it and pays ~20% in time) and two fields of ours, ``init`` and ``threads``.
    """

    output_dir: str | None = "runs/lab3/reward_model"
    num_train_epochs: float = 2.0
    per_device_train_batch_size: int = 16
    learning_rate: float = 1e-3  # a randomly initialised 2-layer model; trl's 1e-4 suits pre-trained ones
    warmup_steps: float = 0.1
    logging_steps: float = 5
    save_strategy: str = "no"
    report_to: None | str | list[str] = "none"
    bf16: bool | None = False
    # transformers 5 renamed gradient_checkpointing (trl: True) to this; setting the new name avoids the warning.
    activation_checkpointing: bool | None = False
    max_length: int | None = 128
    disable_tqdm: bool = True
    # ---- our own fields ----
    init: str = "scratch"  # or "classifier_body": the classifier's encoder weights, a fresh one-output head
    threads: int | None = 2  # torch threads while training and scoring (None: leave torch's setting)
    eval_batch_size: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}.")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {self.threads}.")


@dataclass
class TrainedReward:
    """A trained reward model: its scores per text, and what its training cost and logged."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    seconds: float
    losses: list[dict] = field(default_factory=list)  # trl's training logs: loss, accuracy, margin per step
    flip_share: float | None = None

    @torch.no_grad()
    def rewards(self, texts: Sequence[str], *, batch_size: int = 128) -> torch.Tensor:
        """One score per text (higher = preferred), on the CPU."""
        return reward_scores(self.model, self.tokenizer, texts, batch_size=batch_size)

    def __call__(self, queries: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        """The PPO trainer's ``reward_fn(queries, responses)``: it scores the responses alone, as
        :class:`~genai_course.rlhf.reward.RewardModel` does."""
        return self.rewards(responses)


def reward_model_from_classifier(classifier: str | Path, *, init: str = "scratch", seed: int = 0) -> PreTrainedModel:
    """A one-output ``RobertaForSequenceClassification`` shaped like the classifier in ``classifier``.

    ``init="scratch"``: random weights (seeded); ``"classifier_body"``: the classifier's encoder with a new
    head (what real RLHF does: start from a pre-trained model, replace its head).
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}.")
    labels = {"id2label": {0: "reward"}, "label2id": {"reward": 0}}  # one label: num_labels=1
    torch.manual_seed(seed)
    if init == "classifier_body":
        return RobertaForSequenceClassification.from_pretrained(classifier, ignore_mismatched_sizes=True, **labels)
    config = AutoConfig.from_pretrained(classifier, **labels)
    return RobertaForSequenceClassification(config)


def train_reward_model(
    classifier: str | Path, pairs: Dataset, config: RewardTrainingConfig | None = None
) -> TrainedReward:
    """Train a reward model on ``pairs`` (columns ``chosen``, ``rejected``) with trl's ``RewardTrainer``.

    ``classifier`` is the folder (or Hub id) whose architecture and tokenizer the reward model takes, e.g.
    ``world.classifier``. Nothing is written to disk: the trainer's output folder is temporary.
    """
    check_pairs(pairs)
    config = config or RewardTrainingConfig()
    tokenizer = AutoTokenizer.from_pretrained(classifier)
    model = reward_model_from_classifier(classifier, init=config.init, seed=config.seed)
    with pinned_threads(config.threads), tempfile.TemporaryDirectory() as tmp:
        # Pinned memory only speeds up copies to a GPU (and warns without one).
        pin = config.dataloader_pin_memory and torch.cuda.is_available() and not config.use_cpu
        args = dataclasses.replace(config, output_dir=tmp, dataloader_pin_memory=pin)
        trainer = RewardTrainer(model=model, args=args, train_dataset=pairs, processing_class=tokenizer)
        trainer.remove_callback(PrinterCallback)  # with tqdm off, it prints every log line; we keep them in losses
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    losses = [entry for entry in trainer.state.log_history if "loss" in entry]
    noisy = "flipped" in pairs.column_names
    return TrainedReward(model.eval(), tokenizer, seconds, losses, flip_share=flip_share(pairs) if noisy else None)


@torch.no_grad()
def reward_scores(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], *, batch_size: int = 128
) -> torch.Tensor:
    """Scores of ``texts``, tokenized as ``RewardTrainer`` tokenizes its pairs (EOS appended to the text)."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not a single string.")
    eos = tokenizer.eos_token or ""
    texts = [t if t.endswith(eos) else t + eos for t in texts]
    model.eval()
    device = next(model.parameters()).device
    out = [torch.zeros(0)]
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True).to(device)
        out.append(model(**batch).logits[:, 0].float().cpu())
    return torch.cat(out)


def pairwise_accuracy(
    reward: TrainedReward, pairs: Dataset, *, n_resamples: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Share of pairs with reward(chosen) > reward(rejected), with a 95% percentile bootstrap interval
    (pairs resampled), the mean margin, and the accuracy per pair ``kind`` when the pairs have one."""
    check_pairs(pairs)
    margins = (reward.rewards(pairs["chosen"]) - reward.rewards(pairs["rejected"])).numpy()
    correct = (margins > 0).astype(float)
    resampled = np.random.default_rng(seed).choice(correct, size=(n_resamples, len(correct))).mean(axis=1)
    result = {
        "accuracy": float(correct.mean()),
        "ci_low": float(np.percentile(resampled, 2.5)),
        "ci_high": float(np.percentile(resampled, 97.5)),
        "mean_margin": float(margins.mean()),
        "pairs": len(correct),
    }
    if "kind" in pairs.column_names:
        kinds = np.array(pairs["kind"])
        for kind in sorted(set(kinds)):
            result[f"accuracy_{kind}"] = float(correct[kinds == kind].mean())
    return result


def noise_curve(
    classifier: str | Path,
    train_pairs: Dataset,
    held_out: Dataset,
    *,
    noise_levels: Sequence[float] = NOISE_LEVELS,
    config: RewardTrainingConfig | None = None,
    seed: int = 0,
) -> list[dict]:
    """Held-out pairwise accuracy of a reward model trained at each label-noise level (clean held-out
    labels), with the realised flip share and the training time. Each level trains a fresh model."""
    curve = []
    for noise in noise_levels:
        noisy = simulate_labelers(train_pairs, noise=noise, seed=seed)
        reward = train_reward_model(classifier, noisy, config)
        row = {"noise": float(noise), "flip_share": flip_share(noisy), "seconds": reward.seconds}
        curve.append(row | pairwise_accuracy(reward, held_out, seed=seed))
    return curve


def classifier_agreement(
    reward: TrainedReward, classifier: RewardModel, pairs: Dataset, *, texts: Sequence[str] | None = None
) -> dict[str, float]:
    """How the trained reward model agrees with the hate-speech classifier's reward (its ``nothate``
    logit): Spearman correlation of the two scores on the held-out summaries (both sides of ``pairs``,
    or ``texts``), the classifier's own pairwise accuracy, and the share of pairs both order alike."""
    check_pairs(pairs)
    texts = list(texts) if texts is not None else sorted(set(pairs["chosen"]) | set(pairs["rejected"]))
    if len(texts) < 2:
        raise ValueError("Agreement needs at least two texts to correlate.")
    rho = spearmanr(reward.rewards(texts).numpy(), classifier.rewards(texts).numpy()).statistic
    ours = (reward.rewards(pairs["chosen"]) - reward.rewards(pairs["rejected"])).numpy() > 0
    theirs = (classifier.rewards(pairs["chosen"]) - classifier.rewards(pairs["rejected"])).numpy() > 0
    return {
        "spearman": float(rho),
        "classifier_accuracy": float(theirs.mean()),
        "same_order": float((ours == theirs).mean()),
        "texts": len(texts),
    }


__all__ = [
    "INITS",
    "NOISE_LEVELS",
    "RewardTrainingConfig",
    "TrainedReward",
    "classifier_agreement",
    "noise_curve",
    "pairwise_accuracy",
    "reward_model_from_classifier",
    "reward_scores",
    "train_reward_model",
]

"""The hate-speech classifier as a reward model: reward = the ``nothate`` logit, toxicity = P(``hate``).

Both are read **by label name** through the model's ``config.label2id`` / ``id2label``, never by
position in a pipeline's output: ``pipeline(...)[0]`` is whichever label scored highest, so the
course's ``pipeline_output[0]["score"]`` rewarded confident hate as much as confident politeness.
The raw logit is the reward (it keeps growing as text gets more polite, where a probability
saturates at 1); the probability is the toxicity we report.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from genai_course.models import load_reward_classifier
from genai_course.profiles import Profile


class RewardLabelError(ValueError):
    """A classifier whose labels do not include the one we need."""


def label_index(config, label: str) -> int:
    """The output index of ``label`` (case-insensitive) from a classifier's ``label2id`` / ``id2label``."""
    id2label = {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
    label2id = {str(k): int(v) for k, v in (getattr(config, "label2id", None) or {}).items()}
    wanted = label.lower()
    for name, index in label2id.items():
        if name.lower() == wanted:
            return index
    for index, name in id2label.items():
        if name.lower() == wanted:
            return index
    known = sorted(set(label2id) | set(id2label.values()))
    generic = all(name.upper().startswith("LABEL_") for name in known)
    hint = (
        " The classifier's labels are generic (LABEL_0, LABEL_1, ...), which is also what a model without a "
        "trained classification head reports: load it with models.load_reward_classifier (it refuses "
        "untrained heads), and only if its model card says which index means what, pass that name."
        if generic
        else " Pass the label names this classifier uses (reward_label=..., toxic_label=...)."
    )
    raise RewardLabelError(f"The classifier has no label {label!r}; its labels are {known}.{hint}")


class RewardModel:
    """A sequence classifier that scores texts in batches on its own device.

    ``rewards(texts)`` gives the logit of ``reward_label`` (default ``nothate``); ``toxicity(texts)``
    gives the softmax probability of ``toxic_label`` (default ``hate``). Calling the object with
    ``(queries, responses)`` scores the responses, the signature the PPO trainer expects.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        reward_label: str = "nothate",
        toxic_label: str = "hate",
        batch_size: int = 32,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.reward_label, self.toxic_label = reward_label, toxic_label
        self.reward_index = label_index(model.config, reward_label)
        self.toxic_index = label_index(model.config, toxic_label)

    @classmethod
    def from_pretrained(cls, source: Profile | str, *, device: str | None = None, **kwargs) -> RewardModel:
        """Load the profile's ``reward_model`` (or a Hub id / folder) with :mod:`genai_course.models`."""
        model, tokenizer = load_reward_classifier(source, device=device)
        return cls(model, tokenizer, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def max_length(self) -> int:
        """How many tokens the classifier reads (RoBERTa: 512)."""
        limit = getattr(self.tokenizer, "model_max_length", None)
        if limit and limit < 1_000_000:  # tokenizers without a limit report a huge sentinel
            return int(limit)
        positions = getattr(self.model.config, "max_position_embeddings", None) or 514
        # RoBERTa reserves two position slots (padding_idx + 1): 514 positions hold 512 tokens.
        return positions - 2 if self.model.config.model_type in ("roberta", "xlm-roberta") else positions

    @torch.no_grad()
    def logits(
        self, texts: Sequence[str], *, truncate: bool = False, progress: bool = False, desc: str = "Scoring"
    ) -> torch.Tensor:
        """Raw classifier logits ``[len(texts), num_labels]`` on the CPU, in float32.

        A text longer than the classifier's window is an error unless ``truncate=True`` (then only its
        first ``max_length`` tokens are read).
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not a single string.")
        texts = list(texts)
        if not texts:
            return torch.zeros(0, self.model.config.num_labels)
        if not truncate:
            self._check_lengths(texts)
        chunks = []
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc=desc, disable=not progress, leave=False):
            batch = self.tokenizer(
                texts[start : start + self.batch_size],
                return_tensors="pt",
                padding=True,
                truncation=truncate,
                max_length=self.max_length if truncate else None,
            ).to(self.device)
            chunks.append(self.model(**batch).logits.float().cpu())
        return torch.cat(chunks)

    def _check_lengths(self, texts: list[str]) -> None:
        lengths = [len(ids) for ids in self.tokenizer(texts)["input_ids"]]
        too_long = [(i, n) for i, n in enumerate(lengths) if n > self.max_length]
        if too_long:
            shown = ", ".join(f"#{i} ({n} tokens)" for i, n in too_long[:5])
            raise ValueError(
                f"{len(too_long)} text(s) exceed the classifier's window of {self.max_length} tokens: {shown}. "
                "Score shorter texts (e.g. per utterance) or pass truncate=True to read only their beginning."
            )

    def rewards(self, texts: Sequence[str], **kwargs) -> torch.Tensor:
        """The ``reward_label`` logit per text (higher = more polite)."""
        return self.logits(texts, **kwargs)[:, self.reward_index]

    def toxicity(self, texts: Sequence[str], **kwargs) -> torch.Tensor:
        """The probability of ``toxic_label`` per text, in [0, 1]."""
        return self.logits(texts, **kwargs).softmax(dim=-1)[:, self.toxic_index]

    def __call__(self, queries: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        """PPO reward of each response. The query is ignored: it is the same for the policy and its
        reference, so only the response says anything about what the policy did."""
        return self.rewards(responses)

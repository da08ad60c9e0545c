"""What each family's pre-training objective makes of one dialogue: the model's input and what it must
predict, as text for a notebook table.

- masked LM (encoder-only, BERT/RoBERTa): ~15% of the tokens are chosen, most replaced by ``<mask>``;
  the model predicts the original token at each chosen position, seeing the whole text around it;
- causal LM (decoder-only, GPT): predict every next token from the ones before it;
- span corruption (encoder-decoder, T5): short spans are cut out and replaced by sentinels; the decoder
  writes the missing spans, each after its sentinel.

Each uses the ecosystem's or the tiny world's own code (``DataCollatorForLanguageModeling``,
``tiny.pretraining.span_corruption``), so what the table shows is what training sees.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

from genai_course.architectures import FAMILY_CLASSES, family_tokenizer
from genai_course.tiny.pretraining import span_corruption as t5_span_corruption
from genai_course.tiny.tokenizer import sentinel_ids

IGNORE = -100  # the label transformers' losses skip
MLM_PROBABILITY = 0.15
CONTEXT_SHOWN = 4  # tokens of context shown before each next token in a causal LM pair


@dataclass(frozen=True)
class ObjectiveExample:
    """One dialogue as one objective's training example. The first six fields are the table's columns;
    ``pairs`` lists what is predicted from what, readably; the ids are the example itself."""

    objective: str
    family: str
    input_text: str
    target_text: str
    n_input_tokens: int
    n_target_tokens: int
    pairs: list[tuple[str, str]] = field(default_factory=list)
    input_ids: list[int] = field(default_factory=list)
    target_ids: list[int] = field(default_factory=list)

    def row(self) -> dict[str, object]:
        """The six table columns."""
        return {
            "objective": self.objective,
            "family": self.family,
            "input": self.input_text,
            "target": self.target_text,
            "input tokens": self.n_input_tokens,
            "target tokens": self.n_target_tokens,
        }


def _family(name: str) -> tuple[str, str]:
    return FAMILY_CLASSES[name].objective, name


def _ids(text: str, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    if not text or not text.strip():
        raise ValueError("Cannot build a training example from an empty text.")
    return tokenizer(text, verbose=False)["input_ids"]


def _token(tokenizer: PreTrainedTokenizerBase, token_id: int) -> str:
    return tokenizer.decode([token_id]).strip() or tokenizer.convert_ids_to_tokens(token_id)


def masked_lm(
    text: str, tokenizer: PreTrainedTokenizerBase, seed: int = 0, mlm_probability: float = MLM_PROBABILITY
) -> ObjectiveExample:
    """BERT's objective with transformers' own collator: of the chosen tokens, 80% become ``<mask>``, 10% a
    random token and 10% stay as they are (so the model cannot learn that only ``<mask>`` needs predicting).
    The target lists the original tokens at the chosen positions; everywhere else the label is ignored."""
    tokenizer = family_tokenizer(tokenizer)
    ids = _ids(text, tokenizer)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability, seed=seed)
    batch = collator([{"input_ids": ids}])
    inputs, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    chosen = [i for i, label in enumerate(labels) if label != IGNORE]
    return ObjectiveExample(
        *_family("encoder-only"),
        input_text=tokenizer.decode(inputs),
        target_text=" | ".join(_token(tokenizer, labels[i]) for i in chosen),
        n_input_tokens=len(inputs),
        n_target_tokens=len(chosen),
        pairs=[(f"{i}: {_token(tokenizer, inputs[i])}", _token(tokenizer, labels[i])) for i in chosen],
        input_ids=inputs,
        target_ids=labels,
    )


def causal_lm(text: str, tokenizer: PreTrainedTokenizerBase, n_pairs: int = 8) -> ObjectiveExample:
    """GPT's objective: the target is the input shifted by one token, so position ``t`` predicts token
    ``t + 1``. (transformers' causal LM models take ``labels = input_ids`` and shift inside; here the shift
    is shown.) ``pairs`` shows the first ``n_pairs`` predictions with a few tokens of their context."""
    ids = _ids(text, tokenizer)
    if len(ids) < 2:
        raise ValueError("A causal LM example needs at least two tokens.")
    inputs, targets = ids[:-1], ids[1:]
    pairs = [
        (_context(tokenizer, inputs[: t + 1]), _token(tokenizer, targets[t])) for t in range(min(n_pairs, len(targets)))
    ]
    return ObjectiveExample(
        *_family("decoder-only"),
        input_text=tokenizer.decode(inputs),
        target_text=tokenizer.decode(targets),
        n_input_tokens=len(inputs),
        n_target_tokens=len(targets),
        pairs=pairs,
        input_ids=inputs,
        target_ids=targets,
    )


def _context(tokenizer: PreTrainedTokenizerBase, ids: Sequence[int]) -> str:
    """The last CONTEXT_SHOWN tokens of ``ids``, with "…" when earlier ones are left out."""
    shown = tokenizer.decode(ids[-CONTEXT_SHOWN:])
    return shown if len(ids) <= CONTEXT_SHOWN else "… " + shown


def span_corruption(text: str, tokenizer: PreTrainedTokenizerBase, seed: int = 0) -> ObjectiveExample:
    """T5's objective, with the very function the tiny T5 was pre-trained with: ~15% of the tokens, in
    spans of 2–4, are replaced by one sentinel each; the target is each sentinel followed by its span."""
    ids = _ids(text, tokenizer)
    sentinels = sentinel_ids(tokenizer)
    source, target = t5_span_corruption(ids, random.Random(seed), tokenizer.eos_token_id, sentinels)
    return ObjectiveExample(
        *_family("encoder-decoder"),
        input_text=tokenizer.decode(source),
        target_text=tokenizer.decode(target),
        n_input_tokens=len(source),
        n_target_tokens=len(target),
        pairs=[
            (tokenizer.convert_ids_to_tokens(s), tokenizer.decode(span))
            for s, span in spans(target, sentinels, tokenizer.eos_token_id)
        ],
        input_ids=source,
        target_ids=target,
    )


def spans(target: Sequence[int], sentinels: Sequence[int], eos: int) -> list[tuple[int, list[int]]]:
    """A span-corruption target cut into (sentinel id, span ids); the EOS that ends it is dropped."""
    body = list(target[:-1]) if target and target[-1] == eos else list(target)
    known = set(sentinels)
    if body and body[0] not in known:
        raise ValueError("A span-corruption target must start with a sentinel.")
    cut: list[tuple[int, list[int]]] = []
    for token in body:
        if token in known:
            cut.append((token, []))
        else:
            cut[-1][1].append(token)
    return cut


def restore_spans(source: Sequence[int], target: Sequence[int], sentinels: Sequence[int], eos: int) -> list[int]:
    """Put each span of ``target`` back in place of its sentinel in ``source``: the original ids."""
    filled = dict(spans(target, sentinels, eos))
    return [token for s in source for token in filled.get(s, [s])]


def objective_table(text: str, tokenizer: PreTrainedTokenizerBase, seed: int = 0) -> list[ObjectiveExample]:
    """The three objectives applied to ``text``, in the order of ``architectures.FAMILIES``."""
    return [masked_lm(text, tokenizer, seed=seed), causal_lm(text, tokenizer), span_corruption(text, tokenizer, seed)]

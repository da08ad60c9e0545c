"""What the three pre-training objectives make of a dialogue: each produces what it claims."""

import random

import pytest
from datasets import load_from_disk
from stand_in import word_tokenizer

from genai_course import objectives as obj
from genai_course.architectures import FAMILIES, family_tokenizer
from genai_course.models import load_tokenizer
from genai_course.tiny.pretraining import span_corruption as pretraining_span_corruption


@pytest.fixture(scope="module")
def tokenizer(tiny_world):
    return load_tokenizer(str(tiny_world.tokenizer))


@pytest.fixture(scope="module")
def dialogues(tiny_world):
    return load_from_disk(str(tiny_world.corpus))["test"]["dialogue"][:40]


def test_masked_lm_chooses_about_15_percent_and_labels_only_those(tokenizer, dialogues):
    mask_id = family_tokenizer(tokenizer).mask_token_id
    chosen = total = shown_as_mask = 0
    for seed, text in enumerate(dialogues):
        original = tokenizer(text)["input_ids"]
        example = obj.masked_lm(text, tokenizer, seed=seed)
        assert len(example.input_ids) == len(example.target_ids) == len(original) == example.n_input_tokens
        positions = [i for i, label in enumerate(example.target_ids) if label != obj.IGNORE]
        assert example.n_target_tokens == len(positions) == len(example.pairs)
        for i, (label, shown, token) in enumerate(zip(example.target_ids, example.input_ids, original)):
            if i in positions:
                assert label == token, "a label is the original token at a chosen position"
            else:
                assert shown == token, "a position that was not chosen is left as it was"
        assert obj.IGNORE == example.target_ids[-1], "the closing </s> is never chosen"
        chosen += len(positions)
        total += len(original) - 1  # </s> can never be chosen
        shown_as_mask += sum(example.input_ids[i] == mask_id for i in positions)
    assert 0.12 < chosen / total < 0.18, chosen / total
    assert 0.7 < shown_as_mask / chosen < 0.9, shown_as_mask / chosen  # 80% <mask>, 10% random, 10% kept


def test_masked_lm_is_seeded_and_shows_the_masks(tokenizer, dialogues):
    text = dialogues[0]
    first, again, other = (obj.masked_lm(text, tokenizer, seed=s) for s in (0, 0, 1))
    assert first == again and first.input_ids != other.input_ids
    assert "<mask>" in first.input_text
    assert tokenizer.mask_token is None, "the caller's tokenizer gains no mask token"


def test_causal_lm_targets_are_the_inputs_shifted_by_one(tokenizer, dialogues):
    text = dialogues[1]
    ids = tokenizer(text)["input_ids"]
    example = obj.causal_lm(text, tokenizer, n_pairs=5)
    assert example.input_ids == ids[:-1] and example.target_ids == ids[1:]
    assert example.input_ids[1:] == example.target_ids[:-1]
    assert example.n_input_tokens == example.n_target_tokens == len(ids) - 1
    assert [target for _, target in example.pairs] == [tokenizer.decode([t]).strip() for t in ids[1:6]]
    assert example.pairs[0][0] == tokenizer.decode(ids[:1]) and example.pairs[4][0].startswith("… ")


def test_span_corruption_targets_restore_the_original_ids(tokenizer, dialogues):
    sentinels = obj.sentinel_ids(tokenizer)
    eos = tokenizer.eos_token_id
    removed = total = 0
    for seed, text in enumerate(dialogues):
        ids = tokenizer(text)["input_ids"]
        example = obj.span_corruption(text, tokenizer, seed=seed)
        # The very function the tiny world pre-trained with, with the same seeded generator.
        assert (example.input_ids, example.target_ids) == pretraining_span_corruption(
            ids, random.Random(seed), eos, sentinels
        )
        assert obj.restore_spans(example.input_ids, example.target_ids, sentinels, eos) == ids
        used = [t for t in example.input_ids if t in sentinels]
        assert used == sentinels[: len(used)] and [s for s, _ in obj.spans(example.target_ids, sentinels, eos)] == used
        assert example.target_ids[0] == sentinels[0] and example.target_ids[-1] == eos
        assert all(2 <= len(span) <= 4 for _, span in obj.spans(example.target_ids, sentinels, eos))
        removed += example.n_target_tokens - len(used) - 1
        total += len(ids) - 1
    assert 0.1 < removed / total < 0.2, removed / total


def test_the_table_has_one_row_per_family(tokenizer, dialogues):
    table = obj.objective_table(dialogues[2], tokenizer)
    assert [e.family for e in table] == list(FAMILIES)
    assert [e.objective for e in table] == ["masked LM", "causal LM", "span corruption"]
    assert list(table[0].row()) == ["objective", "family", "input", "target", "input tokens", "target tokens"]
    assert all(e.n_input_tokens > 0 and e.n_target_tokens > 0 and e.target_text for e in table)


def test_bad_inputs_get_clear_errors(tokenizer):
    with pytest.raises(ValueError, match="empty text"):
        obj.causal_lm("  ", tokenizer)
    with pytest.raises(ValueError, match="sentinel tokens"):
        obj.span_corruption("w1 w2 w3 w4 w5 w6 w7 w8", word_tokenizer(20))

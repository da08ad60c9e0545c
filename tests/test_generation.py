"""Batched generation: same greedy tokens as one prompt at a time, caller's order, clean text, context checks."""

import logging
import random

import pytest
import torch
from stand_in import t5_tokenizer, tiny_t5
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import GenerationConfig, T5ForConditionalGeneration, T5TokenizerFast

from genai_course.generation import (
    ContextWindowError,
    _trim,
    check_fits,
    context_window,
    encode_in_chunks,
    generate,
    generate_ids,
)

WORDS = (
    "hello there how are you today I am fine thanks let us meet at the station tomorrow morning "
    "sure what time is it the train leaves at nine"
).split()
GREEDY = GenerationConfig(max_new_tokens=12, do_sample=False)


def sentences(n: int, seed: int, longest: int = 30) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, longest))) for _ in range(n)]


@pytest.fixture(scope="module")
def tokenizer() -> T5TokenizerFast:
    """A small Unigram tokenizer in T5's conventions (pad 0, EOS 1 appended), trained here in a blink."""
    raw = Tokenizer(models.Unigram())
    raw.normalizer = normalizers.NFKC()
    raw.pre_tokenizer = pre_tokenizers.Metaspace()
    raw.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=60, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>")
    raw.train_from_iterator(sentences(300, seed=0), trainer)
    return t5_tokenizer(raw, model_max_length=160)


@pytest.fixture(scope="module")
def model(tokenizer) -> T5ForConditionalGeneration:
    """A random tiny T5 whose greedy outputs vary by prompt and sometimes stop early with EOS.

    A large init scale makes outputs differ between prompts; a stronger EOS row makes some stop early;
    a zero pad row keeps it from emitting padding, which would hide trimming bugs.
    """
    model = tiny_t5(tokenizer, initializer_factor=10.0)
    head = model.lm_head.weight.detach().clone()
    head[0] = 0.0
    head[1] *= 2.0
    model.lm_head.weight = torch.nn.Parameter(head)
    return model


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def one_at_a_time(model, tokenizer, prompt: str) -> torch.Tensor:
    return one_at_a_time_with(model, tokenizer, prompt, GREEDY)


def one_at_a_time_with(model, tokenizer, prompt: str, config: GenerationConfig) -> torch.Tensor:
    """Reference: plain model.generate on a single unpadded prompt, cut after the first EOS."""
    encoded = tokenizer([prompt], return_tensors="pt")
    row = model.generate(**encoded, generation_config=config)[0, 1:]
    hits = (row == tokenizer.eos_token_id).nonzero()
    return row[: int(hits[0]) + 1] if len(hits) else row


def test_batched_greedy_equals_one_at_a_time(model, tokenizer):
    prompts = sentences(30, seed=1)
    batched = generate_ids(model, tokenizer, prompts, GREEDY, batch_size=7, progress=False)
    reference = [one_at_a_time(model, tokenizer, p) for p in prompts]
    assert all(torch.equal(b, r) for b, r in zip(batched, reference))
    # The check is meaningful: outputs differ between prompts and some stop early on EOS.
    assert len({tuple(r.tolist()) for r in reference}) > 10
    assert any(len(r) < GREEDY.max_new_tokens for r in reference)
    assert any(len(r) == GREEDY.max_new_tokens for r in reference)


def test_batch_size_does_not_change_greedy_text(model, tokenizer):
    prompts = sentences(20, seed=2)
    texts = {size: generate(model, tokenizer, prompts, GREEDY, batch_size=size, progress=False) for size in (1, 4, 20)}
    assert texts[1] == texts[4] == texts[20]


@pytest.mark.parametrize("chunk", [None, 1, 3, 16])
def test_the_encoder_in_chunks_gives_the_same_greedy_tokens(model, tokenizer, chunk):
    prompts = sentences(16, seed=6)  # lengths 2-30 words: chunks are padded differently from the batch
    got = generate_ids(model, tokenizer, prompts, GREEDY, batch_size=16, progress=False, encoder_batch_size=chunk)
    reference = [one_at_a_time(model, tokenizer, p) for p in prompts]
    assert all(torch.equal(g, r) for g, r in zip(got, reference))


def test_chunked_encoder_outputs_match_the_whole_batch_on_real_tokens(model, tokenizer):
    texts = sorted(sentences(6, seed=7), key=len, reverse=True)
    whole = tokenizer(texts, return_tensors="pt", padding=True)
    expected = model.get_encoder()(**whole).last_hidden_state
    chunked = encode_in_chunks(model, tokenizer, texts, 2, "cpu").last_hidden_state
    assert chunked.shape == expected.shape
    mask = whole["attention_mask"].bool()
    assert torch.allclose(chunked[mask], expected[mask], atol=1e-5)  # padding differs; it is masked out


def test_results_come_back_in_the_callers_order(model, tokenizer):
    prompts = sentences(12, seed=3)
    forward = generate(model, tokenizer, prompts, GREEDY, batch_size=5, progress=False)
    order = list(range(len(prompts)))
    random.Random(0).shuffle(order)
    shuffled = generate(model, tokenizer, [prompts[i] for i in order], GREEDY, batch_size=5, progress=False)
    assert shuffled == [forward[i] for i in order]


def test_ids_have_no_start_token_or_padding_and_text_no_special_tokens(model, tokenizer):
    prompts = sentences(10, seed=4)
    ids = generate_ids(model, tokenizer, prompts, GREEDY, batch_size=10, progress=False)
    for row in ids:
        assert tokenizer.pad_token_id not in row.tolist()
        eos_positions = (row == tokenizer.eos_token_id).nonzero().flatten().tolist()
        assert eos_positions in ([], [len(row) - 1])  # at most one EOS, and only at the end
    for text in generate(model, tokenizer, prompts, GREEDY, batch_size=10, progress=False):
        assert "</s>" not in text and "<pad>" not in text and text == text.strip()


def test_return_dict_config_gives_the_same_tokens(model, tokenizer):
    prompts = sentences(6, seed=5)
    as_dict = GenerationConfig(max_new_tokens=12, do_sample=False, return_dict_in_generate=True)
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            generate_ids(model, tokenizer, prompts, as_dict, progress=False),
            generate_ids(model, tokenizer, prompts, GREEDY, progress=False),
        )
    )


def test_seeded_sampling_repeats(model, tokenizer):
    prompts = sentences(8, seed=6)
    sample = GenerationConfig(max_new_tokens=12, do_sample=True, top_k=0, temperature=1.0)
    first = generate(model, tokenizer, prompts, sample, progress=False, seed=11)
    again = generate(model, tokenizer, prompts, sample, progress=False, seed=11)
    other = generate(model, tokenizer, prompts, sample, progress=False, seed=12)
    assert first == again and first != other


def test_training_mode_is_restored(model, tokenizer):
    model.train()
    try:
        generate(model, tokenizer, ["hello there"], GREEDY, progress=False)
        assert model.training
    finally:
        model.eval()


def test_over_long_prompt_is_an_error_not_a_truncation(model, tokenizer):
    long_prompt = " ".join(["hello there"] * 100)
    prompts = ["hello there", long_prompt]
    # transformers' loggers do not propagate to the root logger (caplog); listen on theirs.
    messages: list[str] = []
    listener = logging.Handler()
    listener.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("transformers").addHandler(listener)
    try:
        with pytest.raises(ContextWindowError, match=r"#1 \(\d+ tokens\)") as error:
            generate(model, tokenizer, prompts, GREEDY, progress=False)
    finally:
        logging.getLogger("transformers").removeHandler(listener)
    assert "context window of 160 tokens" in str(error.value) and "fit_shots" in str(error.value)
    # Our error replaces the tokenizer's "longer than the specified maximum" warning.
    assert not any("longer than the specified maximum" in m for m in messages)


def test_check_fits_returns_token_counts(tokenizer):
    prompts = ["hello there", "the train leaves at nine"]
    expected = [len(tokenizer(p)["input_ids"]) for p in prompts]
    assert check_fits(tokenizer, prompts) == expected
    assert expected[0] >= 2  # words plus the EOS token


def test_context_window_reads_the_tokenizer_and_guards_the_sentinel(tokenizer):
    assert context_window(tokenizer) == 160

    class Unbounded:
        model_max_length = int(1e30)

    assert context_window(Unbounded()) == 512


def test_bad_arguments(model, tokenizer):
    assert generate(model, tokenizer, [], GREEDY) == []
    with pytest.raises(TypeError, match="list of strings"):
        generate(model, tokenizer, "hello there", GREEDY)
    with pytest.raises(ValueError, match="batch_size"):
        generate(model, tokenizer, ["hello"], GREEDY, batch_size=0)
    with pytest.raises(ValueError, match="encoder_batch_size"):
        generate(model, tokenizer, ["hello"], GREEDY, encoder_batch_size=0)
    with pytest.raises(ValueError, match="packed_weights must be True or False"):
        generate(model, tokenizer, ["hello"], GREEDY, packed_weights="no")


def test_trim_cuts_after_first_eos_and_drops_trailing_padding():
    assert _trim(torch.tensor([5, 6, 1, 0, 0]), eos=1, pad=0).tolist() == [5, 6, 1]
    assert _trim(torch.tensor([5, 1, 7, 1]), eos=1, pad=0).tolist() == [5, 1]
    assert _trim(torch.tensor([5, 6, 0, 0]), eos=1, pad=0).tolist() == [5, 6]
    assert _trim(torch.tensor([0, 0]), eos=1, pad=0).tolist() == []


def test_tiny_summarizer_batched_equals_one_at_a_time(tiny_world):
    """The acceptance check on the real tiny summarizer (builds the tiny world if it is missing)."""
    from genai_course.data import load_dialogsum
    from genai_course.models import load_summarizer
    from genai_course.profiles import get_profile
    from genai_course.prompting import build_prompt

    profile = get_profile("tiny", verbose=False)
    model, tiny_tokenizer = load_summarizer(profile)
    dialogues = load_dialogsum(profile.dataset)["test"].select(range(12))["dialogue"]
    prompts = [build_prompt(style, d) for style in ("instruction", "flan") for d in dialogues]
    config = GenerationConfig(max_new_tokens=profile.max_new_tokens, do_sample=False)
    batched = generate_ids(model, tiny_tokenizer, prompts, config, batch_size=16, progress=False)
    single = [one_at_a_time_with(model, tiny_tokenizer, p, config) for p in prompts]
    assert all(torch.equal(b, s) for b, s in zip(batched, single))
    assert len({tuple(s.tolist()) for s in single}) > 8

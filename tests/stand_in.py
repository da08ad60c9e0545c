"""A stand-in for FLAN-T5's tokenizer, built here (the real SentencePiece model needs the Hub).

Word level over ``w0 .. w{n-1}``, T5's special ids (pad 0, EOS 1, unk 2), an EOS after every text and
FLAN-T5's 512-token context window: a dialogue of N words is N tokens (+ the prompt's words), so tests
build prompts of exactly the lengths they need. The same design as ``benchmarks/_common.py``."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import T5Config, T5ForConditionalGeneration, T5TokenizerFast


def t5_tokenizer(backend: Tokenizer, model_max_length: int) -> T5TokenizerFast:
    """``backend`` in T5's layout: pad 0, EOS 1 (appended to every text), unk 2, no sentinel tokens."""
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return T5TokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_ids=0,
        model_max_length=model_max_length,
    )


def word_tokenizer(vocab_words: int = 5000, model_max_length: int = 512) -> T5TokenizerFast:
    """The stand-in tokenizer; any other word becomes ``<unk>`` (still one token)."""
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{f"w{i}": i + 3 for i in range(vocab_words)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return t5_tokenizer(backend, model_max_length)


def words(n: int, start: int = 0) -> str:
    """``n`` distinct vocabulary words: ``n`` tokens."""
    return " ".join(f"w{(start + i) % 5000}" for i in range(n))


def trained_word_tokenizer(corpus: list[str], model_max_length: int = 64) -> T5TokenizerFast:
    """A word-level tokenizer in T5's layout whose vocabulary is every word of ``corpus``."""
    backend = Tokenizer(models.WordLevel(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"]))
    return t5_tokenizer(backend, model_max_length)


def tiny_t5(
    tokenizer: T5TokenizerFast, seed: int = 0, dropout_rate: float = 0.1, **settings: float
) -> T5ForConditionalGeneration:
    """A seeded 2-layer T5 of width 32 for ``tokenizer``, in eval mode: seconds to train on a CPU.
    ``settings``: other ``T5Config`` fields, or these sizes replaced (e.g. ``initializer_factor``,
    ``d_model``)."""
    torch.manual_seed(seed)
    sizes = {"d_model": 32, "d_ff": 64, "num_layers": 2, "num_heads": 2, "d_kv": 16}
    config = T5Config(
        vocab_size=len(tokenizer),
        dropout_rate=dropout_rate,
        decoder_start_token_id=tokenizer.pad_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **(sizes | settings),
    )
    return T5ForConditionalGeneration(config).eval()

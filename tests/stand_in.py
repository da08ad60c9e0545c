"""A stand-in for FLAN-T5's tokenizer, built here (the real SentencePiece model needs the Hub).

Word level over ``w0 .. w{n-1}``, T5's special ids (pad 0, EOS 1, unk 2), an EOS after every text and
FLAN-T5's 512-token context window: a dialogue of N words is N tokens (+ the prompt's words), so tests
build prompts of exactly the lengths they need. The same design as ``benchmarks/_common.py``."""

from __future__ import annotations

from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import T5TokenizerFast


def word_tokenizer(vocab_words: int = 5000, model_max_length: int = 512) -> T5TokenizerFast:
    """The stand-in tokenizer; any other word becomes ``<unk>`` (still one token)."""
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{f"w{i}": i + 3 for i in range(vocab_words)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return T5TokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_ids=0,
        model_max_length=model_max_length,
    )


def words(n: int, start: int = 0) -> str:
    """``n`` distinct vocabulary words: ``n`` tokens."""
    return " ".join(f"w{(start + i) % 5000}" for i in range(n))

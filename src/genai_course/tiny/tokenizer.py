"""The tiny world's tokenizers, trained with ``tokenizers`` and saved as real transformers tokenizers.

The summarizer gets a tokenizer in T5's layout (``<pad>`` = 0, ``</s>`` = 1, ``<unk>`` = 2, sentinel
``<extra_id_N>`` tokens for span corruption); the classifier gets a RoBERTa-style byte-level BPE.
Like FLAN-T5's, the T5 tokenizer splits on any whitespace, so decoding turns newlines into spaces
(transformers' ``T5Tokenizer`` rebuilds exactly that pipeline when it loads); ``#Person1#`` round-trips.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast, RobertaTokenizerFast

N_SENTINELS = 16
CONTEXT_WINDOW = 512  # the same as FLAN-T5, so Lab 1's context lesson transfers


def sentinel(i: int) -> str:
    return f"<extra_id_{i}>"


def sentinel_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The ids of ``<extra_id_0>`` … in order (T5's span-corruption markers); an error if it has none."""
    ids = tokenizer.convert_tokens_to_ids([sentinel(i) for i in range(N_SENTINELS)])
    if None in ids or (tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids):
        raise ValueError(
            f"The tokenizer has no <extra_id_N> sentinel tokens ({sentinel(0)} … {sentinel(N_SENTINELS - 1)}): "
            "span corruption needs a T5-style tokenizer (the tiny world's or FLAN-T5's)."
        )
    return ids


def train_t5_tokenizer(texts: Iterable[str], vocab_size: int = 2000) -> PreTrainedTokenizerFast:
    """A tokenizer in T5's layout (``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2, sentinels), trained on ``texts``.

    It uses BPE rather than T5's Unigram: on a corpus this small, the ``tokenizers`` Unigram trainer
    drops frequent short words ("I", "have") to characters, doubling sequence lengths. It is saved as a
    plain fast tokenizer so transformers keeps this pipeline when it loads it.
    """
    specials = ["<pad>", "</s>", "<unk>"] + [sentinel(i) for i in range(N_SENTINELS)]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.NFKC()
    # Punctuation is split off after the word boundaries are marked, so "Mike's", "Mike." and "Mike" share
    # the token "▁Mike" (a fact is easier to copy when it is one frequent token), and decoding still glues
    # "'s" and "." back on (only word starts carry "▁").
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
            pre_tokenizers.Split(Regex(r"'s|[.,!?;:\"()]"), behavior="isolated"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    alphabet = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'#:;-\"()")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, initial_alphabet=alphabet)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=[sentinel(i) for i in range(N_SENTINELS)],
        model_max_length=CONTEXT_WINDOW,
    )


def train_roberta_tokenizer(texts: Iterable[str], vocab_size: int = 800) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer in RoBERTa's layout (``<s>`` = 0, ``<pad>`` = 1, ``</s>`` = 2)."""
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return RobertaTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=CONTEXT_WINDOW,
    )

"""What the benchmarks share: a stand-in tokenizer for models built from a config (no download) and
a description of the machine the numbers were measured on."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

from transformers import T5TokenizerFast


def stand_in_tokenizer(vocab_words: int = 32_000) -> T5TokenizerFast:
    """Word-level tokenizer over ``w0 .. w{n-1}``: one token per word plus EOS, T5's special ids.

    The real SentencePiece tokenizers are not available offline; with one token per word, a benchmark
    builds prompts of exactly the token counts it wants."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

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
        model_max_length=512,
    )


def machine() -> dict:
    """Python, platform and CPU count, stored next to every measurement."""
    return {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}


def write_record(out: Path, benchmark: str, results: list, **fields) -> None:
    """The benchmark's JSON record (its fields, the machine, the load average, the results) at ``out``."""
    record = {"benchmark": benchmark, **fields, "machine": machine()}
    record |= {"load_average_1min": round(os.getloadavg()[0], 2), "results": results}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")

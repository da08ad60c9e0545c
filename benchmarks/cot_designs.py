"""Chain-of-thought designs tried for Lab 5's reasoning lesson on the tiny world's T5 that did *not* hold.

Issue #17 asks that chain-of-thought beat the direct answer on multi-step questions by at least 0.15
accuracy, and that program-aided answers beat chain-of-thought on arithmetic. None of the designs here
met it: their worked answers must copy names or numbers out of the prompt, which the tiny T5 does not
learn in a few hundred steps. The design that holds, and is taught in Lab 5's section 6, is
:mod:`genai_course.tiny.town_reasoning` (questions about memorized facts, held-out places); this script
keeps the failed designs reproducible, with their numbers. Each run trains a fresh copy of a world
model (the world's pre-trained T5, or Lab 5's reader) on questions asked in every answer form, then
scores held-out questions in each form:

- ``direct``: the answer alone;
- ``cot``: the prompt ends with "Let's think step by step."; the model writes its steps and ends with
  "The answer is X.";
- ``program`` (shopping only): the prompt ends with "Write a program."; the model writes
  ``add(mul(3, 4), mul(2, 5))``, which :func:`genai_course.safe_arithmetic.try_evaluate` computes
  without ever executing model text.

Two question families:

- ``shopping``: "#Person1#: I would like 3 apples at 4 dollars each and 2 pears at 5 dollars each."
  and "How much does #Person1# pay in all?", with the times and plus tables as drills;
- ``hop``: in-context two-hop look-ups, "Anna works at the Blue Gym." and "The Blue Gym is open from
  five." among other people's and places' sentences, shuffled: "What time does the place where Anna
  works open?". The rationale either restates both sentences (``--rationale name``) or names the
  place first (``--rationale place``).

    python benchmarks/cot_designs.py --start world --hop 0 --shop 3000 --shop-items 3 --counts 2 4 --prices 2 6 \
        --drill-passes 4 --steps 600 --lr 5e-4
    python benchmarks/cot_designs.py --start reader --steps 400 --lr 5e-4           # hop + shopping
    python benchmarks/cot_designs.py --start reader --shop 0 --drill-passes 0 --single 0 --steps 300 --lr 1e-3

Needs a built tiny world (and, with ``--start reader``, Lab 5's cached reader: run Lab 5 once).
Writes the accuracies to ``runs/benchmarks/cot_designs.json`` (``--out`` to keep several designs).
The table in ``labs/lab5_reasoning_retrieval/README.md`` lists the designs and what they measured; the
first shopping design (three items) was measured with an earlier draft of this script, other split
seeds and the same sizes.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from pathlib import Path

import torch
from _common import write_record
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from genai_course.safe_arithmetic import try_evaluate
from genai_course.threads import pinned_threads
from genai_course.tiny.corpus import NAMES, TIMES
from genai_course.tiny.cutoff_facts import COLORS, KINDS
from genai_course.tiny.paths import world_seed
from genai_course.tiny.summarizer import train_seq2seq
from genai_course.tiny.town_reader import ReaderRecipe, reader_folder
from genai_course.tiny.world import ensure_tiny_world

PLACES = [f"{color} {kind}" for color in COLORS for kind in KINDS]
ITEMS = ["apples", "pears", "cakes", "pies", "books", "pens", "cups", "hats", "lamps", "towels", "candles", "plates"]
TRIGGERS = {"direct": "", "cot": "Let's think step by step.", "program": "Write a program."}
SPLIT_SEEDS = {"hop": (901, 903), "shop": (907, 905)}  # (train, test), plus 1000 per world seed


def prompt(context: str, question: str, form: str) -> str:
    base = f"{context}\n\nQuestion: {question}"
    return f"{base}\n{TRIGGERS[form]}" if TRIGGERS[form] else base


def hop_question(rng: random.Random, people: int, rationale: str) -> dict:
    names, places = rng.sample(NAMES, people), rng.sample(PLACES, people)
    hours = [rng.choice(TIMES) for _ in range(people)]
    works = [f"{n} works at the {p}." for n, p in zip(names, places)]
    opens = [f"The {p} is open from {h}." for p, h in zip(places, hours)]
    sentences = works + opens
    rng.shuffle(sentences)
    i = rng.randrange(people)
    first = works[i] if rationale == "name" else f"The workplace is the {places[i]}."
    context = " ".join(sentences)
    return {
        "context": context,
        "question": f"What time does the place where {names[i]} works open?",
        "answer": hours[i],
        "cot": f"{first} {opens[i]} The answer is {hours[i]}.",
        "program": None,
        "singles": [
            (prompt(context, f"Where does {names[i]} work?", "direct"), f"the {places[i]}"),
            (prompt(context, f"What time does the {places[i]} open?", "direct"), hours[i]),
        ],
    }


def shop_question(rng: random.Random, items: int, counts: range, prices: range) -> dict:
    bought = [(item, rng.choice(counts), rng.choice(prices)) for item in rng.sample(ITEMS, items)]
    parts = [f"{c} {item} at {p} dollars each" for item, c, p in bought]
    order = ", ".join(parts[:-1]) + " and " + parts[-1]
    steps = [f"The {item} cost {c} times {p}, which is {c * p}." for item, c, p in bought]
    running = bought[0][1] * bought[0][2]
    for _, c, p in bought[1:]:
        steps.append(f"{running} plus {c * p} is {running + c * p}.")
        running += c * p
    return {
        "context": f"#Person1#: I would like {order}.\n#Person2#: Sure, here you are.",
        "question": "How much does #Person1# pay in all?",
        "answer": str(running),
        "cot": " ".join(steps) + f" The answer is {running}.",
        "program": "add(" + ", ".join(f"mul({c}, {p})" for _, c, p in bought) + ")",
        "singles": [],
    }


def draw(make, n: int, seed: int, skip: set[str] = frozenset()) -> list[dict]:
    """``n`` questions with distinct contexts, none of them in ``skip``."""
    rng, out, seen = random.Random(seed), [], set(skip)
    while len(out) < n:
        question = make(rng)
        if question["context"] not in seen:
            seen.add(question["context"])
            out.append(question)
    return out


def drills(counts: range, prices: range) -> list[tuple[str, str]]:
    """The times table and every sum a rationale of up to three items needs, alone."""
    products = sorted({c * p for c in counts for p in prices})
    pairs = {(x, y) for x in products for y in products}
    pairs |= {(x + y, z) for x in products for y in products for z in products}
    table = [(f"{c} times {p} is", f"{c * p}.") for c in counts for p in prices]
    return table + [(f"{x} plus {y} is", f"{x + y}.") for x, y in sorted(pairs)]


def answer_of(output: str, form: str) -> str:
    if form == "program":
        value = try_evaluate(output)
        return "" if value is None else str(int(value)) if float(value).is_integer() else str(value)
    if form == "cot":
        found = re.findall(r"answer is\s*([^.]*)", output)
        output = found[-1] if found else ""
    return output.strip().rstrip(".").strip().lower()


def generate(model, tokenizer, prompts: list[str], max_new_tokens: int) -> list[str]:
    outputs = []
    with torch.no_grad(), pinned_threads(2):
        for start in range(0, len(prompts), 48):
            encoded = tokenizer(prompts[start : start + 48], return_tensors="pt", padding=True)
            ids = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
            outputs += tokenizer.batch_decode(ids, skip_special_tokens=True)
    return outputs


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", choices=("world", "reader"), default="reader")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--hop", type=int, default=3000, help="two-hop training questions")
    parser.add_argument("--people", type=int, default=3, help="people (and places) in a two-hop context")
    parser.add_argument("--rationale", choices=("name", "place"), default="name")
    parser.add_argument("--single", type=int, default=1000, help="two-hop questions also asked one hop at a time")
    parser.add_argument("--shop", type=int, default=2000, help="shopping training questions")
    parser.add_argument("--shop-items", type=int, default=2, choices=(2, 3))
    parser.add_argument("--counts", type=int, nargs=2, default=(2, 5), metavar=("LOW", "HIGH"))
    parser.add_argument("--prices", type=int, nargs=2, default=(2, 9), metavar=("LOW", "HIGH"))
    parser.add_argument("--drill-passes", type=int, default=10)
    parser.add_argument("--test", type=int, default=240)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/cot_designs.json"))
    return parser.parse_args()


def questions_and_pairs(args: argparse.Namespace, seed: int) -> tuple[dict[str, list[dict]], list[tuple[str, str]]]:
    """The test questions per family, and the training pairs: every question in each of its answer forms
    (plus single hops and drills as asked), shuffled."""
    counts, prices = range(args.counts[0], args.counts[1] + 1), range(args.prices[0], args.prices[1] + 1)

    def shop(rng: random.Random) -> dict:
        return shop_question(rng, args.shop_items, counts, prices)

    def hop_train(rng: random.Random) -> dict:
        return hop_question(rng, rng.randint(2, args.people), args.rationale)

    def hop_test(rng: random.Random) -> dict:  # test contexts always hold the most people
        return hop_question(rng, args.people, args.rationale)

    makers = {"hop": (args.hop, hop_train, hop_test), "shop": (args.shop, shop, shop)}
    tests, pairs = {}, []
    for family, (n, make_train, make_test) in makers.items():
        if n == 0:
            continue
        train_seed, test_seed = (s + 1000 * seed for s in SPLIT_SEEDS[family])
        tests[family] = draw(make_test, args.test, test_seed)
        for i, q in enumerate(draw(make_train, n, train_seed, {t["context"] for t in tests[family]})):
            pairs.append((prompt(q["context"], q["question"], "direct"), q["answer"]))
            pairs.append((prompt(q["context"], q["question"], "cot"), q["cot"]))
            if q["program"]:
                pairs.append((prompt(q["context"], q["question"], "program"), q["program"]))
            if i < args.single:
                pairs += q["singles"]
    if args.shop:
        pairs += drills(counts, prices) * args.drill_passes
    random.Random(seed).shuffle(pairs)
    return tests, pairs


def score(model, tokenizer, tests: dict[str, list[dict]]) -> dict[str, float]:
    """Accuracy per family and answer form on the held-out questions."""
    accuracy = {}
    for family, questions in tests.items():
        forms = {"direct": 10, "cot": 120} | ({"program": 40} if family == "shop" else {})
        for form, max_new in forms.items():
            prompts = [prompt(q["context"], q["question"], form) for q in questions]
            outputs = generate(model, tokenizer, prompts, max_new)
            right = [answer_of(o, form) == q["answer"].lower() for o, q in zip(outputs, questions)]
            accuracy[f"{family}/{form}"] = sum(right) / len(right)
            print(f"{family:>4} {form:>7}: {accuracy[f'{family}/{form}']:.3f}   e.g. {outputs[0]!r}")
    return accuracy


def main() -> None:
    args = parse_args()
    seed, world = world_seed(), ensure_tiny_world()
    tests, pairs = questions_and_pairs(args, seed)
    start = reader_folder(world, ReaderRecipe()) if args.start == "reader" else world.summarizer
    if not start.exists():
        raise SystemExit(f"{start} does not exist: run Lab 5 once to train its reader, or use --start world")
    tokenizer = AutoTokenizer.from_pretrained(str(world.tokenizer))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(start))
    sources = tokenizer([s for s, _ in pairs], verbose=False)["input_ids"]
    targets = tokenizer([t for _, t in pairs], verbose=False)["input_ids"]
    began = time.perf_counter()
    with pinned_threads(2):
        losses = train_seq2seq(
            model, list(zip(sources, targets)), steps=args.steps, lr=args.lr, seed=seed, pad_id=tokenizer.pad_token_id
        )
    seconds = time.perf_counter() - began
    print(f"{len(pairs)} training pairs, {args.steps} steps in {seconds:.0f} s, final loss {losses[-1]:.3f}")
    accuracy = score(model.eval(), tokenizer, tests)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    write_record(args.out, "cot_designs", [accuracy], settings=settings, world_seed=seed, train_seconds=seconds)


if __name__ == "__main__":
    main()

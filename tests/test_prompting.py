"""Templates, shot selection and formatting, context-budget handling, presets, strategy runs, Lab 1 plots."""

import ast
import random
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import nbformat

matplotlib.use("Agg")

import pytest
import torch
from stand_in import tiny_t5, trained_word_tokenizer
from transformers import GenerationConfig, T5ForConditionalGeneration, T5TokenizerFast

from genai_course import prompting
from genai_course.generation import ContextWindowError, generate
from genai_course.prompting import (
    Shot,
    build_prompt,
    count_tokens,
    few_shot_prompt,
    fit_shots,
    measure_few_shot,
    pick_shots,
)

NAMES = ["Anna", "Ben", "Chloe", "Dev"]
VERBS = ["meet", "call", "visit", "help", "cook", "drive", "paint", "clean"]


def make_split(n: int, seed: int = 0) -> list[dict]:
    """DialogSum-shaped rows whose dialogue lengths vary from 1 to 8 turns."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        turns = [
            f"#Person{1 + t % 2}#: Can you {rng.choice(VERBS)} {rng.choice(NAMES)} on Monday?"
            for t in range(rng.randint(1, 8))
        ]
        rows.append(
            {
                "id": f"row_{i}",
                "dialogue": "\n".join(turns),
                "summary": f"#Person1# asks #Person2# to {rng.choice(VERBS)} {rng.choice(NAMES)}.",
                "topic": "plans",
            }
        )
    return rows


@pytest.fixture(scope="module")
def tokenizer() -> T5TokenizerFast:
    """A word-level tokenizer (one token per word or punctuation mark, plus EOS), context window 128."""
    corpus = [r["dialogue"] + " " + r["summary"] for r in make_split(200, seed=9)]
    corpus += list(prompting.TEMPLATES.values())
    return trained_word_tokenizer(corpus, model_max_length=128)


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


# --- templates ---------------------------------------------------------------------------------------


def test_templates_are_the_courses_strings():
    dialogue = "#Person1#: Hi.\n#Person2#: Hello."
    assert build_prompt("none", dialogue) == dialogue
    assert build_prompt("instruction", dialogue) == f"Summarize the following conversation.\n\n{dialogue}\n\nSummary: "
    assert build_prompt("flan", dialogue) == f"Dialogue:\n\n{dialogue}\n\nWhat was going on?"
    assert prompting.instruction_prompt(dialogue) == build_prompt("instruction", dialogue)
    assert build_prompt("flan", "  " + dialogue + "\n") == build_prompt("flan", dialogue)


def test_unknown_style_and_empty_dialogue_are_errors():
    with pytest.raises(ValueError, match="Unknown prompt style 'tldr'"):
        build_prompt("tldr", "x")
    with pytest.raises(ValueError, match="empty dialogue"):
        build_prompt("flan", "   ")


# --- shots ---------------------------------------------------------------------------------------------


def test_shot_ends_with_summary_and_stop_sequence():
    shot = Shot("#Person1#: Hi.", "  They greet.  ")
    text = prompting.format_shot(shot)
    assert text == "Dialogue:\n\n#Person1#: Hi.\n\nWhat was going on?\nThey greet.\n\n\n"
    assert text.endswith("They greet." + prompting.STOP_SEQUENCE)
    with pytest.raises(ValueError, match="empty summary"):
        prompting.format_shot(Shot("#Person1#: Hi.", " "))


def test_few_shot_prompt_is_shots_then_the_open_question():
    shots = [Shot("d1", "s1"), Shot("d2", "s2")]
    prompt = few_shot_prompt(shots, "target")
    assert prompt == (
        "Dialogue:\n\nd1\n\nWhat was going on?\ns1\n\n\n"
        "Dialogue:\n\nd2\n\nWhat was going on?\ns2\n\n\n"
        "Dialogue:\n\ntarget\n\nWhat was going on?"
    )
    assert few_shot_prompt([], "target") == build_prompt("flan", "target")
    assert prompting.one_shot_prompt(shots[0], "target") == few_shot_prompt(shots[:1], "target")
    assert few_shot_prompt(shots, "target", style="instruction").count("Summarize the following") == 3


def test_shots_from_picks_the_named_rows():
    split = make_split(10)
    shots = prompting.shots_from(split, [4, 2])
    assert [s.id for s in shots] == ["row_4", "row_2"]
    assert shots[0].dialogue == split[4]["dialogue"] and shots[0].summary == split[4]["summary"]
    with pytest.raises(IndexError, match="outside the split, which has 10 rows"):
        prompting.shots_from(split, [10])


def test_pick_shots_is_seeded_nested_and_respects_exclusions():
    split = make_split(50)
    five = pick_shots(split, 5, seed=1)
    assert pick_shots(split, 5, seed=1) == five
    assert pick_shots(split, 3, seed=1) == five[:3]  # more shots extend fewer shots
    assert pick_shots(split, 5, seed=2) != five
    excluded = {s.id for s in five[:2]}
    assert not excluded & {s.id for s in pick_shots(split, 5, seed=1, exclude_ids=excluded)}
    assert len({s.id for s in five}) == 5


def test_pick_shots_can_keep_only_short_shots(tokenizer):
    split = make_split(60)
    shots = pick_shots(split, 4, seed=0, tokenizer=tokenizer, max_shot_tokens=40)
    assert all(count_tokens(tokenizer, prompting.format_shot(s)) <= 40 for s in shots)
    with pytest.raises(ValueError, match="Only 0 of the 60 rows are eligible"):
        pick_shots(split, 1, tokenizer=tokenizer, max_shot_tokens=3)
    with pytest.raises(ValueError, match="together"):
        pick_shots(split, 1, max_shot_tokens=3)


# --- context budget -------------------------------------------------------------------------------------


def brute_force_shots_that_fit(shots, dialogue, tokenizer, window):
    fitting = [
        k for k in range(len(shots) + 1) if count_tokens(tokenizer, few_shot_prompt(shots[:k], dialogue)) <= window
    ]
    return max(fitting) if fitting else -1


def test_measure_reports_tokens_and_how_many_shots_fit(tokenizer):
    split = make_split(40, seed=3)
    shots = prompting.shots_from(split, range(6))
    dialogue = split[10]["dialogue"]
    budget = measure_few_shot(shots, dialogue, tokenizer)
    assert budget.n_tokens == count_tokens(tokenizer, budget.prompt) == budget.requested_tokens
    assert budget.context_window == 128
    assert not budget.fits  # six shots do not fit in 128 tokens
    assert budget.shots_that_fit == brute_force_shots_that_fit(shots, dialogue, tokenizer, 128)
    assert 0 <= budget.shots_that_fit < 6
    report = budget.report()
    assert f"{budget.n_tokens} tokens" in report and "128" in report
    assert f"only {budget.shots_that_fit} shot(s) fit" in report
    with pytest.raises(ContextWindowError, match="DOES NOT FIT"):
        budget.check()


def test_fit_shots_drops_the_last_shots_until_the_prompt_fits(tokenizer):
    split = make_split(40, seed=4)
    shots = prompting.shots_from(split, range(6))
    for row in split[10:20]:
        budget = fit_shots(shots, row["dialogue"], tokenizer)
        expected = brute_force_shots_that_fit(shots, row["dialogue"], tokenizer, 128)
        assert budget.fits and budget.n_shots == expected and budget.dropped == 6 - expected
        assert budget.prompt == few_shot_prompt(shots[:expected], row["dialogue"])
        assert budget.n_tokens == count_tokens(tokenizer, budget.prompt) <= 128
        assert budget.requested_tokens > 128
        assert "dropped to fit" in budget.report()


def test_a_fitting_prompt_keeps_all_shots(tokenizer):
    shots = [Shot("#Person1#: Hi.", "They greet.")]
    budget = fit_shots(shots, "#Person2#: Bye.", tokenizer)
    assert budget.fits and budget.dropped == 0 and budget.shots_that_fit == 1
    assert budget.report().endswith("fits.")
    assert budget.check() is budget


def test_a_dialogue_too_long_even_alone_is_an_error(tokenizer):
    dialogue = "\n".join(make_split(1)[0]["dialogue"] for _ in range(20))
    budget = measure_few_shot([], dialogue, tokenizer)
    assert budget.shots_that_fit == -1 and "even without shots" in budget.report()
    with pytest.raises(ContextWindowError, match="even without shots"):
        fit_shots([Shot("a", "b")], dialogue, tokenizer)


def test_an_explicit_window_overrides_the_tokenizers(tokenizer):
    shots = [Shot("#Person1#: Hi.", "They greet.")] * 3
    wide = measure_few_shot(shots, "#Person2#: Bye.", tokenizer, context_window=10_000)
    narrow = measure_few_shot(shots, "#Person2#: Bye.", tokenizer, context_window=wide.n_tokens - 1)
    assert wide.fits and not narrow.fits and narrow.shots_that_fit == 2


def test_build_prompts_overflow_policies(tokenizer):
    split = make_split(30, seed=5)
    shots = prompting.shots_from(split, range(5))
    dialogues = [r["dialogue"] for r in split[10:16]]
    reported = prompting.build_prompts(dialogues, tokenizer, style="flan", shots=shots)
    assert [b.n_shots for b in reported] == [5] * 6 and not all(b.fits for b in reported)
    dropped = prompting.build_prompts(dialogues, tokenizer, style="flan", shots=shots, on_overflow="drop")
    assert all(b.fits for b in dropped) and any(b.dropped for b in dropped)
    with pytest.raises(ContextWindowError, match="prompts do not fit"):
        prompting.build_prompts(dialogues, tokenizer, style="flan", shots=shots, on_overflow="raise")
    with pytest.raises(ValueError, match="on_overflow"):
        prompting.build_prompts(dialogues, tokenizer, style="flan", on_overflow="truncate")


# --- presets ---------------------------------------------------------------------------------------------


def test_generation_presets():
    presets = prompting.generation_presets(max_new_tokens=30)
    assert set(presets) >= {
        "greedy",
        "short",
        "temperature_0.1",
        "temperature_0.5",
        "temperature_1.0",
        "top_k_10",
        "top_p_0.9",
    }
    assert all(isinstance(c, GenerationConfig) for c in presets.values())
    assert not presets["greedy"].do_sample and presets["greedy"].max_new_tokens == 30
    assert presets["short"].max_new_tokens == 10
    assert prompting.generation_presets(max_new_tokens=6)["short"].max_new_tokens == 6
    assert presets["temperature_0.5"].do_sample and presets["temperature_0.5"].temperature == 0.5
    assert presets["temperature_0.5"].top_k == 0 and presets["temperature_0.5"].top_p == 1.0
    assert presets["top_k_10"].top_k == 10 and presets["top_p_0.9"].top_p == 0.9
    assert prompting.generation_preset("short").max_new_tokens == 10
    with pytest.raises(ValueError, match="Unknown generation preset"):
        prompting.generation_preset("beam")


# --- strategy runs ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(tokenizer) -> T5ForConditionalGeneration:
    """A random tiny T5; its pad row is zeroed so it writes words rather than padding."""
    model = tiny_t5(tokenizer)
    head = model.lm_head.weight.detach().clone()
    head[0] = 0.0
    model.lm_head.weight = torch.nn.Parameter(head)
    return model


def test_run_strategies_scores_each_and_reuses_identical_ones(model, tokenizer):
    split = make_split(40, seed=6)
    shots = pick_shots(split[:20], 5, seed=0)
    test = split[20:28]
    dialogues, references = [r["dialogue"] for r in test], [r["summary"] for r in test]
    strategies = list(prompting.LAB1_STRATEGIES) + prompting.shot_strategies((0, 1, 2, 3, 5))
    config = GenerationConfig(max_new_tokens=8, do_sample=False)
    runs = prompting.run_strategies(
        model, tokenizer, dialogues, references, strategies, shots=shots, config=config, progress=False
    )
    assert set(runs) == {s.name for s in strategies}
    assert runs["flan"].predictions == runs["0_shot"].predictions  # same template, no shots
    assert runs["few_shot"].budgets == runs["3_shot"].budgets
    assert runs["few_shot"].strategy.name == "few_shot"
    assert runs["instruction"].budgets[0].prompt == build_prompt("instruction", dialogues[0])
    for run in runs.values():
        assert len(run.predictions) == len(dialogues) and all(b.fits for b in run.budgets)
        assert set(run.rouge) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}
    # Five shots overflow the 128-token window: reported, and shots were dropped rather than truncated.
    assert runs["5_shot"].prompt_tokens_max > 128 and not runs["5_shot"].fits and runs["5_shot"].n_dropped > 0
    assert runs["0_shot"].fits and runs["0_shot"].prompt_tokens_max <= 128

    curve = prompting.shots_curve(runs, (0, 1, 2, 3, 5))
    assert [p["shots"] for p in curve] == [0, 1, 2, 3, 5]
    assert set(curve[0]) == {"shots", "rouge1", "rougeL", "prompt_tokens_max", "fits"}
    assert curve[-1]["fits"] is False and curve[0]["fits"] is True
    assert [p["prompt_tokens_max"] for p in curve] == sorted(p["prompt_tokens_max"] for p in curve)
    table = prompting.rouge_table(runs, ["no_prompt", "flan"])
    assert list(table) == ["no_prompt", "flan"] and table["flan"] == runs["flan"].rouge


def test_run_strategies_argument_errors(model, tokenizer):
    with pytest.raises(ValueError, match="need up to 3 shots but only 1"):
        prompting.run_strategies(model, tokenizer, ["a"], ["b"], prompting.LAB1_STRATEGIES, shots=[Shot("x", "y")])
    with pytest.raises(ValueError, match="1 dialogues but 2 reference"):
        prompting.run_strategies(model, tokenizer, ["a"], ["b", "c"])
    with pytest.raises(ValueError, match=r"No run with \[2\] shots"):
        prompting.shots_curve({}, (2,))


def test_compare_presets_is_seeded_and_temperature_matters(model, tokenizer):
    presets = prompting.generation_presets(max_new_tokens=8)
    prompt = "#Person1#: Can you help Anna?"
    outputs = prompting.compare_presets(model, tokenizer, prompt, presets, samples=4, seed=0)
    assert set(outputs) == set(presets) and all(len(texts) == 4 for texts in outputs.values())
    assert outputs == prompting.compare_presets(model, tokenizer, prompt, presets, samples=4, seed=0)
    assert outputs["greedy"][0] == generate(model, tokenizer, [prompt], presets["greedy"], progress=False)[0]
    # Greedy repeats itself; a cold temperature stays on the greedy path; temperature 1 wanders.
    assert len(set(outputs["greedy"])) == 1
    assert outputs["temperature_0.1"] == outputs["greedy"]
    assert len(set(outputs["temperature_1.0"])) > 1
    with pytest.raises(ValueError, match="samples"):
        prompting.compare_presets(model, tokenizer, prompt, presets, samples=0)


# --- plots -------------------------------------------------------------------------------------------------


def test_plots_draw_what_they_are_given():
    from genai_course.plots.prompting import plot_rouge_by_strategy, plot_shots_curve

    table = {
        "no_prompt": dict(rouge1=0.1, rouge2=0.02, rougeL=0.09, rougeLsum=0.09),
        "flan": dict(rouge1=0.4, rouge2=0.2, rougeL=0.35, rougeLsum=0.35),
    }
    fig = plot_rouge_by_strategy(table)
    heights = sorted(round(bar.get_height(), 3) for bar in fig.axes[0].patches)
    assert heights == sorted(round(v, 3) for row in table.values() for v in row.values())
    curve = [
        dict(shots=k, rouge1=0.3 + k / 100, rougeL=0.25, prompt_tokens_max=200 * (k + 1), fits=k < 2) for k in (0, 1, 2)
    ]
    fig = plot_shots_curve(curve, context_window=512)
    right = fig.axes[1]
    assert [bar.get_height() for bar in right.patches] == [200, 400, 600]
    assert right.lines[0].get_ydata()[0] == 512
    with pytest.raises(ValueError, match="empty"):
        plot_rouge_by_strategy({})
    with pytest.raises(ValueError, match="lacks"):
        plot_rouge_by_strategy({"flan": {"rouge1": 0.3}})


# --- Rows as shots, and Lab 1's notebook against the library -------------------------------------------


def test_few_shot_prompts_take_dataset_rows_as_they_take_shots(tokenizer):
    rows = make_split(6, seed=3)
    shots = [Shot(r["dialogue"], r["summary"], r["id"]) for r in rows]
    target = rows[5]["dialogue"]
    assert prompting.as_shot(rows[0]) == shots[0] and prompting.as_shot(shots[0]) is shots[0]
    assert prompting.format_shot(rows[1]) == prompting.format_shot(shots[1])
    assert few_shot_prompt(rows[:3], target) == few_shot_prompt(shots[:3], target)
    assert few_shot_prompt(rows[0], target) == few_shot_prompt([shots[0]], target)
    assert measure_few_shot(rows, target, tokenizer) == measure_few_shot(shots, target, tokenizer)
    assert fit_shots(rows, target, tokenizer) == fit_shots(shots, target, tokenizer)
    with pytest.raises(TypeError, match="dialogue"):
        prompting.as_shot("#Person1#: Hi.")


LAB1_NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "lab1_prompting.ipynb"


def _definitions(cell_id: str, names: set[str], namespace: dict) -> dict:
    """Run the top-level statements of the notebook cell ``cell_id`` that bind one of ``names``."""
    cells = {cell.get("id"): cell for cell in nbformat.read(LAB1_NOTEBOOK, as_version=4).cells}
    for statement in ast.parse(cells[cell_id].source).body:
        if isinstance(statement, ast.FunctionDef):
            bound = {statement.name}
        elif isinstance(statement, ast.Assign | ast.AugAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            bound = {node.id for target in targets for node in ast.walk(target) if isinstance(node, ast.Name)}
        else:
            continue
        if bound & names:
            exec(compile(ast.Module([statement], []), cell_id, "exec"), namespace)  # noqa: S102
    missing = names - set(namespace)
    assert not missing, f"cell {cell_id} no longer defines {missing}"
    return namespace


def test_lab1_notebook_writes_the_librarys_prompts_and_settings():
    """The f-strings and GenerationConfigs the learner reads in Lab 1 are exactly what the library runs
    at scale (run_strategies, compare_presets), so the table's scores are those of the prompts shown."""
    rows = make_split(8, seed=5)
    rows[2] = dict(rows[2], dialogue="  " + rows[2]["dialogue"] + " \n", summary=" " + rows[2]["summary"] + "\n")
    profile = SimpleNamespace(max_new_tokens=37)
    for row in rows:
        dialogue = row["dialogue"]
        zero = _definitions(
            "62e247f8",
            {"prompts", "GREEDY"},
            {"dialogue": dialogue.strip(), "profile": profile, "GenerationConfig": GenerationConfig},
        )
        for style in ("none", "instruction", "flan"):
            assert zero["prompts"][style] == build_prompt(style, dialogue), style
        one = _definitions("768c3267", {"flan_prompt", "one_shot"}, {"example": rows[2], "dialogue": dialogue})
        assert one["one_shot"] == few_shot_prompt([rows[2]], dialogue)
    presets = prompting.generation_presets(max_new_tokens=profile.max_new_tokens)
    assert zero["GREEDY"].to_dict() == presets["greedy"].to_dict()
    decoding = _definitions(
        "4bd9dc8f",
        {"most", "sampling", "settings"},
        {"GREEDY": zero["GREEDY"], "profile": profile, "GenerationConfig": GenerationConfig},
    )
    for name, config in presets.items():
        assert decoding["settings"][name].to_dict() == config.to_dict(), name
    # Exercise 1's solution builds the library's few-shot prompt.
    solution = _definitions("84f6fc0f", {"few_shot_prompt"}, {})["few_shot_prompt"]
    for shots in ([], rows[:1], rows[1:4], rows[::-1]):
        assert solution(shots, rows[0]["dialogue"]) == few_shot_prompt(shots, rows[0]["dialogue"])


def test_generating_one_prompt_as_lab1_does_gives_the_librarys_text(model, tokenizer):
    """Lab 1's cells call tokenizer -> model.generate -> tokenizer.decode on one prompt, and batch n copies
    with a seed for sampling; the library's batched generate and compare_presets must give the same text."""
    presets = prompting.generation_presets(max_new_tokens=12)
    prompts = [build_prompt(style, r["dialogue"]) for style in ("none", "flan") for r in make_split(4, seed=2)]
    expected = generate(model, tokenizer, prompts, presets["greedy"], batch_size=4, progress=False)
    for prompt, text in zip(prompts, expected):
        inputs = tokenizer(prompt, return_tensors="pt")
        output = model.generate(**inputs, generation_config=presets["greedy"])
        assert tokenizer.decode(output[0], skip_special_tokens=True) == text
    for name in ("temperature_1.0", "top_k_10"):
        drawn = prompting.compare_presets(model, tokenizer, prompts[1], {name: presets[name]}, samples=3, seed=4)
        inputs = tokenizer([prompts[1]] * 3, return_tensors="pt", padding=True)
        torch.manual_seed(4)
        output = model.generate(**inputs, generation_config=presets[name])
        assert [t.strip() for t in tokenizer.batch_decode(output, skip_special_tokens=True)] == drawn[name]

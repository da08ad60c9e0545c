"""ROUGE (hand-computed cases, agreement with rouge_score and with evaluate's aggregation) and bootstrap."""

import numpy as np
import pytest
from rouge_score import rouge_scorer, scoring

from genai_course import metrics
from genai_course.metrics import MetricInputError, bootstrap_change, proportion_interval, rouge

PREDICTIONS = [
    "Person1 asks Person2 to meet at the station tomorrow morning.",
    "They talk about the weather.",
    "The customer complains that the soup is cold and asks for a refund",
    "#Person1# and #Person2# are planning a trip to the mountains",
    "nothing matches here",
]
REFERENCES = [
    "#Person1# and #Person2# agree to meet at the station in the morning.",
    "#Person1# and #Person2# discuss the weather for the weekend.",
    "A customer complained about cold soup and wanted his money back.",
    "#Person2# plans a mountain trip with #Person1#.",
    "A completely different summary.",
]


def test_hand_computed_unigram_bigram_and_lcs():
    scores = rouge(["the cat sat on the mat"], ["the cat is on the mat"], aggregate="mean")
    # 5 of 6 unigrams shared (clipped counts: the x2, cat, on, mat); 3 of 5 bigrams; LCS "the cat on the mat".
    assert scores["rouge1"] == pytest.approx(5 / 6)
    assert scores["rouge2"] == pytest.approx(3 / 5)
    assert scores["rougeL"] == pytest.approx(5 / 6)


def test_precision_and_recall_combine_into_f_measure():
    # prediction 2 tokens, reference 4 tokens, 2 shared: P = 1, R = 0.5, F = 2PR/(P+R) = 2/3.
    assert rouge(["good morning"], ["good morning to you"])["rouge1"] == pytest.approx(2 / 3)


def test_stemming_on_by_default_and_can_be_switched_off():
    assert rouge(["cats running"], ["cat runs"])["rouge1"] == pytest.approx(1.0)
    assert rouge(["cats running"], ["cat runs"], use_stemmer=False)["rouge1"] == pytest.approx(0.0)


def test_rouge_lsum_treats_newlines_as_sentence_breaks():
    scores = rouge(["a b\nc d"], ["c d\na b"], aggregate="mean")
    # Flattened, the longest common subsequence is 2 of 4 tokens; sentence by sentence every token matches.
    assert scores["rougeL"] == pytest.approx(0.5)
    assert scores["rougeLsum"] == pytest.approx(1.0)


def test_per_example_scores_agree_with_rouge_score():
    scorer = rouge_scorer.RougeScorer(list(metrics.ROUGE_TYPES), use_stemmer=True)
    ours = metrics.rouge_fmeasures(PREDICTIONS, REFERENCES)
    for i, (prediction, reference) in enumerate(zip(PREDICTIONS, REFERENCES)):
        direct = scorer.score(reference, prediction)
        for key in metrics.ROUGE_TYPES:
            assert ours[key][i] == pytest.approx(direct[key].fmeasure, abs=1e-12)


def test_aggregate_matches_evaluates_bootstrap_aggregator_exactly():
    # evaluate's rouge: BootstrapAggregator over rouge_score scores, mid F-measure, numpy's global RNG.
    scorer = rouge_scorer.RougeScorer(list(metrics.ROUGE_TYPES), use_stemmer=True)
    aggregator = scoring.BootstrapAggregator()
    for prediction, reference in zip(PREDICTIONS, REFERENCES):
        aggregator.add_scores(scorer.score(reference, prediction))
    np.random.seed(7)
    expected = {key: value.mid.fmeasure for key, value in aggregator.aggregate().items()}
    assert rouge(PREDICTIONS, REFERENCES, seed=7) == pytest.approx(expected, abs=1e-12)


def test_bootstrap_aggregate_is_close_to_the_mean_and_repeatable():
    boot = rouge(PREDICTIONS, REFERENCES)
    mean = rouge(PREDICTIONS, REFERENCES, aggregate="mean")
    assert boot == rouge(PREDICTIONS, REFERENCES)
    for key in metrics.ROUGE_TYPES:
        assert abs(boot[key] - mean[key]) < 0.05
        assert 0.0 <= boot[key] <= 1.0


def test_rouge_leaves_numpys_global_generator_alone():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    rouge(PREDICTIONS, REFERENCES)
    assert np.random.rand() == expected


def test_multiple_references_take_the_best_match():
    single = rouge(["the cat sat"], ["a dog barked"], aggregate="mean")["rouge1"]
    multi = rouge(["the cat sat"], [["a dog barked", "the cat sat"]], aggregate="mean")["rouge1"]
    assert single == 0.0 and multi == pytest.approx(1.0)


@pytest.mark.parametrize(
    "predictions, references, message",
    [
        ([], [], "empty"),
        (["a", "b"], ["a"], "2 predictions and 1 references"),
        ("a summary", ["a summary"], "not a single string"),
        ([[1, 2, 3]], ["a"], "Decode token ids"),
        (["a"], [None], "references must be strings"),
    ],
)
def test_bad_input_is_a_clear_error(predictions, references, message):
    with pytest.raises(MetricInputError, match=message):
        rouge(predictions, references)


def test_unknown_rouge_type_and_aggregate_are_errors():
    with pytest.raises(MetricInputError, match="Unknown ROUGE type"):
        rouge(["a"], ["a"], rouge_types=["rougeX"])
    with pytest.raises(MetricInputError, match="Unknown aggregate"):
        rouge(["a"], ["a"], aggregate="median")


def test_evaluate_loads_the_local_module_offline():
    import evaluate

    module = evaluate.load(str(metrics.rouge_module_path()))
    aggregated = module.compute(predictions=PREDICTIONS, references=REFERENCES)
    assert aggregated == pytest.approx(rouge(PREDICTIONS, REFERENCES), abs=1e-12)
    listed = module.compute(predictions=PREDICTIONS, references=REFERENCES, use_aggregator=False)
    assert listed["rouge2"] == pytest.approx(metrics.rouge_fmeasures(PREDICTIONS, REFERENCES)["rouge2"])


def test_bootstrap_interval_covers_a_known_shift():
    rng = np.random.default_rng(0)
    before = rng.uniform(0.3, 0.7, size=200)
    after = before - 0.1 + rng.normal(0, 0.02, size=200)
    result = bootstrap_change(before, after)
    assert result["change"] == pytest.approx(after.mean() - before.mean())
    assert result["ci_low"] < -0.1 < result["ci_high"]
    assert result["ci_high"] < 0  # the shift is real: the interval excludes zero
    assert result["relative_change"] == pytest.approx(result["change"] / before.mean())


def test_paired_bootstrap_is_narrower_than_unpaired_for_paired_data():
    rng = np.random.default_rng(1)
    before = rng.uniform(0, 1, size=150)
    after = before + 0.05 + rng.normal(0, 0.01, size=150)
    paired = bootstrap_change(before, after, paired=True)
    unpaired = bootstrap_change(before, after, paired=False)
    assert paired["ci_high"] - paired["ci_low"] < 0.5 * (unpaired["ci_high"] - unpaired["ci_low"])
    assert unpaired["ci_low"] < 0.05 < unpaired["ci_high"]


def test_bootstrap_no_change_interval_contains_zero():
    rng = np.random.default_rng(2)
    before = rng.normal(0.5, 0.1, size=100)
    after = before + rng.normal(0, 0.05, size=100)
    result = bootstrap_change(before, after)
    assert result["ci_low"] < 0 < result["ci_high"]


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(5)
    before, after = rng.uniform(size=40), rng.uniform(size=40)
    assert bootstrap_change(before, after, seed=3) == bootstrap_change(before, after, seed=3)
    assert bootstrap_change(before, after, seed=3)["ci_low"] != bootstrap_change(before, after, seed=4)["ci_low"]


def test_bootstrap_errors_and_zero_baseline():
    with pytest.raises(MetricInputError, match="paired=False"):
        bootstrap_change([1, 2, 3], [1, 2])
    with pytest.raises(MetricInputError, match="non-empty"):
        bootstrap_change([], [])
    with pytest.raises(MetricInputError, match="NaN"):
        bootstrap_change([1.0, float("nan")], [1.0, 2.0])
    assert bootstrap_change([0.0, 0.0], [0.1, 0.3])["relative_change"] is None
    assert bootstrap_change([1.0, 2.0], [3.0, 3.0, 3.0], paired=False)["change"] == pytest.approx(1.5)
    # One example per side: every resample is the same, so no interval can be given (it used to be 0-wide).
    with pytest.raises(MetricInputError, match="at least 2 examples per side"):
        bootstrap_change([1.0, 2.0], [3.0], paired=False)


def test_mean_std_and_table_format():
    assert metrics.mean_std([1.0, 3.0]) == {"mean": 2.0, "std": 1.0}
    table = {"flan": {"rouge1": 0.5, "rougeL": 0.25}, "no_prompt": {"rouge1": 0.1, "rougeL": 0.05}}
    text = metrics.format_rouge_table(table)
    lines = text.splitlines()
    assert "rouge1" in lines[0] and lines[1].startswith("flan") and "0.2500" in lines[1]
    assert lines[2].startswith("no_prompt") and "0.1000" in lines[2]


def test_proportion_interval_is_wilsons():
    share, low, high = proportion_interval([True] * 3 + [False] * 197)
    assert share == 0.015 and low == pytest.approx(0.00511, abs=1e-5) and high == pytest.approx(0.04317, abs=1e-5)
    assert proportion_interval([True] * 10) == (1.0, pytest.approx(0.7225, abs=1e-4), 1.0)  # stays in [0, 1]
    share, low, high = proportion_interval([True, False] * 100, confidence=0.9)
    wider = proportion_interval([True, False] * 100)
    assert low < 0.5 < high and high - low < wider[2] - wider[1]


@pytest.mark.parametrize(
    "outcomes, confidence, message",
    [([], 0.95, "no outcomes"), ([1, 0], 0.95, "booleans"), ([True], 1.0, "between 0 and 1")],
)
def test_proportion_interval_refuses_bad_input(outcomes, confidence, message):
    with pytest.raises(MetricInputError, match=message):
        proportion_interval(outcomes, confidence=confidence)

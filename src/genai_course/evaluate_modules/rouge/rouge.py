"""ROUGE as an ``evaluate`` module that works offline: ``evaluate.load(str(metrics.rouge_module_path()))``.

``evaluate.load("rouge")`` downloads its script from the Hugging Face Hub; this local module takes the
same arguments and gives the same numbers (it delegates to :func:`genai_course.metrics.rouge`, which
uses the same rouge_score engine and aggregation, seeded). Unlike the Hub module, stemming is on by
default, as in the course.
"""

import datasets
import evaluate

from genai_course import metrics

_DESCRIPTION = """ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum F-measures (rouge_score engine), computed offline.
rougeLsum treats newlines as sentence breaks."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of generated summaries (strings).
    references: list of reference summaries, one string (or a list of strings) per prediction.
    rouge_types: which scores, default ["rouge1", "rouge2", "rougeL", "rougeLsum"].
    use_aggregator: True (default): one aggregated F-measure per type; False: a list per type.
    use_stemmer: Porter stemming of words before matching (default True).
    tokenizer: optional callable text -> list of tokens.
    seed: seed of the bootstrap aggregation (default 0), so results repeat exactly.
Returns:
    {"rouge1": float, "rouge2": float, "rougeL": float, "rougeLsum": float} (or lists of floats).
Example:
    >>> rouge = evaluate.load(str(genai_course.metrics.rouge_module_path()))
    >>> rouge.compute(predictions=["hello there"], references=["hello there"])
    {'rouge1': 1.0, 'rouge2': 1.0, 'rougeL': 1.0, 'rougeLsum': 1.0}
"""


class Rouge(evaluate.Metric):
    """ROUGE F-measures computed by genai_course.metrics (rouge_score engine)."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Lin, Chin-Yew. ROUGE: A Package for Automatic Evaluation of Summaries. 2004.",
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string", id="sequence"),
                        "references": datasets.Sequence(datasets.Value("string", id="sequence")),
                    }
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Value("string", id="sequence"),
                        "references": datasets.Value("string", id="sequence"),
                    }
                ),
            ],
            codebase_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
        )

    def _compute(
        self,
        predictions,
        references,
        rouge_types=None,
        use_aggregator=True,
        use_stemmer=True,
        tokenizer=None,
        seed=0,
    ):
        rouge_types = rouge_types or list(metrics.ROUGE_TYPES)
        if use_aggregator:
            return metrics.rouge(
                predictions,
                references,
                rouge_types=rouge_types,
                use_stemmer=use_stemmer,
                tokenizer=tokenizer,
                seed=seed,
            )
        return metrics.rouge_fmeasures(
            predictions, references, rouge_types=rouge_types, use_stemmer=use_stemmer, tokenizer=tokenizer
        )

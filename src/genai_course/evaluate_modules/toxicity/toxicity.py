"""Toxicity as an ``evaluate`` measurement that works offline: ``evaluate.load(str(toxicity_module_path()))``.

``evaluate.load("toxicity")`` downloads its script and a classifier from the Hugging Face Hub at run
time. This local module takes the same arguments (the classifier as ``config_name``, ``toxic_label``,
``aggregation``, ``threshold``) and delegates to :class:`genai_course.rlhf.reward.RewardModel`, which
reads the toxic label by name. The classifier is a Hub id or a local folder; without one, the
current profile's ``reward_model`` is used.
"""

import datasets
import evaluate

from genai_course.profiles import get_profile
from genai_course.rlhf.reward import RewardModel

_DESCRIPTION = """The probability of the toxic label (default "hate") of a hate-speech classifier, per text.
Offline twin of the Hub's `toxicity` measurement, with the classifier chosen by path."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of texts to score.
    toxic_label: the classifier's label that means toxic (default "hate"), looked up by name.
    aggregation: None (default): one score per text; "maximum": the highest; "ratio": the share of
        texts whose score is >= threshold.
    threshold: for aggregation="ratio" (default 0.5).
    classifier: a Hub id or local folder, overriding the one given as config_name.
    batch_size: texts per forward pass (default 32).
Returns:
    {"toxicity": [float, ...]}, {"max_toxicity": float} or {"toxicity_ratio": float}.
Example:
    >>> toxicity = evaluate.load(str(toxicity_module_path()), "path/to/roberta-hate-tiny")
    >>> toxicity.compute(predictions=["Thanks for your help."])
    {'toxicity': [0.0012]}
"""

AGGREGATIONS = (None, "maximum", "ratio")


class Toxicity(evaluate.Measurement):
    """Toxicity scores from a hate-speech classifier, computed by genai_course.rlhf.reward."""

    def _info(self):
        return evaluate.MeasurementInfo(
            module_type="measurement",
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string", id="sequence")}),
        )

    def _classifier(self, classifier, toxic_label, batch_size):
        source = classifier or (self.config_name if self.config_name != "default" else None)
        if source is None:
            source = get_profile(verbose=False).reward_model
        key = (source, toxic_label, batch_size)
        if getattr(self, "_loaded_key", None) != key:
            # reward_label is the toxic one too: only toxicity is read here, the other label may differ.
            self._loaded = RewardModel.from_pretrained(
                source, reward_label=toxic_label, toxic_label=toxic_label, batch_size=batch_size
            )
            self._loaded_key = key
        return self._loaded

    def _compute(
        self, predictions, toxic_label="hate", aggregation=None, threshold=0.5, classifier=None, batch_size=32
    ):
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"Unknown aggregation {aggregation!r}; use None, 'maximum' or 'ratio'.")
        scores = self._classifier(classifier, toxic_label, batch_size).toxicity(list(predictions)).tolist()
        if aggregation == "maximum":
            return {"max_toxicity": max(scores)}
        if aggregation == "ratio":
            return {"toxicity_ratio": sum(score >= threshold for score in scores) / len(scores)}
        return {"toxicity": scores}

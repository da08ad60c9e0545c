"""RLHF for Lab 3: a hate-speech reward model, a value head and PPO for encoder-decoder policies.

trl no longer ships PPO or value heads, and its RL trainers are causal-LM only, so the seq2seq PPO
the course teaches lives here: :mod:`~genai_course.rlhf.core` (tensor arithmetic),
:mod:`~genai_course.rlhf.value_head`, :mod:`~genai_course.rlhf.ppo_config` (settings, fresh adapter),
:mod:`~genai_course.rlhf.ppo` (the trainer), :mod:`~genai_course.rlhf.phases` (a step's time by phase),
:mod:`~genai_course.rlhf.reward` (labels read by name) and :mod:`~genai_course.rlhf.evaluation`
(toxicity before/after with a bootstrap interval).
"""

from genai_course.rlhf.evaluation import (
    compare_toxicity,
    select_dialogues,
    summarize_and_score,
    toxicity_module_path,
)
from genai_course.rlhf.ppo import PPOConfig, PPOTrainingError, Seq2SeqPPOTrainer, add_fresh_adapter
from genai_course.rlhf.reward import RewardLabelError, RewardModel, label_index
from genai_course.rlhf.value_head import ValueHead

__all__ = [
    "PPOConfig",
    "PPOTrainingError",
    "RewardLabelError",
    "RewardModel",
    "Seq2SeqPPOTrainer",
    "ValueHead",
    "add_fresh_adapter",
    "compare_toxicity",
    "label_index",
    "select_dialogues",
    "summarize_and_score",
    "toxicity_module_path",
]

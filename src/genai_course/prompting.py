"""Prompt templates for dialogue summarization (Lab 1), shared by fine-tuning (Lab 2) and PPO (Lab 3).

The tiny world's pre-training uses these exact strings, so a template changed here changes what the
tiny model "knows": rebuild the tiny world (bump TINY_WORLD_VERSION) after editing them.
"""

from __future__ import annotations

TEMPLATES: dict[str, str] = {
    # The dialogue alone: the model has to guess what we want.
    "none": "{dialogue}",
    # The course's instruction prompt (also Lab 2's training prompt).
    "instruction": "Summarize the following conversation.\n\n{dialogue}\n\nSummary: ",
    # One of FLAN's own templates for dialogue summarization.
    "flan": "Dialogue:\n\n{dialogue}\n\nWhat was going on?",
    # A second task the base model can do; Lab 2 measures how much fine-tuning makes it forget.
    "topic": "{dialogue}\n\nWhat is the topic of this conversation?",
}


def build_prompt(style: str, dialogue: str) -> str:
    """Wrap ``dialogue`` in the template named ``style``."""
    if style not in TEMPLATES:
        raise ValueError(f"Unknown prompt style {style!r}; choose one of {', '.join(TEMPLATES)}.")
    if not dialogue or not dialogue.strip():
        raise ValueError("Cannot build a prompt for an empty dialogue.")
    return TEMPLATES[style].format(dialogue=dialogue.strip())


def instruction_prompt(dialogue: str) -> str:
    """The course's instruction prompt, used for training in Lab 2 and as Lab 3's query."""
    return build_prompt("instruction", dialogue)

"""Lab 5's models: the reader that answers questions about the town, and the reasoner of its section 6.

On the tiny profile both are the tiny world's T5 after a short training (:mod:`genai_course.tiny.town_reader`,
then :mod:`genai_course.tiny.town_reasoning` from the reader), trained on first use and cached beside the world;
on the real profiles both are the profile's FLAN-T5, which never learned the town. The notebook gets ordinary
``transformers`` objects either way and calls ``generate`` on them itself: this module only hides which world,
which cache folder and which training recipe, none of which is the lesson.
"""

from __future__ import annotations

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from genai_course.models import load_summarizer
from genai_course.profiles import Profile
from genai_course.tiny.paths import world_seed
from genai_course.tiny.town_reader import ensure_reader
from genai_course.tiny.town_reasoning import ensure_reasoner
from genai_course.tiny.world import ensure_tiny_world

Loaded = tuple[PreTrainedModel, PreTrainedTokenizerBase, dict | None]


def load_reader(profile: Profile) -> Loaded:
    """The reader, its tokenizer, and (tiny) the training record: its recipe, losses and seconds.

    Tiny: the world (built once, offline) and the reader trained on it (once, then read from the cache).
    Other profiles: the profile's summarizer (FLAN-T5) in eval mode, and ``None`` for the record.
    """
    if profile.is_tiny:
        return ensure_reader(ensure_tiny_world(), world_seed())
    model, tokenizer = load_summarizer(profile)
    return model, tokenizer, None


def load_reasoner(profile: Profile, reader: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> Loaded:
    """Section 6's model: on tiny the reader after its multi-step training (trained on first use from the
    cached reader, so :func:`load_reader` must have run), else ``reader`` and ``tokenizer`` themselves."""
    if profile.is_tiny:
        return ensure_reasoner(ensure_tiny_world(), world_seed())
    return reader, tokenizer, None


def town_seed(profile: Profile) -> int:
    """Which town the lab asks about: on tiny, the one this tiny world's reader was taught (its build
    seed); on the real profiles, where FLAN-T5 knows no town at all, the first one."""
    return world_seed() if profile.is_tiny else 0

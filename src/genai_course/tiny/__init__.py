"""The offline tiny world: a synthetic DialogSum-style corpus, a trained tokenizer, a pre-trained tiny
T5, its fine-tuned sibling and a tiny hate-speech classifier, all built by our own seeded code.

``ensure_tiny_world()`` builds it once under ``$GENAI_COURSE_HOME`` and returns where everything is.
"""

from genai_course.tiny.world import TINY_WORLD_VERSION, TinyWorld, ensure_tiny_world

__all__ = ["TINY_WORLD_VERSION", "TinyWorld", "ensure_tiny_world"]

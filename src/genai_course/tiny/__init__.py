"""The offline tiny world: a synthetic DialogSum-style corpus, a trained tokenizer, a pre-trained tiny
T5, its fine-tuned sibling and a tiny hate-speech classifier, all built by our own seeded code.

``genai_course.tiny.world.ensure_tiny_world()`` builds it once under ``$GENAI_COURSE_HOME`` and returns
where everything is. This package's top level names only the light parts (paths, version), so importing
it does not import the trainers.
"""

from genai_course.tiny.paths import TINY_WORLD_VERSION, TinyWorld, tiny_world_dir

__all__ = ["TINY_WORLD_VERSION", "TinyWorld", "tiny_world_dir"]

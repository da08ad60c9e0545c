"""genai_course: the shared library behind the three labs of the course.

Lab 1 (prompting), Lab 2 (full fine-tuning and LoRA) and Lab 3 (RLHF detoxification) all use the
modules here; the notebooks stay thin. ``get_profile`` picks real models (``full``) or the offline
tiny world (``tiny``).
"""

from genai_course.profiles import Profile, get_profile

__all__ = ["Profile", "get_profile", "__version__"]
__version__ = "0.1.0"

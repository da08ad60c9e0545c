"""genai_course: the shared library behind the labs of the course.

Lab 1 (prompting), Lab 2 (full fine-tuning and LoRA), Lab 3 (RLHF detoxification) and Lab 4
(architectures, memory, scaling laws, continued pre-training) all use the modules here; the notebooks
stay thin. ``get_profile`` picks real models (``full``) or the offline tiny world (``tiny``).
"""

import logging

# torchao (Lab 4's int8 quantization) is imported by transformers whenever a model loads; on a CPU-only
# torch its CUDA kernels fail to load and torch warns about its enums, four harmless lines before every
# model. Quieted here, before anything imports transformers; real errors still show.
for _noisy in ("torchao", "torch.utils._pytree"):
    logging.getLogger(_noisy).setLevel(logging.ERROR)

from genai_course.profiles import Profile, get_profile  # noqa: E402 - after the logging set-up above

__all__ = ["Profile", "get_profile", "__version__"]
__version__ = "0.1.0"

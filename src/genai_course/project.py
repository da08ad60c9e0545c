"""Facts about the project itself, defined once: where it lives and how its optional parts are installed.

A fork that publishes its own copy changes :data:`REPO_URL` here (and ``[project.urls]`` in pyproject.toml,
which cannot import it); every message of the package that names the repository reads it from here.
"""

from __future__ import annotations

REPO_URL = "https://github.com/genai-course/genai-course"

# `genai-course run` executes notebooks (nbclient, a Jupyter kernel): an extra, so that installing the
# library in Colab or an existing Jupyter does not upgrade the kernel packages the notebook runs in.
RUNNER_EXTRA = "runner"
RUNNER_MODULES = ("nbclient", "ipykernel", "jupyter_client", "traitlets")
RUNNER_INSTALL_HINT = f"pip install 'genai-course[{RUNNER_EXTRA}]'"

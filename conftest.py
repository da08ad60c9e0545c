"""Shared test set-up: tests and notebook runs use the offline tiny world, never the Hub."""

import os

import pytest

# Set before any kernel starts so nbval's notebook kernels inherit it.
os.environ.setdefault("GENAI_COURSE_PROFILE", "tiny")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_world():
    """The tiny world (built once into $GENAI_COURSE_HOME if missing)."""
    from genai_course.tiny import ensure_tiny_world

    return ensure_tiny_world()

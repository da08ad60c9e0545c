"""Shared test set-up: tests and notebook runs use the offline tiny world, never the Hub."""

import os

import pytest

# pip's internals (tests/test_install.py parses environment.yml with them) import the standard library's
# distutils; setuptools, imported later by nbgrader, then refuses to load. Importing it first avoids that.
import setuptools  # noqa: F401, E402

# Set before any kernel starts so nbval's notebook kernels inherit it.
os.environ.setdefault("GENAI_COURSE_PROFILE", "tiny")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_world():
    """The tiny world (built once into $GENAI_COURSE_HOME if missing)."""
    from genai_course.tiny.world import ensure_tiny_world  # noqa: PLC0415 - not at collection time

    return ensure_tiny_world()


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a test module: tiny models gain nothing from a second one (synchronisation
    dominates), and CI's cores are shared. Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    """Mark every notebook cell nbval collects ``notebook``: ``pytest -m "not notebook"`` is the fast lane."""
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.notebook)

"""The course's cache folder and the two tools that keep it safe: a lock and atomic directories.

A build writes into a temporary sibling folder and renames it into place only when complete, so an
interrupted build never leaves a half-written folder that a later run would trust.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

HOME_ENV = "GENAI_COURSE_HOME"


def course_home() -> Path:
    """``$GENAI_COURSE_HOME`` or ``~/.cache/genai_course``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "genai_course").expanduser()


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock on ``path`` (created if needed), released on exit or crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder that becomes ``final`` only if the block finishes.

    Leftovers of earlier interrupted builds (``final.name + ".partial-*"``) are removed first.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(final.name + ".partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".partial-", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

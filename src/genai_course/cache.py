"""The course's cache folder and the two tools that keep it safe: a lock and atomic directories.

A build writes into a temporary sibling folder and renames it into place only when complete, so an
interrupted build never leaves a half-written folder that a later run would trust. The lock is
``filelock``'s (an OS lock released when the process dies, on Linux, macOS and Windows alike).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

HOME_ENV = "GENAI_COURSE_HOME"


class CacheError(ValueError):
    """The cache folder cannot be used (a file in its place, read-only, ...), with what to do."""


def course_home() -> Path:
    """``$GENAI_COURSE_HOME`` or ``~/.cache/genai_course``; a *file* at that path is an error."""
    home = Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "genai_course").expanduser()
    if home.exists() and not home.is_dir():
        raise CacheError(f"{HOME_ENV} points to {home}, which is a file, not a folder: set {HOME_ENV} to a folder.")
    return home


@contextlib.contextmanager
def _explained(path: Path, action: str) -> Iterator[None]:
    """Turn an OS error (read-only mount, permissions, a file in the way) into a :class:`CacheError`."""
    try:
        yield
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise CacheError(
            f"Cannot {action} {path} ({reason}). The course's cache must be writable: set {HOME_ENV} to a "
            "folder you can write to."
        ) from error


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock on ``path`` (created if needed), released on exit or crash."""
    with _explained(path, "create the lock file"):
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path))
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder that becomes ``final`` only if the block finishes.

    Leftovers of earlier interrupted builds (``final.name + ".partial-*"``) are removed first. An existing
    ``final`` is renamed aside before the new one takes its place, and deleted only after: at every moment
    either the old or the new complete folder is in place.
    """
    with _explained(final.parent, "write to"):
        final.parent.mkdir(parents=True, exist_ok=True)
        for stale in final.parent.glob(final.name + ".partial-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=final.name + ".partial-", dir=final.parent))
    try:
        yield tmp
        old = final.with_name(final.name + f".partial-old-{os.getpid()}")
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

"""Telling local paths from Hub ids, and checking folders before anything is written to them.

A name such as ``models/t5`` is both a relative path and a valid Hub id. Treating it as a Hub id when
the user meant a folder turns a typo into "cannot connect to the Hub", so a name counts as local when it
starts like a path (``./``, ``../``, ``/``, ``~``), has more than one slash or a backslash, or its
parent folder exists here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


class PathProblem(ValueError):
    """A path that cannot be used as asked, naming the path and what to do."""


def looks_local(name: str) -> bool:
    """Whether ``name`` is meant as a local path rather than a Hub id (``owner/name``)."""
    if name.startswith(("./", "../", "/", "~", ".\\", "..\\")) or "\\" in name or name in (".", ".."):
        return True
    if name.count("/") > 1:
        return True
    parent = Path(name).expanduser().parent
    return str(parent) not in ("", ".") and parent.is_dir()


def missing_local_path(name: str, what: str) -> str:
    """The message for a local-looking ``name`` that does not exist: which absolute path was checked."""
    resolved = Path(name).expanduser().resolve()
    return (
        f"The {what} path {name!r} does not exist (looked for {resolved}). Check the path, or use the "
        "offline tiny world: get_profile('tiny') / GENAI_COURSE_PROFILE=tiny."
    )


def writable_folder(path: str | Path, what: str) -> Path:
    """Create ``path`` if needed and prove it writable (a real write: permission bits lie for root and on
    read-only mounts); raises :class:`PathProblem` naming the folder otherwise."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise PathProblem(f"The {what} {folder} is a file, not a folder; choose a folder path.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise PathProblem(
            f"Cannot write to the {what} {folder} ({reason}); choose a folder you can write to."
        ) from error
    return folder


__all__ = ["PathProblem", "looks_local", "missing_local_path", "writable_folder"]

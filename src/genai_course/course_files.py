"""Finding the course's own files: the ``notebooks/`` and ``labs/`` folders of a checkout.

Notebooks and rubrics ship with the repository, not with the installed package, so both the runner
(which executes the notebooks) and the grader (which reads the rubrics) look for them here.
"""

from __future__ import annotations

from pathlib import Path

from genai_course.project import REPO_URL
from genai_course.results import LAB_NAMES


class CourseFilesNotFound(FileNotFoundError):
    """The notebooks/ or labs/ folder of the course could not be found."""


def find_course_folder(name: str, override: str | Path | None = None) -> Path:
    """The course checkout's ``name`` folder (``notebooks`` or ``labs``).

    Looked up, in order: ``override``; next to the package source (an editable install or a checkout);
    the current directory. Notebooks and rubrics are not part of an installed wheel, hence the search.
    """
    if override is not None:
        folder = Path(override).expanduser()
        if not folder.is_dir():
            raise CourseFilesNotFound(f"{folder} is not a folder (given for the course's {name}/).")
        return folder
    candidates = [Path(__file__).resolve().parents[2] / name, Path.cwd() / name]
    for folder in candidates:
        if folder.is_dir():
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise CourseFilesNotFound(
        f"Could not find the course's {name}/ folder (looked in {looked}). They ship with the repository, "
        f"not the installed package: run from a clone of {REPO_URL}, or pass --{name} DIR."
    )


def notebook_path(lab: str, notebooks_dir: Path) -> Path:
    """``notebooks/<lab folder name>.ipynb``; a clear error when it is missing."""
    path = notebooks_dir / f"{LAB_NAMES[lab]}.ipynb"
    if not path.is_file():
        raise CourseFilesNotFound(f"The {lab} notebook {path} does not exist (is --notebooks the right folder?).")
    return path

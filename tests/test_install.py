"""The install paths: environment.yml's pip section as pip reads it, its package list against pyproject.toml,
the runner extra (a missing one is explained, not a traceback) and the repository URL defined once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pip._internal.network.session import PipSession
from pip._internal.req.req_file import parse_requirements

from genai_course import course_files, project

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the tomli backport, a declared dependency there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CONDA_TO_PIP = {"pytorch": "torch"}  # conda-forge names that differ from the distribution's name on PyPI
NOT_PACKAGES = {"python", "pip"}


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _pip_section() -> list[str]:
    return next(d["pip"] for d in _environment()["dependencies"] if isinstance(d, dict))


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _parsed_pip_section(tmp_path: Path) -> list:
    """The pip section through pip's own requirements-file parser (what `conda env create` hands to pip)."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(_pip_section()) + "\n")
    return list(parse_requirements(str(requirements), session=PipSession()))


def test_pip_accepts_the_pip_section(tmp_path):
    parsed = _parsed_pip_section(tmp_path)  # raises RequirementsFileParseError on e.g. "-e . --no-deps"
    editable = [r for r in parsed if r.is_editable]
    assert [r.requirement for r in editable] == [".[dev]"], "the package itself, editable, with its dev extra"


def test_the_parser_rejects_what_conda_used_to_hand_it(tmp_path):
    bad = tmp_path / "requirements.txt"
    bad.write_text("trl>=1.0\n-e . --no-deps\n")
    with pytest.raises(Exception, match="no-deps|Invalid requirement"):
        list(parse_requirements(str(bad), session=PipSession()))


def _environment_names(tmp_path: Path) -> set[str]:
    conda = [d for d in _environment()["dependencies"] if isinstance(d, str)]
    names = {CONDA_TO_PIP.get(n, n) for n in (re.split(r"[<>=!\s]", d, maxsplit=1)[0] for d in conda)}
    pip = {Requirement(r.requirement).name for r in _parsed_pip_section(tmp_path) if not r.is_editable}
    return {canonicalize_name(n) for n in (names | pip) - NOT_PACKAGES}


def _pyproject_names(python: str = "3.11") -> set[str]:
    """pyproject's dependencies and extras (those that apply to ``python``), without the self-reference."""
    metadata = _pyproject()["project"]
    environment = {**default_environment(), "python_version": python}
    lines = metadata["dependencies"] + [r for extra in metadata["optional-dependencies"].values() for r in extra]
    requirements = [Requirement(line) for line in lines]
    return {
        canonicalize_name(r.name)
        for r in requirements
        if (r.marker is None or r.marker.evaluate(environment)) and canonicalize_name(r.name) != "genai-course"
    }


def test_environment_lists_the_same_packages_as_pyproject(tmp_path):
    python = str(next(d for d in _environment()["dependencies"] if isinstance(d, str) and d.startswith("python=")))
    environment, declared = _environment_names(tmp_path), _pyproject_names(python.split("=")[1])
    assert environment - declared == set(), "in environment.yml but not in pyproject.toml"
    assert declared - environment == set(), "in pyproject.toml but not in environment.yml"


def test_kernel_packages_are_an_extra_not_a_runtime_dependency():
    metadata = _pyproject()["project"]
    runtime = {canonicalize_name(Requirement(r).name) for r in metadata["dependencies"]}
    assert not runtime & {"nbclient", "ipykernel", "jupyter-client"}, "they would upgrade Colab's kernel"
    runner = {canonicalize_name(Requirement(r).name) for r in metadata["optional-dependencies"]["runner"]}
    assert {"nbclient", "ipykernel"} <= runner
    assert "genai-course[runner]" in metadata["optional-dependencies"]["dev"]


BLOCK_RUNNER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("nbclient", "ipykernel"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
from genai_course import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def test_run_without_the_runner_extra_says_what_to_install():
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_RUNNER, "run", "lab1"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "needs the runner extra (nbclient is not installed): pip install 'genai-course[runner]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_repository_url_is_defined_once():
    assert course_files.REPO_URL is project.REPO_URL
    assert _pyproject()["project"]["urls"]["Repository"] == project.REPO_URL
    mentions = [p for p in (ROOT / "src").rglob("*.py") if project.REPO_URL in p.read_text(encoding="utf-8")]
    assert mentions == [ROOT / "src" / "genai_course" / "project.py"]

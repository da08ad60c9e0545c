"""Are the labs' lessons true on the tiny world, for every build seed, or only for one lucky seed?

For each seed: build the tiny world with that seed in its own ``GENAI_COURSE_HOME``, run every lab
notebook headless (``genai-course run all --profile tiny``: the notebooks' own measurements, through the
library), and check each lab's results against the tiny rules of its rubric (``labs/*/rubric.toml``,
the same thresholds the notebooks' check cells and the grader use). Prints one table: every check, its
value per seed, pass or fail.

    python benchmarks/lessons.py --seeds 0 1 2 [--work DIR] [--labs lab1 ... lab5] [--report]

Each seed costs a build (about 5 minutes on 2 cores) and a run of the labs (about 6 minutes). Not part
of CI. Exit status 1 when any check fails on any seed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from genai_course.course_files import find_course_folder
from genai_course.results import LAB_NAMES
from genai_course.rubric import Rubric, find_rubric

LABS = tuple(LAB_NAMES)  # every lab, the new ones included


def run_seed(seed: int, work: Path, labs: list[str]) -> dict[str, dict]:
    """Build the world of ``seed`` and run ``labs``; return each lab's recorded results ({} if none)."""
    home = (work / f"seed{seed}").resolve()  # the notebooks run in their own folders
    env = dict(
        os.environ,
        GENAI_COURSE_HOME=str(home / "home"),
        GENAI_COURSE_TINY_SEED=str(seed),
        GENAI_COURSE_PROFILE="tiny",
        HF_HUB_OFFLINE="1",
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "genai_course.cli", "build-tiny"], env=env, check=True)
    built = time.perf_counter()
    out = home / "runs"
    for lab in labs:  # a failing lesson fails its notebook; the record made before the checks is still read
        command = [sys.executable, "-m", "genai_course.cli", "run", lab, "--profile", "tiny", "--out", str(out)]
        subprocess.run(command, env=env, check=False)
    print(f"[lessons] seed {seed}: build {built - started:.0f} s, labs {time.perf_counter() - built:.0f} s", flush=True)
    return read_results(out, labs)


def read_results(out: Path, labs: list[str]) -> dict[str, dict]:
    """Each lab's recorded numbers from a run folder ({} for a lab that recorded none)."""
    results = {}
    for lab in labs:
        path = out / lab / "results.json"
        results[lab] = json.loads(path.read_text())["results"] if path.exists() else {}
    return results


def check_table(results: dict[int, dict[str, dict]], labs: list[str], course: Path) -> tuple[list[list[str]], bool]:
    """Rows of (lab, check, value per seed with pass/fail) and whether every check passed everywhere."""
    rows, all_ok = [], True
    for lab in labs:
        rubric = Rubric.load(find_rubric(lab, course))
        for rule in rubric.profiles["tiny"]:
            cells = []
            for seed in sorted(results):
                record = results[seed].get(lab) or {}
                try:
                    ok, _ = rule.check(record)
                    shown = _short(rule.measure(record)[0])
                except Exception as error:  # a missing result is a failed check, shown as such
                    ok, shown = False, f"missing ({type(error).__name__})"
                all_ok &= ok
                cells.append(f"{shown} {'pass' if ok else 'FAIL'}")
            rows.append([lab, rule.name, *cells])
    return rows, all_ok


def _short(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value).lower()
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown(rows: list[list[str]], seeds: list[int]) -> str:
    header = ["lab", "check", *[f"seed {s}" for s in seeds]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--work", type=Path, default=Path("runs/lessons"))
    parser.add_argument("--labs", nargs="+", default=list(LABS), choices=[n for n in LAB_NAMES if n in LABS])
    parser.add_argument("--report", action="store_true", help="only tabulate the results already in --work")
    args = parser.parse_args()
    course = find_course_folder("labs")
    if args.report:
        results = {s: read_results((args.work / f"seed{s}" / "runs").resolve(), args.labs) for s in args.seeds}
    else:
        results = {seed: run_seed(seed, args.work, args.labs) for seed in args.seeds}
    (args.work / "lessons.json").write_text(json.dumps(results, indent=2))
    rows, ok = check_table(results, args.labs, course)
    table = markdown(rows, args.seeds)
    (args.work / "lessons.md").write_text(table + "\n")
    print(table)
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; every check passed: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

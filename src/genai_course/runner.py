"""Running the labs headless: ``genai-course run {lab1,...,lab5,all} [--profile P] [--out DIR]``.

The committed notebooks are executed top to bottom with ``nbclient`` in a fresh kernel, the profile
passed through ``$GENAI_COURSE_PROFILE``. For each lab the executed notebook, its recorded results
(``results.json``) and its figures (PNG) are written under ``runs/<lab>/``, and ``runs/report.md``
sums everything up. A failing cell stops that lab, names the cell and the error, and still writes the
partially executed notebook so it can be inspected. The first Ctrl-C or SIGTERM stops the whole run:
the partial notebook and the report (the lab marked "interrupted") are written, and the exit code is 130.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from tqdm.auto import tqdm
from traitlets.config import Config

from genai_course.course_files import CourseFilesNotFound, find_course_folder, notebook_path
from genai_course.grading import grade_notebook
from genai_course.profiles import PROFILE_ENV, PROFILE_NAMES
from genai_course.provenance import ProvenanceError, fingerprint_notebook
from genai_course.results import LAB_NAMES, LABS, find_records
from genai_course.rubric import Rubric, RubricError, find_rubric

DEFAULT_OUT = "runs"
DEFAULT_CELL_TIMEOUT = 3600  # seconds; training cells on CPU take minutes, a hung cell should not take hours


@dataclass
class LabRun:
    """What running one lab produced."""

    lab: str
    notebook: Path
    seconds: float = 0.0
    error: str | None = None
    record: dict | None = None
    figures: list[Path] = field(default_factory=list)
    rubric: str = ""
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM: the partial notebook was saved

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> str:
        return "interrupted" if self.interrupted else "ok" if self.ok else "FAILED"


def _first_line(cell: Any) -> str:
    for line in str(cell.get("source", "")).splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= 70 else line[:69] + "…"
    return ""


def _executes(cell: Any) -> bool:
    return cell.cell_type == "code" and bool(str(cell.source).strip())


def execute_notebook(
    source: Path,
    target: Path,
    *,
    profile: str,
    timeout: int | None,
    kernel_name: str,
    label: str,
    progress: bool = True,
) -> tuple[Any, str | None, bool]:
    """Execute ``source`` into ``target`` (written even when a cell fails or the run is interrupted).

    Returns the executed notebook (outputs in the order the kernel produced them, unlike the sorted
    keys of the saved file), the failure message or None, and whether Ctrl-C or SIGTERM stopped it.
    The kernel runs in ``target``'s folder, so whatever the notebook writes lands next to it.
    """
    notebook = nbformat.read(source, as_version=4)
    target.parent.mkdir(parents=True, exist_ok=True)
    sockets = tempfile.TemporaryDirectory(prefix="genai-course-kernel-")
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(target.parent)}},
        config=_kernel_transport(sockets.name),
    )
    current = {"index": -1}
    stop: dict[str, int] = {}  # the signal that asked to stop, once one arrived
    bar = tqdm(total=sum(map(_executes, notebook.cells)), desc=label, unit="cell", disable=not progress)

    def on_start(cell: Any, cell_index: int) -> None:
        if stop:  # a signal arrived while the kernel was between cells: start no other
            raise _Stopped
        if not stop_installed:
            _take_over_signals(client, stop)
            stop_installed.append(True)
        current["index"] = cell_index
        if _executes(cell):
            bar.set_postfix_str(f"cell {cell_index}: {_first_line(cell)[:40]}", refresh=True)

    stop_installed: list[bool] = []
    client.on_cell_start = on_start
    client.on_cell_executed = lambda cell, cell_index, execute_reply: bar.update()
    env = dict(os.environ, **{PROFILE_ENV: profile})
    failure = None
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS} if _main_thread() else {}
    try:
        client.execute(env=env)
    except (CellExecutionError, _Stopped) as error:
        failure = f"{error.ename}: {error.evalue}" if isinstance(error, CellExecutionError) else "stopped"
    except Exception as error:  # a dead kernel, a timeout, a kernel that cannot start
        failure = f"{type(error).__name__}: {error}"
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        bar.close()
        sockets.cleanup()
        nbformat.write(notebook, target)
    interrupted = bool(stop)
    if interrupted:
        failure = f"interrupted by {signal.Signals(stop['signal']).name}"
    if failure is None:
        return notebook, None, False
    index = current["index"]
    where = "kernel start"
    if 0 <= index < len(notebook.cells):
        where = f"cell {index} ({_first_line(notebook.cells[index])})"
    verb = "was stopped" if interrupted else "failed"
    return notebook, f"{label} {verb} at {where}: {failure.strip()}", interrupted


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Stopped(Exception):
    """Raised between two cells once Ctrl-C or SIGTERM asked the run to stop."""


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()  # only it may set signal handlers


def _take_over_signals(client: NotebookClient, stop: dict[str, int]) -> None:
    """Make Ctrl-C and SIGTERM stop the running cell as Jupyter's interrupt does, and remember them.

    nbclient's own handlers (set on its event loop once the kernel starts) shut the kernel down, which
    reads as a failed cell and lets the next lab start; ours interrupt the kernel instead, so the cell
    stops with ``KeyboardInterrupt``, the partial notebook is saved and the run ends there.
    """

    def on_signal(signum: int) -> None:
        stop["signal"] = signum
        if client.km is not None:
            asyncio.ensure_future(client.km.interrupt_kernel())

    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (RuntimeError, NotImplementedError):  # not the main thread, or Windows: nbclient's stay
            return


def _kernel_transport(socket_dir: str):
    """Local IPC sockets in ``socket_dir`` where the OS has them (an absolute path: the kernel runs in
    another folder): no TCP ports, and no kernel warning that local traffic is unencrypted. Elsewhere
    Jupyter's default TCP."""
    config = Config()
    if os.name == "posix":
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = os.path.join(socket_dir, "kernel")
    return config


def extract_figures(notebook: Any, folder: Path) -> list[Path]:
    """Write every PNG in the outputs to ``folder/cell<NN>-<k>.png``, in order."""
    figures = []
    for index, cell in enumerate(notebook.get("cells", [])):
        k = 0
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            png = (output.get("data") or {}).get("image/png")
            if isinstance(png, str):
                k += 1
                path = folder / f"cell{index:02d}-{k}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(base64.b64decode(png))
                figures.append(path)
    return figures


def _rubric_summary(lab: str, source: Path, executed: Path) -> str:
    """The grader's verdict on our own run, against the notebook we ran (skipped quietly without a rubric)."""
    try:
        rubric = Rubric.load(find_rubric(lab))
        release = fingerprint_notebook(nbformat.read(source, as_version=4))
    except (CourseFilesNotFound, RubricError, ProvenanceError) as error:
        return f"not checked ({error})"
    report = grade_notebook(executed, rubric, release=release)
    summary = f"{report.verdict} ({report.rules_passed}/{report.rules_total} thresholds)"
    return summary + ("".join(f"\n  - {reason}" for reason in report.reasons) if report.reasons else "")


def run_lab(
    lab: str,
    *,
    notebooks_dir: Path,
    out_dir: Path,
    profile: str = "auto",
    timeout: int | None = DEFAULT_CELL_TIMEOUT,
    kernel_name: str = "python3",
    progress: bool = True,
    check_rubric: bool = True,
) -> LabRun:
    """Execute one lab's notebook and collect its results and figures under ``out_dir/<lab>/``."""
    source = notebook_path(lab, notebooks_dir)
    folder = out_dir / lab
    run = LabRun(lab=lab, notebook=folder / source.name)
    start = time.perf_counter()
    executed, run.error, run.interrupted = execute_notebook(
        source, run.notebook, profile=profile, timeout=timeout, kernel_name=kernel_name, label=lab, progress=progress
    )
    run.seconds = time.perf_counter() - start
    run.figures = extract_figures(executed, folder / "figures")
    records = [r.payload for r in find_records(executed) if r.lab == lab and isinstance(r.payload, dict)]
    results_file = folder / "results.json"
    if records:
        run.record = records[-1]
        results_file.write_text(json.dumps(run.record, indent=2) + "\n", encoding="utf-8")
    else:
        results_file.unlink(missing_ok=True)  # never leave an older run's results looking current
        if run.ok:
            run.error = f"{lab} ran but recorded no results (the notebook never called record_results('{lab}', ...))"
    if run.ok and check_rubric:
        run.rubric = _rubric_summary(lab, source, run.notebook)
    return run


# ---------------------------------------------------------------------------------------------------
# The summary report
# ---------------------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _flatten(value: Any, prefix: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, list) and not all(_is_scalar(v) for v in value):
        return [item for i, v in enumerate(value) for item in _flatten(v, f"{prefix}.{i}")]
    return [(prefix, value)]


def results_tables(results: dict) -> str:
    """Markdown tables for a results dict: scalars in one table, a table of tables as a matrix
    (e.g. ROUGE per strategy), a list of records as rows (e.g. the shots curve)."""
    scalars = [[k, v] for k, v in results.items() if _is_scalar(v)]
    parts = [_markdown_table(["result", "value"], scalars)] if scalars else []
    for key, value in results.items():
        if _is_scalar(value):
            continue
        rows = value.values() if isinstance(value, dict) else value
        if rows and all(isinstance(r, dict) and all(_is_scalar(x) for x in r.values()) for r in rows):
            columns = list(dict.fromkeys(c for r in rows for c in r))
            if isinstance(value, dict):
                body = [[name, *(r.get(c, "") for c in columns)] for name, r in value.items()]
                parts.append(f"**{key}**\n\n" + _markdown_table([key, *columns], body))
            else:
                body = [[r.get(c, "") for c in columns] for r in rows]
                parts.append(f"**{key}**\n\n" + _markdown_table(columns, body))
        else:
            body = [list(item) for item in _flatten(value, key)]
            parts.append(f"**{key}**\n\n" + _markdown_table(["result", "value"], body))
    return "\n\n".join(parts)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m {rest:04.1f}s" if minutes else f"{rest:.1f}s"


def write_report(runs: list[LabRun], out_dir: Path, *, profile: str, total_seconds: float) -> Path:
    """``out_dir/report.md`` (status, timings, result tables, figures) and ``out_dir/summary.json``."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# genai-course run",
        "",
        f"{stamp}; profile requested: `{profile}`; total time {_duration(total_seconds)}.",
        "",
        _markdown_table(
            ["lab", "status", "profile used", "time", "notebook"],
            [
                [
                    r.lab,
                    r.status,
                    (r.record or {}).get("profile", "-"),
                    _duration(r.seconds),
                    f"[{r.notebook.name}]({r.notebook.relative_to(out_dir).as_posix()})",
                ]
                for r in runs
            ],
        ),
    ]
    for run in runs:
        lines += ["", f"## {run.lab}: {LAB_NAMES[run.lab]}", ""]
        if run.error:
            lines += [f"**{'Interrupted' if run.interrupted else 'Failed'}:** {run.error}", ""]
        if run.rubric:
            lines += [f"Rubric check: {run.rubric}", ""]
        if run.record:
            lines += [results_tables(run.record.get("results", {})), ""]
        for figure in run.figures:
            lines += [f"![{figure.stem}]({figure.relative_to(out_dir).as_posix()})", ""]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    summary = {
        "profile_requested": profile,
        "total_seconds": round(total_seconds, 2),
        "labs": {
            r.lab: {
                "ok": r.ok,
                "status": r.status,
                "seconds": round(r.seconds, 2),
                "error": r.error,
                "notebook": str(r.notebook),
                "profile": (r.record or {}).get("profile"),
            }
            for r in runs
        },
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return report


# ---------------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genai-course run`` to the CLI."""
    parser = subparsers.add_parser(
        "run",
        help="run lab notebooks headless and write executed copies, results and a report",
        description=(
            "Execute the lab notebooks headless (nbclient) with the chosen profile and write, under --out, "
            "the executed notebooks, each lab's results.json and figures, and report.md. "
            "Exit code 1 when a lab fails (the failing cell is named), 2 when notebooks are missing, 130 when "
            "Ctrl-C or SIGTERM stopped the run (the partial notebook and the report are written)."
        ),
    )
    parser.add_argument("lab", choices=[*LABS, "all"], help="which lab to run, or all of them")
    parser.add_argument(
        "--profile",
        default=None,
        choices=PROFILE_NAMES,
        help=(
            f"tiny (offline), cpu (real models, laptop budgets), full (real models, a GPU) or auto; "
            f"default: ${PROFILE_ENV}, else auto"
        ),
    )
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="where to write (default runs/)")
    parser.add_argument("--notebooks", metavar="DIR", help="the course's notebooks/ folder (default: the checkout's)")
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_CELL_TIMEOUT,
        metavar="S",
        help=f"seconds one cell may take (default {DEFAULT_CELL_TIMEOUT}; 0: no limit)",
    )
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    parser.set_defaults(func=main)


INTERRUPTED_EXIT = 130  # the shell's code for a command stopped by Ctrl-C (128 + SIGINT)


def requested_profile(flag: str | None) -> str:
    """The profile the kernels get: ``--profile``, else ``$GENAI_COURSE_PROFILE``, else ``auto``; a bad value in
    the environment is a :class:`ValueError` naming it (the flag's choices are checked by argparse)."""
    chosen = flag or os.environ.get(PROFILE_ENV, "").strip() or "auto"
    if chosen not in PROFILE_NAMES:
        raise ValueError(f"${PROFILE_ENV}={chosen!r} is not a profile; use one of {', '.join(PROFILE_NAMES)}.")
    return chosen


def main(args: argparse.Namespace) -> int:
    """Run ``run``: 0 when every lab ran and recorded results, 1 when one failed, 2 on bad usage."""
    labs = list(LABS) if args.lab == "all" else [args.lab]
    try:
        args.profile = requested_profile(args.profile)
    except ValueError as error:
        print(f"genai-course run: {error}", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    try:
        notebooks_dir = find_course_folder("notebooks", args.notebooks)
        for lab in labs:
            notebook_path(lab, notebooks_dir)
    except CourseFilesNotFound as error:
        print(f"genai-course run: {error}", file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"[genai-course] running {', '.join(labs)} from {notebooks_dir} with profile '{args.profile}' -> {out_dir}/")
    runs, start, stopped = [], time.perf_counter(), False
    previous = signal.signal(signal.SIGTERM, _stop)  # between notebooks, SIGTERM stops as Ctrl-C does
    try:
        for lab in labs:
            run = run_lab(
                lab,
                notebooks_dir=notebooks_dir,
                out_dir=out_dir,
                profile=args.profile,
                timeout=args.timeout or None,
                kernel_name=args.kernel,
            )
            runs.append(run)
            print(f"[genai-course] {lab}: {run.status} in {_duration(run.seconds)} -> {run.notebook}")
            if run.rubric:
                print(f"[genai-course] {lab} rubric check: {run.rubric}")
            if run.error:
                print(f"genai-course run: {run.error}", file=sys.stderr)
            if run.interrupted:
                break  # the first Ctrl-C or SIGTERM stops the whole run, not only this lab
    except KeyboardInterrupt:  # between two notebooks (reading results, grading our own run)
        stopped = True
    finally:
        signal.signal(signal.SIGTERM, previous)
    total = time.perf_counter() - start
    report = write_report(runs, out_dir, profile=args.profile, total_seconds=total)
    print()
    for run in runs:
        print(f"  {run.lab:5} {run.status:11} {_duration(run.seconds):>10}")
    print(f"  {'total':17} {_duration(total):>10}")
    print(f"Report: {report}")
    if stopped or any(run.interrupted for run in runs):
        print(f"genai-course run: interrupted; the partial notebook and the report are in {out_dir}/", file=sys.stderr)
        return INTERRUPTED_EXIT
    return 0 if all(r.ok for r in runs) else 1


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)

"""Issue 13, "nothing lost, nothing silent": every bad input of the report, and what it gives now.

Each case is a row of a table: an id, a function that makes the bad call, the error class and a pattern
its message must match (naming the path or the valid values). Training cases use a config-built tiny T5
(random weights) and a word-level tokenizer trained here; nothing touches the Hub or the tiny world.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict
from stand_in import tiny_t5, trained_word_tokenizer
from transformers import GenerationConfig, T5ForConditionalGeneration, T5TokenizerFast, TrainerCallback

from genai_course import cli
from genai_course import finetune as ft
from genai_course.cache import CacheError, atomic_directory, file_lock
from genai_course.data import DataError, DataWarning, load_dialogsum
from genai_course.generation import GenerationSettingError, generate
from genai_course.metrics import MetricInputError, bootstrap_change
from genai_course.models import ModelLoadError, load_reward_classifier, load_summarizer, pick_device, pick_dtype
from genai_course.profiles import ProfileError, get_profile
from genai_course.prompting import instruction_prompt

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parents[1]


# ---- a tiny T5 and its data -----------------------------------------------------------------------


def _rows(n: int, prefix: str = "row") -> list[dict]:
    names, things = ["Anna", "Ben", "Carl", "Dora", "Emil"], ["a car", "a hat", "bread", "a bike"]
    return [
        {
            "id": f"{prefix}_{i}",
            "dialogue": f"#Person1#: I am {names[i % 5]} and I want {things[i % 4]} . {prefix} {i}",
            "summary": f"{names[i % 5]} wants {things[i % 4]} .",
            "topic": "shopping",
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def data() -> Dataset:
    return Dataset.from_list(_rows(40))


@pytest.fixture(scope="module")
def tokenizer(data) -> T5TokenizerFast:
    return trained_word_tokenizer([instruction_prompt(d) for d in data["dialogue"]] + list(data["summary"]))


@pytest.fixture(scope="module")
def model(tokenizer) -> T5ForConditionalGeneration:
    return tiny_t5(tokenizer)


@pytest.fixture(scope="module")
def saved_model(model, tokenizer, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("t5")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _config(out: Path, **overrides) -> ft.FullFinetuneConfig:
    values = dict(
        output_dir=str(out),
        learning_rate=3e-3,
        max_steps=20,
        per_device_train_batch_size=2,
        logging_steps=1,
        disable_tqdm=True,
        use_cpu=True,
        save_final=True,
    )
    values.update(overrides)
    return ft.FullFinetuneConfig(**values)


def _copy_without(src: Path, dest: Path, *, drop=(), truncate=()) -> Path:
    dest.mkdir(parents=True)
    for file in src.iterdir():
        if file.name in drop:
            continue
        content = file.read_bytes()
        (dest / file.name).write_bytes(content[: len(content) // 2] if file.name in truncate else content)
    return dest


def _dialogsum_folder(root: Path, train: list[dict], test: list[dict]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("validation", _rows(3, "val")), ("test", test)):
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


# ---- the table ------------------------------------------------------------------------------------
# Each case: (id, setup(tmp_path, fixtures) -> a zero-argument call, expected error, message pattern).
# "before" in the comment is what the same input gave before issue 13 was fixed.


def _fresh_run_over_earlier_results(tmp, fx):
    out = tmp / "run"
    (out / "checkpoint-4").mkdir(parents=True)
    (out / "final").mkdir()
    (out / "final" / "model.safetensors").write_text("earlier run's model")
    # before: both folders silently deleted
    return lambda: ft.full_finetune(fx["model"], fx["tokenizer"], fx["data"], _config(out))


def _resume_below_checkpoint(tmp, fx):
    checkpoint = tmp / "run" / "checkpoint-4"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 4, "max_steps": 10}))
    # before: trained on to step 5 and overwrote final/
    return lambda: ft.full_finetune(
        fx["model"], fx["tokenizer"], fx["data"], _config(tmp / "run", max_steps=2, resume_from_checkpoint=True)
    )


def _truncated_trainer_state(tmp, fx):
    checkpoint = tmp / "run" / "checkpoint-4"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text('{"global_step": 4, "log_hi')
    # before: a raw JSONDecodeError from deep inside the Trainer
    return lambda: ft.full_finetune(
        fx["model"], fx["tokenizer"], fx["data"], _config(tmp / "run", resume_from_checkpoint=True)
    )


def _truncated_checkpoint_weights(tmp, fx):
    checkpoint = _copy_without(fx["saved"], tmp / "run" / "checkpoint-4", truncate=("model.safetensors",))
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 4, "max_steps": 20}))
    return lambda: ft.full_finetune(
        fx["model"], fx["tokenizer"], fx["data"], _config(tmp / "run", resume_from_checkpoint=True)
    )


def _output_dir_is_a_file(tmp, fx):
    (tmp / "taken").write_text("a file")
    return lambda: ft.full_finetune(fx["model"], fx["tokenizer"], fx["data"], _config(tmp / "taken"))


def _folder_without_tokenizer(tmp, fx):
    folder = _copy_without(fx["saved"], tmp / "no-tok", drop=("tokenizer.json", "tokenizer_config.json"))
    return lambda: load_summarizer(str(folder), device="cpu")  # before: a 104-token tokenizer, summaries ''


def _truncated_safetensors(tmp, fx):
    folder = _copy_without(fx["saved"], tmp / "cut", truncate=("model.safetensors",))
    return lambda: load_summarizer(str(folder), device="cpu")  # before: raw SafetensorError, no path


def _truncated_safetensors_in_load_result(tmp, fx):
    folder = _copy_without(fx["saved"], tmp / "cut", truncate=("model.safetensors",))
    return lambda: ft.load_result("full", folder, fx["model"], fx["tokenizer"])


def _t5_as_reward_model(tmp, fx):
    return lambda: load_reward_classifier(str(fx["saved"]), device="cpu")  # before: a random head


def _missing_relative_model_path(tmp, fx):
    (tmp / "models").mkdir()
    os.chdir(tmp)  # restored by the test
    return lambda: load_summarizer("models/t5", device="cpu")  # before: "the Hub may be unreachable"


def _missing_dot_path(tmp, fx):
    return lambda: load_summarizer("./nowhere/t5", device="cpu")


def _missing_relative_data_path(tmp, fx):
    (tmp / "data").mkdir()
    os.chdir(tmp)
    return lambda: load_dialogsum("data/dialogsum")  # before: "Could not load ... from the Hub"


def _non_string_dialogue(tmp, fx):
    rows = _rows(4)
    rows[2]["dialogue"] = 17
    path = tmp / "d"
    path.mkdir()
    for name in ("train", "validation", "test"):
        (path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return lambda: load_dialogsum(str(path))  # before: called the dialogue "empty"


def _non_string_dialogue_in_training(tmp, fx):
    rows = Dataset.from_dict({"id": ["a", "b"], "dialogue": ["fine", None], "summary": ["s", "t"]})
    return lambda: ft.tokenize_for_summarization(rows, fx["tokenizer"])


def _malformed_jsonl_line(tmp, fx):
    root = _dialogsum_folder(tmp / "d", _rows(5), _rows(3, "test"))
    lines = (root / "train.jsonl").read_text().splitlines()
    lines[3] = '{"id": "row_3", "dialogue": "unterminated'
    (root / "train.jsonl").write_text("\n".join(lines) + "\n")
    return lambda: load_dialogsum(str(root))  # before: datasets' error without a line number


def _header_only_csv(tmp, fx):
    root = _dialogsum_folder(tmp / "d", _rows(5), _rows(3, "test"))
    (root / "train.jsonl").unlink()
    (root / "train.csv").write_text("id,dialogue,summary,topic\n")
    return lambda: load_dialogsum(str(root))


def _strict_duplicates(tmp, fx):
    train = _rows(5) + [_rows(5)[0]]
    root = _dialogsum_folder(tmp / "d", train, _rows(3, "test"))
    return lambda: load_dialogsum(str(root), strict=True)


def _strict_train_test_overlap(tmp, fx):
    root = _dialogsum_folder(tmp / "d", _rows(6), _rows(3))  # the test rows are train rows
    return lambda: load_dialogsum(str(root), strict=True)


def _bootstrap_one_sample(tmp, fx):
    return lambda: bootstrap_change([0.2], [0.4])  # before: a zero-width "95% interval"


def _top_p_above_one(tmp, fx):
    config = GenerationConfig(max_new_tokens=4, do_sample=True, top_p=1.5)
    return lambda: generate(fx["model"], fx["tokenizer"], ["hello"], config, progress=False)  # before: accepted


def _n_eval_not_a_number(tmp, fx):
    return lambda: get_profile("tiny", n_eval="ten")  # before: accepted


def _profile_assignment(tmp, fx):
    profile = get_profile("tiny")

    def assign():
        profile.lora_r = 0

    return assign


def _device_gpu(tmp, fx):
    return lambda: pick_device("gpu")  # before: torch's "Expected one of cpu, cuda, ... device type"


def _profile_device_gpu(tmp, fx):
    return lambda: get_profile("tiny", device="gpu")


def _dtype_int8(tmp, fx):
    return lambda: pick_dtype(torch.device("cpu"), "int8")  # before: "re-download the model"


def _dtype_float16_for_t5(tmp, fx):
    return lambda: load_summarizer(str(fx["saved"]), device="cpu", dtype="float16")


def _home_is_a_file(tmp, fx):
    (tmp / "home").write_text("not a folder")
    os.environ["GENAI_COURSE_HOME"] = str(tmp / "home")  # restored by the test
    return lambda: get_profile("tiny")


def _sys_is_read_only() -> bool:
    try:
        Path("/sys/genai-course-test").mkdir()
    except OSError:
        return True
    Path("/sys/genai-course-test").rmdir()
    return False


def _home_read_only(tmp, fx):
    home = Path("/sys/genai-course-test")  # sysfs is read-only even for root
    os.environ["GENAI_COURSE_HOME"] = str(home)

    def lock():
        with file_lock(home / "x.lock"):
            pass

    return lock


CASES = [
    (
        "fresh run over earlier results",
        _fresh_run_over_earlier_results,
        ft.FinetuneError,
        r"already holds an earlier run's results \(checkpoint-4, final\).*overwrite=True",
    ),
    (
        "resume with max_steps below the checkpoint",
        _resume_below_checkpoint,
        ft.FinetuneError,
        r"max_steps=2 but .*checkpoint-4 is already at step 4",
    ),
    (
        "truncated trainer_state.json",
        _truncated_trainer_state,
        ft.FinetuneError,
        r"checkpoint-4/trainer_state.json is damaged",
    ),
    (
        "truncated checkpoint weights",
        _truncated_checkpoint_weights,
        ft.FinetuneError,
        r"checkpoint-4/model.safetensors is damaged",
    ),
    ("output_dir is a file", _output_dir_is_a_file, ft.FinetuneError, r"taken is a file, not a folder"),
    (
        "model folder without a tokenizer",
        _folder_without_tokenizer,
        ModelLoadError,
        r"no-tok holds no tokenizer files .*tokenizer.save_pretrained",
    ),
    ("truncated model.safetensors", _truncated_safetensors, ModelLoadError, r"cut/model.safetensors is damaged"),
    (
        "truncated weights in load_result",
        _truncated_safetensors_in_load_result,
        ft.FinetuneError,
        r"cut/model.safetensors is damaged",
    ),
    (
        "T5 folder as reward model",
        _t5_as_reward_model,
        ModelLoadError,
        r"is not a trained reward classifier: 4 weight\(s\) .*classification_head",
    ),
    (
        "missing relative model path",
        _missing_relative_model_path,
        ModelLoadError,
        r"path 'models/t5' does not exist \(looked for /.*models/t5\)",
    ),
    ("missing ./ model path", _missing_dot_path, ModelLoadError, r"'./nowhere/t5' does not exist"),
    (
        "missing relative data path",
        _missing_relative_data_path,
        DataError,
        r"DialogSum path 'data/dialogsum' does not exist",
    ),
    ("non-string dialogue (data)", _non_string_dialogue, DataError, r"row 2 .*the dialogue is a int \(17\), not text"),
    (
        "non-string dialogue (training)",
        _non_string_dialogue_in_training,
        ft.FinetuneError,
        r"Example 'b': the dialogue is a NoneType",
    ),
    ("malformed jsonl line", _malformed_jsonl_line, DataError, r"train.jsonl, line 4: not valid JSON"),
    ("header-only csv", _header_only_csv, DataError, r"train.csv: has no rows \(only a header: id, dialogue"),
    ("duplicate ids (strict)", _strict_duplicates, DataError, r"1 id\(s\) repeated in train \(2 rows"),
    (
        "train/test overlap (strict)",
        _strict_train_test_overlap,
        DataError,
        r"3 id\(s\) of test are also in train.*3 test dialogue\(s\) also appear in train",
    ),
    ("bootstrap with one sample", _bootstrap_one_sample, MetricInputError, r"at least 2 examples per side"),
    ("top_p=1.5", _top_p_above_one, GenerationSettingError, r"top_p=1.5 is invalid: it must be a number in \(0, 1\]"),
    ('n_eval="ten"', _n_eval_not_a_number, ProfileError, r"n_eval must be a positive integer, got 'ten'"),
    ("profile field assigned 0", _profile_assignment, ProfileError, r"lora_r must be a positive integer, got 0"),
    ('device="gpu"', _device_gpu, ModelLoadError, r"Unknown device 'gpu'; valid devices: auto, cpu, cuda, cuda:N"),
    ('profile device="gpu"', _profile_device_gpu, ProfileError, r"valid devices: auto, cpu, cuda, cuda:N, mps"),
    ('dtype="int8"', _dtype_int8, ModelLoadError, r"Unknown dtype 'int8'; valid dtypes: auto, float32, bfloat16"),
    ('dtype="float16" for T5', _dtype_float16_for_t5, ModelLoadError, r"float16 is refused for T5"),
    (
        "GENAI_COURSE_HOME is a file",
        _home_is_a_file,
        CacheError,
        r"GENAI_COURSE_HOME points to .*home, which is a file",
    ),
    ("GENAI_COURSE_HOME read-only", _home_read_only, CacheError, r"Cannot create the lock file .*must be writable"),
]


@pytest.fixture
def restore_env_and_cwd():
    cwd, home = os.getcwd(), os.environ.get("GENAI_COURSE_HOME")
    yield
    os.chdir(cwd)
    if home is None:
        os.environ.pop("GENAI_COURSE_HOME", None)
    else:
        os.environ["GENAI_COURSE_HOME"] = home


@pytest.mark.usefixtures("restore_env_and_cwd")
@pytest.mark.parametrize("setup, error, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_a_clear_error(setup, error, pattern, tmp_path, data, tokenizer, model, saved_model):
    if setup is _home_read_only and not _sys_is_read_only():
        pytest.skip("no read-only folder to test with")
    call = setup(tmp_path, {"data": data, "tokenizer": tokenizer, "model": model, "saved": saved_model})
    with pytest.raises(error, match=pattern):
        call()


# ---- cases that are not plain errors ---------------------------------------------------------------


def test_a_refused_fresh_run_deletes_nothing(tmp_path, data, tokenizer, model):
    out = tmp_path / "run"
    (out / "checkpoint-4").mkdir(parents=True)
    (out / "final").mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ft.FinetuneError):
        ft.full_finetune(model, tokenizer, data, _config(out))
    assert (out / "checkpoint-4").is_dir() and (out / "final").is_dir() and (out / "notes.txt").exists()


def test_overwrite_replaces_earlier_results_and_nothing_else(tmp_path, data, tokenizer, model):
    out = tmp_path / "run"
    first = ft.full_finetune(model, tokenizer, data, _config(out, max_steps=4))
    (out / "notes.txt").write_text("mine")
    second = ft.full_finetune(model, tokenizer, data, _config(out, max_steps=6, overwrite=True))
    assert second.global_step == 6 and first.saved_to == second.saved_to == out / "final"
    assert json.loads((out / "final" / "trainer_state.json").read_text())["global_step"] == 6
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-6", "final", "notes.txt"]


def test_duplicates_and_overlap_warn_with_counts_by_default(tmp_path):
    root = _dialogsum_folder(tmp_path / "d", _rows(5) + [_rows(5)[1]], _rows(2))
    with pytest.warns(DataWarning, match=r"1 id\(s\) repeated in train.*2 id\(s\) of test are also in train"):
        data = load_dialogsum(str(root))
    assert isinstance(data, DatasetDict) and len(data["train"]) == 6
    clean = _dialogsum_folder(tmp_path / "clean", _rows(5), _rows(2, "test"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        load_dialogsum(str(clean))


# ---- interruptions lose little ---------------------------------------------------------------------


class _SendSignalAt(TrainerCallback):
    """Presses Ctrl-C (SIGINT to this process) at the end of step ``step``."""

    def __init__(self, step: int, signum: int = signal.SIGINT):
        self.step, self.signum = step, signum

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), self.signum)


class _CrashAt(TrainerCallback):
    """A crash that leaves no chance to save (an out-of-memory kill, a power cut)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise RuntimeError("simulated crash")


class _CountSteps(TrainerCallback):
    def __init__(self):
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        self.steps += 1


def _losses(result) -> list[tuple[int, float]]:
    return [(e["step"], e["loss"]) for e in result.loss_history]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_saves_a_checkpoint_and_the_resume_matches_an_uninterrupted_run(
    signum, tmp_path, data, tokenizer, model, capsys
):
    total = 20  # 40 rows, batch 2: one epoch
    reference = ft.full_finetune(model, tokenizer, data, _config(tmp_path / "straight"))
    previous_handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(ft.TrainingInterrupted, match="stopped at step 13 of 20.*resume_from_checkpoint=True") as info:
        ft.full_finetune(model, tokenizer, data, _config(tmp_path / "run"), callbacks=[_SendSignalAt(12, signum)])
    stopped = info.value.result
    assert signal.getsignal(signal.SIGINT) is previous_handler, "the signal handlers were not restored"
    # The signal arrives after step 12's checks, so the interrupt checkpoint is taken at the end of step 13:
    # not a periodic one (every 2 steps), and no final/ model for an unfinished run.
    assert stopped.interrupted and stopped.global_step == 13 and stopped.saved_to is None
    assert stopped.checkpoint.name == "checkpoint-13" and not (tmp_path / "run" / "final").exists()
    counter = _CountSteps()
    resumed = ft.full_finetune(
        model, tokenizer, data, _config(tmp_path / "run", resume_from_checkpoint=True), callbacks=[counter]
    )
    assert f"resuming from {tmp_path / 'run' / 'checkpoint-13'} (step 13)" in capsys.readouterr().out
    redone = stopped.global_step + counter.steps - total
    assert redone == 0 <= 0.1 * total
    assert resumed.global_step == total and not resumed.interrupted and resumed.resumed_from.name == "checkpoint-13"
    assert [s for s, _ in _losses(resumed)] == list(range(1, total + 1))
    assert [loss for _, loss in _losses(resumed)] == pytest.approx([loss for _, loss in _losses(reference)], abs=1e-5)
    assert ft.weights_hash(resumed.model) == ft.weights_hash(reference.model) or all(
        torch.allclose(a, b, atol=1e-6)
        for a, b in zip(resumed.model.state_dict().values(), reference.model.state_dict().values())
    )


def test_a_crash_without_a_signal_loses_at_most_a_tenth_of_the_steps(tmp_path, data, tokenizer, model):
    total = 20
    config = _config(tmp_path / "run")
    assert config.save_steps == 0.1, "the default checkpoint interval is a tenth of the run"
    # What was installed before the run, not Python's default: a shell starts background jobs with
    # SIGINT ignored, and the run must give back whatever it found.
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ft.full_finetune(model, tokenizer, data, config, callbacks=[_CrashAt(13)])
    assert signal.getsignal(signal.SIGINT) is before
    counter = _CountSteps()
    resumed = ft.full_finetune(
        model, tokenizer, data, _config(tmp_path / "run", resume_from_checkpoint=True), callbacks=[counter]
    )
    redone = 13 + counter.steps - total
    assert resumed.global_step == total and 0 < redone <= 0.1 * total, f"{redone} steps redone"


# ---- the command line ------------------------------------------------------------------------------


def test_cli_turns_bad_paths_into_one_line_and_exit_code_2(tmp_path, capsys, monkeypatch):
    (tmp_path / "taken").write_text("a file")
    assert cli.main(["run", "lab1", "--profile", "tiny", "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("genai-course run: error:") and "taken" in err and "\n" not in err
    monkeypatch.setenv("GENAI_COURSE_HOME", str(tmp_path / "taken"))
    assert cli.main(["build-tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert "GENAI_COURSE_HOME points to" in err and "is a file" in err and "\n" not in err


def test_cli_has_no_traceback_for_a_read_only_home():
    home = "/sys/genai-course-test"
    if not _sys_is_read_only():
        pytest.skip("no read-only folder to test with")
    env = {**os.environ, "GENAI_COURSE_HOME": home, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "genai_course.cli", "build-tiny"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert "must be writable" in done.stderr and home in done.stderr


def test_atomic_directory_keeps_the_old_folder_until_the_new_one_is_complete(tmp_path):
    final = tmp_path / "final"
    with atomic_directory(final) as tmp:
        (tmp / "v").write_text("1")
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(final) as tmp:
            (tmp / "v").write_text("2")
            raise KeyboardInterrupt
    assert (final / "v").read_text() == "1"
    with atomic_directory(final) as tmp:
        (tmp / "v").write_text("3")
    assert (final / "v").read_text() == "3" and sorted(p.name for p in tmp_path.iterdir()) == ["final"]

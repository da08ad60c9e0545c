"""Training on several processes: PPO's shares, seeds and collective checks, saving once, and two real
``accelerate launch`` runs (2 CPU processes over gloo) of ``genai_course.distributed`` on the tiny world.

The unit tests stand in for accelerate with :class:`OtherProcess`, which plays one process of two and
answers every collective call as if the other process had sent what this one did (or had failed a check).
The launch tests (``slow``: deselect with ``-m "not slow"``) start real processes.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from stand_in import tiny_t5, word_tokenizer, words
from transformers import AutoModelForSeq2SeqLM, TrainerState

from genai_course import finetune as ft
from genai_course.finetune.run_folder import prepare, save_final
from genai_course.ranks import Ranks
from genai_course.rlhf.ppo import HISTORY_FILE, VALUE_HEAD_FILE, PPOConfig, PPOTrainingError, Seq2SeqPPOTrainer

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py
SRC = Path(__file__).resolve().parent.parent / "src"
QUERIES = [words(5, start=7 * i) for i in range(16)]


class OtherProcess:
    """Process ``index`` of two, as the trainer sees it through ``accelerate``'s API.

    Collective calls answer as if the other process had sent the same values; ``other_fails`` makes the
    other process report a failed check (a NaN in its share).
    """

    num_processes = 2
    device = torch.device("cpu")

    def __init__(self, index: int, *, other_fails: bool = False) -> None:
        self.process_index, self.other_fails = index, other_fails
        self.is_main_process = index == 0
        self.backward_calls = 0

    def prepare(self, *objects):
        return objects

    def unwrap_model(self, model):
        return model

    def backward(self, loss):
        self.backward_calls += 1
        loss.backward()

    def clip_grad_norm_(self, parameters, max_norm):
        return torch.nn.utils.clip_grad_norm_(parameters, max_norm)

    def gather(self, tensor):
        return torch.cat([tensor, tensor])

    def reduce(self, tensor, reduction):
        if reduction == "sum":  # only Ranks.all sums: a count of failed processes
            return tensor + (1.0 if self.other_fails else 0.0)
        return tensor

    def wait_for_everyone(self):
        pass

    def get_state_dict(self, model):
        return model.state_dict()


@pytest.fixture(scope="module")
def tokenizer():
    return word_tokenizer(200)


def _trainer(tokenizer, accelerator=None, reward=None, **settings) -> Seq2SeqPPOTrainer:
    config = PPOConfig(**{"batch_size": 8, "mini_batch_size": 4, "max_new_tokens": 4, **settings})
    return Seq2SeqPPOTrainer(
        config, tiny_t5(tokenizer), tokenizer, reward or (lambda q, r: [0.5] * len(r)), accelerator=accelerator
    )


# --- Ranks: one process is the identity ------------------------------------------------------------------


def test_one_process_needs_no_collective_call():
    ranks = Ranks()
    values = torch.tensor([1.0, 2.0])
    assert (ranks.count, ranks.index, ranks.is_main, ranks.label) == (1, 0, True, "[rank 0/1]")
    assert ranks.share([1, 2, 3]) == [1, 2, 3] and ranks.gather(values) is values
    assert ranks.mean({"a": 0.25}) == {"a": 0.25} and ranks.all(True) and not ranks.all(False)
    assert ranks.from_main("x") == "x"
    ranks.wait()
    other = Ranks(OtherProcess(1))
    assert other.share(list(range(6))) == [1, 3, 5] and other.label == "[rank 1/2]" and not other.is_main


# --- PPO on one process of two ------------------------------------------------------------------------------


def test_each_process_rolls_out_its_own_share_with_its_own_seed(tokenizer):
    shares: list[list[str]] = []
    seeds: list[int] = []
    rank = OtherProcess(1)
    trainer = _trainer(tokenizer, rank, reward=lambda q, r: shares.append(list(q)) or [0.5] * len(r))
    rollout = trainer.rollout
    trainer.rollout = lambda queries, seed=None: seeds.append(seed) or rollout(queries, seed=seed)
    trainer.train(QUERIES, steps=2, progress=False)
    pool = QUERIES[:]
    random.Random(trainer.config.seed).shuffle(pool)  # the draw every process makes alike
    assert shares == [pool[0:8][1::2], pool[8:16][1::2]]  # every other query of each step's batch
    # One seed per (step, process), and 2 gradient steps of 2 rollouts a step: mini_batch_size 4 over 2.
    assert seeds == [(0 + 1) * 2 + 1, (0 + 2) * 2 + 1]
    assert rank.backward_calls == 4
    assert len(trainer.history) == 2 and trainer.history[0]["samples_per_second"] > 0


def test_batch_sizes_must_split_evenly(tokenizer):
    with pytest.raises(ValueError, match="multiples of 2"):
        _trainer(tokenizer, OtherProcess(0), batch_size=6, mini_batch_size=3)


def test_a_failed_check_on_another_process_stops_this_one_too(tokenizer):
    trainer = _trainer(tokenizer, OtherProcess(0, other_fails=True))
    with pytest.raises(PPOTrainingError, match="reward scores contain NaN or inf"):
        trainer.step(QUERIES[:4])  # its own rewards are finite: it stops with the other, not waits for it


def test_ppo_saves_adapter_value_head_and_history_once(tokenizer, tmp_path):
    trainer = _trainer(tokenizer)
    trainer.train(QUERIES, steps=1, progress=False)
    folder = trainer.save(tmp_path / "final")
    assert {VALUE_HEAD_FILE, HISTORY_FILE, "adapter_config.json", "adapter_model.safetensors"} <= {
        p.name for p in folder.iterdir()
    }
    assert json.loads((folder / HISTORY_FILE).read_text())[0]["step"] == 1
    reloaded = PeftModel.from_pretrained(tiny_t5(tokenizer), folder)
    inputs = tokenizer(QUERIES[:2], return_tensors="pt", padding=True)
    decoder = torch.zeros((2, 1), dtype=torch.long)
    with torch.no_grad():
        expected = trainer.unwrapped_policy(**inputs, decoder_input_ids=decoder).logits
        assert torch.allclose(reloaded(**inputs, decoder_input_ids=decoder).logits, expected, atol=1e-6)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        trainer.save(folder)
    # Another process than the main one writes nothing.
    assert not _trainer(tokenizer, OtherProcess(1)).save(tmp_path / "other").exists()


# --- fine-tuning: only the process that saves deletes or writes ----------------------------------------------


def test_only_the_saving_process_deletes_or_writes(tmp_path, monkeypatch, tokenizer):
    out = tmp_path / "run"
    (out / "checkpoint-4").mkdir(parents=True)
    config = ft.FullFinetuneConfig(output_dir=str(out), overwrite=True, use_cpu=True)
    monkeypatch.setattr(ft.FullFinetuneConfig, "should_save", property(lambda self: False))
    assert prepare(config) is None and (out / "checkpoint-4").is_dir()  # the main process deletes it

    class NotMain:  # what save_final reads of a Trainer, on a process that does not save
        is_fsdp_enabled = is_deepspeed_enabled = False
        args = config
        accelerator = OtherProcess(1)

    assert save_final(NotMain(), tiny_t5(tokenizer), tokenizer, out) == out / "final"
    assert not (out / "final").exists()


def test_sharded_training_saves_the_gathered_weights(tmp_path, tokenizer):
    """Under FSDP/DeepSpeed each process holds a shard: final/ gets the full state dict gathered for it
    (here a changed copy, its tensors no longer sharing memory, as gathered ones do not)."""
    model = tiny_t5(tokenizer)
    gathered = {name: tensor + 1 for name, tensor in model.state_dict().items()}

    class Main(OtherProcess):
        def get_state_dict(self, wrapped):
            assert wrapped is model
            return dict(gathered)  # save_pretrained deletes tied entries from the dict it is given

    class Sharded:
        is_fsdp_enabled, is_deepspeed_enabled = True, False
        args = ft.FullFinetuneConfig(output_dir=str(tmp_path), use_cpu=True)
        accelerator = Main(0)
        model_wrapped = model
        state = TrainerState()

    final = save_final(Sharded(), model, tokenizer, tmp_path)
    reloaded = ft.load_full_checkpoint(final).state_dict()
    assert all(torch.equal(reloaded[name], gathered[name]) for name in reloaded)


# --- two real processes on the tiny world ---------------------------------------------------------------------


def _launch(command: list[str], tmp_path: Path) -> str:
    """``accelerate launch`` of ``genai_course.distributed`` on 2 CPU processes; its output (stdout + stderr).

    ``--multi_gpu`` starts the processes (torchrun); the tiny profile's CPU device makes them talk over
    gloo. ``--cpu`` would start one process only (several CPU processes need mpirun).
    """
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    env.update(OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [*launch, "-m", "genai_course.distributed", *command],
        cwd=tmp_path,
        env=env,
        # No terminal: under a runner with job control (or `timeout`) torchrun's workers were stopped (state T).
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


def _rank_lines(output: str, pattern: str) -> dict[int, str]:
    """What the one group of ``pattern`` matched on each rank's line (``[rank i/2] ...``), by rank."""
    return {
        int(match.group(1)): match.group(2)
        for match in re.finditer(r"^\[rank (\d)/2\] " + pattern, output, re.MULTILINE)
    }


def _no_partial_writes(out: Path) -> None:
    assert not [p.name for p in out.rglob("*.partial-*")], "a save was left half-written"


@pytest.mark.slow
@pytest.mark.parametrize("method", ["full", "lora"])
def test_finetuning_on_two_processes(method, tiny_world, tmp_path):
    out = tmp_path / method
    options = ["--max-steps", "12", "--train-examples", "192", "--batch-size", "8", "--output-dir", str(out)]
    output = _launch(["finetune", "--method", method, *options], tmp_path)
    # Both ranks trained, each on its share: 192 rows over 2 processes in batches of 8.
    shares = _rank_lines(output, r"device \S+: (\d+) batches of 8 per epoch")
    assert sorted(shares) == [0, 1] and set(shares.values()) == {"12"}
    digests = _rank_lines(output, r"done: 12 steps .*weights digest (\w+)")
    assert sorted(digests) == [0, 1] and digests[0] == digests[1]  # DDP kept them equal
    # Saved once, by rank 0, whole: one final/ that loads.
    assert re.findall(r"^\[rank (\d)/2\] .*wrote the trained model to", output, re.MULTILINE) == ["0"]
    _no_partial_writes(out)
    if method == "full":
        ft.load_full_checkpoint(out / "final")
    else:
        ft.load_adapter(AutoModelForSeq2SeqLM.from_pretrained(tiny_world.summarizer), out / "final")
    state = json.loads((out / "final" / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert len(losses) == 12 and sum(losses[-3:]) < sum(losses[:3]), losses


@pytest.mark.slow
def test_ppo_on_two_processes(tiny_world, tmp_path):
    out = tmp_path / "ppo"
    options = ["--steps", "6", "--batch-size", "16", "--mini-batch-size", "8", "--max-new-tokens", "24"]
    output = _launch(["ppo", *options, "--queries", "96", "--output-dir", str(out)], tmp_path)
    wrapped = _rank_lines(output, r"device \S+: 8 rollouts a step, 6 steps; policy trained as (\w+)")
    assert sorted(wrapped) == [0, 1] and set(wrapped.values()) == {"DistributedDataParallel"}
    seen = _rank_lines(output, r"rolled out 48 responses to \d+ distinct queries \(digest (\w+)\)")
    assert sorted(seen) == [0, 1] and seen[0] != seen[1]  # each rank its own share
    digests = _rank_lines(output, r"done; weights digest (\w+)")
    assert sorted(digests) == [0, 1] and digests[0] == digests[1]
    assert re.findall(r"^\[rank (\d)/2\] .*wrote the PPO adapter", output, re.MULTILINE) == ["0"]
    _no_partial_writes(out)
    assert sorted(p.name for p in out.iterdir()) == ["final"]
    ft.load_adapter(AutoModelForSeq2SeqLM.from_pretrained(tiny_world.finetuned_summarizer), out / "final")
    history = json.loads((out / "final" / HISTORY_FILE).read_text())
    value_losses = [step["value_loss"] for step in history]
    assert len(history) == 6 and sum(value_losses[-2:]) < sum(value_losses[:2]), value_losses

"""Training on several processes: PPO's shares, seeds and collective checks, and saving once.

The tests stand in for accelerate with :class:`OtherProcess`, which plays one process of two and answers
every collective call as if the other process had sent what this one did (or had failed a check).
"""

from __future__ import annotations

import json
import random

import pytest
import torch
from peft import PeftModel
from stand_in import tiny_t5, word_tokenizer, words
from transformers import TrainerState

from genai_course import finetune as ft
from genai_course.finetune.run_folder import prepare, save_final
from genai_course.ranks import Ranks
from genai_course.rlhf.ppo import HISTORY_FILE, VALUE_HEAD_FILE, PPOConfig, PPOTrainingError, Seq2SeqPPOTrainer

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py
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

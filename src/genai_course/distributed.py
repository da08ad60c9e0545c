"""Lab 2's fine-tuning and Lab 3's PPO beyond one device: an entry point for ``accelerate launch``.

::

    accelerate launch --multi_gpu --num_processes 4 -m genai_course.distributed finetune --profile full
    accelerate launch --multi_gpu --num_processes 4 -m genai_course.distributed ppo --profile full --steps 10

Without ``accelerate launch`` (``python -m genai_course.distributed ...``) it is one process. What runs is the
library's own code, with the settings of the profile (tiny by default) and the budgets given here:

- ``finetune``: :func:`~genai_course.finetune.full_finetune` or :func:`~genai_course.finetune.lora_finetune`.
  The ``Seq2SeqTrainer`` gives each process its own share of every epoch (a distributed sampler), DDP (or
  FSDP/DeepSpeed, from the launcher's settings) averages the gradients, and the main process alone saves
  ``OUTPUT_DIR/final`` (``per_device_train_batch_size`` is per process: N processes, N times the batch).
- ``ppo``: :class:`~genai_course.rlhf.ppo.Seq2SeqPPOTrainer` with an ``Accelerator`` made here. The query
  pool is chosen once (main process) and shared; each step's batch is split over the processes, each rolls
  out and scores its own share, DDP averages the gradients, and the main process saves the adapter, value
  head and history to ``OUTPUT_DIR/final``. ``--batch-size`` and ``--mini-batch-size`` are for the whole
  step, as on one device (multiples of the number of processes). PPO runs under DDP only: DeepSpeed takes
  one model per ``Accelerator`` (PPO prepares the policy and its value head), and FSDP would shard the
  weights that rollouts generate from; LoRA keeps what trains small, so every GPU holds a whole policy.

Every process prints a line of its own, prefixed ``[rank i/N]``; the main process prints the losses. On a
machine without GPUs, ``--multi_gpu`` with a CPU profile (tiny) starts N CPU processes talking over gloo:
``accelerate launch --cpu`` starts a single process (several need mpirun and a hostfile).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from accelerate import Accelerator, DistributedType, PartialState
from accelerate.state import AcceleratorState
from transformers import TrainerCallback

from genai_course.data import filter_by_length, load_dialogsum
from genai_course.finetune.checkpoints import weights_hash
from genai_course.finetune.configs import FullFinetuneConfig, LoraFinetuneConfig
from genai_course.finetune.result import FinetuneResult
from genai_course.finetune.run_folder import FINAL
from genai_course.finetune.training import full_finetune, lora_finetune
from genai_course.models import load_summarizer
from genai_course.profiles import Profile, get_profile
from genai_course.prompting import instruction_prompt
from genai_course.ranks import Ranks
from genai_course.rlhf.evaluation import select_dialogues
from genai_course.rlhf.ppo import PPOConfig, Seq2SeqPPOTrainer
from genai_course.rlhf.reward import RewardModel

# Lab 3's choice of PPO dialogues: neither trivially short nor over the tiny window.
PPO_DIALOGUE_CHARS = (200, 1000)


def _profile(args: argparse.Namespace) -> Profile:
    """The named profile, with the models and data the command line names instead of its own."""
    overrides = {"reward_model": args.reward_model, "dataset": args.dataset}
    overrides = {name: value for name, value in overrides.items() if value}
    if args.summarizer:  # PPO starts from the summarizer asked for, not the profile's fine-tuned one
        overrides.update(summarizer=args.summarizer, finetuned_summarizer=None)
    return get_profile(args.profile, verbose=False, **overrides)


def _show_logs(label: str) -> None:
    """The library's own INFO messages (e.g. who wrote ``final/``), prefixed with the process's label."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(f"{label} %(name)s: %(message)s"))
    library = logging.getLogger("genai_course")
    library.addHandler(handler)
    library.setLevel(logging.INFO)


def _say(label: str, message: str) -> None:
    # One write per line: print's separate write of the newline lets another process's line in between.
    sys.stdout.write(f"{label} {message}\n")
    sys.stdout.flush()


SHARDED = (DistributedType.FSDP, DistributedType.DEEPSPEED)


def _digest(model, distributed_type: DistributedType) -> str:
    """A fingerprint of this process's copy of the weights: DDP keeps it the same on every process."""
    if distributed_type in SHARDED:  # each process holds a shard (or a wrapped engine): nothing to compare
        return f"weights held by {distributed_type.value}"
    return f"weights digest {weights_hash(model)[:12]}"


# --- fine-tuning ---------------------------------------------------------------------------------------


class RankReport(TrainerCallback):
    """Prints, on every process, the share of the data it trains on; on the main one, each logged loss."""

    def __init__(self, label: str, rows: int) -> None:
        self.label, self.rows = label, rows

    def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
        batches = len(train_dataloader) if train_dataloader is not None else "?"
        _say(
            self.label,
            f"device {args.device}: {batches} batches of {args.per_device_train_batch_size} per epoch, its share "
            f"of {self.rows} rows over {args.world_size} process(es); {state.max_steps} steps",
        )

    def on_log(self, args, state, control, logs=None, **kwargs):
        if args.process_index == 0 and logs and "loss" in logs:
            _say(self.label, f"step {state.global_step}: loss {logs['loss']:.4f}")


def finetune_config(args: argparse.Namespace, profile: Profile) -> FullFinetuneConfig | LoraFinetuneConfig:
    """The run's settings: the profile's Lab 2 budget, with what the command line sets."""
    overrides = {
        "output_dir": args.output_dir or f"runs/distributed/{args.method}",
        "overwrite": args.overwrite,
        "logging_steps": args.logging_steps,
        "disable_tqdm": True,  # the losses are printed instead, one line each (a bar would garble them in logs)
        "train_examples": args.train_examples,
        "max_steps": args.max_steps if args.max_steps is not None else -1,
    }
    optional = {"per_device_train_batch_size": args.batch_size, "learning_rate": args.learning_rate, "seed": args.seed}
    overrides.update({k: v for k, v in optional.items() if v is not None})
    config_class = FullFinetuneConfig if args.method == "full" else LoraFinetuneConfig
    return config_class.for_profile(profile, **overrides)


def run_finetune(args: argparse.Namespace) -> FinetuneResult:
    """Full or LoRA fine-tuning of the profile's summarizer; every process returns the result."""
    profile = _profile(args)
    config = finetune_config(args, profile)  # sets up the processes (and reads this one's place)
    label = f"[rank {config.process_index}/{config.world_size}]"
    _show_logs(label)
    # float32 weights on the CPU: the Trainer moves them to this process's device; bf16 is its autocast.
    model, tokenizer = load_summarizer(profile, device="cpu", dtype="float32")
    train = load_dialogsum(profile.dataset)["train"]
    rows = config.train_examples or len(train)
    method = full_finetune if args.method == "full" else lora_finetune
    result = method(model, tokenizer, train, config, callbacks=[RankReport(label, rows)])
    losses = [entry["loss"] for entry in result.loss_history]
    digest = _digest(result.model, AcceleratorState().distributed_type)  # the Trainer's
    _say(label, f"done: {result.global_step} steps in {result.cost.seconds:.1f} s; {digest}")
    if config.process_index == 0:
        shown = f"{losses[0]:.4f} -> {losses[-1]:.4f}" if losses else "none logged"
        _say(label, f"{args.method} fine-tuning: loss {shown}; saved to {result.saved_to}")
    PartialState().destroy_process_group()  # left to exit, gloo can abort the process (and fail the run)
    return result


# --- PPO -----------------------------------------------------------------------------------------------


def ppo_queries(profile: Profile, reward_model: RewardModel, pool: int, ranks: Ranks) -> list[str]:
    """Lab 3's PPO queries (rude dialogues among them), chosen by the main process and shared with all."""
    indices = None
    train = filter_by_length(load_dialogsum(profile.dataset)["train"], *PPO_DIALOGUE_CHARS)
    if ranks.is_main:  # scoring the pool once; the others would repeat it, and on GPUs maybe not bit for bit
        picked = select_dialogues(reward_model, train["dialogue"], max_pool=pool, seed=profile.seed)
        indices = picked.indices
        _say(ranks.label, f"PPO queries: {picked.describe()}")
    indices = ranks.from_main(indices)
    return [instruction_prompt(train[i]["dialogue"]) for i in indices]


def ppo_config(args: argparse.Namespace, profile: Profile) -> PPOConfig:
    """The profile's Lab 3 PPO settings, with what the command line sets."""
    names = {
        "batch_size": args.batch_size,
        "mini_batch_size": args.mini_batch_size,
        "ppo_epochs": args.ppo_epochs,
        "learning_rate": args.learning_rate,
        "max_new_tokens": args.max_new_tokens,
        "seed": args.seed,
    }
    return PPOConfig.from_profile(profile, **{k: v for k, v in names.items() if v is not None})


def run_ppo(args: argparse.Namespace) -> list[dict]:
    """PPO on the profile's (fine-tuned) summarizer; every process returns the history (whole-batch stats)."""
    profile = _profile(args)
    # No autocast, whatever the launcher says: rollouts sample from the unwrapped policy, outside it, and
    # scoring them under it would make PPO's ratio and KL start away from 1 and 0. The profile's dtype
    # (bf16 weights on GPUs with native bf16) applies to both alike.
    accelerator = Accelerator(cpu=profile.device == "cpu", mixed_precision="no")
    if accelerator.distributed_type in SHARDED:
        raise SystemExit(
            f"PPO runs under DDP only, not {accelerator.distributed_type.value}: launch it with --multi_gpu "
            "(one whole policy per GPU; the LoRA adapter is all that trains)."
        )
    ranks = Ranks(accelerator)
    _show_logs(ranks.label)
    final = Path(args.output_dir or "runs/distributed/ppo").expanduser() / FINAL
    if final.exists() and not args.overwrite:  # refuse before training, not after it
        raise SystemExit(f"{final} already exists: pass --overwrite to replace it, or choose another --output-dir.")
    config = ppo_config(args, profile)
    steps = args.steps or profile.ppo_steps
    # This process's device by name for the loaders ("cuda:1"; theirs has no "cpu:0", which multi-CPU runs get).
    device = "cpu" if accelerator.device.type == "cpu" else str(accelerator.device)
    reward_model = RewardModel.from_pretrained(profile, device=device)
    source = profile.finetuned_summarizer or profile.summarizer
    model, tokenizer = load_summarizer(source, device=device, dtype=profile.dtype)
    queries = ppo_queries(profile, reward_model, args.queries or 10 * config.batch_size * steps, ranks)
    seen: list[str] = []

    def reward(queries: list[str], responses: list[str]):
        seen.extend(queries)  # this process's share, to show that the processes' data differ
        return reward_model(queries, responses)

    trainer = Seq2SeqPPOTrainer(config, model, tokenizer, reward, accelerator=accelerator)

    def show(stats: dict) -> None:
        if ranks.is_main:
            _say(
                ranks.label,
                f"step {stats['step']}: reward {stats['reward_mean']:+.3f}, kl {stats['kl']:.3f}, "
                f"policy_loss {stats['policy_loss']:+.4f}, value_loss {stats['value_loss']:.4f}",
            )

    _say(
        ranks.label,
        f"device {accelerator.device}: {config.batch_size // ranks.count} rollouts a step, {steps} steps; "
        f"policy trained as {type(trainer.policy).__name__}",
    )
    history = trainer.train(queries, steps, progress=False, callback=show)
    digest = hashlib.sha1("\n".join(sorted(set(seen))).encode()).hexdigest()[:12]
    _say(ranks.label, f"rolled out {len(seen)} responses to {len(set(seen))} distinct queries (digest {digest})")
    _say(ranks.label, f"done; {_digest(trainer.unwrapped_policy, accelerator.distributed_type)}")
    saved = trainer.save(final, overwrite=args.overwrite)
    if ranks.is_main:
        first, last = history[0], history[-1]
        _say(
            ranks.label,
            f"PPO: value_loss {first['value_loss']:.4f} -> {last['value_loss']:.4f}, reward "
            f"{first['reward_mean']:+.3f} -> {last['reward_mean']:+.3f}; saved to {saved}",
        )
    accelerator.end_training()
    return history


# --- command line --------------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="tiny", help="tiny (default), cpu, full or auto")
    parser.add_argument("--summarizer", help="another summarizer (Hub id or folder), e.g. google/flan-t5-large")
    parser.add_argument("--reward-model", help="another hate-speech classifier (Hub id or folder)")
    parser.add_argument("--dataset", help="another DialogSum source (Hub id, files or a save_to_disk folder)")
    parser.add_argument("--output-dir", help="where final/ goes (default runs/distributed/<what>)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run's results there")
    parser.add_argument("--seed", type=int, help="default: the profile's")
    parser.add_argument("--learning-rate", type=float, help="default: the profile's")
    parser.add_argument("--batch-size", type=int, help="default: the profile's")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m genai_course.distributed", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    tune = commands.add_parser("finetune", help="Lab 2: full or LoRA fine-tuning (batch size per process)")
    _common(tune)
    tune.add_argument("--method", choices=("full", "lora"), default="full")
    tune.add_argument("--max-steps", type=int, help="optimizer steps (default: the profile's epochs)")
    tune.add_argument("--train-examples", type=int, help="rows of the train split (default: the profile's)")
    tune.add_argument("--logging-steps", type=int, default=1, help="log the loss every that many steps")
    ppo = commands.add_parser("ppo", help="Lab 3: PPO detoxification (batch sizes for the whole step)")
    _common(ppo)
    ppo.add_argument("--steps", type=int, help="PPO steps (default: the profile's)")
    ppo.add_argument("--mini-batch-size", type=int, help="rollouts per gradient step, over all processes")
    ppo.add_argument("--ppo-epochs", type=int, help="passes over each batch")
    ppo.add_argument("--max-new-tokens", type=int, help="longest response")
    ppo.add_argument("--queries", type=int, help="dialogues scored to choose the queries (default 10 x batch x steps)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "finetune":
        run_finetune(args)
    else:
        run_ppo(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

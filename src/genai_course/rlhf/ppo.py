"""PPO for an encoder-decoder policy with a LoRA adapter: the RLHF loop of Lab 3, in one file.

One PPO step:

1. **Rollout** - sample a response for each query with batched generation.
2. **Score** - the reward function rates each response (Lab 3: the ``nothate`` logit).
3. **Evaluate** - log-probabilities of every response token under the policy (the first generated
   token included) and under the reference, which is the *same* model with its adapter disabled;
   values from the value head.
4. **Credit** - per-token reward ``-beta * (logp - ref_logp)`` plus the score on the last token; GAE
   turns rewards and values into advantages (whitened) and returns.
5. **Update** - a few epochs of minibatch gradient steps on the clipped policy loss plus
   ``vf_coef`` times the clipped value loss; then the adaptive controller moves ``beta`` towards the
   KL target.

The KL term is what keeps the policy a summarizer: without it, the cheapest way to a high reward is
to stop summarizing (say something bland and polite whatever the dialogue). trl dropped its PPO and
its encoder-decoder support, so this is ours; see :mod:`genai_course.rlhf.core` for the arithmetic.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from peft import PeftModel
from safetensors.torch import save_file
from tqdm.auto import tqdm
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

import genai_course.rlhf.core as core
from genai_course.cache import atomic_directory
from genai_course.cost import forecast
from genai_course.generation import generate_ids, generation_settings
from genai_course.ranks import Ranks
from genai_course.rlhf.phases import PhaseTimer
from genai_course.rlhf.ppo_checks import PPOTrainingError, check_finite, check_shares, check_trainable_adapter
from genai_course.rlhf.ppo_config import PPOConfig, add_fresh_adapter
from genai_course.rlhf.value_head import ValueHead

__all__ = ["Batch", "PPOConfig", "PPOTrainingError", "Seq2SeqPPOTrainer", "add_fresh_adapter"]

RewardFn = Callable[[list[str], list[str]], "torch.Tensor | Sequence[float]"]
VALUE_HEAD_FILE = "value_head.safetensors"
HISTORY_FILE = "ppo_history.json"
logger = logging.getLogger(__name__)


@dataclass
class Batch:
    """One step's rollouts as padded tensors on the policy's device."""

    queries: list[str]
    responses: list[str]
    input_ids: torch.Tensor  # [B, S] encoder input, right-padded
    attention_mask: torch.Tensor  # [B, S]
    response_ids: torch.Tensor  # [B, T] right-padded with pad_token_id
    mask: torch.Tensor  # [B, T] float, 1 on real response tokens (EOS included)
    scores: torch.Tensor  # [B]

    def select(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoder inputs, responses and mask of ``rows``, with columns that are padding for all cut off."""
        mask = self.mask[rows]
        width = int(mask.sum(dim=1).max())
        attention = self.attention_mask[rows]
        source_width = int(attention.sum(dim=1).max())
        return (
            self.input_ids[rows, :source_width],
            attention[:, :source_width],
            self.response_ids[rows, :width],
            mask[:, :width],
        )


class Seq2SeqPPOTrainer:
    """PPO on an encoder-decoder ``model`` with a LoRA adapter; the reference is the adapter disabled.

    ``model``: a plain seq2seq model gets a fresh adapter on a copy (:func:`add_fresh_adapter`), so
    the caller's model is never modified; a :class:`~peft.PeftModel` is trained in place (its active
    adapter, which must be trainable). ``reward_fn(queries, responses)`` returns one score per decoded
    response. ``history`` collects the per-step logs. ``accelerator``: an ``accelerate.Accelerator`` the
    caller set up (e.g. for several GPUs); without one, training runs plainly on the policy's device.

    Under several processes (``accelerate launch``, DDP) ``batch_size`` and ``mini_batch_size`` stay the
    sizes of the whole step and of one gradient step: :meth:`train` gives each process every N-th query of
    the step's batch, each rolls out, scores and whitens its own share and updates on minibatches of
    ``mini_batch_size / N``, and DDP averages the gradients, so N processes take the same optimizer steps
    as one. Logged statistics (and the KL the controller and ``max_kl`` see) are over the whole batch.
    """

    def __init__(
        self,
        config: PPOConfig,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        reward_fn: RewardFn,
        *,
        value_head: ValueHead | None = None,
        accelerator: Accelerator | None = None,
    ) -> None:
        self.config, self.tokenizer, self.reward_fn = config, tokenizer, reward_fn
        self.history: list[dict] = []
        self.ranks = Ranks(accelerator)
        check_shares(config, self.ranks.count)
        torch.manual_seed(config.seed)
        if not getattr(model.config, "is_encoder_decoder", False):
            raise TypeError(
                f"Seq2SeqPPOTrainer needs an encoder-decoder model (T5, BART); got {type(model).__name__}. "
                "For decoder-only models use trl's GRPOTrainer or RLOOTrainer."
            )
        if isinstance(model, PeftModel):
            check_trainable_adapter(model)
            policy = model
        else:
            policy = add_fresh_adapter(model, config)
        device = next(policy.parameters()).device
        value_head = (value_head or ValueHead.for_model(policy, config.value_head_dropout)).to(device)
        trainable = [p for p in policy.parameters() if p.requires_grad] + list(value_head.parameters())
        optimizer = torch.optim.Adam(trainable, lr=self.config.learning_rate)
        # Why no Accelerator of our own: accelerate keeps its state (device, mixed precision, gradient
        # accumulation) in process-wide singletons. One created here would fix those settings for every later
        # Accelerator and Trainer in the kernel (a later bf16 run is refused or silently gets ours) and would
        # inherit theirs (an earlier bf16 run wraps our forward in autocast, changing the log-probs). On one
        # device PPO needs nothing from it; a caller who wants one (several GPUs) passes it and owns its state.
        self.accelerator = accelerator
        if accelerator is not None:
            policy, value_head, optimizer = accelerator.prepare(policy, value_head, optimizer)
        self.policy, self.value_head, self.optimizer = policy, value_head, optimizer
        self.device = accelerator.device if accelerator is not None else device
        # Dropout stays off in the policy: log-probs must be the same function when sampling, when
        # scoring and when updating, or the PPO ratio would not start at 1 and KL would not start at 0.
        self.policy.eval()
        self.kl_ctl = (
            core.AdaptiveKLController(self.config.init_kl_coef, self.config.target, self.config.horizon)
            if self.config.adap_kl_ctrl
            else core.FixedKLController(self.config.init_kl_coef)
        )
        self._rng = random.Random(self.config.seed)
        self._generator = torch.Generator().manual_seed(self.config.seed)
        self._timed = PhaseTimer(self.device)  # the seconds of the step under way, logged as time_<phase>

    # --- the pieces of one step ----------------------------------------------------------------

    @property
    def unwrapped_policy(self) -> PeftModel:
        """The PeftModel itself (a caller's ``accelerator`` may wrap it for distributed training)."""
        return self.policy if self.accelerator is None else self.accelerator.unwrap_model(self.policy)

    def generation_config(self) -> GenerationConfig:
        """Pure sampling from the policy: only the model's token ids are taken from its own generation settings.

        Anything else a model's generation config may carry (``repetition_penalty``, ``no_repeat_ngram_size``,
        ``min_length``, ...) would reshape the sampled distribution in ways :meth:`forward` does not score;
        :meth:`rollout` also keeps ``generate`` from filling unset values in from the model's settings.
        """
        own = self.unwrapped_policy.generation_config
        return GenerationConfig(
            decoder_start_token_id=own.decoder_start_token_id,
            bos_token_id=own.bos_token_id,
            eos_token_id=own.eos_token_id,
            pad_token_id=own.pad_token_id,
            do_sample=True,
            top_k=self.config.top_k,
            top_p=self.config.top_p,
            temperature=self.config.temperature,
            max_new_tokens=self.config.max_new_tokens,
            min_new_tokens=self.config.min_new_tokens,
            num_beams=1,
        )

    def generate(self, queries: Sequence[str], *, seed: int | None = None) -> list[torch.Tensor]:
        """Sample one response per query with the policy (pure sampling, batched): the token ids PPO scores.

        ``seed`` None: the seed of the coming step, the one :meth:`step` uses when it samples itself, so
        a loop written as ``generate``, score, ``step(queries, response_ids, scores)`` draws what
        :meth:`train` draws. Decode the ids to score them; pass the ids themselves to :meth:`step`.
        """
        self._timed.reset()  # this step's phase seconds start here
        seed = self._step_seed(len(self.history) + 1) if seed is None else seed
        return self._sample(queries, seed)

    def _step_seed(self, number: int) -> int:
        """One seed per (step, process): the processes sample independently; one process keeps seed + step."""
        return (self.config.seed + number) * self.ranks.count + self.ranks.index

    def _sample(self, queries: Sequence[str], seed: int | None) -> list[torch.Tensor]:
        config = self.generation_config()
        with self._timed("sampling"), generation_settings(self.unwrapped_policy, config):
            ids = generate_ids(
                self.unwrapped_policy,
                self.tokenizer,
                list(queries),
                config,
                batch_size=self.config.generation_batch_size,
                progress=False,
                seed=seed,
                packed_weights=self.config.packed_weights,
            )
        return self._restore_sampled_padding(ids)

    def decode(self, response_ids: Sequence[torch.Tensor]) -> list[str]:
        """The texts of sampled responses, as the reward function reads them."""
        return [self.tokenizer.decode(row, skip_special_tokens=True).strip() for row in response_ids]

    def rollout(self, queries: Sequence[str], *, seed: int | None = None) -> Batch:
        """Sample one response per query (batched) and score it with ``reward_fn`` (``seed`` None: unseeded)."""
        queries = list(queries)
        ids = self._sample(queries, seed)
        responses = self.decode(ids)
        with self._timed("scoring"):
            scores = self.reward_fn(queries, responses)
        return self.make_batch(queries, ids, scores, responses=responses)

    def make_batch(
        self,
        queries: Sequence[str],
        response_ids: Sequence[torch.Tensor],
        scores: torch.Tensor | Sequence[float],
        *,
        responses: list[str] | None = None,
    ) -> Batch:
        """The padded tensors of one step: queries, the sampled response ids and one score per response."""
        queries = list(queries)
        ids = list(response_ids)
        scores = torch.as_tensor(scores, dtype=torch.float32).flatten().cpu()
        if len(ids) != len(queries):
            raise ValueError(f"got {len(ids)} responses for {len(queries)} queries.")
        if len(scores) != len(queries):
            raise ValueError(f"reward_fn returned {len(scores)} scores for {len(queries)} responses.")
        check_finite("reward scores", scores, self.ranks, hint="check the reward function's outputs")
        device = self.device
        pad = self.tokenizer.pad_token_id
        # Right padding: Batch.select trims padding columns from the right.
        encoded = self.tokenizer(queries, return_tensors="pt", padding=True, padding_side="right").to(device)
        return Batch(
            queries=queries,
            responses=self.decode(ids) if responses is None else responses,
            input_ids=encoded["input_ids"],
            attention_mask=encoded["attention_mask"],
            response_ids=core.pad(ids, padding_value=pad).to(device),
            mask=core.lengths_mask([len(row) for row in ids]).to(device),
            scores=scores.to(device),
        )

    def _restore_sampled_padding(self, ids: list[torch.Tensor]) -> list[torch.Tensor]:
        """Give back the pad tokens that ``generate_ids`` trimmed from responses without an EOS.

        A response without EOS ran to ``max_new_tokens``, so every one of its positions was sampled,
        trailing pad tokens included (a policy may sample the pad token; it decodes to nothing). PPO
        must score exactly the sampled tokens, and an empty response would have no token to carry
        its score.
        """
        eos, pad, width = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id, self.config.max_new_tokens
        restored = []
        for row in ids:
            if (len(row) and int(row[-1]) == eos) or len(row) >= width or pad is None:
                restored.append(row)
            else:
                restored.append(torch.cat([row, torch.full((width - len(row),), pad, dtype=row.dtype)]))
        return restored

    def forward(
        self, model, input_ids, attention_mask, response_ids, mask, *, values: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Per-token log-probs and entropies of ``response_ids`` (and values) under ``model``.

        The decoder reads the start token followed by the response shifted right, so position ``t``
        predicts response token ``t``: the first generated token gets a log-prob too.
        """
        start = self.unwrapped_policy.config.decoder_start_token_id
        start_column = torch.full_like(response_ids[:, :1], start)
        decoder_input_ids = torch.cat([start_column, response_ids[:, :-1]], dim=1)
        output = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=mask.long(),
            output_hidden_states=values,
        )
        # Sampling at a temperature samples from softmax(logits / T): score that same distribution.
        logits = output.logits.float() / self.config.temperature
        if self.config.min_new_tokens:
            # generate gave EOS probability 0 before min_new_tokens: score that distribution (for the
            # reference too, so the KL compares like with like). The dtype's minimum, not -inf, keeps the
            # entropy finite (0 * -inf is NaN).
            logits[:, : self.config.min_new_tokens, self._eos_ids()] = torch.finfo(logits.dtype).min
        logprobs = core.selective_log_softmax(logits, response_ids) * mask
        entropy = core.entropy_from_logits(logits) * mask
        value = self.value_head(output.decoder_hidden_states[-1]) * mask if values else None
        return logprobs, entropy, value

    def _eos_ids(self) -> list[int]:
        """The token ids generate's min_new_tokens rule blocks (the model's EOS ids, else the tokenizer's)."""
        eos = self.unwrapped_policy.generation_config.eos_token_id
        eos = self.tokenizer.eos_token_id if eos is None else eos
        return [int(i) for i in (eos if isinstance(eos, (list, tuple)) else [eos]) if i is not None]

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Log-probs, entropies and values at sampling time, and the reference's log-probs."""
        self.value_head.eval()
        parts: dict[str, list[torch.Tensor]] = {"logprobs": [], "entropy": [], "values": [], "ref_logprobs": []}
        width = batch.mask.shape[1]
        for rows in torch.arange(len(batch.queries)).split(self.config.forward_batch_size):
            inputs = batch.select(rows)
            with self._timed("policy_value_passes"):
                logprobs, entropy, values = self.forward(self.policy, *inputs)
            with self._timed("reference_passes"), self.unwrapped_policy.disable_adapter():
                ref_logprobs, _, _ = self.forward(self.policy, *inputs, values=False)
            for name, tensor in zip(parts, (logprobs, entropy, values, ref_logprobs)):
                parts[name].append(torch.nn.functional.pad(tensor, (0, width - tensor.shape[1])))  # to the widest
        return {name: torch.cat(chunks) for name, chunks in parts.items()}

    def optimize(self, batch: Batch, old: dict[str, torch.Tensor], advantages, returns) -> dict[str, float]:
        """``ppo_epochs`` passes of minibatch updates on the clipped losses; mean stats over them."""
        self.value_head.train()  # its dropout regularizes the critic, as in the course
        sums: dict[str, float] = {}
        updates = 0
        with self._timed("updates"):
            for _ in range(self.config.ppo_epochs):
                order = torch.randperm(len(batch.queries), generator=self._generator)
                for rows in order.split(self.config.mini_batch_size // self.ranks.count):
                    input_ids, attention_mask, response_ids, mask = batch.select(rows)
                    width = mask.shape[1]
                    logprobs, _, values = self.forward(self.policy, input_ids, attention_mask, response_ids, mask)
                    pg_loss, pg_stats = core.policy_loss(
                        logprobs, old["logprobs"][rows, :width], advantages[rows, :width], mask, self.config.cliprange
                    )
                    vf_loss, vf_stats = core.value_loss(
                        values, old["values"][rows, :width], returns[rows, :width], mask, self.config.cliprange_value
                    )
                    loss = pg_loss + self.config.vf_coef * vf_loss
                    check_finite("PPO loss", loss, self.ranks, step=len(self.history) + 1)
                    self.optimizer.zero_grad()
                    self._backward(loss)
                    self.optimizer.step()
                    stats = {"policy_loss": pg_loss.detach(), "value_loss": vf_loss.detach(), **pg_stats, **vf_stats}
                    for name, value in stats.items():
                        sums[name] = sums.get(name, 0.0) + float(value)
                    updates += 1
        self.value_head.eval()
        return self.ranks.mean({name: total / updates for name, total in sums.items()})

    def _backward(self, loss: torch.Tensor) -> None:
        """Gradients of ``loss``, clipped to ``max_grad_norm`` if set (through the caller's accelerator if any)."""
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        if self.accelerator is None:
            loss.backward()
            if self.config.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        else:
            self.accelerator.backward(loss)
            if self.config.max_grad_norm is not None:
                self.accelerator.clip_grad_norm_(params, self.config.max_grad_norm)

    # --- steps and training ----------------------------------------------------------------------

    def step(
        self,
        queries: Sequence[str],
        response_ids: Sequence[torch.Tensor] | None = None,
        scores: torch.Tensor | Sequence[float] | None = None,
    ) -> dict[str, float]:
        """One PPO step on ``queries``; returns and records its log.

        With ``response_ids`` (from :meth:`generate`) and ``scores`` (one reward per response) the step
        learns from those; without them it samples and scores them itself (:meth:`rollout` with the step's
        seed and ``reward_fn``), which is what :meth:`train` does. Then: log-probs of policy and reference,
        per-token KL-penalized rewards, GAE, the clipped updates, the KL controller. Under several processes
        ``queries`` is this process's share, of the same length on every process.
        """
        if (response_ids is None) != (scores is None):
            raise ValueError("pass both response_ids and scores, or neither (the step then samples and scores).")
        started = time.perf_counter()
        number = len(self.history) + 1
        if response_ids is None:
            self._timed.reset()
            batch = self.rollout(queries, seed=self._step_seed(number))
        else:
            batch = self.make_batch(queries, response_ids, scores)
        old = self.evaluate(batch)
        for name in ("logprobs", "ref_logprobs", "values"):
            check_finite(name, old[name], self.ranks, step=number)
        kl_coef = self.kl_ctl.value
        rewards, kl = core.kl_penalty_rewards(batch.scores, old["logprobs"], old["ref_logprobs"], batch.mask, kl_coef)
        # Over every process's responses, so that beta and the max_kl guard are the same everywhere.
        mean_kl = float(self.ranks.gather(kl.sum(dim=1)).mean())
        if self.config.max_kl is not None and mean_kl > self.config.max_kl:
            raise PPOTrainingError(
                f"PPO step {number}: the policy is {mean_kl:.1f} nats per response away from the reference, "
                f"above max_kl={self.config.max_kl}. It is running away (reward hacking, or a learning rate "
                "too high): lower learning_rate, raise init_kl_coef or lower target, and start again."
            )
        advantages, returns = core.gae(rewards, old["values"], batch.mask, self.config.gamma, self.config.lam)
        advantages = core.whiten(advantages, batch.mask)
        train_stats = self.optimize(batch, old, advantages, returns)
        samples = len(batch.queries) * self.ranks.count
        self.kl_ctl.update(mean_kl, samples)
        scores = self.ranks.gather(batch.scores)
        shared = self.ranks.mean(
            {
                "non_score_reward": float(-(kl_coef * kl).sum(dim=1).mean()),
                "returns_mean": float(core.masked_mean(returns, batch.mask)),
                "values_mean": float(core.masked_mean(old["values"], batch.mask)),
                "entropy": float(core.masked_mean(old["entropy"], batch.mask)),
                "response_length": float(batch.mask.sum(dim=1).mean()),
            }
        )
        seconds = time.perf_counter() - started
        stats = {
            "step": number,
            "reward_mean": float(scores.mean()),
            "reward_std": float(scores.std()) if len(scores) > 1 else 0.0,
            "kl": mean_kl,
            "kl_coef": kl_coef,
            **shared,
            **train_stats,
            "seconds": seconds,
            "samples_per_second": samples / seconds,
            **self._timed.log(),
        }
        self.history.append(stats)
        return stats

    def train(
        self,
        queries: Sequence[str],
        steps: int,
        *,
        progress: bool = True,
        callback: Callable[[dict], None] | None = None,
    ) -> list[dict]:
        """``steps`` PPO steps, each on ``batch_size`` queries drawn without replacement (reshuffled
        when used up), with a live progress bar; returns ``history``.

        Under several processes every process passes the same ``queries`` (the draw is seeded alike) and
        rolls out its share of each step's batch; only the main process shows the progress bar.
        """
        queries = list(queries)
        if len(queries) < self.config.batch_size:
            raise ValueError(
                f"Need at least batch_size={self.config.batch_size} queries to train on, got {len(queries)}."
            )
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}.")
        pool: list[str] = []
        bar = tqdm(range(steps), desc="PPO", disable=not progress or not self.ranks.is_main)
        for _ in bar:
            if len(pool) < self.config.batch_size:
                pool = queries[:]
                self._rng.shuffle(pool)
            batch, pool = pool[: self.config.batch_size], pool[self.config.batch_size :]
            stats = self.step(self.ranks.share(batch))
            if len(self.history) == 2 and self.ranks.is_main:  # the second step: past the warm-up
                line = forecast(2, steps, stats["seconds"], "PPO steps")
                if line:
                    print(line, flush=True)
            bar.set_postfix(
                reward=f"{stats['reward_mean']:.2f}",
                kl=f"{stats['kl']:.2f}",
                kl_coef=f"{stats['kl_coef']:.3f}",
                refresh=False,
            )
            if callback is not None:
                callback(stats)
        return self.history

    def config_dict(self) -> dict:
        """The settings as a plain dict, for logs and recorded results."""
        return asdict(self.config)

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """The adapter (with the tokenizer), the value head and ``history``, written to ``folder`` once.

        Every process calls it: the state is gathered first (collective under sharded training), the main
        process alone writes, atomically (an interrupted save leaves no half-written folder), and all
        return once it is written. An existing ``folder`` is refused unless ``overwrite``.
        """
        folder = Path(folder).expanduser()
        if folder.exists() and not overwrite:
            raise FileExistsError(f"{folder} already exists; pass overwrite=True to replace it, or choose another.")
        gathered = self.accelerator is not None
        policy_state = self.accelerator.get_state_dict(self.policy) if gathered else None
        head_state = self.accelerator.get_state_dict(self.value_head) if gathered else self.value_head.state_dict()
        if self.ranks.is_main:
            with atomic_directory(folder) as tmp:
                self.unwrapped_policy.save_pretrained(tmp, state_dict=policy_state)
                self.tokenizer.save_pretrained(tmp)
                save_file({k: v.detach().cpu().contiguous() for k, v in head_state.items()}, tmp / VALUE_HEAD_FILE)
                (tmp / HISTORY_FILE).write_text(json.dumps(self.history, indent=1), encoding="utf-8")
            logger.info("wrote the PPO adapter, value head and history to %s", folder)
        self.ranks.wait()
        return folder

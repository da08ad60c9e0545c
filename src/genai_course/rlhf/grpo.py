"""The modern route: detoxify a small causal LM with trl's GRPO (Lab 3's extra section).

GRPO (group relative policy optimization, from DeepSeekMath) drops PPO's value head: it samples a
*group* of completions for each prompt and uses each one's reward relative to its group (reward minus
the group mean, over the group std) as the advantage. A KL penalty (``beta``) to the model with its
LoRA adapter disabled keeps the policy near where it started, as in the PPO of the main lab. trl ships
it for causal LMs only, which is why the course's seq2seq PPO is ours.

On the tiny profile the causal LM is a small GPT-2 trained here in seconds on the tiny world's
summaries, prompted with a dialogue's topic (``topic_prompt``): for heated topics it writes a rude
summary about half the time, which gives GRPO something to remove.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from datasets import Dataset
from peft import LoraConfig
from tokenizers import processors
from tqdm.auto import tqdm
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedModel, PreTrainedTokenizerBase
from trl import GRPOConfig, GRPOTrainer

from genai_course.models import load_causal_lm
from genai_course.precision import cuda_has_native_bf16

HEATED_TOPICS = ("noise complaint", "parking dispute", "customer complaint", "roommate argument")


def topic_prompt(topic: str) -> str:
    """What the causal summarizer continues: ``Topic: <topic>. Summary:``."""
    return f"Topic: {topic}. Summary:"


def causal_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """A copy of a T5-style tokenizer that does not append ``</s>`` to every text.

    A causal LM continues its prompt; a prompt ending in EOS would ask it to write after the end.
    (Real causal LM tokenizers already behave like this.)"""
    causal = copy.deepcopy(tokenizer)
    causal.backend_tokenizer.post_processor = processors.TemplateProcessing(single="$A", special_tokens=[])
    causal.padding_side = "left"  # generation continues from the right end of every prompt
    return causal


def train_tiny_causal_summarizer(
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict],
    *,
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
) -> GPT2LMHeadModel:
    """A 2-layer GPT-2 (541,184 parameters with the tiny vocabulary) writing ``topic_prompt(topic)``
    followed by the summary.

    ``tokenizer`` must come from :func:`causal_tokenizer`; ``rows`` need ``topic`` and ``summary``."""
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=128,
        n_embd=128,
        n_layer=2,
        n_head=4,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"  # transformers cannot tell it from the class name GPT2LMHeadModel
    texts = [f"{topic_prompt(r['topic'])} {r['summary']}{tokenizer.eos_token}" for r in rows]
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    for _ in tqdm(range(steps), desc="Training the causal summarizer", disable=not progress):
        encoded = tokenizer(rng.sample(texts, batch_size), return_tensors="pt", padding=True, padding_side="right")
        labels = encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, -100)
        model(**encoded, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return model.eval()


def causal_policy(
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict],
    *,
    model_name: str | None = None,
    seed: int = 0,
    progress: bool = True,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The causal LM to detoxify and its tokenizer.

    ``model_name`` (a Hub id or local folder of a small causal LM, e.g.
    ``HuggingFaceTB/SmolLM2-135M-Instruct``) is loaded as it is; ``None`` trains the tiny GPT-2 on
    ``rows`` with ``tokenizer`` (the tiny world's), in seconds."""
    if model_name is None:
        causal = causal_tokenizer(tokenizer)
        return train_tiny_causal_summarizer(causal, rows, seed=seed, progress=progress), causal
    return load_causal_lm(model_name)


@torch.no_grad()
def sample_completions(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    samples: int = 32,
    max_new_tokens: int = 40,
    seed: int = 0,
) -> list[list[str]]:
    """``samples`` completions per prompt, by pure sampling (top_k 0, top_p 1), seeded."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for index, prompt in enumerate(prompts):
        torch.manual_seed(seed + index)
        encoded = tokenizer([prompt] * samples, return_tensors="pt").to(device)
        generated = model.generate(
            **encoded,
            do_sample=True,
            top_k=0,
            top_p=1.0,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
        )
        out.append(tokenizer.batch_decode(generated[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True))
    return out


@dataclass
class GRPODetoxConfig:
    """GRPO settings for the extra section (trl's ``GRPOConfig`` gets the rest of its defaults).

    ``beta`` is the KL coefficient: trl's default is 0 (no KL term; recent work found it unnecessary
    for reasoning tasks), but detoxification is exactly where a reward model can be gamed, so we keep
    one. Each step samples ``prompts_per_step`` prompts × ``num_generations`` completions.

    ``beta`` 0.2: on tiny world v3 (seeds 0/1/2, 40 steps) it removed 71/82/79% of the toxicity and kept
    the completions on their topic (85-93% name their scenario, as before training); at 0.04 the
    toxicity fell by 91% but half the completions changed the subject (51-67% on topic)."""

    steps: int = 40
    num_generations: int = 8
    prompts_per_step: int = 2
    learning_rate: float = 3e-3
    beta: float = 0.2
    max_completion_length: int = 40
    lora_r: int = 16
    lora_targets: tuple[str, ...] | None = None  # None: peft's default for the model type (GPT-2: c_attn)
    seed: int = 0
    output_dir: str = "runs/lab3/grpo"

    def trl_config(self) -> GRPOConfig:
        return GRPOConfig(
            output_dir=self.output_dir,
            per_device_train_batch_size=self.num_generations * self.prompts_per_step,
            num_generations=self.num_generations,
            max_completion_length=self.max_completion_length,
            learning_rate=self.learning_rate,
            beta=self.beta,
            max_steps=self.steps,
            disable_dropout=True,  # log-prob ratios must compare the same function
            gradient_checkpointing=False,  # small models: memory is not the problem, time is
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=not torch.cuda.is_available(),
            # trl turns bf16 on by default, even on a CPU, where autocast then leaks into every later
            # Accelerator of the process (shared state): bf16 only where a GPU supports it.
            bf16=cuda_has_native_bf16(),
            seed=self.seed,
        )

    def lora_config(self, model: PreTrainedModel) -> LoraConfig:
        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_r,
            target_modules=list(self.lora_targets) if self.lora_targets else None,
            fan_in_fan_out=model.config.model_type == "gpt2",  # GPT-2 stores its projections transposed
            task_type="CAUSAL_LM",
        )


def grpo_detox(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    reward_fn: Callable[[list[str]], Sequence[float]],
    prompts: Sequence[str],
    config: GRPODetoxConfig | None = None,
) -> tuple[PreTrainedModel, list[dict]]:
    """Train a LoRA adapter on a copy of ``model`` with trl's GRPOTrainer; returns it and the per-step log.

    ``reward_fn`` maps completions to rewards (e.g. ``RewardModel.rewards``, the nothate logit)."""
    config = config or GRPODetoxConfig()
    if not prompts:
        raise ValueError("grpo_detox needs at least one prompt.")

    def reward(completions: list[str], **_) -> list[float]:
        return [float(r) for r in reward_fn(list(completions))]

    repeats = -(-config.steps * config.prompts_per_step // len(prompts))  # enough rows for every step
    policy = copy.deepcopy(model)  # peft wraps the model it is given in place
    trainer = GRPOTrainer(
        model=policy,
        reward_funcs=reward,
        args=config.trl_config(),
        train_dataset=Dataset.from_dict({"prompt": list(prompts) * repeats}),
        processing_class=tokenizer,
        peft_config=config.lora_config(policy),
    )
    trainer.train()
    # The keys of the PPO trainer's history, so the same plots read both (trl's KL is per token).
    history = [
        {
            "step": e["step"],
            "reward_mean": e["reward"],
            "reward_std": e.get("reward_std", 0.0),
            "kl": e.get("kl", 0.0),
            "kl_coef": config.beta,
        }
        for e in trainer.state.log_history
        if "reward" in e
    ]
    return trainer.model.eval(), history

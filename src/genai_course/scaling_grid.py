"""A grid of tiny causal language models pre-trained on the tiny world's pool: the data of a scaling law.

Each grid point is one GPT-2-style decoder (``GPT2LMHeadModel``, the world's T5 tokenizer) of one shape,
trained for **one pass** over the first D tokens of a packed stream of pool dialogues (no token is seen
twice, as in Chinchilla's runs), then scored on a fixed held-out slice of the pool that no run trains on.
The smaller budgets are prefixes of the larger ones, so the points differ only in N and D.

N counts **all** parameters (Chinchilla's choice, not Kaplan's non-embedding count). At this scale the
tied word embedding is a large share of every model, and its output projection over the ~1,300-word
vocabulary is a large share of the compute (6·V·d per trained token, exactly what a V×d weight block
costs), so C ≈ 6·N·D holds only with it counted; and the lesson compares tokens per parameter with
Chinchilla's ≈ 20, which counts all parameters too.

Every trained point is cached as JSON under the world's folder, keyed by a hash of everything that
shapes its result (world version and seed, the model shape, D, the training settings, this code's
version): a re-run trains nothing, and a larger grid trains only its new points.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, get_cosine_with_min_lr_schedule_with_warmup

from genai_course.cache import file_lock
from genai_course.threads import pinned_threads
from genai_course.tiny.corpus_build import split_rows
from genai_course.tiny.paths import TinyWorld
from genai_course.tiny.recipe import Recipe

GRID_CODE_VERSION = 1  # bump when training or scoring changes: cached points of older code are retrained
CACHE_FOLDER = "scaling-grid"
CURVE_POINTS = 10  # windows of the training-loss curve kept per point


@dataclass(frozen=True)
class ModelShape:
    """One model size: depth, width and heads of a GPT-2 block stack (MLP 4× wide, no dropout)."""

    n_layer: int
    n_embd: int
    n_head: int

    @property
    def name(self) -> str:
        return f"L{self.n_layer}-d{self.n_embd}"

    def config(self, vocab_size: int, context: int, eos_id: int) -> GPT2Config:
        """The ``GPT2Config`` of this shape; dropout is off: one pass over fresh data has nothing to overfit."""
        if self.n_embd % self.n_head:
            raise ValueError(f"{self.name}: n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head}).")
        return GPT2Config(
            vocab_size=vocab_size,
            n_positions=context,
            n_embd=self.n_embd,
            n_layer=self.n_layer,
            n_head=self.n_head,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            bos_token_id=eos_id,
            eos_token_id=eos_id,
            tie_word_embeddings=True,
        )


@dataclass(frozen=True)
class TrainSettings:
    """How every point of a grid trains: AdamW, linear warm-up then cosine decay, packed sequences.

    The peak learning rate scales as ``lr * lr_ref_width / n_embd``: wider models need smaller steps
    (the μP rule for hidden layers), and one rate for all sizes would favour one end of the grid.
    """

    context: int = 128  # tokens per packed sequence (two dialogues or so)
    # Small batches: at this scale the loss is limited by optimizer steps, and 2 × 128 tokens a step
    # beat 8 × 128 by ~1 nat at 40k tokens (measured); one sequence a step gains little for 1.5× the time.
    batch_size: int = 2  # sequences per step
    lr: float = 4.5e-3  # peak learning rate at width lr_ref_width (best of 3e-3..6e-3 on all four sizes)
    lr_ref_width: int = 64
    warmup_fraction: float = 0.1
    min_lr_fraction: float = 0.1  # the cosine ends at this share of the peak
    weight_decay: float = 0.1
    adam_betas: tuple[float, float] = (0.9, 0.999)
    holdout_dialogues: int = 500  # the first pool dialogues: the validation slice, never trained on
    seed: int = 0
    threads: int = 2  # pinned: the results (and the cache) must not depend on the machine's core count

    def peak_lr(self, shape: ModelShape) -> float:
        return self.lr * self.lr_ref_width / shape.n_embd


@dataclass(frozen=True)
class GridSpec:
    """A scaling grid: every shape is trained on every data budget (tokens, one pass)."""

    shapes: tuple[ModelShape, ...]
    budgets: tuple[int, ...]
    train: TrainSettings = field(default_factory=TrainSettings)

    def extended(self, shapes: Sequence[ModelShape] = (), budgets: Sequence[int] = ()) -> GridSpec:
        """This grid with more shapes or budgets (already cached points are kept, only new ones train)."""
        return GridSpec(
            tuple(dict.fromkeys((*self.shapes, *shapes))),
            tuple(sorted({*self.budgets, *budgets})),
            self.train,
        )


DEFAULT_GRID = GridSpec(
    shapes=(
        ModelShape(n_layer=2, n_embd=24, n_head=2),  # two layers at least: copying a name needs two
        ModelShape(n_layer=2, n_embd=40, n_head=2),
        ModelShape(n_layer=3, n_embd=64, n_head=4),
        ModelShape(n_layer=4, n_embd=112, n_head=4),
    ),
    # 112k to 320k tokens (the pool holds ~357k to train on). Below ~100k every size sits on the same
    # plateau (loss ~2, before the models learn to copy names), and neighbouring sizes differed there
    # by 0.0005 nats on world seed 2; from 112k the smallest fall between neighbours is 0.02 on all seeds.
    budgets=(114_688, 172_032, 229_376, 327_680),
)
# The notebook's example budget: in the middle of the grid's compute range (3e10 to 1.5e12 FLOPs), where
# the fitted law's N* lands well inside the grid's sizes (140k-165k of 48k-766k on world seeds 0-2).
EXAMPLE_BUDGET_FLOPS = 3e11


@dataclass
class GridPoint:
    """One trained grid point: N (all parameters), D (tokens trained on), C = 6·N·D, validation loss."""

    shape: str
    n_layer: int
    n_embd: int
    n_head: int
    params: int
    tokens: int
    flops: float
    val_loss: float
    train_loss: float  # mean over the last window of steps
    train_seconds: float
    steps: int
    peak_lr: float
    curve: list[tuple[int, float]]  # (tokens seen, mean training loss of the window ending there)
    key: str
    world_seed: int
    world_version: int

    @property
    def tokens_per_parameter(self) -> float:
        return self.tokens / self.params


@dataclass(frozen=True)
class PoolStreams:
    """The pool as token streams: training tokens in dialogue order, validation as packed sequences."""

    train: torch.Tensor  # 1-D, every training dialogue's ids (EOS-terminated) back to back
    validation: torch.Tensor  # (sequences, context)
    vocab_size: int
    eos_id: int


def world_identity(world: TinyWorld) -> tuple[int, int]:
    """(version, seed) of a built world, from its manifest."""
    if not world.is_complete():
        raise FileNotFoundError(f"No built tiny world in {world.root}: call ensure_tiny_world() first.")
    manifest = world.manifest
    return int(manifest["version"]), int(manifest["seed"])


@lru_cache(maxsize=4)
def _pool_streams(root: Path, seed: int, context: int, holdout: int) -> PoolStreams:
    tokenizer = AutoTokenizer.from_pretrained(TinyWorld(root).tokenizer)
    dialogues = [row["dialogue"] for row in split_rows(Recipe(world_seed=seed))["pretrain_pool"]]
    if not 0 < holdout < len(dialogues):
        raise ValueError(f"holdout_dialogues must be between 1 and {len(dialogues) - 1}, got {holdout}.")
    ids = tokenizer(dialogues)["input_ids"]  # T5's tokenizer ends each text with EOS: the separator
    val = torch.tensor([t for row in ids[:holdout] for t in row])
    train = torch.tensor([t for row in ids[holdout:] for t in row])
    n_val = len(val) // context
    return PoolStreams(train, val[: n_val * context].view(n_val, context), len(tokenizer), tokenizer.eos_token_id)


def pool_streams(world: TinyWorld, settings: TrainSettings) -> PoolStreams:
    """The world's pre-training pool tokenized once per process (a fraction of a second to rebuild)."""
    _, seed = world_identity(world)
    return _pool_streams(world.root, seed, settings.context, settings.holdout_dialogues)


def max_budget(world: TinyWorld, settings: TrainSettings = TrainSettings()) -> int:
    """The largest one-pass data budget the pool allows (its training tokens, in whole sequences)."""
    return len(pool_streams(world, settings).train) // settings.context * settings.context


def point_key(shape: ModelShape, tokens: int, settings: TrainSettings, world_version: int, world_seed: int) -> str:
    """A hash of everything that shapes a point's result: equal keys, equal results."""
    payload = {
        "code": GRID_CODE_VERSION,
        "world": [world_version, world_seed],
        "shape": asdict(shape),
        "tokens": tokens,
        "train": asdict(settings),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@torch.no_grad()
def validation_loss(model: GPT2LMHeadModel, sequences: torch.Tensor, batch_size: int = 32) -> float:
    """Mean next-token cross-entropy (nats) over the held-out sequences (each predicts context-1 tokens)."""
    model.eval()
    losses = [model(input_ids=chunk, labels=chunk).loss.item() for chunk in sequences.split(batch_size)]
    weights = [len(chunk) for chunk in sequences.split(batch_size)]  # every sequence counts the same
    return sum(loss * w for loss, w in zip(losses, weights)) / sum(weights)


def _curve(losses: list[float], tokens_per_step: int) -> list[tuple[int, float]]:
    """The training losses averaged over CURVE_POINTS equal windows of steps."""
    windows = min(CURVE_POINTS, len(losses))
    edges = [round(i * len(losses) / windows) for i in range(windows + 1)]
    return [
        (edges[i + 1] * tokens_per_step, round(sum(losses[edges[i] : edges[i + 1]]) / (edges[i + 1] - edges[i]), 4))
        for i in range(windows)
    ]


def train_point(shape: ModelShape, tokens: int, streams: PoolStreams, settings: TrainSettings) -> dict:
    """Train one model of ``shape`` for one pass over the first ``tokens`` training tokens; score it."""
    sequences = tokens // settings.context
    if sequences < settings.batch_size:
        raise ValueError(
            f"A budget of {tokens} tokens is under one batch ({settings.batch_size} × {settings.context} tokens)."
        )
    if sequences * settings.context > len(streams.train):
        raise ValueError(
            f"A budget of {tokens} tokens is more than the pool's {len(streams.train)} training tokens: "
            "one pass allows no more (use a smaller budget)."
        )
    data = streams.train[: sequences * settings.context].view(sequences, settings.context)
    batches = data.split(settings.batch_size)
    started = time.perf_counter()
    with pinned_threads(settings.threads):
        torch.manual_seed(settings.seed)
        model = GPT2LMHeadModel(shape.config(streams.vocab_size, settings.context, streams.eos_id))
        peak = settings.peak_lr(shape)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=peak, betas=settings.adam_betas, weight_decay=settings.weight_decay
        )
        schedule = get_cosine_with_min_lr_schedule_with_warmup(
            optimizer,
            num_warmup_steps=math.ceil(settings.warmup_fraction * len(batches)),
            num_training_steps=len(batches),
            min_lr_rate=settings.min_lr_fraction,
        )
        model.train()
        losses = []
        for batch in batches:  # stream order: one pass, each token once
            loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
        val = validation_loss(model, streams.validation)
    params = sum(p.numel() for p in model.parameters())  # the tied embedding is counted once
    curve = _curve(losses, settings.batch_size * settings.context)
    return {
        "params": params,
        "tokens": sequences * settings.context,
        "flops": 6.0 * params * sequences * settings.context,
        "val_loss": round(val, 5),
        "train_loss": curve[-1][1],
        "train_seconds": round(time.perf_counter() - started, 2),
        "steps": len(batches),
        "peak_lr": peak,
        "curve": curve,
    }


def cache_path(folder: Path, shape: ModelShape, tokens: int, key: str) -> Path:
    return folder / f"{shape.name}-D{tokens}-{key}.json"


def load_point(path: Path, key: str, report: bool = True) -> GridPoint | None:
    """The cached point at ``path``; None if there is none. A file that is unreadable or holds another
    point is reported (if ``report``) and ignored: the point is retrained and the file replaced."""
    if not path.exists():
        return None
    try:
        point = GridPoint(**json.loads(path.read_text(encoding="utf-8")))
        if point.key != key:
            raise ValueError(f"it holds point {point.key}, not {key}")
        if not math.isfinite(point.val_loss):
            raise ValueError(f"its validation loss is {point.val_loss}")
    except (ValueError, TypeError, OSError) as error:  # JSONDecodeError is a ValueError
        if report:
            tqdm.write(f"[genai-course] scaling grid: ignoring the cached point {path.name} ({error}); retraining it.")
        return None
    point.curve = [tuple(c) for c in point.curve]
    return point


def save_point(path: Path, point: GridPoint) -> None:
    """Write atomically (a temporary file renamed into place): a killed run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(point), out, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def grid_folder(world: TinyWorld) -> Path:
    """Where a world's grid points are cached: beside its models, so deleting the world deletes them."""
    return world.root / CACHE_FOLDER


def run_grid(
    world: TinyWorld, spec: GridSpec = DEFAULT_GRID, progress: bool = True, folder: Path | None = None
) -> list[GridPoint]:
    """Every point of ``spec`` (shapes × budgets), training only those not cached in ``folder``
    (default: :func:`grid_folder`). Points come back in shape order, then budget order."""
    if not spec.shapes or not spec.budgets:
        raise ValueError("A grid needs at least one shape and one data budget.")
    version, seed = world_identity(world)
    folder = grid_folder(world) if folder is None else folder
    plan = [(shape, tokens) for shape in spec.shapes for tokens in sorted(spec.budgets)]
    keys = [point_key(shape, tokens, spec.train, version, seed) for shape, tokens in plan]
    points = [load_point(cache_path(folder, s, d, k), k) for (s, d), k in zip(plan, keys)]
    missing = [i for i, p in enumerate(points) if p is None]
    # Progress in units of compute: training time grows with N·D, so the estimate of time left does too.
    work = {i: plan[i][0].n_layer * plan[i][0].n_embd ** 2 * plan[i][1] + plan[i][1] for i in missing}
    bar = tqdm(total=len(missing), desc="scaling grid", unit="point", disable=not progress or not missing)
    done_work, spent = 0.0, 0.0
    for i in missing:
        shape, tokens = plan[i]
        left = sum(work[j] for j in missing if points[j] is None)
        eta = f", ~{spent / done_work * left:.0f} s left" if done_work else ""
        bar.set_postfix_str(f"{shape.name}, D={tokens:,}{eta}")
        path = cache_path(folder, shape, tokens, keys[i])
        with file_lock(folder / ".lock"):  # two notebooks on one world train each point once
            points[i] = load_point(path, keys[i], report=False)  # another process may have trained it
            if points[i] is None:
                result = train_point(shape, tokens, pool_streams(world, spec.train), spec.train)
                points[i] = GridPoint(
                    shape=shape.name, **asdict(shape), **result, key=keys[i], world_seed=seed, world_version=version
                )
                save_point(path, points[i])
        done_work += work[i]
        spent += points[i].train_seconds
        bar.update(1)
    bar.close()
    return points


def loss_drops(points: Sequence[GridPoint]) -> dict[str, float]:
    """The smallest fall of validation loss between neighbours of the grid: one size up at a fixed budget
    (``"size"``), one budget up at a fixed size (``"data"``). Positive: the loss falls everywhere."""
    loss = {(p.params, p.tokens): p.val_loss for p in points}
    sizes, budgets = sorted({n for n, _ in loss}), sorted({d for _, d in loss})
    if len(sizes) < 2 or len(budgets) < 2:
        raise ValueError("Comparing neighbours needs at least two sizes and two budgets.")
    by_size = [
        loss[(a, d)] - loss[(b, d)]
        for d in budgets
        for a, b in zip(sizes, sizes[1:])
        if {(a, d), (b, d)} <= loss.keys()
    ]
    by_data = [
        loss[(n, a)] - loss[(n, b)]
        for n in sizes
        for a, b in zip(budgets, budgets[1:])
        if {(n, a), (n, b)} <= loss.keys()
    ]
    return {"size": min(by_size), "data": min(by_data)}


def loss_falls(points: Sequence[GridPoint]) -> tuple[bool, bool]:
    """Whether the loss falls strictly with size at every budget, and with data at every size."""
    drops = loss_drops(points)
    return drops["size"] > 0, drops["data"] > 0

"""Scaling laws: the Chinchilla fit recovers a known law, the compute optimum is the iso-FLOP minimum,
the grid's cache trains each point once, and one real grid point trains in seconds on the tiny world."""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from genai_course import scaling_grid
from genai_course.plots.scaling import (
    compute_frontier,
    plot_iso_flops,
    plot_loss_vs_compute,
    plot_loss_vs_params,
    plot_loss_vs_tokens,
    plot_scaling_law,
)
from genai_course.scaling_grid import GridSpec, ModelShape, TrainSettings, pool_streams, run_grid, train_point
from genai_course.scaling_law import ScalingFitError, ScalingLaw, fit_law, iso_flop_curve

matplotlib.use("Agg")

# Hoffmann et al.'s published fit (their equation 10): the fit must find it again from its own losses.
CHINCHILLA = ScalingLaw(E=1.69, A=406.4, alpha=0.34, B=410.7, beta=0.28)
TINY = TrainSettings(batch_size=2, context=64, holdout_dialogues=50, threads=1)
TINY_SHAPES = (ModelShape(1, 8, 2), ModelShape(1, 16, 2))


def synthetic(law: ScalingLaw, noise: float, seed: int = 0) -> list[tuple[float, float, float]]:
    """(N, D, loss) on a 5 × 4 grid from ``law``, each loss times exp(noise · standard normal)."""
    rng = np.random.default_rng(seed)
    grid = [(n, d) for n in np.geomspace(1e7, 1e9, 5) for d in np.geomspace(1e9, 1e11, 4)]
    return [(n, d, float(law.loss(n, d)) * math.exp(noise * rng.standard_normal())) for n, d in grid]


def test_fit_recovers_a_known_law_from_noisy_losses():
    law = fit_law(synthetic(CHINCHILLA, noise=0.002))
    assert law.alpha == pytest.approx(CHINCHILLA.alpha, abs=0.05)
    assert law.beta == pytest.approx(CHINCHILLA.beta, abs=0.05)
    assert law.E == pytest.approx(CHINCHILLA.E, rel=0.05)
    assert law.rmse_log < 0.005
    assert law.points == 20 and set(law.stderr) == {"E", "A", "alpha", "B", "beta"}


def test_fit_refuses_too_few_points_and_losses_that_rise_with_size():
    with pytest.raises(ScalingFitError, match="at least 6"):
        fit_law(synthetic(CHINCHILLA, 0.0)[:4])
    rising = [(n, d, 1.0 + 0.3 * math.log10(n) - 0.2 * math.log10(d) + 3) for n, d, _ in synthetic(CHINCHILLA, 0)]
    with pytest.raises(ScalingFitError, match="positive"):
        fit_law(rising)


def test_compute_optimal_is_the_minimum_of_the_iso_flop_curve():
    flops = 5.76e23  # Chinchilla's own budget: about 70B parameters and 1.4T tokens by approach 3's law
    n_star, d_star = CHINCHILLA.compute_optimal(flops)
    assert 6 * n_star * d_star == pytest.approx(flops)
    numeric = minimize_scalar(lambda log_n: iso_flop_curve(CHINCHILLA, flops, [math.exp(log_n)])[0], (15, 30))
    assert n_star == pytest.approx(math.exp(numeric.x), rel=1e-3)
    assert 20e9 < n_star < 70e9  # approach 3 gives ~40B (their table 3)
    assert CHINCHILLA.tokens_per_parameter(flops) == pytest.approx(d_star / n_star)


def test_equal_exponents_give_a_constant_tokens_per_parameter():
    law = ScalingLaw(E=1.0, A=100.0, alpha=0.3, B=400.0, beta=0.3)
    ratios = [law.tokens_per_parameter(c) for c in (1e18, 1e21, 1e24)]
    assert ratios == pytest.approx([(400 / 100) ** (1 / 0.3)] * 3)  # D*/N* = (B/A)^(1/α) when α = β


def test_one_real_grid_point_trains_in_seconds_below_a_uniform_guess(tiny_world):
    streams = pool_streams(tiny_world, TINY)
    result = train_point(ModelShape(2, 32, 2), 16_384, streams, TINY)
    assert math.isfinite(result["val_loss"]) and result["val_loss"] < math.log(streams.vocab_size)
    assert result["tokens"] == 16_384 and result["flops"] == 6 * result["params"] * 16_384
    assert result["train_seconds"] < 10 and len(result["curve"]) == scaling_grid.CURVE_POINTS


def test_a_budget_beyond_the_pool_is_refused(tiny_world):
    streams = pool_streams(tiny_world, TINY)
    with pytest.raises(ValueError, match="one pass allows no more"):
        train_point(TINY_SHAPES[0], len(streams.train) + 1024, streams, TINY)


@pytest.fixture
def counted_training(monkeypatch):
    """Count the points run_grid trains (each is trained for real: tiny shapes, a few hundred tokens)."""
    trained = []

    def counting(shape, tokens, streams, settings):
        trained.append((shape.name, tokens))
        return real(shape, tokens, streams, settings)

    real = scaling_grid.train_point
    monkeypatch.setattr(scaling_grid, "train_point", counting)
    return trained


def test_cache_trains_each_point_once_and_only_new_points_of_a_larger_grid(tiny_world, tmp_path, counted_training):
    spec = GridSpec(TINY_SHAPES, (512, 1024), TINY)
    first = run_grid(tiny_world, spec, progress=False, folder=tmp_path)
    assert len(counted_training) == 4 and len(list(tmp_path.glob("*.json"))) == 4
    again = run_grid(tiny_world, spec, progress=False, folder=tmp_path)
    assert len(counted_training) == 4 and [p.val_loss for p in again] == [p.val_loss for p in first]
    larger = spec.extended(shapes=[ModelShape(1, 24, 2)], budgets=[1536])
    points = run_grid(tiny_world, larger, progress=False, folder=tmp_path)
    assert len(points) == 9 and len(counted_training) == 9  # 3 × 3 points, 4 of them cached
    assert {p.shape for p in points} == {"L1-d8", "L1-d16", "L1-d24"}
    assert all(p.flops == 6 * p.params * p.tokens for p in points)


def test_a_corrupt_or_foreign_cache_file_is_retrained_with_a_message(tiny_world, tmp_path, counted_training, capsys):
    spec = GridSpec(TINY_SHAPES[:1], (512, 1024), TINY)
    run_grid(tiny_world, spec, progress=False, folder=tmp_path)
    corrupt, foreign = sorted(tmp_path.glob("*.json"))
    corrupt.write_text('{"shape": "L1-d8", "val_lo')
    foreign.write_text(json.dumps(json.loads(foreign.read_text()) | {"key": "0123456789abcdef"}))
    capsys.readouterr()
    points = run_grid(tiny_world, spec, progress=False, folder=tmp_path)
    out = capsys.readouterr().out
    assert len(counted_training) == 4 and out.count("retraining it") == 2
    assert corrupt.name in out and "0123456789abcdef" in out
    assert all(math.isfinite(p.val_loss) for p in points)
    assert {json.loads(f.read_text())["key"] for f in (corrupt, foreign)} == {p.key for p in points}  # replaced


def test_plots_draw_the_grid_and_the_law():
    law = ScalingLaw(E=0.3, A=3e3, alpha=0.6, B=2e4, beta=0.7)
    points = [
        scaling_grid.GridPoint(
            shape=f"L2-d{w}",
            n_layer=2,
            n_embd=w,
            n_head=2,
            params=n,
            tokens=d,
            flops=6.0 * n * d,
            val_loss=float(law.loss(n, d)),
            train_loss=1.0,
            train_seconds=1.0,
            steps=10,
            peak_lr=1e-3,
            curve=[(d, 1.0)],
            key="k",
            world_seed=0,
            world_version=2,
        )  # fmt: skip
        for w, n in ((24, 5e4), (64, 2e5), (112, 8e5))
        for d in (6e4, 1.2e5, 3.3e5)
    ]
    assert [len(plot_loss_vs_params(points, law).axes[0].lines) for _ in range(1)] == [6]
    assert len(plot_loss_vs_tokens(points).axes[0].lines) == 3
    assert plot_loss_vs_compute(points, law).axes[0].get_xscale() == "log"
    together = plot_scaling_law(points, law)  # the three figures above, in that order
    assert [len(fig.axes[0].lines) for fig in together[:2]] == [6, len(plot_loss_vs_tokens(points, law).axes[0].lines)]
    assert len(together) == 3 and together[2].axes[0].get_xscale() == "log"
    frontier = compute_frontier(points)
    assert [p.val_loss for p in frontier] == sorted((p.val_loss for p in frontier), reverse=True)
    fig = plot_iso_flops(law, [1e10, 1e11], (5e4, 8e5), points, highlight=1e11)
    assert len(fig.axes[0].texts) == 1 and "tokens/parameter" in fig.axes[0].texts[0].get_text()


def _point(n: float, d: float, loss: float) -> scaling_grid.GridPoint:
    """A grid point with only N, D and its loss set (for the comparisons between neighbours)."""
    return scaling_grid.GridPoint(
        shape="s", n_layer=2, n_embd=24, n_head=2, params=n, tokens=d, flops=6.0 * n * d, val_loss=loss,
        train_loss=loss, train_seconds=1.0, steps=1, peak_lr=1e-3, curve=[], key="k", world_seed=0,
        world_version=2,
    )  # fmt: skip


def test_loss_drops_finds_the_smallest_fall_and_a_rise():
    points = [_point(n, d, 3.0 - 0.1 * i - 0.2 * j) for i, n in enumerate((100, 200)) for j, d in enumerate((10, 20))]
    assert scaling_grid.loss_drops(points) == pytest.approx({"size": 0.1, "data": 0.2})
    assert scaling_grid.loss_falls(points) == (True, True)
    points[-1] = _point(200, 20, 3.5)  # the biggest model on the most data got worse
    drops = scaling_grid.loss_drops(points)
    assert drops["size"] < 0 and drops["data"] < 0 and scaling_grid.loss_falls(points) == (False, False)
    with pytest.raises(ValueError, match="two sizes and two budgets"):
        scaling_grid.loss_drops(points[:2])

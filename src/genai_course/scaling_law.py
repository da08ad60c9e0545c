"""The Chinchilla scaling law L(N, D) = E + A/N^α + B/D^β: fitting it, and what it says about a budget.

The fit follows Hoffmann et al. (2022, appendix D.2): minimise the Huber loss (δ = 10⁻³) between the log of
the predicted and the observed loss, with the law written as ``log L = LSE(a - α log N, b - β log D, e)``
(A = eᵃ, B = eᵇ, E = eᵉ, so the constants stay positive), by BFGS from a grid of starting points, and
keep the best. With C ≈ 6·N·D, the loss at a fixed budget is smallest at

    N* = G · (C/6)^(β/(α+β)),  D* = (C/6)^(α/(α+β)) / G,  G = (αA / (βB))^(1/(α+β)),

which is :meth:`ScalingLaw.compute_optimal`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from genai_course.scaling_grid import GridPoint

HUBER_DELTA = 1e-3  # Chinchilla's: below it the loss is quadratic, above linear (robust to odd points)
MIN_POINTS = 6  # five constants need more points than that, over at least two sizes and two budgets
CHINCHILLA_TOKENS_PER_PARAMETER = 20.0  # Hoffmann et al.'s rule of thumb at the compute-optimal point
# Starting points, a coarser version of Chinchilla's grid (a, b are log A, log B; e is log E).
START_GRID = {
    "a": (0.0, 5.0, 10.0, 15.0),
    "b": (0.0, 5.0, 10.0, 15.0),
    "e": (-2.0, -1.0, 0.0),
    "alpha": (0.5, 1.0),
    "beta": (0.5, 1.0),
}
NAMES = ("E", "A", "alpha", "B", "beta")


class ScalingFitError(ValueError):
    """The losses cannot be fitted by a Chinchilla law (too few points, or a law that says nonsense)."""


@dataclass(frozen=True)
class ScalingLaw:
    """A fitted L(N, D) = E + A/N^α + B/D^β, with how well it fits its points.

    ``rmse_log``: root mean square of log(observed) - log(predicted) over the fitted points (0.01 ≈ 1%);
    ``stderr``: the standard error of each constant from the fit's Jacobian (a least-squares estimate).
    """

    E: float
    A: float
    alpha: float
    B: float
    beta: float
    rmse_log: float = 0.0
    stderr: dict[str, float] | None = None
    points: int = 0

    def loss(self, n: float | np.ndarray, d: float | np.ndarray) -> float | np.ndarray:
        """The predicted loss of a model of ``n`` parameters trained on ``d`` tokens."""
        return self.E + self.A / np.power(n, self.alpha) + self.B / np.power(d, self.beta)

    def compute_optimal(self, flops: float) -> tuple[float, float]:
        """(N*, D*): the model size and token count with the lowest loss for ``flops`` = 6·N·D."""
        if not flops > 0:
            raise ValueError(f"The compute budget must be a positive number of FLOPs, got {flops}.")
        a, b = self.alpha, self.beta
        g = (a * self.A / (b * self.B)) ** (1 / (a + b))
        n = g * (flops / 6) ** (b / (a + b))
        return n, flops / (6 * n)

    def tokens_per_parameter(self, flops: float) -> float:
        """D*/N* at ``flops``: Chinchilla found about 20 for its models (it changes with C unless α = β)."""
        n, d = self.compute_optimal(flops)
        return d / n

    def describe(self) -> str:
        """One line: the law with its constants and its fit error."""
        return (
            f"L(N, D) = {self.E:.3f} + {self.A:.4g}/N^{self.alpha:.3f} + {self.B:.4g}/D^{self.beta:.3f} "
            f"(RMSE of log-loss {self.rmse_log:.3f} over {self.points} points)"
        )


def iso_flop_curve(law: ScalingLaw, flops: float, n_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """The predicted loss of each model size in ``n_values`` trained on the tokens ``flops`` buys (C/6N)."""
    n = np.asarray(n_values, dtype=float)
    if n.size == 0 or (n <= 0).any():
        raise ValueError("n_values must be positive model sizes (parameters).")
    return np.asarray(law.loss(n, flops / (6 * n)))


def _terms(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    """The log of each of the law's three terms, A/N^α, B/D^β and E, one row each."""
    a, b, e, alpha, beta = theta
    return np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])


def _log_predicted(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    terms = _terms(theta, log_n, log_d)
    return np.logaddexp(np.logaddexp(terms[0], terms[1]), terms[2])


def _objective(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray) -> tuple[float, np.ndarray]:
    """The Huber loss of the log residuals and its gradient (analytic: the many starts stay fast)."""
    terms = _terms(theta, log_n, log_d)
    log_pred = np.logaddexp(np.logaddexp(terms[0], terms[1]), terms[2])
    residual = log_pred - log_l
    slope = np.clip(residual, -HUBER_DELTA, HUBER_DELTA)  # d huber / d residual
    share = np.exp(terms - log_pred)  # d log_pred / d (log term): each term's share of the loss
    grad = np.array([slope @ share[0], slope @ share[1], slope @ share[2], -(slope * share[0]) @ log_n])
    grad = np.append(grad, -(slope * share[1]) @ log_d)
    small = np.abs(residual) <= HUBER_DELTA
    value = np.where(small, 0.5 * residual**2, HUBER_DELTA * (np.abs(residual) - 0.5 * HUBER_DELTA)).sum()
    return float(value), grad


def _stderr(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray) -> dict[str, float]:
    """Standard errors from the Jacobian of the log residuals (numerical), mapped to E, A, α, B, β."""
    residual = _log_predicted(theta, log_n, log_d) - log_l
    dof = len(log_l) - len(theta)
    step = 1e-6
    jac = np.stack(
        [(_log_predicted(theta + step * np.eye(5)[k], log_n, log_d) - (residual + log_l)) / step for k in range(5)],
        axis=1,
    )
    try:
        cov = np.linalg.inv(jac.T @ jac) * (residual @ residual) / max(dof, 1)
    except np.linalg.LinAlgError:
        return dict.fromkeys(NAMES, math.inf)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    a, b, e = np.exp(theta[:3])
    # a = log A etc.: se(A) ≈ A · se(a) (the delta method).
    return {"E": e * se[2], "A": a * se[0], "alpha": se[3], "B": b * se[1], "beta": se[4]}


def fit_law(points: Sequence[GridPoint] | Sequence[tuple[float, float, float]]) -> ScalingLaw:
    """Fit L(N, D) = E + A/N^α + B/D^β to grid points (or (N, D, loss) triples), Chinchilla's way.

    Raises :class:`ScalingFitError` when the points cannot pin the law down (fewer than six, one size or
    one budget only, non-positive values) or when the best fit is not a scaling law (α or β ≤ 0: loss
    not falling with size or data).
    """
    rows = [(p.params, p.tokens, p.val_loss) if isinstance(p, GridPoint) else tuple(p) for p in points]
    data = np.asarray(rows, dtype=float)
    if data.ndim != 2 or data.shape[1] != 3 or len(data) < MIN_POINTS:
        raise ScalingFitError(f"A scaling-law fit needs at least {MIN_POINTS} (N, D, loss) points, got {len(rows)}.")
    if not (np.isfinite(data).all() and (data > 0).all()):
        raise ScalingFitError("Every N, D and loss must be a positive finite number: check the grid's results.")
    if len(set(data[:, 0])) < 2 or len(set(data[:, 1])) < 2:
        raise ScalingFitError("The points need at least two model sizes and two data budgets to separate N from D.")
    log_n, log_d, log_l = np.log(data).T
    best = None
    for start in itertools.product(*(START_GRID[k] for k in ("a", "b", "e", "alpha", "beta"))):
        result = minimize(_objective, np.array(start), args=(log_n, log_d, log_l), method="BFGS", jac=True)
        if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
            best = result
    theta = best.x
    a, b, e, alpha, beta = theta
    if not (alpha > 0 and beta > 0):
        raise ScalingFitError(
            f"The best fit has α = {alpha:.3g}, β = {beta:.3g}: a law needs both positive (loss falling with "
            "size and with data). Check that the grid's losses fall with N and D, or add sizes or budgets."
        )
    residual = _log_predicted(theta, log_n, log_d) - log_l
    return ScalingLaw(
        E=float(np.exp(e)),
        A=float(np.exp(a)),
        alpha=float(alpha),
        B=float(np.exp(b)),
        beta=float(beta),
        rmse_log=float(np.sqrt(np.mean(residual**2))),
        stderr={k: float(v) for k, v in _stderr(theta, log_n, log_d, log_l).items()},
        points=len(data),
    )

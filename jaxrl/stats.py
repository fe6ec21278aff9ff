"""Aggregate statistics over seeds, as rliable computes them.

- `interquartile_mean`: rliable's IQM, which is `scipy.stats.trim_mean(scores, 0.25, axis=None)`:
  sort, cut `floor(0.25 * n)` values from each end, average the rest. (With n not a multiple of 4 this
  keeps slightly more than the middle 50%; that is what rliable reports, so we match it.)
- `bootstrap_ci`: percentile bootstrap confidence interval. For a score matrix of shape
  (num_runs, num_tasks) the resampling is stratified: each task's runs are resampled with replacement
  independently, as rliable's `StratifiedBootstrap` does, so every replicate keeps num_runs per task.
- `bootstrap_curve_ci`: the same for learning curves, one interval per logged step.

The statistics by name: ``"iqm"`` and ``"mean"`` equal rliable's ``aggregate_iqm`` and
``aggregate_mean`` on a (num_runs, num_tasks) matrix (every task has num_runs runs, so the pooled mean
is the mean of per-task means). ``"pooled_median"`` is the median of all scores pooled over runs and
tasks; it is not rliable's ``aggregate_median``, which is the median over tasks of each task's mean
score (for a single task that is the mean). ``tests/test_stats.py`` compares the point estimates and
the percentile intervals with rliable when it is installed (``pip install 'jaxrl-research[stats]'``).

Everything is plain numpy (scipy and rliable are not dependencies).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

Statistic = Callable[[np.ndarray], np.ndarray]


def interquartile_mean(scores: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Mean of the values left after cutting floor(n/4) from each end along `axis` (all values if None)."""
    values = np.asarray(scores, dtype=np.float64)
    if axis is None:
        values = values.reshape(-1)
        axis = 0
    values = np.moveaxis(values, axis, -1)
    n = values.shape[-1]
    if n == 0:
        raise ValueError("interquartile_mean of an empty array")
    cut = int(0.25 * n)
    middle = np.sort(values, axis=-1)[..., cut : n - cut]
    result = middle.mean(axis=-1)
    return float(result) if result.ndim == 0 else result


def _iqm_last_axis(values: np.ndarray) -> np.ndarray:
    return np.asarray(interquartile_mean(values, axis=-1))


STATISTICS: dict[str, Statistic] = {
    "iqm": _iqm_last_axis,
    "mean": lambda values: values.mean(axis=-1),
    "pooled_median": lambda values: np.median(values, axis=-1),
}


class Interval(NamedTuple):
    point: float
    low: float
    high: float


def _as_statistic(statistic: str | Statistic) -> Statistic:
    if callable(statistic):
        return statistic
    if statistic == "median":
        raise ValueError(
            "'median' is ambiguous: 'pooled_median' is the median of all scores pooled over runs and tasks; "
            "rliable's aggregate_median (median over tasks of per-task mean scores) is not offered"
        )
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; choose from {sorted(STATISTICS)}")
    return STATISTICS[statistic]


def stratified_resample_indices(
    num_runs: int, num_tasks: int, reps: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of shape (reps, num_runs, num_tasks): run indices drawn with replacement per task."""
    return rng.integers(0, num_runs, size=(reps, num_runs, num_tasks))


def bootstrap_ci(
    scores: np.ndarray,
    statistic: str | Statistic = "iqm",
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Point estimate and percentile bootstrap interval of `statistic` over all scores.

    `scores` has shape (num_runs,) or (num_runs, num_tasks); runs are resampled within each task.
    `statistic` maps an array (..., n) to (...,) over its last axis ("iqm", "mean", "pooled_median" or a
    callable); the n values are all runs of all tasks.
    """
    stat = _as_statistic(statistic)
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ValueError(f"scores must have shape (num_runs,) or (num_runs, num_tasks), got {matrix.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    num_runs, num_tasks = matrix.shape
    rng = np.random.default_rng(seed)
    idx = stratified_resample_indices(num_runs, num_tasks, reps, rng)
    resampled = np.take_along_axis(matrix[None], idx, axis=1)  # (reps, runs, tasks)
    replicates = stat(resampled.reshape(reps, num_runs * num_tasks))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(replicates, [100 * alpha, 100 * (1 - alpha)])
    point = float(stat(matrix.reshape(1, -1))[0])
    return Interval(point, float(low), float(high))


def bootstrap_curve_ci(
    curves: np.ndarray,
    statistic: str | Statistic = "iqm",
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step point estimate and interval for learning curves of shape (num_runs, num_steps).

    Each replicate resamples whole runs (the same run indices at every step), so a curve's interval
    reflects seed-to-seed variation, not step-to-step noise.
    """
    stat = _as_statistic(statistic)
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 2 or curves.shape[0] == 0:
        raise ValueError(f"curves must have shape (num_runs, num_steps), got {curves.shape}")
    num_runs, num_steps = curves.shape
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num_runs, size=(reps, num_runs))
    resampled = curves[idx]  # (reps, runs, steps)
    replicates = stat(np.moveaxis(resampled, 1, -1))  # (reps, steps)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(replicates, [100 * alpha, 100 * (1 - alpha)], axis=0)
    point = stat(curves.T)  # (steps,)
    return np.asarray(point), low, high

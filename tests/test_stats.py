"""Tests of jaxrl.stats against direct computations on hand-made arrays."""

import numpy as np
import pytest

from jaxrl.stats import bootstrap_ci, bootstrap_curve_ci, interquartile_mean


def test_iqm_hand_made_arrays():
    # n=4: cut one from each end -> mean(2, 3)
    assert interquartile_mean(np.array([4.0, 1.0, 3.0, 2.0])) == pytest.approx(2.5)
    # n=5: floor(1.25)=1 cut from each end; outliers ignored -> mean(1, 2, 3)
    assert interquartile_mean(np.array([100.0, 1.0, 2.0, 3.0, -50.0])) == pytest.approx(2.0)
    # n=3: floor(0.75)=0, nothing cut
    assert interquartile_mean(np.array([0.0, 1.0, 8.0])) == pytest.approx(3.0)
    # n=8: two cut from each end -> mean(3, 4, 5, 6)
    assert interquartile_mean(np.arange(1.0, 9.0)[::-1]) == pytest.approx(4.5)
    # a matrix is flattened (rliable's axis=None): 12 values, 3 cut each end -> mean(4..9)
    assert interquartile_mean(np.arange(12.0).reshape(3, 4)) == pytest.approx(np.mean(np.arange(3, 9)))


def test_iqm_along_axis_matches_rows():
    x = np.random.default_rng(1).normal(size=(6, 7))
    per_row = interquartile_mean(x, axis=1)
    np.testing.assert_allclose(per_row, [interquartile_mean(row) for row in x])
    per_col = interquartile_mean(x, axis=0)
    np.testing.assert_allclose(per_col, [interquartile_mean(col) for col in x.T])


def test_iqm_matches_scipy_trim_mean():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for n in range(1, 23):
        x = rng.standard_cauchy(size=n)
        assert interquartile_mean(x) == pytest.approx(scipy_stats.trim_mean(x, 0.25))


def _loop_bootstrap(scores: np.ndarray, reps: int, seed: int) -> tuple[float, float]:
    """Direct, loop-based stratified percentile bootstrap of the IQM with the same random draws."""
    rng = np.random.default_rng(seed)
    num_runs, num_tasks = scores.shape
    idx = rng.integers(0, num_runs, size=(reps, num_runs, num_tasks))
    replicates = []
    for r in range(reps):
        sample = np.stack([scores[idx[r, :, t], t] for t in range(num_tasks)], axis=1)
        replicates.append(interquartile_mean(sample))
    return float(np.percentile(replicates, 2.5)), float(np.percentile(replicates, 97.5))


def test_bootstrap_matches_loop_implementation():
    scores = np.random.default_rng(3).normal(size=(7, 3)) + np.array([0.0, 5.0, 10.0])
    interval = bootstrap_ci(scores, "iqm", reps=300, seed=11)
    low, high = _loop_bootstrap(scores, reps=300, seed=11)
    assert interval.low == pytest.approx(low)
    assert interval.high == pytest.approx(high)
    assert interval.point == pytest.approx(interquartile_mean(scores))
    assert interval.low <= interval.point <= interval.high


def test_bootstrap_is_stratified_over_tasks():
    # Task 0 always scores 0, task 1 always 1: a stratified resample always holds 5 of each, so the
    # mean of every replicate is exactly 0.5. An unstratified resample of the 10 values would vary.
    scores = np.stack([np.zeros(5), np.ones(5)], axis=1)
    interval = bootstrap_ci(scores, "mean", reps=500, seed=0)
    assert interval == (0.5, 0.5, 0.5)


def test_bootstrap_mean_interval_matches_normal_theory():
    rng = np.random.default_rng(5)
    x = rng.normal(loc=2.0, scale=3.0, size=400)
    interval = bootstrap_ci(x, "mean", reps=4000, seed=1)
    half_width = 1.96 * x.std() / np.sqrt(x.size)
    assert interval.point == pytest.approx(x.mean())
    assert interval.low == pytest.approx(x.mean() - half_width, abs=0.1 * half_width)
    assert interval.high == pytest.approx(x.mean() + half_width, abs=0.1 * half_width)


def test_curve_interval_equals_per_step_interval():
    curves = np.random.default_rng(2).normal(size=(6, 4)).cumsum(axis=1)
    point, low, high = bootstrap_curve_ci(curves, "iqm", reps=200, seed=4)
    for step in range(curves.shape[1]):
        expected = bootstrap_ci(curves[:, step], "iqm", reps=200, seed=4)
        assert point[step] == pytest.approx(expected.point)
        assert low[step] == pytest.approx(expected.low)
        assert high[step] == pytest.approx(expected.high)


def test_invalid_inputs_are_refused():
    with pytest.raises(ValueError, match="empty"):
        interquartile_mean(np.array([]))
    with pytest.raises(ValueError, match="unknown statistic"):
        bootstrap_ci(np.ones(3), "mode")
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(np.ones(3), confidence=1.5)

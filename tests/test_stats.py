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
    with pytest.raises(ValueError, match="pooled_median"):
        bootstrap_ci(np.ones(3), "median")
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(np.ones(3), confidence=1.5)


def test_pooled_median_is_the_median_of_all_scores():
    scores = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0]])  # 3 runs x 2 tasks
    assert bootstrap_ci(scores, "pooled_median", reps=10).point == pytest.approx(6.0)  # median of 0,1,2,10,20,30


# --------------------------------------------------------------------------------------------------
# Against rliable itself (optional: pip install 'jaxrl-research[stats]'; rliable needs pandas<3).


def _rliable_scores() -> np.ndarray:
    """5 runs x 3 tasks of skewed scores with an outlier, so IQM, mean and median all differ."""
    rng = np.random.default_rng(7)
    scores = rng.gamma(2.0, 1.0, size=(5, 3)) * np.array([1.0, 3.0, 10.0])
    scores[0, 2] = 200.0
    return scores


def test_point_estimates_match_rliable():
    metrics = pytest.importorskip("rliable.metrics")
    scores = _rliable_scores()
    assert interquartile_mean(scores) == pytest.approx(metrics.aggregate_iqm(scores), rel=1e-12)
    assert bootstrap_ci(scores, "iqm", reps=10).point == pytest.approx(metrics.aggregate_iqm(scores), rel=1e-12)
    assert bootstrap_ci(scores, "mean", reps=10).point == pytest.approx(metrics.aggregate_mean(scores), rel=1e-12)
    # Our pooled median is not rliable's median of per-task means, and the names say so.
    pooled = bootstrap_ci(scores, "pooled_median", reps=10).point
    assert pooled == pytest.approx(np.median(scores))
    assert pooled != pytest.approx(metrics.aggregate_median(scores))


@pytest.mark.parametrize("statistic", ["iqm", "mean"])
def test_bootstrap_intervals_match_rliable(statistic: str):
    """Percentile stratified-bootstrap intervals agree with rliable's ``get_interval_estimates``.

    The two draw different random resamples (numpy's Generator here, arch's RandomState there), so the
    endpoints agree only up to Monte Carlo error. The tolerance is measured, not chosen: the spread
    of our endpoints over 8 seeds at the same number of replications; rliable's must lie within 4
    standard deviations of our mean (and the widths of the intervals must agree to 10%).
    """
    library = pytest.importorskip("rliable.library")
    metrics = pytest.importorskip("rliable.metrics")
    scores = _rliable_scores()
    reps = 4000
    aggregate = {"iqm": metrics.aggregate_iqm, "mean": metrics.aggregate_mean}[statistic]
    points, intervals = library.get_interval_estimates(
        {"run": scores},
        lambda x: np.array([aggregate(x)]),
        reps=reps,
        confidence_interval_size=0.95,
        method="percentile",
        random_state=np.random.RandomState(0),
    )
    theirs_low, theirs_high = intervals["run"][:, 0]
    ours = np.array([bootstrap_ci(scores, statistic, reps=reps, seed=seed)[1:] for seed in range(8)])
    assert points["run"][0] == pytest.approx(bootstrap_ci(scores, statistic, reps=10).point, rel=1e-12)
    mean, sd = ours.mean(axis=0), ours.std(axis=0, ddof=1)
    assert sd.max() > 0  # the seeds do give different resamples
    assert abs(theirs_low - mean[0]) <= 4 * sd[0], (theirs_low, mean[0], sd[0])
    assert abs(theirs_high - mean[1]) <= 4 * sd[1], (theirs_high, mean[1], sd[1])
    assert (theirs_high - theirs_low) == pytest.approx(mean[1] - mean[0], rel=0.1)

"""BARFI's verdicts can fail: each judgement gets synthetic scores where it must say yes (a positive
control) and scores where it must say no (a negative control)."""

from __future__ import annotations

import numpy as np
import pytest

from jaxrl.barfi.verdicts import LEARNED, choose_regulariser, compare, judge_domain

SEEDS = 20
METHODS = ("primary", "naive", "shaping", *LEARNED)
HEURISTICS = ("good", "misleading", "none")


def world(final: dict, auc: dict, noise: float = 2.0, seed: int = 0) -> dict:
    """Per-seed scores: a per-seed level shared by every method (common random numbers) plus each
    (method, heuristic)'s mean and independent noise. Unlisted cells get mean 0."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0.0, 10.0, SEEDS)
    return {
        (m, h): {
            "final": shared + final.get((m, h), 0.0) + rng.normal(0.0, noise, SEEDS),
            "auc": shared + auc.get((m, h), 0.0) + rng.normal(0.0, noise, SEEDS),
        }
        for m in METHODS
        for h in HEURISTICS
    }


def paper_world() -> dict:
    """Every claim holds: shaping below primary; learned blends with the good heuristic above primary and
    above their own no-heuristic blend; the naive sum fails with the misleading heuristic and the
    learned blends recover to the level of their no-heuristic blend."""
    final = {("shaping", h): -30.0 for h in ("good", "misleading")}
    final[("naive", "misleading")] = -80.0
    auc = {}
    for m in LEARNED:
        auc[(m, "good")] = 20.0
        auc[(m, "none")] = 5.0
    return world(final, auc)


def test_compare_positive_and_negative_controls() -> None:
    rng = np.random.default_rng(1)
    b = rng.normal(50.0, 10.0, SEEDS)
    assert compare(b + 10.0 + rng.normal(0, 1, SEEDS), b).verdict == "above"
    assert compare(b - 10.0 + rng.normal(0, 1, SEEDS), b).verdict == "below"
    same = compare(rng.normal(50.0, 10.0, SEEDS), rng.normal(50.0, 10.0, SEEDS))
    assert same.verdict == "unclear" and same.low < 0 < same.high
    # Paired: a constant shift hidden under large seed-to-seed variation is still found.
    assert compare(b + 3.0, b).verdict == "above"
    with pytest.raises(ValueError, match="same length"):
        compare(np.zeros(3), np.zeros(4))


def test_judge_domain_says_yes_where_every_claim_holds() -> None:
    v = judge_domain(paper_world())
    assert v.shaping_hurts == {"good": True, "misleading": True}
    assert v.faster_than_primary == list(LEARNED)
    assert v.heuristic_helps == list(LEARNED)
    assert v.naive_fails
    assert v.recovers == list(LEARNED) and v.recovers_fully == list(LEARNED)


def test_judge_domain_says_no_where_nothing_differs() -> None:
    v = judge_domain(world({}, {}))
    assert v.shaping_hurts == {"good": False, "misleading": False}
    assert v.faster_than_primary == [] and v.heuristic_helps == []
    assert not v.naive_fails
    assert v.recovers == [] and v.recovers_fully == []


def test_heuristic_help_is_measured_against_the_blend_without_a_heuristic() -> None:
    """The learned blend beats primary only with and without the heuristic by the same margin (as on
    CartPole before): faster than primary only, but the heuristic itself does not help."""
    auc = {(m, h): 15.0 for m in LEARNED for h in ("good", "none")}
    v = judge_domain(world({}, auc))
    assert v.faster_than_primary == list(LEARNED)
    assert v.heuristic_helps == []
    assert all(c.verdict == "unclear" for c in v.good_vs_no_heuristic.values())


def test_partial_recovery_is_not_full_recovery() -> None:
    """Above the naive sum but still below the blend without the heuristic (GridWorld's quick size)."""
    final = {("naive", "misleading"): -80.0, **{(m, "misleading"): -40.0 for m in LEARNED}}
    v = judge_domain(world(final, {}))
    assert v.naive_fails and v.recovers == list(LEARNED) and v.recovers_fully == []


def test_judge_domain_names_a_missing_cell() -> None:
    scores = paper_world()
    del scores[("unrolled", "none")]
    with pytest.raises(ValueError, match="unrolled"):
        judge_domain(scores)


def test_choose_regulariser_takes_the_best_mean_and_breaks_ties_early() -> None:
    grid = [(0.25, 0.0), (1.0, 0.0), (4.0, 0.0)]
    auc = np.zeros((3, 3, 3, 5))
    auc[1] += 1.0
    assert choose_regulariser(auc, grid) == 1
    assert choose_regulariser(np.zeros((3, 4)), grid) == 0  # a tie: the first grid point
    with pytest.raises(ValueError, match="3 grid points"):
        choose_regulariser(np.zeros((2, 4)), grid)

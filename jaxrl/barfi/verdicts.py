"""The judgements of BARFI's claims, as functions of per-seed scores, so that each can be tested on
synthetic inputs where it must say yes and where it must say no.

Every comparison is paired by seed (the study runs every method with the same seeds, common random
numbers): the statistic is the interquartile mean of the per-seed differences ``a - b``, with a 95%
percentile-bootstrap interval over seeds (``jaxrl.stats.bootstrap_ci``). ``a`` is judged above ``b``
only if the whole interval is above 0, below only if it is wholly below 0; otherwise the difference is
unclear. A claim that needs "above" therefore fails when the two are indistinguishable, as it must.

``scores`` below maps ``(method, heuristic)`` to a dict with per-seed arrays ``"final"`` (the mean
primary return over the last tenth of training) and ``"auc"`` (the mean over the whole of training).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxrl.stats import bootstrap_ci

LEARNED = ("implicit", "first_order", "unrolled")
Scores = dict[tuple[str, str], dict[str, np.ndarray]]


class Comparison(NamedTuple):
    point: float  # IQM of the per-seed differences a - b
    low: float
    high: float
    verdict: str  # "above" | "below" | "unclear"

    def text(self) -> str:
        return f"{self.point:+.1f} [{self.low:+.1f}, {self.high:+.1f}]"


def compare(a: np.ndarray, b: np.ndarray, reps: int = 2000, seed: int = 0) -> Comparison:
    """Paired comparison of per-seed scores ``a`` and ``b`` (same seeds, same order)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ValueError(f"compare needs two 1-d arrays of the same length >= 2, got {a.shape} and {b.shape}")
    point, low, high = bootstrap_ci(a - b, "iqm", reps=reps, seed=seed)
    verdict = "above" if low > 0 else "below" if high < 0 else "unclear"
    return Comparison(point, low, high, verdict)


class DomainVerdicts(NamedTuple):
    """One domain's judgements; each comparison is ``(a - b)`` as named."""

    shaping_vs_primary: dict[str, Comparison]  # heuristic -> final(shaping) - final(primary)
    shaping_hurts: dict[str, bool]
    good_vs_primary: dict[str, Comparison]  # learned method -> auc(method, good) - auc(primary)
    good_vs_no_heuristic: dict[str, Comparison]  # auc(method, good) - auc(method, none)
    faster_than_primary: list[str]
    heuristic_helps: list[str]  # learned methods whose good heuristic beats their own no-heuristic blend
    naive_vs_primary: Comparison  # final(naive, misleading) - final(primary)
    naive_fails: bool
    misleading_vs_naive: dict[str, Comparison]  # final(method, misleading) - final(naive, misleading)
    misleading_vs_no_heuristic: dict[str, Comparison]  # final(method, misleading) - final(method, none)
    recovers: list[str]  # learned methods above the naive sum with the misleading heuristic
    recovers_fully: list[str]  # ... and not below their own no-heuristic blend


def judge_domain(scores: Scores, learned: tuple[str, ...] = LEARNED) -> DomainVerdicts:
    """The paper's claims on one domain (see the module docstring for ``scores``)."""

    def s(method: str, heuristic: str, key: str) -> np.ndarray:
        if (method, heuristic) not in scores:
            raise ValueError(f"scores lack ({method!r}, {heuristic!r}); have {sorted(scores)}")
        return scores[method, heuristic][key]

    shaping = {h: compare(s("shaping", h, "final"), s("primary", h, "final")) for h in ("good", "misleading")}
    good_primary = {m: compare(s(m, "good", "auc"), s("primary", "good", "auc")) for m in learned}
    good_none = {m: compare(s(m, "good", "auc"), s(m, "none", "auc")) for m in learned}
    naive = compare(s("naive", "misleading", "final"), s("primary", "misleading", "final"))
    bad_naive = {m: compare(s(m, "misleading", "final"), s("naive", "misleading", "final")) for m in learned}
    bad_none = {m: compare(s(m, "misleading", "final"), s(m, "none", "final")) for m in learned}
    recovers = [m for m in learned if bad_naive[m].verdict == "above"]
    return DomainVerdicts(
        shaping_vs_primary=shaping,
        shaping_hurts={h: c.verdict == "below" for h, c in shaping.items()},
        good_vs_primary=good_primary,
        good_vs_no_heuristic=good_none,
        faster_than_primary=[m for m in learned if good_primary[m].verdict == "above"],
        heuristic_helps=[m for m in learned if good_none[m].verdict == "above"],
        naive_vs_primary=naive,
        naive_fails=naive.verdict == "below",
        misleading_vs_naive=bad_naive,
        misleading_vs_no_heuristic=bad_none,
        recovers=recovers,
        recovers_fully=[m for m in recovers if bad_none[m].verdict != "below"],
    )


def choose_regulariser(auc: np.ndarray, grid: list[tuple[float, float]]) -> int:
    """The index of the chosen (gamma_l2, reward_l2) pair: the highest mean AUC over every learned run
    of the tuning seeds. ``auc`` has shape ``(len(grid), ...)`` (grid point first, then methods,
    heuristics and seeds in any shape); ties go to the earlier grid point."""
    auc = np.asarray(auc, np.float64)
    if auc.shape[0] != len(grid) or not np.all(np.isfinite(auc)):
        raise ValueError(f"auc must be finite with {len(grid)} grid points first, got shape {auc.shape}")
    means = auc.reshape(len(grid), -1).mean(axis=1)
    return int(np.argmax(means))

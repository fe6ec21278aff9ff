"""Verdicts on the four claims of the emergent-exploration study (``papers/meta_rl.md``), from
behaviour measured per seed, with bootstrap intervals over seeds (IQM, `jaxrl.stats`).

Why these measures. A rule such as "regret at most half of random's" or "steps in episode 5 at most
70% of episode 1" cannot be met without structure or without memory *whatever the agent does*, so a
verdict "it vanishes there" read off such a rule is decided before training. The rules here are of two
kinds, and each says what it can and cannot show:

- **Bandit, `explore_drop`** (information-seeking exploration as behaviour): within the first inner
  episode, the exploration rate over its first half of pulls minus the rate over its second half. A
  pull explores when it goes to an arm that is not among the current empirical best (the trial's
  pulls so far; an untried arm counts as exploring), as in `jaxrl.meta.baselines.exploration_flags`.
  Explore-then-commit behaviour scores high (greedy on empirical means: about 1; Thompson sampling
  and the trained agents: between), undirected dithering scores about 0 (uniformly random pulls: the
  rate does not fall), and so does never exploring (one fixed arm). It needs no structure to be high
  (greedy on empirical means scores the same when the means are redrawn every pull, where it buys
  nothing) and no memory beyond one step (win-stay, lose-shift, which a feed-forward policy on the
  previous action and reward can represent, scores well above 0 with its memory wiped every inner
  episode), so in every cell of the grid it can come out either way.
- **Bandit, `payoff`**: regret per pull in the first inner episode minus in the last: what the
  trial's early play bought later. Without structure or without memory it is about 0 for every
  policy, so it is used only where it can go either way: the cells with structure and memory
  (claims 1 and 4).
- **Gridworld, `speedup`**: 1 - (mean over trials of the steps in the last inner episode) / (steps in
  the first): search first, then go straight to the remembered goal. Without memory the inner
  episodes are identically distributed (the policy is reset at each), and without structure every
  episode is a fresh search, so there the speed-up is about 0 for every policy. A gridworld verdict
  "it vanishes" therefore tests the full agent, not the ablated one: it is "reproduced" only when the
  full cell's speed-up is significantly above the ablated cell's, and "not reproduced" when the full
  cell has nothing to lose (as at sizes too small to learn). ``success_ep1`` (the goal found in the
  first episode) is the search half of the gridworld rule and can go either way everywhere.

A cell **shows** emergent exploration when its measure's IQM over seeds is at least the minimum
effect below and its 95% bootstrap interval lies above 0 (bandit: `explore_drop`, and for claims 1 and
4 also `payoff`; gridworld: `speedup`, and for claims 1 and 4 also `success_ep1`). A claim that it
**vanishes** without structure (or memory) needs the full cell (structure, memory, long horizon) to
show it by claim 1's rule (else there is nothing to vanish), every cell without structure (or memory)
not to show the behaviour measure, and the bootstrap interval of the
difference of IQMs (full minus ablated, seeds resampled independently) to lie above 0 in each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxrl.stats import bootstrap_ci, interquartile_mean

BOOTSTRAP_REPS = 2000
MIN_EXPLORE_DROP = 0.1  # bandit: exploration rate falls by at least 0.1 within episode 1
MIN_PAYOFF = 0.05  # bandit: regret per pull falls by at least 0.05 from episode 1 to the last
MIN_SPEEDUP = 0.1  # gridworld: the last episode takes at least 10% fewer steps than the first
MIN_FIRST_SUCCESS = 0.5  # gridworld: the goal is found in episode 1 of at least half of the trials
FULL = ("on", "on", "long")
SHORT = ("on", "on", "short")
STRUCTURES, MEMORIES, HORIZONS = ("on", "off"), ("on", "off"), ("long", "short")


def bandit_scores(
    explored: np.ndarray, defined: np.ndarray, regret: np.ndarray, pulls_per_episode: int
) -> dict[str, np.ndarray]:
    """Per seed (inputs ``[seeds, trials, pulls]``): ``explore_drop``, ``payoff``, and the two rates
    behind the drop (``explore_early``, ``explore_late``) and the regrets behind the payoff
    (``regret_first``, ``regret_last``, per pull)."""
    explored, defined, regret = (np.asarray(x, np.float64) for x in (explored, defined, regret))
    if explored.ndim != 3 or explored.shape != defined.shape or explored.shape != regret.shape:
        raise ValueError(f"explored, defined and regret must be [seeds, trials, pulls] arrays of one shape, got "
                         f"{explored.shape}, {defined.shape}, {regret.shape}")
    pulls = int(pulls_per_episode)
    if pulls < 2 or explored.shape[-1] < pulls:
        raise ValueError(f"pulls_per_episode must be in [2, {explored.shape[-1]}], got {pulls_per_episode}")
    half = pulls // 2

    def rate(window: slice) -> np.ndarray:
        return explored[..., window].sum((-2, -1)) / np.maximum(defined[..., window].sum((-2, -1)), 1.0)

    early, late = rate(slice(0, half)), rate(slice(half, pulls))
    first, last = regret[..., :pulls].mean((-2, -1)), regret[..., -pulls:].mean((-2, -1))
    return {"explore_drop": early - late, "explore_early": early, "explore_late": late,
            "payoff": first - last, "regret_first": first, "regret_last": last}


def goal_scores(episode_steps: np.ndarray, episode_reached: np.ndarray) -> dict[str, np.ndarray]:
    """Per seed (inputs ``[seeds, trials, episodes]``): ``speedup`` (1 - mean steps in the last episode /
    mean steps in the first, over the trials) and ``success_ep1``."""
    steps = np.asarray(episode_steps, np.float64)
    if steps.ndim != 3 or steps.shape != np.shape(episode_reached) or steps.shape[-1] < 2:
        raise ValueError(f"episode_steps and episode_reached must be [seeds, trials, episodes >= 2] arrays of one "
                         f"shape, got {steps.shape} and {np.shape(episode_reached)}")
    first, last = steps[..., 0].mean(-1), steps[..., -1].mean(-1)
    return {"speedup": 1.0 - last / np.maximum(first, 1e-9),
            "success_ep1": np.asarray(episode_reached, np.float64)[..., 0].mean(-1)}


def bootstrap_difference(a: np.ndarray, b: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 0,
                         confidence: float = 0.95) -> tuple[float, float, float]:
    """IQM(a) - IQM(b) and its percentile bootstrap interval, the seeds of each group resampled
    independently (the groups are different training runs)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError(f"both groups need at least one value, got {a.size} and {b.size}")
    rng = np.random.default_rng(seed)
    ra = interquartile_mean(a[rng.integers(0, a.size, (reps, a.size))], axis=-1)
    rb = interquartile_mean(b[rng.integers(0, b.size, (reps, b.size))], axis=-1)
    alpha = 100 * (1.0 - confidence) / 2.0
    low, high = np.percentile(ra - rb, [alpha, 100 - alpha])
    return float(interquartile_mean(a) - interquartile_mean(b)), float(low), float(high)


@dataclass(frozen=True)
class Effect:
    """One measure of one cell: IQM over seeds, its 95% bootstrap interval, and whether it clears the
    minimum effect with an interval above 0."""

    name: str
    point: float
    low: float
    high: float
    minimum: float

    @property
    def shown(self) -> bool:
        return self.point >= self.minimum and self.low > 0.0

    @property
    def narrow(self) -> bool:
        """The interval straddles the minimum effect: the call could go the other way with other seeds."""
        return self.low < self.minimum <= self.high

    def text(self) -> str:
        note = f" (a narrow call: the interval straddles the minimum {self.minimum})" if self.narrow else ""
        return f"{self.name} {self.point:.2f} [{self.low:.2f}, {self.high:.2f}]{note}"


def effect(scores: dict[str, np.ndarray], name: str, minimum: float) -> Effect:
    point, low, high = bootstrap_ci(scores[name], "iqm", reps=BOOTSTRAP_REPS)
    return Effect(name, point, low, high, minimum)


def behaviour_measure(kind: str) -> tuple[str, float]:
    """The measure a cell must show in every condition, and its minimum effect."""
    if kind == "bandit":
        return "explore_drop", MIN_EXPLORE_DROP
    if kind == "gridworld":
        return "speedup", MIN_SPEEDUP
    raise ValueError(f"kind must be 'bandit' or 'gridworld', got {kind!r}")


def payoff_measure(kind: str) -> tuple[str, float]:
    """The second measure the structure-and-memory cells must show (claims 1 and 4)."""
    behaviour_measure(kind)
    return ("payoff", MIN_PAYOFF) if kind == "bandit" else ("success_ep1", MIN_FIRST_SUCCESS)


@dataclass(frozen=True)
class Verdict:
    claim: str
    paper: str
    reproduced: bool
    why: str


def full_shows(kind: str, scores: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Whether a structure-and-memory cell shows emergent exploration: the behaviour measure and the
    pay-off (bandit) or first-episode success (gridworld) both clear their minimum."""
    effects = [effect(scores, *behaviour_measure(kind)), effect(scores, *payoff_measure(kind))]
    if kind == "gridworld":  # success is a rate, judged on its IQM only (its interval is above 0 whenever
        # one trial succeeds, which says nothing)
        effects[1] = Effect(effects[1].name, effects[1].point, effects[1].point, effects[1].high,
                            effects[1].minimum)
    ok = all(e.shown for e in effects)
    return ok, "; ".join(f"{e.text()} (needs >= {e.minimum}{', interval above 0' if e.name != 'success_ep1' else ''})"
                         f": {'yes' if e.shown else 'no'}" for e in effects)


def vanishes(kind: str, full: dict[str, np.ndarray], ablated: dict[tuple, dict[str, np.ndarray]]) -> tuple[bool, str]:
    """Whether the full cell shows emergent exploration (`full_shows`) and its behaviour measure is
    absent from every ablated cell and significantly below the full cell's in each (difference of
    IQMs, bootstrap interval above 0)."""
    name, minimum = behaviour_measure(kind)
    full_ok, _ = full_shows(kind, full)
    parts = [f"the full cell {'shows' if full_ok else 'does not show (nothing to vanish)'} emergent exploration "
             f"(claim 1's rule)"]
    ok = full_ok
    for cell, scores in ablated.items():
        own = effect(scores, name, minimum)
        diff = bootstrap_difference(full[name], scores[name])
        below = diff[1] > 0.0
        ok = ok and below and not own.shown
        parts.append(f"{'/'.join(cell)}: {own.text()}, {'shows it' if own.shown else 'absent'}; full minus it "
                     f"{diff[0]:.2f} [{diff[1]:.2f}, {diff[2]:.2f}] "
                     f"({'below the full cell' if below else 'not significantly below'})")
    return ok, "; ".join(parts)


def judge_claims(kind: str, cells: dict[tuple[str, str, str], dict[str, np.ndarray]]) -> list[Verdict]:
    """The paper's four claims on one environment, from per-seed scores (`bandit_scores` or
    `goal_scores`) of the eight cells keyed by (structure, memory, horizon)."""
    missing = [c for c in ((s, m, h) for s in STRUCTURES for m in MEMORIES for h in HORIZONS) if c not in cells]
    if missing:
        raise ValueError(f"judge_claims needs all eight cells; missing {missing}")
    full_ok, full_why = full_shows(kind, cells[FULL])
    no_structure = {c: v for c, v in cells.items() if c[0] == "off"}
    no_memory = {c: v for c, v in cells.items() if c[1] == "off"}
    short_ok, short_why = full_shows(kind, cells[SHORT])
    return [
        Verdict("with structure, memory and a long horizon the greedy agent explores", "yes", full_ok, full_why),
        Verdict("it vanishes without structure", "yes", *vanishes(kind, cells[FULL], no_structure)),
        Verdict("it vanishes without memory", "yes", *vanishes(kind, cells[FULL], no_memory)),
        Verdict("with structure and memory it survives a short horizon (gamma_step = 0)",
                "not always removed", short_ok, short_why),
    ]

"""Emergent exploration from a greedy objective (``papers/meta_rl.md``): does a recurrent PPO agent
trained only to exploit (no credit crosses an inner-episode boundary) still explore, and does that
vanish without structure, without memory, or with a short horizon?

The grid (``sweeps/emergent_exploration.yaml``): structure on/off (the hidden arm means or goal fixed
for the trial, or redrawn every pull / every episode) x memory on/off (a GRU carried across the trial,
or a feed-forward policy on the trial wrapper's inputs, reset at every inner episode) x horizon
long/short (``gamma_step`` 0.95 or 0), on a structured 5-armed bandit and on 5x5 hidden-goal maze
trials, 5 seeds per cell (10 at the full size). Per environment, structure x memory are four compiled
programs; horizons and seeds are vmapped inside each. Every trained policy is then played on the same
fresh trials (`jaxrl.meta.evaluate`), beside the bandit baselines on those trials.

    python experiments/emergent_exploration.py --quick          # minutes, tests the pipeline only
    python experiments/emergent_exploration.py --size medium    # the recorded results

Writes into results/emergent_exploration/: runs.csv (one row per environment x condition x seed),
conditions.csv (IQM and 95% bootstrap interval over seeds per condition), verdicts.csv (the four
claims per environment, with their evidence), regret_curves.csv and steps_by_episode.csv (the curves
behind the plots), bandit.png, gridworld.png, summary.md, and raw.npz (every evaluation record, so
that ``--report-only`` remakes all of the above without training).

How the claims are judged is `jaxrl.meta.judge` (its docstring, repeated in summary.md): on the
bandit, the drop of the exploration rate within the first inner episode (explore, then commit), a
measure that scripted policies reach with or without structure and on a one-step memory, and the
fall of regret from the first inner episode to the last; on the gridworld, the speed-up from the
first inner episode to the last. "It vanishes without structure / memory" is judged by a bootstrap
interval on the difference from the full cell, so it cannot be reproduced when the full cell shows
nothing to lose. Every verdict has a positive and a negative control in `tests/test_meta_judge.py`.
The scripted references beside the agents: the bandit baselines (`jaxrl.meta.baselines`), win-stay
lose-shift reset at every inner episode (what a memory-off agent could do), and on the gridworld a
depth-first search every episode and the same search followed by the shortest path back to the goal.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import jaxrl.meta.judge as judge_module  # noqa: E402
from envs.meta.bandits import make_structured_bandit  # noqa: E402
from envs.meta.goal_trials import make_goal_trials  # noqa: E402
from jaxrl.meta.baselines import (  # noqa: E402
    BASELINES,
    GOAL_BASELINES,
    baseline_policy,
    distinct_arms,
    exploration_flags,
    run_baseline,
    run_goal_baseline,
    win_stay_lose_shift,
)
from jaxrl.meta.evaluate import evaluate_bandit, evaluate_goal_trials, evaluate_seeds, exploration_rate  # noqa: E402
from jaxrl.meta.judge import (  # noqa: E402
    MIN_EXPLORE_DROP,
    MIN_FIRST_SUCCESS,
    MIN_PAYOFF,
    MIN_SPEEDUP,
    bandit_scores,
    bootstrap_difference,
    goal_scores,
    judge_claims,
)
from jaxrl.meta.rl2 import RL2Config, make_train  # noqa: E402
from jaxrl.report import git_revision, write_rows  # noqa: E402
from jaxrl.stats import bootstrap_ci, bootstrap_curve_ci  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STRUCTURES, MEMORIES, HORIZONS = ("on", "off"), ("on", "off"), ("long", "short")
CHUNKS = 5  # training metrics are logged this many times per run
BOOTSTRAP_REPS = 1000


def is_bandit(env_name: str) -> bool:
    return env_name.startswith("StructuredBandit")


def condition_config(env_name: str, spec: dict, sweep: dict, size: dict, structure: str) -> RL2Config:
    env_kwargs = dict(spec["env_kwargs"])
    if structure == "off":
        env_kwargs.update(spec["structure_off"])
    base = {k: tuple(v) if isinstance(v, list) else v for k, v in sweep["base"].items()}
    return RL2Config(env=env_name, env_kwargs=env_kwargs, **base, **size[env_name])


def train_condition(config: RL2Config, memory: str, gammas: list[float], seeds: int, seed: int):
    """Every (horizon, seed) of one structure x memory cell as one vmapped program; returns the trainer,
    the final parameters ``[H * S, ...]`` (horizon-major) and the training return per chunk."""
    trainer = make_train(dataclasses.replace(config, memory=memory, objective="greedy"),
                         updates_per_chunk=max(1, config.num_updates // CHUNKS))
    runs = len(gammas) * seeds
    gamma = jnp.repeat(jnp.asarray(gammas, jnp.float32), seeds)
    hparams = jax.tree.map(lambda x: jnp.broadcast_to(x, (runs,)), config.hyperparams())
    hparams = hparams.replace(gamma=gamma)
    keys = jax.random.split(jax.random.key(seed), runs)
    state = jax.jit(jax.vmap(trainer.init_fn))(keys, hparams)
    compiled, returns = {}, []
    for length in trainer.chunk_lengths:
        if length not in compiled:
            compiled[length] = jax.jit(jax.vmap(lambda s, n=length: trainer.update_fn(s, num_updates=n)))
        state, metrics = compiled[length](state)
        episodes = np.maximum(np.asarray(metrics["episodes"]), 1)
        returns.append(np.asarray(metrics["episode_return_sum"]) / episodes)  # per trial (memory on)
    return trainer, state.params, np.stack(returns, axis=1)


def run_environment(env_name: str, spec: dict, sweep: dict, size: dict, seeds: int, seed: int, log) -> dict:
    gammas = [float(sweep["axes"]["horizon"][h]) for h in HORIZONS]
    eval_key = jax.random.key(seed + 10_000)  # the same trials as `add_baselines`
    results = {}
    for structure in STRUCTURES:
        config = condition_config(env_name, spec, sweep, size, structure)
        for memory in MEMORIES:
            start = time.time()
            trainer, params, train_returns = train_condition(
                config, sweep["axes"]["memory"][memory], gammas, seeds, seed
            )
            evaluate = evaluate_bandit if is_bandit(env_name) else evaluate_goal_trials
            record = evaluate_seeds(evaluate, trainer, params, eval_key, size["eval_trials"])
            for h, horizon in enumerate(HORIZONS):
                pick = slice(h * seeds, (h + 1) * seeds)
                results[(structure, memory, horizon)] = {
                    **{k: v[pick] for k, v in record.items()},
                    "train_return": train_returns[pick],
                }
            log(f"{env_name} structure={structure} memory={memory}: {time.time() - start:.0f} s "
                f"({config.num_updates} updates x {len(gammas) * seeds} runs)")

        add_baselines(env_name, spec, results, structure, size["eval_trials"], seed)
    return results


def add_baselines(env_name: str, spec: dict, results: dict, structure: str, eval_trials: int, seed: int) -> None:
    """The scripted references of one structure condition, on the agents' evaluation trials (the
    same key), added to ``results`` under ``(structure, "baseline", name)`` where missing. Bandit:
    `BASELINES` and win-stay lose-shift forgotten at every inner episode (the best policy known on the
    one-step memory that the memory-off agents have); gridworld: `GOAL_BASELINES`."""
    eval_key = jax.random.key(seed + 10_000)
    env_kwargs = {**spec["env_kwargs"], **(spec["structure_off"] if structure == "off" else {})}
    if not is_bandit(env_name):
        num = env_name.split("-")[1].split("x")[0]
        _, params = make_goal_trials(int(num), **{k: v for k, v in env_kwargs.items() if k != "split_episodes"})
        for name in GOAL_BASELINES:
            if (structure, "baseline", name) not in results:
                play = jax.tree.map(np.asarray, run_goal_baseline(name, eval_key, eval_trials, params))
                results[(structure, "baseline", name)] = {k: v[None] for k, v in play.items()}
        return
    _, params = make_structured_bandit(int(env_name.split("-K")[1]), **env_kwargs)
    policies = {name: (baseline_policy(name, params), False) for name in BASELINES}
    policies[WSLS] = (win_stay_lose_shift(), True)
    for name, (policy, reset) in policies.items():
        if (structure, "baseline", name) in results:
            continue
        play = jax.tree.map(np.asarray, run_baseline(policy, eval_key, eval_trials, params, reset_each_episode=reset))
        explored, defined = jax.vmap(exploration_flags, in_axes=(0, 0, None))(play["arms"], play["rewards"],
                                                                              params.num_arms)
        results[(structure, "baseline", name)] = {
            "cumulative_regret": play["cumulative_regret"][None],
            "regret": play["regret"][None],
            "explored": np.asarray(explored)[None],
            "defined": np.asarray(defined)[None],
            "distinct_arms": np.asarray(jax.vmap(distinct_arms, in_axes=(0, None))(
                play["arms"], params.num_arms))[None],
        }


WSLS = "wsls"
BASELINE_NAMES = {"thompson": "Thompson sampling", "ucb1": "UCB1", "greedy": "greedy (empirical means)",
                  "oracle": "oracle (best arm)", "random": "uniform random",
                  WSLS: "win-stay lose-shift (reset every episode)",
                  "sweep": "scripted search, every episode", "sweep_return": "scripted search, then return"}


def run_scores(env_name: str, spec: dict, record: dict) -> dict[str, np.ndarray]:
    """Per-seed scalar scores (``[seeds]``) of one condition: the judged measures of
    `jaxrl.meta.judge` and the descriptive ones."""
    scores = {}
    if "train_return" in record:  # the training return (per trial with memory, else per inner episode)
        scores["train_return_last"] = record["train_return"][:, -1]
    if is_bandit(env_name):
        pulls = spec["env_kwargs"]["pulls_per_episode"]
        return {
            **scores,
            **bandit_scores(record["explored"], record["defined"], record["regret"], pulls),
            "final_regret": record["cumulative_regret"][..., -1].mean(-1),
            "last_episode_regret": record["regret"][..., -pulls:].mean((-2, -1)),
            "exploration_rate": exploration_rate(record["explored"], record["defined"], spec["early_pulls"]),
            "distinct_arms": record["distinct_arms"].mean(-1),
        }
    steps = record["episode_steps"].mean(1)  # [seeds, episodes]
    scores.update({f"steps_ep{e + 1}": steps[:, e] for e in range(steps.shape[1])})
    scores.update(goal_scores(record["episode_steps"], record["episode_reached"]))
    scores["steps_ratio"] = steps[:, -1] / steps[:, 0]
    scores["success_last"] = record["episode_reached"][:, :, -1].mean(1)
    if "distinct_cells_first" in record:
        scores["distinct_cells_first"] = record["distinct_cells_first"].mean(1)
    return scores


def kind(env_name: str) -> str:
    return "bandit" if is_bandit(env_name) else "gridworld"


def write_outputs(out: Path, all_results: dict, sweep: dict, args, budgets: dict, wall: float,
                  revision: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    run_rows, cond_rows, verdicts, scores_by_env = [], [], {}, {}
    for env_name, results in all_results.items():
        spec = sweep["environments"][env_name]
        scores_by_env[env_name] = {cell: run_scores(env_name, spec, record) for cell, record in results.items()}
        for (structure, memory, horizon), scores in scores_by_env[env_name].items():
            num = len(next(iter(scores.values())))
            for i in range(num):
                run_rows.append({"env": env_name, "structure": structure, "memory": memory, "horizon": horizon,
                                 "seed": i, **{k: float(v[i]) for k, v in scores.items()}})
            row = {"env": env_name, "structure": structure, "memory": memory, "horizon": horizon, "seeds": num}
            for name, values in scores.items():
                point, low, high = bootstrap_ci(values, "iqm", reps=BOOTSTRAP_REPS)
                row.update({name: point, f"{name}_low": low, f"{name}_high": high})
            cond_rows.append(row)
        agents = {c: s for c, s in scores_by_env[env_name].items() if c[1] != "baseline"}
        verdicts[env_name] = judge_claims(kind(env_name), agents)
    write_rows(out / "runs.csv", run_rows)
    write_rows(out / "conditions.csv", cond_rows)
    write_rows(out / "verdicts.csv", [{"env": e, "claim": v.claim, "paper": v.paper, "reproduced": v.reproduced,
                                       "evidence": v.why} for e, vs in verdicts.items() for v in vs])
    plot_bandit(out, all_results, scores_by_env, cond_rows)
    plot_gridworld(out, all_results, cond_rows)
    write_summary(out, verdicts, cond_rows, scores_by_env, args, budgets, wall, revision)


def curve_rows(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if curves.shape[0] == 1:
        return curves[0], curves[0], curves[0]
    return bootstrap_curve_ci(curves, "iqm", reps=BOOTSTRAP_REPS)


def cell_label(structure: str, memory: str, horizon: str) -> str:
    """A label a reader understands without the code: the condition, or the baseline's name."""
    if memory == "baseline":
        return f"{BASELINE_NAMES[horizon]} ({'structure' if structure == 'on' else 'no structure'})"
    return (f"{'structure' if structure == 'on' else 'no structure'}, {'memory' if memory == 'on' else 'no memory'}, "
            f"{horizon} horizon")


STYLE = {("on", "long"): ("tab:blue", "-"), ("on", "short"): ("tab:cyan", "--"),
         ("off", "long"): ("tab:red", "-"), ("off", "short"): ("tab:orange", "--")}
BASELINE_COLOURS = {"thompson": "black", "ucb1": "grey", "greedy": "tab:olive", "oracle": "tab:green",
                    "random": "tab:purple", WSLS: "tab:brown", "sweep": "grey", "sweep_return": "black"}


def bar_panel(ax, rows: list[dict], metric: str, title: str, reference: float | None = None) -> None:
    """IQM over seeds with its 95% bootstrap interval, one bar per agent cell (blue) or baseline (grey)."""
    rows = sorted(rows, key=lambda r: (r["memory"] == "baseline", r["structure"] != "on"))  # agents first
    names = [cell_label(r["structure"], r["memory"], r["horizon"]) for r in rows]
    point = np.array([r[metric] for r in rows])
    err = np.array([[r[metric] - r[f"{metric}_low"], r[f"{metric}_high"] - r[metric]] for r in rows]).T
    colours = ["lightgrey" if r["memory"] == "baseline" else STYLE[(r["memory"], r["horizon"])][0] for r in rows]
    y = np.arange(len(rows))[::-1]
    ax.barh(y, point, xerr=np.maximum(err, 0), color=colours, capsize=2)
    ax.set_yticks(y, names, fontsize=7)
    if reference is not None:
        ax.axvline(reference, color="k", linestyle=":", linewidth=1)
    ax.axvline(0.0, color="k", linewidth=0.5)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("IQM over seeds, 95% bootstrap interval", fontsize=8)


def plot_bandit(out: Path, all_results: dict, scores_by_env: dict, cond_rows: list) -> None:
    bandits = [e for e in all_results if is_bandit(e)]
    if not bandits:
        return
    env_name = bandits[0]
    results = all_results[env_name]
    fig = plt.figure(figsize=(17, 10))
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 1.3))
    curve_axes = [fig.add_subplot(grid[0, 0])]
    curve_axes.append(fig.add_subplot(grid[0, 1], sharey=curve_axes[0]))
    rows = []
    for ax, structure in zip(curve_axes, STRUCTURES, strict=True):
        for (s, memory, horizon), record in results.items():
            if s != structure or (memory == "baseline" and horizon == "ucb1"):
                continue
            point, low, high = curve_rows(record["cumulative_regret"].mean(-2))
            colour, dash = (BASELINE_COLOURS[horizon], ":") if memory == "baseline" else STYLE[(memory, horizon)]
            pulls = np.arange(1, len(point) + 1)
            name = BASELINE_NAMES[horizon] if memory == "baseline" else cell_label(s, memory, horizon).split(", ", 1)[1]
            ax.plot(pulls, point, color=colour, linestyle=dash, label=name)
            ax.fill_between(pulls, low, high, color=colour, alpha=0.15)
            rows += [{"structure": s, "memory": memory, "horizon": horizon, "pull": t + 1, "iqm": point[t],
                      "low": low[t], "high": high[t]} for t in range(len(point))]
        condition = ("structure (means fixed for the trial)" if structure == "on"
                     else "no structure (means redrawn every pull)")
        ax.set_title(f"{env_name}, {condition}", fontsize=9)
        ax.set_xlabel("pull within the trial (10 pulls per inner episode)")
        ax.set_ylabel("cumulative regret (IQM over seeds)")
        ax.legend(fontsize=7, loc="upper left")
    agent_rows = [r for r in cond_rows if r["env"] == env_name]
    drop_ax, pay_ax = fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])
    bar_panel(drop_ax, agent_rows, "explore_drop",
              f"exploration drop within inner episode 1 (judged; cell shows it at >= {MIN_EXPLORE_DROP})",
              MIN_EXPLORE_DROP)
    bar_panel(pay_ax, agent_rows, "payoff",
              "pay-off: regret per pull, episode 1 minus the last episode\n"
              f"(judged with structure and memory, >= {MIN_PAYOFF})",
              MIN_PAYOFF)
    fig.tight_layout()
    fig.savefig(out / "bandit.png", dpi=100)
    plt.close(fig)
    write_rows(out / "regret_curves.csv", rows)


def plot_gridworld(out: Path, all_results: dict, cond_rows: list) -> None:
    grids = [e for e in all_results if not is_bandit(e)]
    if not grids:
        return
    env_name = grids[0]
    results = all_results[env_name]
    fig = plt.figure(figsize=(17, 9))
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 1.2))
    curve_axes = [fig.add_subplot(grid[0, 0])]
    curve_axes.append(fig.add_subplot(grid[0, 1], sharey=curve_axes[0]))
    rows = []
    for ax, structure in zip(curve_axes, STRUCTURES, strict=True):
        for (s, memory, horizon), record in results.items():
            if s != structure:
                continue
            point, low, high = curve_rows(record["episode_steps"].mean(1))
            colour, dash = (BASELINE_COLOURS[horizon], ":") if memory == "baseline" else STYLE[(memory, horizon)]
            episodes = np.arange(1, len(point) + 1)
            name = BASELINE_NAMES[horizon] if memory == "baseline" else cell_label(s, memory, horizon).split(", ", 1)[1]
            ax.plot(episodes, point, color=colour, linestyle=dash, marker="o", label=name)
            ax.fill_between(episodes, low, high, color=colour, alpha=0.15)
            ax.set_xticks(episodes)
            rows += [{"structure": s, "memory": memory, "horizon": horizon, "episode": e + 1, "iqm": point[e],
                      "low": low[e], "high": high[e]} for e in range(len(point))]
        condition = ("structure (goal fixed for the trial)" if structure == "on"
                     else "no structure (goal redrawn every episode)")
        ax.set_title(f"{env_name}, {condition}", fontsize=9)
        ax.set_xlabel("inner episode within the trial")
        ax.set_ylabel("steps to the goal, or the limit (IQM over seeds)")
        ax.legend(fontsize=7, loc="best")
    agent_rows = [r for r in cond_rows if r["env"] == env_name]
    bar_panel(fig.add_subplot(grid[1, 0]), agent_rows, "speedup",
              f"speed-up: 1 - steps in the last episode / steps in episode 1 (judged; shows it at >= {MIN_SPEEDUP})",
              MIN_SPEEDUP)
    bar_panel(fig.add_subplot(grid[1, 1]), agent_rows, "success_ep1",
              f"goal found in episode 1 (fraction of trials; judged with structure and memory, >= {MIN_FIRST_SUCCESS})",
              MIN_FIRST_SUCCESS)
    fig.tight_layout()
    fig.savefig(out / "gridworld.png", dpi=100)
    plt.close(fig)
    write_rows(out / "steps_by_episode.csv", rows)


QUICK_NOTE = (
    "**This is the quick size**: far fewer environment steps than the agents need (the gridworld learning "
    "check, `tests/test_rl2_learning.py`, trains 192,000 steps per seed). Its verdicts test the pipeline; "
    "they are not evidence for or against the paper."
)


def fmt(row: dict, metric: str) -> str:
    return f"{row[metric]:.2f} [{row[metric + '_low']:.2f}, {row[metric + '_high']:.2f}]"


def comparison_lines(env_name: str, rows: dict, scores: dict) -> list[str]:
    """Sentences computed from the numbers: the agent cells against each other and the baselines."""
    full, short = rows[("on", "on", "long")], rows[("on", "on", "short")]
    lines = []
    if is_bandit(env_name):
        diff = bootstrap_difference(scores[("on", "on", "short")]["final_regret"],
                                    scores[("on", "on", "long")]["final_regret"], reps=BOOTSTRAP_REPS)
        better = "lower" if diff[2] < 0 else ("higher" if diff[1] > 0 else "not significantly different")
        lines.append(f"- Regret over the trial, structure and memory: short horizon {fmt(short, 'final_regret')}, "
                     f"long horizon {fmt(full, 'final_regret')}; short minus long {diff[0]:.2f} [{diff[1]:.2f}, "
                     f"{diff[2]:.2f}]: the short horizon's regret is {better}.")
        for cell, row in ((("on", "on", "long"), full), (("on", "on", "short"), short)):
            beats = [BASELINE_NAMES[name] + f" ({rows[('on', 'baseline', name)]['final_regret']:.2f})"
                     for name in ("thompson", "ucb1", "greedy", WSLS, "random")
                     if rows[("on", "baseline", name)]["final_regret"] < row["final_regret_low"]]
            lines.append(f"- {cell_label(*cell)} (regret {fmt(row, 'final_regret')}): "
                         + (f"baselines with lower regret than its whole interval: {', '.join(beats)}."
                            if beats else "no baseline has lower regret than its interval's lower end."))
        for memory_off in (("on", "off", "long"), ("on", "off", "short")):
            row = rows[memory_off]
            w = rows[("on", "baseline", WSLS)]
            lines.append(f"- {cell_label(*memory_off)}: regret per pull in the last episode "
                         f"{fmt(row, 'last_episode_regret')}, against {w['last_episode_regret']:.3f} for "
                         f"{BASELINE_NAMES[WSLS]} and {rows[('on', 'baseline', 'random')]['last_episode_regret']:.3f} "
                         "for uniform random.")
    else:
        diff = bootstrap_difference(scores[("on", "on", "long")]["speedup"], scores[("on", "on", "short")]["speedup"],
                                    reps=BOOTSTRAP_REPS)
        lines.append(f"- Speed-up with structure and memory: long horizon {fmt(full, 'speedup')}, short horizon "
                     f"{fmt(short, 'speedup')} (steps ratio {fmt(full, 'steps_ratio')} and "
                     f"{fmt(short, 'steps_ratio')}); long minus short {diff[0]:.2f} [{diff[1]:.2f}, {diff[2]:.2f}].")
        ref = rows[("on", "baseline", "sweep_return")]
        lines.append(f"- The scripted search-then-return policy takes {ref['steps_ep1']:.2f} steps in episode 1 and "
                     f"{ref['steps_ep5']:.2f} in episode 5 (speed-up {ref['speedup']:.2f}); the long-horizon agent "
                     f"{fmt(full, 'steps_ep1')} and {fmt(full, 'steps_ep5')}.")
    return lines


def write_summary(out: Path, verdicts: dict, cond_rows: list, scores_by_env: dict, args, budgets: dict,
                  wall: float, revision: str) -> None:
    doc = (judge_module.__doc__ or "").split("\n\n", 1)[1].strip()
    lines = [
        "# Emergent exploration from a greedy objective",
        "",
        "Claim tested (Rentschler and Roberts 2025, `papers/meta_rl.md`): a recurrent agent trained only on a "
        "greedy objective (no credit crosses an inner-episode boundary) explores when the trials have "
        "recurring structure and the agent has memory; without structure or without memory the exploration "
        "vanishes; a short credit-assignment horizon does not always remove it.",
        "",
        f"Size: {args.size}; seeds per cell: {budgets['seeds']}; training and evaluation took {wall / 60:.1f} min "
        f"on a shared 2-core CPU (pinned to one core, other jobs running), finishing at git commit {revision}; "
        f"this report was made from its `raw.npz` by `--report-only` at {git_revision()}.",
        "",
        "Budget per run (environment steps): "
        + ", ".join(f"{e}: {b:,}" for e, b in budgets["steps"].items()) + ".",
        "",
        *([QUICK_NOTE, ""] if args.size == "quick" else []),
        "## The verdicts",
        "",
        *[f"- {env_name}: reproduced: {'; '.join(v.claim for v in vs if v.reproduced) or 'none'}. "
          f"**Not reproduced**: {'; '.join(v.claim for v in vs if not v.reproduced) or 'none'}."
          for env_name, vs in sorted(verdicts.items())],
        "",
        "Evidence: IQM over seeds with its 95% bootstrap interval.",
        "",
    ]
    for env_name, env_verdicts in sorted(verdicts.items()):
        lines += [f"**{env_name}**", ""]
        for v in env_verdicts:
            mark = "**reproduced**" if v.reproduced else "**not reproduced**"
            lines.append(f"- {v.claim} (paper: {v.paper}): {mark}. {v.why}.")
        lines.append("")
    lines += ["## How each claim is judged (`jaxrl/meta/judge.py`)", "", doc, "",
              "Conditions: no structure = bandit means redrawn every pull, gridworld goal redrawn every episode; "
              "no memory = a feed-forward policy reset at every inner episode (it still sees the trial wrapper's "
              "previous action and reward: a one-step memory); horizon = gamma_step 0.95 (long) or 0 (short). "
              "The controls of every verdict (scripted policies that must and must not count) are in "
              "`tests/test_meta_judge.py`.", "", "## Beside each other and the baselines", ""]
    for env_name in sorted(scores_by_env):
        rows = {(r["structure"], r["memory"], r["horizon"]): r for r in cond_rows if r["env"] == env_name}
        lines += [f"**{env_name}**", "", *comparison_lines(env_name, rows, scores_by_env[env_name]), ""]
    lines += ["## Every cell (IQM over seeds, 95% bootstrap interval; baselines: one run of the same trials)", ""]
    for env_name in sorted(scores_by_env):
        metrics = (["final_regret", "last_episode_regret", "explore_drop", "payoff", "exploration_rate",
                    "distinct_arms"] if is_bandit(env_name)
                   else ["steps_ep1", "steps_ep5", "speedup", "steps_ratio", "success_ep1", "distinct_cells_first"])
        lines += [f"**{env_name}**", "", "| cell | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for row in cond_rows:
            if row["env"] == env_name:
                cells = " | ".join(fmt(row, m) if m in row else "" for m in metrics)
                lines.append(f"| {cell_label(row['structure'], row['memory'], row['horizon'])} | {cells} |")
        lines.append("")
    lines += ["Plots: `bandit.png` (cumulative regret beside the baselines; the judged exploration drop and pay-off "
              "per cell), `gridworld.png` (steps by episode beside the scripted searches; the judged speed-up and "
              "first-episode success). Per seed: `runs.csv`; per cell: `conditions.csv`; verdicts: `verdicts.csv`; "
              "every evaluation record: `raw.npz`.", ""]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


RAW_FILE = "raw.npz"


def save_raw(path: Path, all_results: dict, meta: dict) -> None:
    """Every evaluation record (per seed, trial and pull/step), so that the report can be remade
    without training (``--report-only``)."""
    arrays = {"__meta__": np.asarray(yaml.safe_dump(meta))}
    for env_name, results in all_results.items():
        for (structure, memory, horizon), record in results.items():
            for field, value in record.items():
                if field == "cumulative_regret":  # remade from ``regret`` on loading
                    continue
                value = np.asarray(value)
                if value.dtype == np.float64:
                    value = value.astype(np.float32)
                elif value.dtype.kind == "i" and value.size and -128 <= value.min() and value.max() < 128:
                    value = value.astype(np.int8)
                arrays[f"{env_name}|{structure}|{memory}|{horizon}|{field}"] = value
    np.savez_compressed(path, **arrays)


def load_raw(path: Path) -> tuple[dict, dict]:
    """`save_raw`'s results and its ``meta``."""
    with np.load(path) as data:
        meta = yaml.safe_load(str(data["__meta__"]))
        all_results: dict = {}
        for name in data.files:
            if name == "__meta__":
                continue
            env_name, structure, memory, horizon, field = name.split("|")
            record = all_results.setdefault(env_name, {}).setdefault((structure, memory, horizon), {})
            record[field] = data[name].astype(np.int32) if data[name].dtype == np.int8 else data[name]
            if field == "regret":
                record["cumulative_regret"] = np.cumsum(data[name], axis=-1)
    return all_results, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("quick", "medium", "full"), default="full",
                        help="a size of the sweep file (quick: minutes; medium: about half an hour; full: hours)")
    parser.add_argument("--quick", action="store_true", help="same as --size quick")
    parser.add_argument("--sweep", type=Path, default=ROOT / "sweeps" / "emergent_exploration.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "emergent_exploration")
    parser.add_argument("--envs", nargs="*", default=None, help="a subset of the sweep's environments")
    parser.add_argument("--seeds", type=int, default=None, help="override the size's number of seeds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report-only", action="store_true",
                        help=f"remake the tables, plots and summary from OUT/{RAW_FILE} (no training)")
    args = parser.parse_args()
    if args.quick:
        args.size = "quick"
    sweep = yaml.safe_load(args.sweep.read_text())
    if args.report_only:
        all_results, meta = load_raw(args.out / RAW_FILE)
        args.size = meta["size"]
        for env_name, results in all_results.items():  # references added since the run was made
            for structure in STRUCTURES:
                add_baselines(env_name, sweep["environments"][env_name], results, structure,
                              sweep["sizes"][args.size]["eval_trials"], meta.get("seed", 0))
        write_outputs(args.out, all_results, sweep, args, meta["budgets"], meta["wall_s"], meta["revision"])
        print((args.out / "summary.md").read_text())
        return
    size = sweep["sizes"][args.size]
    seeds = args.seeds or size["seeds"]
    env_names = args.envs or list(sweep["environments"])
    start = time.time()
    log = lambda msg: print(f"[{time.time() - start:6.0f} s] {msg}", flush=True)
    all_results = {}
    for env_name in env_names:
        all_results[env_name] = run_environment(env_name, sweep["environments"][env_name], sweep, size,
                                                seeds, args.seed, log)
    budgets = {"seeds": seeds, "steps": {e: size[e]["total_timesteps"] for e in env_names}}
    wall, revision = time.time() - start, git_revision()
    args.out.mkdir(parents=True, exist_ok=True)
    save_raw(args.out / RAW_FILE, all_results,
             {"size": args.size, "budgets": budgets, "wall_s": wall, "revision": revision,
              "seed": args.seed, "cpu": jax.devices()[0].device_kind})
    write_outputs(args.out, all_results, sweep, args, budgets, wall, revision)
    print((args.out / "summary.md").read_text())


if __name__ == "__main__":
    main()

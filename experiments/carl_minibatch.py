"""CaRL's mini-batch study in our driving world: as the mini-batch grows (with the data per update
and the number of environments growing with it, as the paper scales), does PPO trained on the shaped
(Roach-style summed) reward stop improving, while PPO on the simple reward (route completion x
multiplicative penalties) keeps improving? (`papers/carl.md`)

    python experiments/carl_minibatch.py --quick          # a few minutes on one core (too short to learn)
    python experiments/carl_minibatch.py --size medium    # the recorded run (results/carl/minibatch.md)

Design (sweeps/carl_minibatch.yaml): the batch per update is ``num_minibatches x mini-batch`` (4 in
both of the paper's settings), the rollout length is fixed and the number of envs scales with the
mini-batch; every size runs the same number of updates, hence the same number of gradient steps. So
the mini-batch size (and the data it brings) is the only thing that changes between sizes.

The trials are the sweep's (``jaxrl sweep sweeps/carl_minibatch.yaml --size SIZE``, run or reused
here through ``jaxrl.sweep.run_sweep``): for each reward (a labelled point) x mini-batch size, the seeds
train as one vmapped program. This script trains nothing itself: every trained policy (from its
group's checkpoint), and the untrained policy of the same seed, then drives held-out routes acting
with the mean of its Beta distribution, and is scored by the driving score and route completion
(never by its own training reward), with what ended each route (finished, collision, red light, off
road, stuck, time limit). A size whose trained policies do not clearly beat both their untrained
selves and a no-learning reference (`straight_ahead`: never steer, hold the speed limit) is flagged as
too short to learn.

Writes into results/carl/ (or ``--out``): minibatch_runs.csv (one row per reward x mini-batch x seed,
with the failure modes), minibatch_summary.csv (IQM and 95 % bootstrap interval over seeds),
minibatch_curves.csv (training return per metrics row), minibatch.png and minibatch.md.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402, F401  (matplotlib.ticker.ScalarFormatter)

import envs  # noqa: E402
from envs.driving import INFRACTIONS, run_episode  # noqa: E402
from envs.driving.world import speed_limit_at  # noqa: E402
from jaxrl.compile_cache import enable_compilation_cache  # noqa: E402
from jaxrl.ppo import PPOConfig  # noqa: E402
from jaxrl.report import git_revision, write_rows  # noqa: E402
from jaxrl.stats import bootstrap_ci  # noqa: E402
from jaxrl.sweep import (  # noqa: E402
    Group,
    SweepPlan,
    TrialResult,
    initial_policies,
    load_plan,
    read_trials,
    run_sweep,
    trained_policies,
)

ROOT = Path(__file__).resolve().parents[1]
COLOURS = {"simple": "tab:blue", "shaped": "tab:red"}
PAPER_CLAIM = ("scaling the mini-batch (with the data per update), PPO on the simple reward keeps improving, "
               "while PPO on the summed shaped reward does not")
# What ended a route, in order of precedence when two happen on the same step.
ENDINGS = ("finished", "collision", "red_light", "off_road", "stuck", "time_limit")


def held_out_route_keys(eval_seed: int, num_routes: int) -> jax.Array:
    """The route keys of the held-out routes: route j is level 0 of context seed ``eval_seed + j``
    (``Driving-v0`` with ``num_contexts=1``), exactly as the environment draws it."""
    seeds = eval_seed + jnp.arange(num_routes)
    return jax.vmap(lambda s: jax.random.fold_in(jax.random.PRNGKey(s), 0))(seeds)


def training_route_keys(env_kwargs: dict) -> jax.Array:
    """Every route key training can draw: ``num_contexts`` levels of ``context_seed``."""
    num, seed = int(env_kwargs["num_contexts"]), int(env_kwargs.get("context_seed", 0))
    return jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(seed), i))(jnp.arange(num))


def check_held_out(env_kwargs: dict, num_routes: int, eval_seed: int) -> None:
    """Refuse to run unless training draws from a finite set of routes that shares no route key with
    the evaluation routes (disjoint by an explicit check, not by chance)."""
    if int(env_kwargs.get("num_contexts", -1)) <= 0:
        raise ValueError("training must use a finite route set (env_kwargs.num_contexts > 0) so that the "
                         "evaluation routes can be checked to be held out")
    as_int = lambda keys: np.asarray(keys).astype(np.uint64) @ np.array([1 << 32, 1], np.uint64)
    train, held_out = as_int(training_route_keys(env_kwargs)), as_int(held_out_route_keys(eval_seed, num_routes))
    shared = int(np.isin(held_out, train).sum())
    if shared or len(np.unique(held_out)) != num_routes:
        raise ValueError(f"{shared} evaluation routes are also training routes (or they repeat)")


def evaluate(trainer, network_params, env_kwargs: dict, num_routes: int, eval_seed: int) -> dict[str, np.ndarray]:
    """Each seed's policy, acting with the mean of its Beta distribution, on the same held-out routes
    (`held_out_route_keys`; traffic and lights drawn from ``eval_seed``): per seed and route, the
    episode's route completion, driving score, success, infraction counts and one flag per `ENDINGS`
    entry saying what ended the route (exactly one is set per route)."""
    check_held_out(env_kwargs, num_routes, eval_seed)
    cache_key = (repr(trainer.network), tuple(sorted(env_kwargs.items())), num_routes, eval_seed)
    if cache_key not in _EVAL_CACHE:
        _EVAL_CACHE[cache_key] = _make_evaluator(trainer.network, env_kwargs, num_routes, eval_seed)
    info = _EVAL_CACHE[cache_key](network_params)
    out = {name: np.asarray(info[name]) for name in ("route_completion", "driving_score", "success")}
    for name in INFRACTIONS:
        out[name] = np.asarray(info["infractions"][name])
    out.update(route_endings(out))
    return out


def route_endings(scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What ended each route, from its success flag and infraction counts: finished, else the first
    terminating infraction of `ENDINGS` it committed (each ends the episode, so at most one occurs but
    for ties on one step), else the time limit. Exactly one flag is set per route."""
    left = np.ones_like(scores["success"], dtype=bool)
    endings = {}
    for name in ENDINGS[:-1]:
        hit = scores["success"].astype(bool) if name == "finished" else scores[name] > 0
        endings[f"ended_{name}"] = hit & left
        left &= ~hit
    endings["ended_time_limit"] = left
    return endings


_EVAL_CACHE: dict[tuple, object] = {}  # one compiled evaluator per network and environment


def _make_evaluator(network, env_kwargs: dict, num_routes: int, eval_seed: int):
    env, env_params = envs.make("Driving-v0", **{**env_kwargs, "num_contexts": 1, "context_seed": eval_seed})
    carry = network.initial_carry(1, 0)
    start = jnp.zeros((1, 1), bool)

    def one_route(params, context_seed, key):
        def policy(state, obs, _key):
            _, dist, _ = network.apply(params, carry, jax.tree.map(lambda x: x[None, None], obs), start)
            return dist.mode()[0, 0]

        info, _, _ = run_episode(env, env_params.replace(context_seed=context_seed), key, policy)
        return info

    context_seeds = eval_seed + jnp.arange(num_routes)
    keys = jax.random.split(jax.random.PRNGKey(eval_seed), num_routes)
    run = jax.vmap(jax.vmap(one_route, in_axes=(None, 0, 0)), in_axes=(0, None, None))
    return jax.jit(lambda network_params: run(network_params, context_seeds, keys))




LEARNED_MARGIN = 0.05  # driving score a size's policies must gain over the better of the two references


def straight_ahead(env_kwargs: dict, num_routes: int, eval_seed: int) -> dict[str, float]:
    """The no-learning reference: never steer, hold the speed limit (what a policy gets from learning
    only to press the pedal), on the same held-out routes and traffic as `evaluate`. Returns the mean
    driving score and route completion and the share of routes ended by each of `ENDINGS`."""
    env, env_params = envs.make("Driving-v0", **{**env_kwargs, "num_contexts": 1, "context_seed": eval_seed})

    def one_route(context_seed, key):
        params = env_params.replace(context_seed=context_seed)

        def policy(state, obs, _key):
            limit = speed_limit_at(state.route, state.s)
            return jnp.stack([0.0, jnp.clip((limit - state.ego.v) / 3.0, -1.0, 1.0)])

        info, _, _ = run_episode(env, params, key, policy)
        return info

    keys = jax.random.split(jax.random.PRNGKey(eval_seed), num_routes)
    info = jax.jit(jax.vmap(one_route))(eval_seed + jnp.arange(num_routes), keys)
    scores = {name: np.asarray(info[name]) for name in ("route_completion", "driving_score", "success")}
    scores.update({name: np.asarray(info["infractions"][name]) for name in INFRACTIONS})
    out = {"driving_score": float(scores["driving_score"].mean()),
           "route_completion": float(scores["route_completion"].mean())}
    out.update({key: float(value.mean()) for key, value in route_endings(scores).items()})
    return out


def clearly(a: dict, b: dict, metric: str = "driving_score") -> str:
    """'above', 'below' or 'overlap': how entry ``a``'s interval of ``metric`` sits against ``b``'s."""
    if a[f"{metric}_low"] > b[f"{metric}_high"]:
        return "above"
    if a[f"{metric}_high"] < b[f"{metric}_low"]:
        return "below"
    return "overlap"


def learning_checks(rows: list[dict], curve: np.ndarray, floor: float = 0.0) -> dict:
    """For one (reward, mini-batch): the gain in driving score over the better of the untrained policy of
    the same seed and ``floor`` (the `straight_ahead` reference's score), as IQM and bootstrap interval
    over seeds; ``learned`` when its lower bound exceeds `LEARNED_MARGIN`;
    and how much the training return (mean over seeds) still rose over the last 30 % of the chunks,
    relative to its total rise since the first chunk (``late_rise``; near 0 means it had levelled off)."""
    gain = np.array([r["driving_score"] - max(r["untrained_driving_score"], floor) for r in rows])
    ci = bootstrap_ci(gain, "iqm")
    mean_curve = curve.mean(axis=0)
    late = int(round(0.7 * (len(mean_curve) - 1)))
    total = mean_curve[-1] - mean_curve[0]
    late_rise = float((mean_curve[-1] - mean_curve[late]) / total) if abs(total) > 1e-9 else float("nan")
    return {"gain": ci.point, "gain_low": ci.low, "gain_high": ci.high, "learned": bool(ci.low > LEARNED_MARGIN),
            "late_rise": late_rise}


def judge(summary: list[dict], rewards: list[str]) -> tuple[str, str]:
    """The paper's claim on our numbers: (verdict, reasons). Per reward, the driving score at the largest
    mini-batch against the smallest (intervals apart or overlapping), and simple against shaped at the
    largest. Reproduced when the simple reward does not fall with the mini-batch, the shaped reward does
    not rise, and at the largest mini-batch the simple reward is clearly ahead; 'undecided' when any
    size is flagged as too short to learn."""
    trend, ends = {}, {}
    for reward in rewards:
        entries = sorted((e for e in summary if e["reward"] == reward), key=lambda e: e["minibatch"])
        trend[reward] = {"above": "rises", "below": "falls", "overlap": "no clear change"}[
            clearly(entries[-1], entries[0])]
        ends[reward] = entries
    parts = [f"{reward}: driving score {ends[reward][0]['driving_score']:.2f} at {ends[reward][0]['minibatch']} -> "
             f"{ends[reward][-1]['driving_score']:.2f} at {ends[reward][-1]['minibatch']} ({trend[reward]})"
             for reward in rewards]
    verdict = "not judged (needs both rewards)"
    if {"simple", "shaped"} <= set(rewards):
        largest = clearly(ends["simple"][-1], ends["shaped"][-1])
        parts.append(f"at mini-batch {ends['simple'][-1]['minibatch']} simple is "
                     f"{ {'above': 'clearly ahead of', 'below': 'clearly behind', 'overlap': 'level with'}[largest]} "
                     "shaped")
        reproduced = trend["simple"] != "falls" and trend["shaped"] != "rises" and largest == "above"
        verdict = "reproduced" if reproduced else "not reproduced"
        short = [f"{e['reward']} {e['minibatch']}" for e in summary if not e["learned"]]
        if short:
            verdict = (f"undecided (too short to learn: {', '.join(short)}; taken at face value the numbers "
                       f"would read '{verdict}')")
    return verdict, "; ".join(parts)


def summarise(rows: list[dict], curves: dict, rewards: list[str], minibatches: list[int],
              floor: float = 0.0) -> list[dict]:
    """One entry per (reward, mini-batch): IQM and 95 % bootstrap interval over seeds of the scores, the
    untrained policies' driving score, the failure modes (mean over seeds) and `learning_checks`."""
    summary = []
    for reward in rewards:
        for minibatch in minibatches:
            group = [r for r in rows if r["reward"] == reward and r["minibatch"] == minibatch]
            entry = {"reward": reward, "minibatch": minibatch, "env_steps": group[0]["env_steps"],
                     "gradient_steps": group[0]["gradient_steps"]}
            for metric in ("driving_score", "route_completion", "untrained_driving_score"):
                ci = bootstrap_ci(np.array([r[metric] for r in group]), "iqm")
                entry.update({metric: ci.point, f"{metric}_low": ci.low, f"{metric}_high": ci.high})
            for name in ENDINGS:
                entry[f"ended_{name}"] = float(np.mean([r[f"ended_{name}"] for r in group]))
            entry.update(learning_checks(group, curves[(reward, minibatch)], floor))
            summary.append(entry)
    return summary


def plot(summary: list[dict], rewards: list[str], path: Path, floor: float | None = None) -> None:
    """Left: driving score against mini-batch size per reward (IQM, 95 % interval; dotted: untrained;
    dashed grey: the `straight_ahead` reference ``floor``). Right: what ended the held-out routes, per
    reward and mini-batch (mean over seeds)."""
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(12, 4.5))
    for reward in rewards:
        entries = [e for e in summary if e["reward"] == reward]
        x = [e["minibatch"] for e in entries]
        ax.plot(x, [e["driving_score"] for e in entries], "o-", color=COLOURS.get(reward), label=reward)
        ax.fill_between(x, [e["driving_score_low"] for e in entries], [e["driving_score_high"] for e in entries],
                        color=COLOURS.get(reward), alpha=0.2)
        ax.plot(x, [e["untrained_driving_score"] for e in entries], ":", color=COLOURS.get(reward),
                label=f"{reward}, untrained")
    if floor is not None:
        ax.axhline(floor, ls="--", color="grey", label="straight ahead (no learning)")
    ax.set_xscale("log", base=2)
    ax.set_xticks([e["minibatch"] for e in summary if e["reward"] == rewards[0]])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("mini-batch size (data per update scaled with it)")
    ax.set_ylabel("driving score, held-out routes")
    ax.set_ylim(0, 1)
    ax.set_title("driving score (IQM over seeds, 95 % interval)")
    ax.legend(fontsize=8)
    colours = {"finished": "tab:green", "collision": "tab:red", "red_light": "tab:orange",
               "off_road": "tab:brown", "stuck": "tab:gray", "time_limit": "tab:purple"}
    labels = [f"{e['reward']}\n{e['minibatch']}" for e in summary]
    bottom = np.zeros(len(summary))
    for name in ENDINGS:
        values = np.array([e[f"ended_{name}"] for e in summary])
        bars.bar(labels, values, bottom=bottom, color=colours[name], label=name.replace("_", " "))
        bottom += values
    bars.set_ylabel("share of held-out routes")
    bars.set_title("what ended each route (mean over seeds)")
    bars.set_ylim(0, 1)
    bars.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def minibatch_size(config: PPOConfig) -> int:
    """The mini-batch of a config: its batch per update over its mini-batches."""
    return config.batch_size // config.num_minibatches


def gradient_steps(config: PPOConfig) -> int:
    """Optimiser steps in the whole run: updates x mini-batches x epochs."""
    return config.num_updates * config.num_minibatches * config.update_epochs


PPO_FIELDS = ("update_epochs", "learning_rate", "anneal_lr", "clip_eps", "gamma", "gae_lambda", "ent_coef",
              "vf_coef", "max_grad_norm", "normalize_advantages", "clip_value_loss", "action_head",
              "hidden_sizes", "activation")


def design(plan: SweepPlan) -> dict:
    """The study's design as the sweep file sets it at the chosen size, checked: the rewards are the
    points, every (reward, mini-batch) is one group of all seeds, every group has the same rollout
    length, number of mini-batches and updates (hence gradient steps), and groups differ only in the
    reward, the number of envs and the steps that make the same number of updates."""
    configs = {}
    for group in plan.groups:
        (reward,) = {t.point for t in group.trials}
        config = group.config
        key = (reward, minibatch_size(config))
        if key in configs:
            raise ValueError(f"{plan.source_path}: two groups give {key}; each (reward, mini-batch) is one group")
        if config.env_kwargs.get("reward") != reward:
            raise ValueError(f"{plan.source_path}: point {reward} does not set env_kwargs.reward: {reward}")
        if config.batch_size % config.num_minibatches or config.total_timesteps % config.batch_size:
            raise ValueError(f"{plan.source_path}: {group.label} does not divide into whole mini-batches and updates")
        configs[key] = config
    first = next(iter(configs.values()))
    fixed = lambda c: {k: v for k, v in vars(c).items() if k not in ("num_envs", "total_timesteps", "env_kwargs")}
    for config in configs.values():
        if fixed(config) != fixed(first) or config.num_updates != first.num_updates:
            raise ValueError(f"{plan.source_path}: the groups differ in more than the reward and the mini-batch "
                             "(with the envs and data that go with it)")
    seeds = sorted({t.seed for t in plan.trials})
    env_kwargs = {k: v for k, v in first.env_kwargs.items() if k != "reward"}
    return {
        "env": first.env, "env_kwargs": env_kwargs, "rewards": list(plan.points), "seeds": len(seeds),
        "minibatch_sizes": sorted({m for _, m in configs}), "num_minibatches": first.num_minibatches,
        "num_steps": first.num_steps, "num_updates": first.num_updates,
        "ppo": {k: getattr(first, k) for k in PPO_FIELDS},
        "eval_routes": int(plan.experiment["eval_routes"]), "eval_seed": int(plan.experiment["eval_seed"]),
    }


def score_group(group: Group, trials: list[TrialResult], sweep_dir: Path, study: dict) -> tuple[list[dict], np.ndarray]:
    """One (reward, mini-batch) group of finished trials: per-seed rows (the trained and untrained
    policies' scores on the held-out routes, from the group's checkpoint and the trials' initial
    parameters) and the training curve (mean episode return per metrics row), shape (seeds, rows)."""
    config = group.config
    reward = group.trials[0].point
    t0 = time.time()
    trainer, trained, _ = trained_policies(group, sweep_dir)
    _, untrained = initial_policies(group)
    env_kwargs = {**study["env_kwargs"], "reward": reward}
    scores = evaluate(trainer, trained, env_kwargs, study["eval_routes"], study["eval_seed"])
    before = evaluate(trainer, untrained, env_kwargs, study["eval_routes"], study["eval_seed"])
    eval_seconds = time.time() - t0
    curve = np.array([[np.nan if r["episode_return_mean"] is None else r["episode_return_mean"] for r in t.rows]
                      for t in trials])
    train_seconds = max(t.rows[-1]["wall_time"] for t in trials)  # the group's own wall time
    rows = [{
        "reward": reward, "minibatch": minibatch_size(config), "seed": t.trial.seed, "num_envs": config.num_envs,
        "batch_per_update": config.batch_size, "updates": config.num_updates,
        "gradient_steps": gradient_steps(config), "env_steps": config.num_updates * config.batch_size,
        "driving_score": float(scores["driving_score"][i].mean()),
        "route_completion": float(scores["route_completion"][i].mean()),
        "untrained_driving_score": float(before["driving_score"][i].mean()),
        **{f"ended_{name}": float(scores[f"ended_{name}"][i].mean()) for name in ENDINGS},
        **{f"{name}_per_route": float(scores[name][i].mean()) for name in INFRACTIONS},
        "final_train_return": float(curve[i, -1]),
        "train_seconds": train_seconds / len(trials),
        "point_seconds": (train_seconds + eval_seconds) / len(trials),
    } for i, t in enumerate(trials)]
    return rows, curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="full",
                        help="a size of the sweep file (quick: a smoke run; medium: the recorded run; full)")
    parser.add_argument("--quick", action="store_true", help="same as --size quick")
    parser.add_argument("--sweep", type=Path, default=ROOT / "sweeps" / "carl_minibatch.yaml")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs",
                        help="where the sweep's trials are trained (finished ones are reused)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "carl")
    parser.add_argument("--partial", action="store_true",
                        help="train nothing: write the summary over the finished (reward, mini-batch) points")
    args = parser.parse_args()
    size_name = "quick" if args.quick else args.size
    enable_compilation_cache()
    plan = load_plan(args.sweep, size=size_name)
    study = design(plan)
    for reward in study["rewards"]:
        check_held_out({**study["env_kwargs"], "reward": reward}, study["eval_routes"], study["eval_seed"])
    sweep_dir = args.runs / plan.name
    if not args.partial:
        result = run_sweep(plan, out_root=args.runs, progress=False)
        if result.count("done") != len(plan.trials):
            raise SystemExit(f"some trials did not finish: {result.statuses}")
    trials = read_trials(plan, args.runs)
    args.out.mkdir(parents=True, exist_ok=True)

    rows, curves, missing = [], {}, []
    for group in plan.groups:
        config, reward = group.config, group.trials[0].point
        point = f"{reward} {minibatch_size(config)}"
        group_trials = [t for t in trials if t.trial in group.trials]
        if not all(t.done for t in group_trials):
            missing.append(point)
            continue
        group_rows, curve = score_group(group, group_trials, sweep_dir, study)
        rows.extend(group_rows)
        curves[(reward, minibatch_size(config))] = curve
        print(f"{reward:6s} minibatch {minibatch_size(config):6d} ({config.num_envs} envs, {config.num_updates} "
              f"updates, {gradient_steps(config)} gradient steps): driving score "
              f"{np.mean([r['driving_score'] for r in group_rows]):.3f} (untrained "
              f"{np.mean([r['untrained_driving_score'] for r in group_rows]):.3f}), route completion "
              f"{np.mean([r['route_completion'] for r in group_rows]):.3f} "
              f"({sum(r['train_seconds'] for r in group_rows):.0f} s)", flush=True)
    rewards, minibatches = study["rewards"], study["minibatch_sizes"]
    if missing:
        minibatches = [m for m in minibatches if all((r, m) in curves for r in rewards)]
        if not minibatches:
            raise SystemExit(f"no mini-batch size has finished trials for every reward in {sweep_dir}")
        rows = [r for r in rows if r["minibatch"] in minibatches]
        curves = {k: v for k, v in curves.items() if k[1] in minibatches}
    wall = sum(r["point_seconds"] for r in rows)  # the points' own wall times (they may run in parallel)

    write_rows(args.out / "minibatch_runs.csv", rows)
    reference = straight_ahead(study["env_kwargs"], study["eval_routes"], study["eval_seed"])
    summary = summarise(rows, curves, rewards, minibatches, reference["driving_score"])
    write_rows(args.out / "minibatch_summary.csv", summary)
    with open(args.out / "minibatch_curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["reward", "minibatch", "seed", "chunk", "train_episode_return"])
        for (reward, minibatch), curve in curves.items():
            for s in range(curve.shape[0]):
                for c in range(curve.shape[1]):
                    writer.writerow([reward, minibatch, s, c, f"{curve[s, c]:.4f}"])
    plot(summary, rewards, args.out / "minibatch.png", reference["driving_score"])
    text = summary_markdown(study, size_name, summary, rows, wall, reference, missing)
    (args.out / "minibatch.md").write_text(text)
    print(text)


def summary_markdown(study: dict, size_name: str, summary: list[dict], rows: list[dict],
                     wall: float, reference: dict, missing: list[str] | None = None) -> str:
    """minibatch.md: the claim and our verdict, the design, the tables, the warnings."""
    rewards = list(study["rewards"])
    verdict, reasons = judge(summary, rewards)
    table = "\n".join(
        f"| {e['reward']} | {e['minibatch']} | {e['env_steps']:,} | {e['gradient_steps']:,} | "
        f"{e['driving_score']:.3f} [{e['driving_score_low']:.3f}, {e['driving_score_high']:.3f}] | "
        f"{e['route_completion']:.3f} [{e['route_completion_low']:.3f}, {e['route_completion_high']:.3f}] | "
        f"{e['untrained_driving_score']:.3f} | {e['gain']:+.3f} [{e['gain_low']:+.3f}, {e['gain_high']:+.3f}] | "
        f"{'yes' if e['learned'] else '**no**'} | {e['late_rise']:.2f} |" for e in summary)
    modes = "\n".join(
        f"| {r['reward']} | {r['minibatch']} | {r['seed']} | {r['driving_score']:.3f} | {r['route_completion']:.3f} | "
        + " | ".join(f"{r[f'ended_{name}']:.2f}" for name in ENDINGS) + " |" for r in rows)
    short = [e for e in summary if not e["learned"]]
    warnings = "\n".join(
        f"- **Warning: {e['reward']} at mini-batch {e['minibatch']} is too short to learn**: its driving score "
        f"gained {e['gain']:+.3f} [{e['gain_low']:+.3f}, {e['gain_high']:+.3f}] over the references "
        f"(needs a lower bound above {LEARNED_MARGIN})." for e in short)
    rising = [e for e in summary if e["learned"] and e["late_rise"] > 0.2]
    warnings += ("\n" if warnings and rising else "") + "\n".join(
        f"- {e['reward']} at mini-batch {e['minibatch']}: the training return was still rising when training "
        f"stopped ({e['late_rise']:.0%} of its rise came in the last 30 % of the run); not converged." for e in rising)
    ppo = study["ppo"]
    partial = (f"\n**Partial run: these points did not run and are left out: {', '.join(missing)}.** The "
               "verdict covers only the mini-batch sizes below.\n" if missing else "")
    return f"""# CaRL mini-batch study in Driving-v0 ({size_name} size{', partial' if missing else ''})
{partial}
| | paper (CaRL, CARLA) | ours (Driving-v0, this run) |
|---|---|---|
| claim | {PAPER_CLAIM} | **{verdict}**: {reasons} |

**Design: scaled as the paper scales, the same number of gradient steps at every size.** Each update
takes {study['num_minibatches']} mini-batches x {ppo['update_epochs']} epochs, as in both of the paper's settings
(4,096 in mini-batches of 1,024; 65,536 in mini-batches of 16,384). The rollout length is fixed at
{study['num_steps']} steps and the number of parallel envs grows with the mini-batch. Every size runs
{study['num_updates']} updates, so {summary[0]['gradient_steps']:,} gradient steps. Only the mini-batch size
changes, and with it the data per update (so a larger mini-batch sees more environment steps). The runs
are not trained to convergence: see "learned", "late rise" and the warnings.

Setting: {study['env']} {study['env_kwargs']}; {study['seeds']} seeds per point (one vmapped program);
mini-batch sizes {study['minibatch_sizes']}; PPO {ppo}.

Scoring: {study['eval_routes']} held-out routes (context seeds {study['eval_seed']}.., checked disjoint from
the {study['env_kwargs'].get('num_contexts')} training levels), acting with the mean of the Beta policy;
driving score (DS) and route completion (RC), IQM over seeds with 95 % bootstrap intervals.
"untrained DS" is the same seeds' policies before training, on the same routes. The no-learning
reference "straight ahead" (never steer, hold the speed limit) scores DS
{reference['driving_score']:.3f}, RC {reference['route_completion']:.3f} (routes ended:
{', '.join(f"{n.replace('_', ' ')} {reference[f'ended_{n}']:.2f}" for n in ENDINGS)}). "gain in DS" is
over the better of the two references; "learned" needs its lower bound above {LEARNED_MARGIN}. "late
rise" is the share of the training return's rise that came in the last 30 % of the run.

| reward | mini-batch | env steps | gradient steps | DS | RC | untrained DS | gain in DS | learned | late rise |
|---|---|---|---|---|---|---|---|---|---|
{table}

{warnings or "No size was flagged as too short to learn."}

## Failure modes per seed (share of the {study['eval_routes']} held-out routes ended by each)

| reward | mini-batch | seed | driving score | route completion | {' | '.join(n.replace('_', ' ') for n in ENDINGS)} |
|---|---|---|---|---|{'---|' * len(ENDINGS)}
{modes}

The scripted controller's reference (driving score 1.0) is in `scripted_controller.md`.

Command: `python experiments/carl_minibatch.py --size {size_name}{' --partial' if missing else ''}`
(it runs the sweep `jaxrl sweep sweeps/carl_minibatch.yaml --size {size_name}`, reusing its finished
trials, then scores every trial's checkpoint; several processes may run the sweep at once); wall
time of the points together {wall:.0f} s (training and evaluation, compilation included) on this
machine's shared CPU; git commit {git_revision()}. Per-run rows: `minibatch_runs.csv`; curves: `minibatch_curves.csv`;
plot: `minibatch.png`.
"""



if __name__ == "__main__":
    main()

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

For each reward x mini-batch size, the seeds train as one vmapped program (`jaxrl.ppo.make_train`).
Every trained policy, and the untrained policy of the same seed, then drives held-out routes acting
with the mean of its Beta distribution, and is scored by the driving score and route completion
(never by its own training reward), with what ended each route (finished, collision, red light, off
road, stuck, time limit). A size whose trained policies do not clearly beat both their untrained
selves and a no-learning reference (`straight_ahead`: never steer, hold the speed limit) is flagged as
too short to learn.

Writes into results/carl/ (or ``--out``): minibatch_runs.csv (one row per reward x mini-batch x seed,
with the failure modes), minibatch_summary.csv (IQM and 95 % bootstrap interval over seeds),
minibatch_curves.csv (training return per chunk), minibatch.png and minibatch.md.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402, F401  (matplotlib.ticker.ScalarFormatter)

import envs  # noqa: E402
from envs.driving import INFRACTIONS, run_episode  # noqa: E402
from envs.driving.world import speed_limit_at  # noqa: E402
from jaxrl.ppo import PPOConfig, episode_means, make_train  # noqa: E402
from jaxrl.report import git_revision, write_rows  # noqa: E402
from jaxrl.stats import bootstrap_ci  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COLOURS = {"simple": "tab:blue", "shaped": "tab:red"}
PAPER_CLAIM = ("scaling the mini-batch (with the data per update), PPO on the simple reward keeps improving, "
               "while PPO on the summed shaped reward does not")
NUM_CHUNKS = 10  # training curves are logged this many times per run
# What ended a route, in order of precedence when two happen on the same step.
ENDINGS = ("finished", "collision", "red_light", "off_road", "stuck", "time_limit")


def ppo_config(spec: dict, size: dict, reward: str, minibatch: int) -> PPOConfig:
    """``num_minibatches`` mini-batches of ``minibatch`` per update from ``num_steps``-step rollouts of
    as many envs as that takes, for ``num_updates`` updates (the same at every mini-batch size)."""
    steps, minibatches = int(size["num_steps"]), int(size["num_minibatches"])
    batch = minibatches * minibatch
    if batch % steps:
        raise ValueError(f"the batch per update {batch} (= {minibatches} x mini-batch {minibatch}) is not a "
                         f"multiple of the rollout length num_steps={steps}")
    ppo = dict(spec["ppo"])
    ppo["hidden_sizes"] = tuple(ppo["hidden_sizes"])
    return PPOConfig(
        env=spec["env"], env_kwargs={**spec["env_kwargs"], "reward": reward},
        total_timesteps=int(size["num_updates"]) * batch, num_envs=batch // steps, num_steps=steps,
        num_minibatches=minibatches, **ppo,
    )


def gradient_steps(config: PPOConfig) -> int:
    """Optimiser steps in the whole run: updates x mini-batches x epochs."""
    return config.num_updates * config.num_minibatches * config.update_epochs


def train_seeds(config: PPOConfig, seeds: int, seed: int) -> tuple[object, object, object, np.ndarray]:
    """All seeds of one configuration as one vmapped program; returns the trainer, the untrained network
    parameters and the final runner states (both with a leading seed axis) and the mean training episode
    return per chunk, shape (seeds, chunks)."""
    trainer = make_train(config)
    num_updates = config.num_updates
    chunk = max(1, num_updates // NUM_CHUNKS)
    hparams = jax.tree.map(lambda x: jnp.broadcast_to(x, (seeds,)), config.hyperparams())
    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
    state = jax.jit(jax.vmap(trainer.init_fn))(keys, hparams)
    untrained = state.params
    compiled: dict[int, object] = {}
    curve, done = [], 0
    while done < num_updates:
        length = min(chunk, num_updates - done)
        if length not in compiled:
            compiled[length] = jax.jit(jax.vmap(functools.partial(trainer.update_fn, num_updates=length)))
        state, metrics = compiled[length](state)
        curve.append(np.asarray(episode_means(metrics)["episode_return_mean"]))
        done += length
    return trainer, untrained, state, np.stack(curve, axis=1)


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


def run_point(spec: dict, size: dict, config: PPOConfig, reward: str, minibatch: int, seeds: int,
              seed: int) -> dict:
    """Train one (reward, mini-batch) point over all seeds and score it: per-seed rows and the curves."""
    t0 = time.time()
    trainer, untrained, state, curve = train_seeds(config, seeds, seed)
    train_time = time.time() - t0
    env_kwargs = {**spec["env_kwargs"], "reward": reward}
    scores = evaluate(trainer, state.params, env_kwargs, int(size["eval_routes"]), int(spec["eval_seed"]))
    before = evaluate(trainer, untrained, env_kwargs, int(size["eval_routes"]), int(spec["eval_seed"]))
    rows = [{
        "reward": reward, "minibatch": minibatch, "seed": s, "num_envs": config.num_envs,
        "batch_per_update": config.batch_size, "updates": config.num_updates,
        "gradient_steps": gradient_steps(config), "env_steps": config.num_updates * config.batch_size,
        "driving_score": float(scores["driving_score"][s].mean()),
        "route_completion": float(scores["route_completion"][s].mean()),
        "untrained_driving_score": float(before["driving_score"][s].mean()),
        **{f"ended_{name}": float(scores[f"ended_{name}"][s].mean()) for name in ENDINGS},
        **{f"{name}_per_route": float(scores[name][s].mean()) for name in INFRACTIONS},
        "final_train_return": float(curve[s, -1]),
        "train_seconds": train_time / seeds,
        "point_seconds": (time.time() - t0) / seeds,
    } for s in range(seeds)]
    return {"rows": rows, "curve": curve.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("quick", "medium", "full"), default="full",
                        help="a size of the sweep file (quick: a smoke run; medium: the recorded run)")
    parser.add_argument("--quick", action="store_true", help="same as --size quick")
    parser.add_argument("--sweep", type=Path, default=ROOT / "sweeps" / "carl_minibatch.yaml")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "carl")
    parser.add_argument("--rewards", nargs="+", help="run only these rewards' points (e.g. one per process)")
    parser.add_argument("--minibatches", nargs="+", type=int, help="run only these mini-batch sizes' points")
    parser.add_argument("--partial", action="store_true",
                        help="train nothing: write the summary over the finished points, naming the missing ones")
    args = parser.parse_args()
    spec = yaml.safe_load(args.sweep.read_text())
    size_name = "quick" if args.quick else args.size
    size = spec["sizes"][size_name]
    seeds, minibatches = int(size["seeds"]), [int(m) for m in size["minibatch_sizes"]]
    rewards = list(spec["rewards"])
    args.out.mkdir(parents=True, exist_ok=True)

    rows, curves = [], {}
    points_dir = args.out / "minibatch_points"
    points_dir.mkdir(exist_ok=True)
    missing = []
    for reward in rewards:
        for minibatch in minibatches:
            config = ppo_config(spec, size, reward, minibatch)
            path = points_dir / f"{size_name}_{reward}_{minibatch}.json"
            setting = {"config": repr(config), "seeds": seeds, "seed": args.seed, "eval_routes": size["eval_routes"],
                       "eval_seed": spec["eval_seed"]}
            if path.exists():  # a point that already ran (in this or another process) is read back
                point = json.loads(path.read_text())
                if point["setting"] != setting:
                    raise ValueError(f"{path} was made with other settings; delete it to rerun that point")
            elif (args.partial or (args.rewards and reward not in args.rewards)
                  or (args.minibatches and minibatch not in args.minibatches)):
                missing.append(f"{reward} {minibatch}")
                continue
            else:
                point = {"setting": setting, **run_point(spec, size, config, reward, minibatch, seeds, args.seed)}
                path.write_text(json.dumps(point))
            rows.extend(point["rows"])
            curves[(reward, minibatch)] = np.asarray(point["curve"])
            print(f"{reward:6s} minibatch {minibatch:6d} ({config.num_envs} envs, {config.num_updates} updates, "
                  f"{gradient_steps(config)} gradient steps): driving score "
                  f"{np.mean([r['driving_score'] for r in point['rows']]):.3f} (untrained "
                  f"{np.mean([r['untrained_driving_score'] for r in point['rows']]):.3f}), route completion "
                  f"{np.mean([r['route_completion'] for r in point['rows']]):.3f} "
                  f"({sum(r['train_seconds'] for r in point['rows']):.0f} s)", flush=True)
    if missing and args.partial:
        minibatches = [m for m in minibatches if all((r, m) in curves for r in rewards)]
        if not minibatches:
            raise SystemExit(f"no mini-batch size has finished points for every reward in {points_dir}")
        rows = [r for r in rows if r["minibatch"] in minibatches]
    elif missing:
        print(f"not run here: {', '.join(missing)}; the summary is written once every point has run "
              f"(rerun without --rewards/--minibatches, which reads the finished points from {points_dir})")
        return
    wall = sum(r["point_seconds"] for r in rows)  # the points' own wall times (they may run in parallel)

    write_rows(args.out / "minibatch_runs.csv", rows)
    reference = straight_ahead(spec["env_kwargs"], int(size["eval_routes"]), int(spec["eval_seed"]))
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
    text = summary_markdown(spec, size, size_name, summary, rows, wall, reference, missing)
    (args.out / "minibatch.md").write_text(text)
    print(text)


def summary_markdown(spec: dict, size: dict, size_name: str, summary: list[dict], rows: list[dict],
                     wall: float, reference: dict, missing: list[str] | None = None) -> str:
    """minibatch.md: the claim and our verdict, the design, the tables, the warnings."""
    rewards = list(spec["rewards"])
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
    ppo = spec["ppo"]
    partial = (f"\n**Partial run: these points did not run and are left out: {', '.join(missing)}.** The "
               "verdict covers only the mini-batch sizes below.\n" if missing else "")
    return f"""# CaRL mini-batch study in Driving-v0 ({size_name} size{', partial' if missing else ''})
{partial}
| | paper (CaRL, CARLA) | ours (Driving-v0, this run) |
|---|---|---|
| claim | {PAPER_CLAIM} | **{verdict}**: {reasons} |

**Design: scaled as the paper scales, the same number of gradient steps at every size.** Each update
takes {size['num_minibatches']} mini-batches x {ppo['update_epochs']} epochs, as in both of the paper's settings
(4,096 in mini-batches of 1,024; 65,536 in mini-batches of 16,384). The rollout length is fixed at
{size['num_steps']} steps and the number of parallel envs grows with the mini-batch. Every size runs
{size['num_updates']} updates, so {summary[0]['gradient_steps']:,} gradient steps. Only the mini-batch size
changes, and with it the data per update (so a larger mini-batch sees more environment steps). The runs
are not trained to convergence: see "learned", "late rise" and the warnings.

Setting: {spec['env']} {spec['env_kwargs']}; {size['seeds']} seeds per point (one vmapped program);
mini-batch sizes {size['minibatch_sizes']}; PPO {ppo}.

Scoring: {size['eval_routes']} held-out routes (context seeds {spec['eval_seed']}.., checked disjoint from
the {spec['env_kwargs'].get('num_contexts')} training levels), acting with the mean of the Beta policy;
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

## Failure modes per seed (share of the {size['eval_routes']} held-out routes ended by each)

| reward | mini-batch | seed | driving score | route completion | {' | '.join(n.replace('_', ' ') for n in ENDINGS)} |
|---|---|---|---|---|{'---|' * len(ENDINGS)}
{modes}

The scripted controller's reference (driving score 1.0) is in `scripted_controller.md`.

Command: `python experiments/carl_minibatch.py --size {size_name}{' --partial' if missing else ''}`
(points may be split over processes
with `--rewards`/`--minibatches`; finished points are kept in `minibatch_points/` and read back); wall
time of the points together {wall:.0f} s (training and evaluation, compilation included) on this
machine's shared CPU; git commit {git_revision()}. Per-run rows: `minibatch_runs.csv`; curves: `minibatch_curves.csv`;
plot: `minibatch.png`.
"""


if __name__ == "__main__":
    main()

"""CaRL's mini-batch study in our driving world: with the batch per update fixed, does PPO trained on
the shaped (Roach-style summed) reward fall off as the mini-batch grows, while PPO on the simple reward
(route completion x multiplicative penalties) does not? (`papers/carl.md`)

    python experiments/carl_minibatch.py --quick     # ~15 min on a shared 2-core CPU (too short to learn)
    python experiments/carl_minibatch.py             # full size: hours on a CPU (results/carl/minibatch.md)

For each reward x mini-batch size, the seeds train as one vmapped program (`jaxrl.ppo.make_train`).
Every trained policy then drives held-out routes acting with the mean of its Beta distribution, and is
scored by the driving score and route completion (never by its own training reward).

Writes into results/carl/: minibatch_runs.csv (one row per reward x mini-batch x seed),
minibatch_summary.csv (IQM and 95 % bootstrap interval over seeds), minibatch_curves.csv (training
return per chunk), minibatch.png and minibatch.md.
"""

from __future__ import annotations

import argparse
import csv
import functools
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import envs  # noqa: E402
from envs.driving import INFRACTIONS, run_episode  # noqa: E402
from jaxrl.ppo import PPOConfig, episode_means, make_train  # noqa: E402
from jaxrl.report import git_revision, write_rows  # noqa: E402
from jaxrl.stats import bootstrap_ci  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COLOURS = {"simple": "tab:blue", "shaped": "tab:red"}
PAPER_CLAIM = ("with the batch per update fixed, PPO on the summed shaped reward degrades as the mini-batch "
               "grows, while PPO on the simple reward keeps improving")
NUM_CHUNKS = 10  # training curves are logged this many times per run


def ppo_config(spec: dict, size: dict, reward: str, minibatch: int) -> PPOConfig:
    batch = size["num_envs"] * size["num_steps"]
    if batch % minibatch:
        raise ValueError(f"mini-batch {minibatch} does not divide the batch per update {batch}")
    ppo = dict(spec["ppo"])
    ppo["hidden_sizes"] = tuple(ppo["hidden_sizes"])
    return PPOConfig(
        env=spec["env"], env_kwargs={**spec["env_kwargs"], "reward": reward},
        total_timesteps=int(size["total_timesteps"]), num_envs=size["num_envs"], num_steps=size["num_steps"],
        num_minibatches=batch // minibatch, **ppo,
    )


def train_seeds(config: PPOConfig, seeds: int, seed: int) -> tuple[object, object, np.ndarray]:
    """All seeds of one configuration as one vmapped program; returns the trainer, the final runner
    states (leading seed axis) and the mean training episode return per chunk, shape (seeds, chunks)."""
    trainer = make_train(config)
    num_updates = config.num_updates
    chunk = max(1, num_updates // NUM_CHUNKS)
    hparams = jax.tree.map(lambda x: jnp.broadcast_to(x, (seeds,)), config.hyperparams())
    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
    state = jax.jit(jax.vmap(trainer.init_fn))(keys, hparams)
    compiled: dict[int, object] = {}
    curve, done = [], 0
    while done < num_updates:
        length = min(chunk, num_updates - done)
        if length not in compiled:
            compiled[length] = jax.jit(jax.vmap(functools.partial(trainer.update_fn, num_updates=length)))
        state, metrics = compiled[length](state)
        curve.append(np.asarray(episode_means(metrics)["episode_return_mean"]))
        done += length
    return trainer, state, np.stack(curve, axis=1)


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
    episode's route completion, driving score, success and infraction counts."""
    check_held_out(env_kwargs, num_routes, eval_seed)
    cache_key = (repr(trainer.network), tuple(sorted(env_kwargs.items())), num_routes, eval_seed)
    if cache_key not in _EVAL_CACHE:
        _EVAL_CACHE[cache_key] = _make_evaluator(trainer.network, env_kwargs, num_routes, eval_seed)
    info = _EVAL_CACHE[cache_key](network_params)
    out = {name: np.asarray(info[name]) for name in ("route_completion", "driving_score", "success")}
    for name in INFRACTIONS:
        out[name] = np.asarray(info["infractions"][name])
    return out


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


def verdict(summary: list[dict], rewards: list[str], minibatches: list[int]) -> str:
    """The smallest-to-largest mini-batch change of the driving score (IQM) per reward, in words."""
    parts = []
    for reward in rewards:
        entries = sorted((e for e in summary if e["reward"] == reward), key=lambda e: e["minibatch"])
        first, last = entries[0], entries[-1]
        overlap = first["driving_score_low"] <= last["driving_score_high"] and \
            last["driving_score_low"] <= first["driving_score_high"]
        parts.append(f"{reward}: driving score {first['driving_score']:.2f} at {first['minibatch']} -> "
                     f"{last['driving_score']:.2f} at {last['minibatch']}"
                     f"{' (intervals overlap: no clear change)' if overlap else ''}")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("quick", "medium", "full"), default="full",
                        help="a size of the sweep file (quick: a smoke run; medium: about an hour on 2 cores)")
    parser.add_argument("--quick", action="store_true", help="same as --size quick")
    parser.add_argument("--sweep", type=Path, default=ROOT / "sweeps" / "carl_minibatch.yaml")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "carl")
    args = parser.parse_args()
    spec = yaml.safe_load(args.sweep.read_text())
    size_name = "quick" if args.quick else args.size
    size = spec["sizes"][size_name]
    seeds, minibatches = int(size["seeds"]), [int(m) for m in size["minibatch_sizes"]]
    args.out.mkdir(parents=True, exist_ok=True)

    rows, curves, start = [], {}, time.time()
    for reward in spec["rewards"]:
        for minibatch in minibatches:
            config = ppo_config(spec, size, reward, minibatch)
            t0 = time.time()
            trainer, state, curve = train_seeds(config, seeds, args.seed)
            train_time = time.time() - t0
            scores = evaluate(trainer, state.params, {**spec["env_kwargs"], "reward": reward},
                              int(size["eval_routes"]), int(spec["eval_seed"]))
            curves[(reward, minibatch)] = curve
            for s in range(seeds):
                rows.append({
                    "reward": reward, "minibatch": minibatch, "seed": s,
                    "driving_score": float(scores["driving_score"][s].mean()),
                    "route_completion": float(scores["route_completion"][s].mean()),
                    "success": float(scores["success"][s].mean()),
                    "final_train_return": float(curve[s, -1]),
                    **{f"{name}_per_route": float(scores[name][s].mean()) for name in INFRACTIONS},
                    "train_seconds": train_time / seeds,
                })
            print(f"{reward:6s} minibatch {minibatch:6d}: driving score "
                  f"{np.mean([r['driving_score'] for r in rows[-seeds:]]):.3f}, route completion "
                  f"{np.mean([r['route_completion'] for r in rows[-seeds:]]):.3f} ({train_time:.0f} s)", flush=True)
    wall = time.time() - start

    write_rows(args.out / "minibatch_runs.csv", rows)
    summary = []
    for reward in spec["rewards"]:
        for minibatch in minibatches:
            group = [r for r in rows if r["reward"] == reward and r["minibatch"] == minibatch]
            entry = {"reward": reward, "minibatch": minibatch}
            for metric in ("driving_score", "route_completion"):
                ci = bootstrap_ci(np.array([r[metric] for r in group]), "iqm")
                entry.update({metric: ci.point, f"{metric}_low": ci.low, f"{metric}_high": ci.high})
            summary.append(entry)
    write_rows(args.out / "minibatch_summary.csv", summary)
    with open(args.out / "minibatch_curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["reward", "minibatch", "seed", "chunk", "train_episode_return"])
        for (reward, minibatch), curve in curves.items():
            for s in range(curve.shape[0]):
                for c in range(curve.shape[1]):
                    writer.writerow([reward, minibatch, s, c, f"{curve[s, c]:.4f}"])

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("driving_score", "route_completion"), strict=True):
        for reward in spec["rewards"]:
            entries = [e for e in summary if e["reward"] == reward]
            x = [e["minibatch"] for e in entries]
            y = np.array([e[metric] for e in entries])
            low = np.array([e[f"{metric}_low"] for e in entries])
            high = np.array([e[f"{metric}_high"] for e in entries])
            ax.plot(x, y, "o-", color=COLOURS.get(reward), label=reward)
            ax.fill_between(x, low, high, color=COLOURS.get(reward), alpha=0.2)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("mini-batch size (batch per update fixed)")
        ax.set_ylabel(f"{metric.replace('_', ' ')} (held-out routes, IQM over seeds)")
        ax.set_ylim(0, 1)
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "minibatch.png", dpi=120)
    plt.close(fig)

    table = "\n".join(
        f"| {e['reward']} | {e['minibatch']} | {e['driving_score']:.3f} [{e['driving_score_low']:.3f}, "
        f"{e['driving_score_high']:.3f}] | {e['route_completion']:.3f} [{e['route_completion_low']:.3f}, "
        f"{e['route_completion_high']:.3f}] |" for e in summary)
    batch = size["num_envs"] * size["num_steps"]
    summary_md = f"""# CaRL mini-batch study in Driving-v0 ({size_name} size)

| | paper (CaRL, CARLA) | ours (Driving-v0, this run) |
|---|---|---|
| claim | {PAPER_CLAIM} | {verdict(summary, spec['rewards'], minibatches)} |

Setting: {spec['env']} {spec['env_kwargs']}, batch per update {batch} ({size['num_envs']} envs x
{size['num_steps']} steps), {size['total_timesteps']:,} environment steps per run, {seeds} seeds,
mini-batch sizes {minibatches} (so {[batch // m * spec['ppo']['update_epochs'] for m in minibatches]} gradient
steps per update), PPO {spec['ppo']}. Scored on {size['eval_routes']} held-out routes (context seeds
{spec['eval_seed']}.. , checked disjoint from the {spec['env_kwargs'].get('num_contexts')} training levels) with
the mean of the Beta policy: driving score and route completion, IQM over seeds with 95 % bootstrap
intervals.

| reward | mini-batch | driving score | route completion |
|---|---|---|---|
{table}

The scripted controller's reference (driving score 1.0) is in `scripted_controller.md`.

Command: `python experiments/carl_minibatch.py --size {size_name}`; wall time {wall:.0f} s on
this machine's CPU (shared with other jobs); git commit {git_revision()}.
Per-run rows: `minibatch_runs.csv`; curves: `minibatch_curves.csv`; plot: `minibatch.png`.
"""
    (args.out / "minibatch.md").write_text(summary_md)
    print(summary_md)


if __name__ == "__main__":
    main()

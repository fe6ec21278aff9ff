"""Can PPO with CaRL's simple reward learn to drive in ``Driving-v0``? Trains one configuration
(Beta head, evaluated with its mean) and scores it by route completion and driving score on held-out
routes after every chunk of training (`papers/carl.md`; results in results/carl/learning.md).

    python experiments/carl_learning.py                       # the recorded configuration, 3 seeds
    python experiments/carl_learning.py --learning-rates 2.5e-4 1e-3   # variants as one vmapped program
"""

from __future__ import annotations

import argparse
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
from carl_minibatch import evaluate  # experiments/ is on sys.path when run as a script

from jaxrl.ppo import PPOConfig, episode_means, make_train

ENV_KWARGS = {"reward": "simple", "observation": "vector", "num_contexts": 100_000, "context_seed": 0}
EVAL_SEED = 10_000  # held-out routes: context seeds 10,000 + j (checked disjoint from the training levels)
TEST_TIMESTEPS = 750_000  # per seed, in tests/test_carl_learning.py
TEST_SEEDS = 3


def learning_config(total_timesteps: int = TEST_TIMESTEPS, **overrides) -> PPOConfig:
    """The configuration recorded in results/carl/learning.md."""
    settings = dict(
        env="Driving-v0", env_kwargs=ENV_KWARGS, total_timesteps=total_timesteps, num_envs=16, num_steps=256,
        num_minibatches=8, update_epochs=4, learning_rate=1e-3, anneal_lr=True, clip_eps=0.1, gamma=0.99,
        gae_lambda=0.95, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5, action_head="beta",
        hidden_sizes=(256, 256), activation="relu",
    )
    settings.update(overrides)
    return PPOConfig(**settings)


def train_and_evaluate(config: PPOConfig, learning_rates: list[float], seed: int = 0, num_evals: int = 6,
                       eval_routes: int = 32) -> list[dict]:
    """Train one run per entry of ``learning_rates`` (one vmapped program; each run has its own seed);
    after each of ``num_evals`` equal chunks, score every run on the held-out routes. Returns one row per
    (chunk, run)."""
    trainer = make_train(config)
    runs = len(learning_rates)
    hparams = jax.tree.map(lambda x: jnp.broadcast_to(x, (runs,)), config.hyperparams())
    hparams = hparams.replace(learning_rate=jnp.asarray(learning_rates, jnp.float32))
    keys = jax.random.split(jax.random.PRNGKey(seed), runs)
    state = jax.jit(jax.vmap(trainer.init_fn))(keys, hparams)
    rows, done, start = [], 0, time.time()
    chunk = max(1, config.num_updates // num_evals)
    compiled: dict[int, object] = {}
    while done < config.num_updates:
        length = min(chunk, config.num_updates - done)
        if length not in compiled:
            compiled[length] = jax.jit(jax.vmap(functools.partial(trainer.update_fn, num_updates=length)))
        state, metrics = compiled[length](state)
        done += length
        train_return = np.asarray(episode_means(metrics)["episode_return_mean"])
        scores = evaluate(trainer, state.params, ENV_KWARGS, eval_routes, EVAL_SEED)
        for r, lr in enumerate(learning_rates):
            rows.append({"run": r, "learning_rate": lr, "steps": done * config.batch_size,
                         "route_completion": float(scores["route_completion"][r].mean()),
                         "driving_score": float(scores["driving_score"][r].mean()),
                         "success": float(scores["success"][r].mean()),
                         "train_return": float(train_return[r]), "seconds": time.time() - start})
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total-timesteps", type=int, default=TEST_TIMESTEPS)
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[1e-3] * TEST_SEEDS,
                        help="one run per entry (repeat a rate for more seeds)")
    parser.add_argument("--minibatches", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--evals", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = learning_config(args.total_timesteps, num_minibatches=args.minibatches, update_epochs=args.epochs)
    train_and_evaluate(config, args.learning_rates, args.seed, args.evals)


if __name__ == "__main__":
    main()

"""BARFI with PPO as the inner learner: the surrogate's gradient, GAE, the implicit outer gradient through
the PPO objective, and the trainer (every method in one vmapped program; PPO learns GridWorld)."""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

from jaxrl.barfi.blend import BlendParams, blend_reward, discounted_returns, init_blend, learned_discount
from jaxrl.barfi.implicit import implicit_outer_gradient
from jaxrl.barfi.ppo import chosen_log_probs, clipped_surrogate, episode_advantages, inner_objective
from jaxrl.barfi.reinforce import reinforce_objective
from jaxrl.barfi.train import BarfiConfig, make_train, method_hyper

ROOT = Path(__file__).resolve().parents[1]
# Compiling dominates these tests; XLA's lowest backend optimisation level about halves it.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def _episodes(seed: int, episodes: int = 3, steps: int = 6, num_features: int = 5, num_actions: int = 4):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, steps + 1, size=episodes)
    lengths[0] = steps
    return {
        "features": jnp.asarray(rng.uniform(-1, 1, size=(episodes, steps, num_features)), jnp.float32),
        "actions": jnp.asarray(rng.integers(0, num_actions, size=(episodes, steps)), jnp.int32),
        "alive": jnp.asarray(np.arange(steps)[None, :] < lengths[:, None]),
        "r_primary": jnp.asarray(rng.normal(size=(episodes, steps)), jnp.float32),
        "r_aux": jnp.asarray(rng.normal(size=(episodes, steps)), jnp.float32),
        "theta": jnp.asarray(0.3 * rng.normal(size=(num_features, num_actions)), jnp.float32),
        "critic": jnp.asarray(rng.normal(size=num_features), jnp.float32),
        "lengths": lengths,
    }


def _direct_gae(rewards, values, lengths, gamma, lam):
    """GAE written out per episode: delta_t = r_t + gamma V_{t+1} [t+1 < L] - V_t; A_t = sum (gamma lam)^k delta."""
    advantages = np.zeros_like(rewards)
    for i, length in enumerate(lengths):
        for t in range(length):
            total = 0.0
            for k in range(t, length):
                next_value = values[i, k + 1] if k + 1 < length else 0.0
                delta = rewards[i, k] + gamma * next_value - values[i, k]
                total += (gamma * lam) ** (k - t) * delta
            advantages[i, t] = total
    return advantages


def test_ppo_objective_gradient_at_theta_old_is_the_advantage_weighted_policy_gradient() -> None:
    d = _episodes(0)
    features, actions, alive, theta = d["features"], d["actions"], d["alive"], d["theta"]
    rewards, gamma, lam = d["r_primary"] + 0.5 * d["r_aux"], 0.9, 0.8
    values = np.asarray(features @ d["critic"])
    mask = np.asarray(alive)
    advantages_fn = jax.jit(episode_advantages, static_argnums=5, compiler_options=FAST_COMPILE)
    objective_gradient = jax.jit(jax.grad(inner_objective), static_argnums=11, compiler_options=FAST_COMPILE)

    # GAE against the direct sum, raw and standardised over the alive steps.
    raw, targets = advantages_fn(rewards, jnp.asarray(values), alive, gamma, lam, False)
    direct = _direct_gae(np.asarray(rewards), values, d["lengths"], gamma, lam)
    np.testing.assert_allclose(raw, direct, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, np.where(mask, direct + values, 0.0), rtol=1e-5, atol=1e-5)
    normalised, _ = advantages_fn(rewards, jnp.asarray(values), alive, gamma, lam, True)
    alive_adv = direct[mask]
    expected = np.where(mask, (direct - alive_adv.mean()) / alive_adv.std(), 0.0)
    np.testing.assert_allclose(normalised, expected, rtol=1e-4, atol=1e-4)

    # d/dtheta of the objective at theta_old = theta: mean over alive steps of A_t x_t (e_{a_t} - pi_t)^T.
    probs = np.asarray(jax.nn.softmax(features @ theta))
    onehot = np.eye(theta.shape[1])[np.asarray(actions)]
    weights = (
        np.asarray(normalised)[..., None, None] * np.asarray(features)[..., :, None] * (onehot - probs)[..., None, :]
    )
    policy_gradient = (weights * mask[..., None, None]).sum(axis=(0, 1)) / mask.sum()
    grad = objective_gradient(theta, theta, d["critic"], features, actions, rewards, alive, gamma, lam, 0.2, 0.0, True)
    np.testing.assert_allclose(grad, policy_gradient, rtol=1e-4, atol=1e-6)
    # With the entropy bonus: the REINFORCE surrogate's gradient with the advantages as returns.
    grad = objective_gradient(theta, theta, d["critic"], features, actions, rewards, alive, gamma, lam, 0.2, 0.3, True)
    np.testing.assert_allclose(
        grad, jax.grad(reinforce_objective)(theta, features, actions, normalised, alive, 0.3), rtol=1e-4, atol=1e-6
    )
    # Steps after an episode ended do not count: garbage there changes neither advantages nor gradient.
    garbage = lambda x: jnp.where(alive.reshape(alive.shape + (1,) * (x.ndim - 2)), x, 1e3)
    grad_garbage = objective_gradient(
        theta, theta, d["critic"], garbage(features), actions, garbage(rewards), alive, gamma, lam, 0.2, 0.3, True
    )
    np.testing.assert_allclose(grad_garbage, grad, rtol=1e-5, atol=1e-7)
    # Away from theta_old the ratio is clipped (pessimistically): ratio e with A = 1 earns 1 + clip, and
    # ratio 1/e with A = -1 costs 1 - clip; a wide clip leaves the ratio as it is.
    old = chosen_log_probs(theta, features, actions)
    ones = jnp.ones_like(normalised)
    surrogate_fn = jax.jit(clipped_surrogate, compiler_options=FAST_COMPILE)
    surrogate = lambda shift, adv, clip: float(
        surrogate_fn(theta, old - shift, features, actions, adv, alive, clip, 0.0)
    )
    assert surrogate(1.0, ones, 0.2) == pytest.approx(1.2)
    assert surrogate(1.0, ones, 10.0) == pytest.approx(np.e, rel=1e-5)
    assert surrogate(-1.0, -ones, 0.2) == pytest.approx(-0.8)
    assert surrogate(-1.0, -ones, 10.0) == pytest.approx(-1 / np.e, rel=1e-5)


def test_implicit_outer_gradient_through_the_ppo_objective_matches_finite_differences() -> None:
    """A fixed batch, critic and theta_old; the inner problem theta*(phi) = argmax of the PPO objective
    (clip wide enough to stay smooth; an entropy bonus large enough for a well-conditioned maximum near
    theta_old) is solved by Newton's method, and the outer objective is the primary
    return's REINFORCE surrogate. The implicit gradient (many Neumann terms) is compared with a central
    difference of J(theta*(phi)) along a random direction of every blend parameter, psi included."""
    d = _episodes(1, episodes=4, steps=6, num_features=3, num_actions=3)
    features, actions, alive, theta_old = d["features"], d["actions"], d["alive"], d["theta"]
    rng = np.random.default_rng(2)
    blend = BlendParams(
        weights=jnp.asarray(0.3 * rng.normal(size=(3, 2)), jnp.float32),
        bias=jnp.array([0.1, 0.8], jnp.float32),
        psi=jnp.float32(1.5),  # gamma_phi about 0.82, so that the discount matters
    )

    def inner(theta, blend):
        rewards = blend_reward(blend, features, d["r_primary"], d["r_aux"])
        return inner_objective(
            theta,
            theta_old,
            d["critic"],
            features,
            actions,
            rewards,
            alive,
            learned_discount(blend),
            0.9,
            100.0,
            2.0,
            True,
        )

    primary_returns = discounted_returns(d["r_primary"], alive, 0.99)
    outer = lambda theta: reinforce_objective(theta, features, actions, primary_returns, alive, 0.0)
    shape = theta_old.shape

    @partial(jax.jit, compiler_options=FAST_COMPILE)
    def gradient_and_hessian(theta, blend):
        size = theta.size
        return jax.grad(inner)(theta, blend).reshape(size), jax.hessian(inner)(theta, blend).reshape(size, size)

    def solve(blend):
        theta = theta_old
        for _ in range(15):
            gradient, hessian = gradient_and_hessian(theta, blend)
            theta = theta - (jnp.linalg.pinv(hessian, rtol=1e-5) @ gradient).reshape(shape)
        return theta

    theta_star = solve(blend)
    gradient, hessian = gradient_and_hessian(theta_star, blend)
    assert float(jnp.abs(gradient).max()) < 1e-5  # a stationary point
    eigenvalues = np.linalg.eigvalsh(np.asarray(hessian))
    assert eigenvalues.max() < 1e-4  # a maximum (softmax leaves one direction per feature flat)
    curved = -eigenvalues[eigenvalues < -1e-4]
    alpha = 1.0 / curved.max()
    terms = int(np.ceil(np.log(1e-7) / np.log(1 - alpha * curved.min())))
    v = jax.grad(outer)(theta_star)
    implicit = jax.jit(implicit_outer_gradient, static_argnums=(0, 5), compiler_options=FAST_COMPILE)(
        inner, theta_star, blend, v, alpha, terms
    )

    direction = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), jnp.float32), blend)
    eps = 1e-2
    shifted = lambda sign: jax.tree.map(lambda b, u: b + sign * eps * u, blend, direction)
    finite = (outer(solve(shifted(1))) - outer(solve(shifted(-1)))) / (2 * eps)
    predicted = sum(
        float(jnp.vdot(g, u)) for g, u in zip(jax.tree.leaves(implicit), jax.tree.leaves(direction), strict=True)
    )
    assert abs(finite) > 1e-3  # the check has something to compare
    assert predicted == pytest.approx(float(finite), rel=2e-2)


def test_ppo_config_is_validated() -> None:
    with pytest.raises(ValueError, match="inner_learner"):
        BarfiConfig(inner_learner="a2c")
    with pytest.raises(ValueError, match="ppo_minibatches"):
        BarfiConfig(inner_learner="ppo", num_episodes=6, ppo_minibatches=4)
    with pytest.raises(ValueError, match="ppo_epochs"):
        BarfiConfig(inner_learner="ppo", ppo_epochs=0)


@pytest.fixture(scope="module")
def ppo_run():
    """One compiled program: PPO under the primary reward (3 seeds) beside every other method
    (misleading heuristic, one seed each), 16 inner updates on the full-size GridWorld with one outer update."""
    config = BarfiConfig(
        env="BARFI-GridWorld",
        num_episodes=8,
        warmup_updates=14,
        outer_updates=1,
        inner_per_outer=2,
        buffer_batches=2,
        unroll_steps=2,
        neumann_max_terms=2,
        outer_gradient="switch",
        inner_learner="ppo",
    )
    methods = ["primary"] * 3 + ["naive", "shaping", "implicit", "first_order", "unrolled"]
    hypers = [method_hyper(m, "misleading", neumann_terms=2) for m in methods]
    hyper = jax.tree.map(lambda *xs: jnp.stack(xs), *hypers)
    keys = jnp.concatenate([jax.random.split(jax.random.key(0), 3), jnp.stack([jax.random.key(3)] * 5)])
    train = jax.jit(jax.vmap(make_train(config).train), compiler_options=FAST_COMPILE)
    state, metrics = train(keys, hyper)
    return config, methods, state, {k: np.asarray(v) for k, v in metrics.items()}


def test_ppo_trainer_runs_every_method_in_one_vmapped_program(ppo_run) -> None:
    config, methods, state, metrics = ppo_run
    for name, values in metrics.items():
        assert values.shape == (len(methods), config.total_inner_updates), name
        assert np.all(np.isfinite(values)), name
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves((state.theta, state.critic, state.blend)))
    assert np.all(np.abs(np.asarray(state.critic)).sum(axis=-1) > 0)  # the critic learned something
    initial = init_blend(16)
    learned = [methods.index(m) for m in ("implicit", "first_order", "unrolled")]
    for i in range(len(methods)):
        moved = not np.allclose(state.blend.weights[i], initial.weights)
        assert moved == (i in learned), methods[i]  # the baselines keep the naive-sum blend
    implicit, first_order, unrolled = (np.asarray(state.blend.weights[i]) for i in learned)
    assert not np.allclose(implicit, first_order) and not np.allclose(implicit, unrolled)
    # The same key: the first batch (uniform policy) is identical across the methods that share it.
    np.testing.assert_array_equal(metrics["primary_return"][3:, 0], metrics["primary_return"][3, 0])


def test_ppo_learns_gridworld_from_the_primary_reward(ppo_run) -> None:
    """Each of 3 seeds ends (mean of its last 4 updates) at least 40 above the uniform policy's return
    (the first update's batch, before any learning, pooled over the seeds: about 12). With actor_lr = 0
    the last updates stay at the uniform policy's level (about 3 to 15), so this can fail."""
    _, _, _, metrics = ppo_run
    returns = metrics["primary_return"][:3]
    uniform = returns[:, 0].mean()
    final = returns[:, -4:].mean(axis=1)
    assert np.all(final > uniform + 40), (uniform, final)


@pytest.mark.slow
def test_behavior_alignment_script_with_ppo(tmp_path: Path) -> None:
    sweep = yaml.safe_load((ROOT / "sweeps" / "behavior_alignment.yaml").read_text())
    sweep["sizes"]["quick"] = {
        "seeds": 2,
        "domains": {"BARFI-GridWorld": {"horizon": 20, "num_episodes": 4, "warmup_updates": 3, "outer_updates": 2}},
    }
    sweep["config"]["inner_per_outer"] = 2
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep))
    command = [sys.executable, "experiments/behavior_alignment.py", "--quick", "--sweep", str(sweep_file)]
    command += ["--inner-learner", "ppo", "--out", str(tmp_path / "out")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "Inner learner: **ppo**" in summary and "--inner-learner ppo" in summary
    rows = (tmp_path / "out" / "summary.csv").read_text().splitlines()
    assert rows[0].startswith("domain,inner_learner,") and len(rows) == 1 + 6 * 3
    assert all(",ppo," in row for row in rows[1:])

"""BARFI: the domains and their heuristics, the outer-gradient mathematics, shaping, and the trainer."""

from __future__ import annotations

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.barfi import energy_pumping, pd_action
from envs.barfi.gridworld import GridWorldState
from envs.classic.cartpole import CartPoleState
from envs.classic.mountain_car import MountainCarState
from jaxrl.barfi.blend import (
    BlendParams,
    blend_regulariser,
    blend_reward,
    discounted_returns,
    init_blend,
    learned_discount,
    potential_shaped_reward,
)
from jaxrl.barfi.implicit import (
    hessian_vector_product,
    implicit_outer_gradient,
    mixed_vector_product,
    neumann_inverse_hvp,
    unrolled_outer_gradient,
)
from jaxrl.barfi.train import BarfiConfig, make_train, method_hyper

# --- the outer-gradient mathematics -------------------------------------------------------------


def _spd(n: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return (q * np.linspace(0.5, 2.0, n)) @ q.T


def test_neumann_series_approximates_inverse_hessian_vector_product() -> None:
    a = jnp.asarray(_spd(4, 0), jnp.float32)
    v = jnp.asarray(np.random.default_rng(1).normal(size=4), jnp.float32)
    objective = lambda theta, phi: -0.5 * theta @ a @ theta  # maximised; Hessian -A
    hvp = hessian_vector_product(objective, jnp.zeros(4), None)
    exact = np.linalg.solve(-np.asarray(a, np.float64), np.asarray(v, np.float64))
    errors = [
        np.linalg.norm(np.asarray(neumann_inverse_hvp(hvp, v, 0.4, k)) - exact) for k in (0, 1, 5, 20, 200)
    ]
    assert all(later < earlier for earlier, later in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 1e-4 * np.linalg.norm(exact)
    # A traced number of terms (a batch axis) runs max_terms iterations and freezes after num_terms.
    traced = jax.jit(lambda k: neumann_inverse_hvp(hvp, v, 0.4, k, max_terms=20))(jnp.int32(5))
    np.testing.assert_allclose(traced, neumann_inverse_hvp(hvp, v, 0.4, 5), rtol=1e-6)


def _toy_bilevel():
    """Inner J_phi(theta) = -1/2 theta'A theta + theta'B tanh(phi): theta*(phi) = A^-1 B tanh(phi).
    Outer J(theta) = -1/2 |theta - c|^2."""
    rng = np.random.default_rng(2)
    a = jnp.asarray(_spd(3, 3), jnp.float32)
    b = jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)
    c = jnp.asarray(rng.normal(size=3), jnp.float32)
    inner = lambda theta, phi: -0.5 * theta @ a @ theta + theta @ b @ jnp.tanh(phi)
    outer = lambda theta: -0.5 * jnp.sum((theta - c) ** 2)
    solve = lambda phi: jnp.linalg.solve(a, b @ jnp.tanh(phi))
    return inner, outer, solve


def test_implicit_outer_gradient_matches_finite_differences() -> None:
    inner, outer, solve = _toy_bilevel()
    phi = jnp.array([0.3, -0.7], jnp.float32)
    theta = solve(phi)
    v = jax.grad(outer)(theta)
    implicit = implicit_outer_gradient(inner, theta, phi, v, alpha=0.4, num_terms=200)
    eps = 1e-2
    finite = np.array(
        [
            (outer(solve(phi + eps * e)) - outer(solve(phi - eps * e))) / (2 * eps)
            for e in np.eye(2, dtype=np.float32)
        ]
    )
    np.testing.assert_allclose(implicit, finite, rtol=2e-3, atol=1e-4)
    # First-order (no Neumann terms): alpha * v' d/dphi grad_theta J_phi, against the direct Jacobian.
    jacobian = jax.jacobian(jax.grad(inner, argnums=0), argnums=1)(theta, phi)  # (3, 2)
    first_order = implicit_outer_gradient(inner, theta, phi, v, alpha=0.4, num_terms=0)
    np.testing.assert_allclose(first_order, 0.4 * v @ jacobian, rtol=1e-5)
    np.testing.assert_allclose(mixed_vector_product(inner, theta, phi, v), v @ jacobian, rtol=1e-5)


def test_unrolled_outer_gradient_matches_neumann_and_finite_differences() -> None:
    """At the inner optimum of a quadratic, U steps of gradient ascent with step alpha give exactly the
    Neumann estimate with K = U - 1 terms, and many steps give the true hypergradient."""
    inner, outer, solve = _toy_bilevel()
    phi = jnp.array([0.3, -0.7], jnp.float32)
    theta_star = solve(phi)

    def unroll_with(steps: int):
        def unroll(phi):
            def step(theta, _):
                return theta + 0.4 * jax.grad(inner)(theta, phi), None

            return jax.lax.scan(step, theta_star, None, steps)[0]

        return unroll

    grad_u4, _ = unrolled_outer_gradient(unroll_with(4), jax.grad(outer), phi)
    v = jax.grad(outer)(theta_star)
    np.testing.assert_allclose(grad_u4, implicit_outer_gradient(inner, theta_star, phi, v, 0.4, 3), rtol=1e-4)
    grad_long, _ = unrolled_outer_gradient(unroll_with(200), jax.grad(outer), phi)
    exact = jax.grad(lambda p: outer(solve(p)))(phi)
    np.testing.assert_allclose(grad_long, exact, rtol=2e-3, atol=1e-4)


# --- rewards, returns and shaping ---------------------------------------------------------------


def test_discounted_returns_and_potential_shaping_telescope() -> None:
    rng = np.random.default_rng(4)
    rewards = jnp.asarray(rng.normal(size=(5, 12)), jnp.float32)
    potential = jnp.asarray(rng.normal(size=(5, 12)), jnp.float32)
    lengths = np.array([12, 1, 5, 8, 11])
    alive = jnp.asarray(np.arange(12)[None, :] < lengths[:, None])
    gamma = 0.9
    returns = np.asarray(discounted_returns(rewards, alive, gamma))
    for i, length in enumerate(lengths):
        for t in range(length):
            direct = sum(gamma**k * float(rewards[i, t + k]) for k in range(length - t))
            np.testing.assert_allclose(returns[i, t], direct, rtol=1e-5, atol=1e-5)
        assert np.all(returns[i, length:] == 0)
    shaped = potential_shaped_reward(rewards, potential, alive, gamma)
    shaped_returns = np.asarray(discounted_returns(shaped, alive, gamma))
    # sum_t gamma^t (r_t + gamma Phi_{t+1} - Phi_t) = sum_t gamma^t r_t - Phi_0, and at every step
    # the shaped return is the primary return minus Phi_t.
    np.testing.assert_allclose(shaped_returns[:, 0], returns[:, 0] - np.asarray(potential[:, 0]), atol=1e-4)
    np.testing.assert_allclose(shaped_returns, np.where(alive, returns - np.asarray(potential), 0), atol=1e-4)


def test_blend_starts_at_the_naive_sum() -> None:
    features = jnp.asarray(np.random.default_rng(5).normal(size=(7, 16)), jnp.float32)
    r_p, r_aux = jnp.arange(7.0), jnp.arange(7.0) ** 2
    for num_features in (16, 0):  # state features, and the state-independent scalar form
        blend = init_blend(num_features)
        np.testing.assert_allclose(blend_reward(blend, features[:, :num_features], r_p, r_aux), r_p + r_aux)
        np.testing.assert_allclose(learned_discount(blend), 1 / (1 + np.exp(-4.6)), rtol=1e-6)


def test_regulariser_matches_the_authors_placement() -> None:
    """gamma_L2 * sigmoid(psi) + reward_L2 * (||W||_F + ||c||): values and gradients against a direct
    computation; at W = 0 (the start) the gradient is finite (0 for W), not NaN."""
    rng = np.random.default_rng(7)
    weights, bias, psi = rng.normal(size=(5, 2)), np.array([0.3, -1.2]), 2.0
    blend = BlendParams(jnp.asarray(weights, jnp.float32), jnp.asarray(bias, jnp.float32), jnp.float32(psi))
    sigmoid = 1 / (1 + np.exp(-psi))
    expected = 4.0 * sigmoid + 0.5 * (np.sqrt((weights**2).sum()) + np.sqrt((bias**2).sum()))
    np.testing.assert_allclose(blend_regulariser(blend, 4.0, 0.5), expected, rtol=1e-5)
    grad = jax.grad(blend_regulariser)(blend, 4.0, 0.5)
    np.testing.assert_allclose(grad.weights, 0.5 * weights / np.sqrt((weights**2).sum()), rtol=1e-5)
    np.testing.assert_allclose(grad.bias, 0.5 * bias / np.sqrt((bias**2).sum()), rtol=1e-5)
    np.testing.assert_allclose(grad.psi, 4.0 * sigmoid * (1 - sigmoid), rtol=1e-5)
    start = jax.grad(blend_regulariser)(init_blend(5), 1.0, 1.0)
    np.testing.assert_array_equal(start.weights, 0.0)
    np.testing.assert_allclose(start.bias, [0.0, 1.0])  # c = (0, 1): pulls phi_2's constant toward 0


# --- the domains --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["BARFI-GridWorld", "BARFI-CartPole", "BARFI-MountainCar"])
def test_unknown_heuristic_is_refused(name: str) -> None:
    # (The conformance checks of every registered environment are in test_env_conformance.py.)
    with pytest.raises(ValueError, match="heuristic"):
        envs.make(name, heuristic="helpful")


def test_gridworld_rewards_and_heuristics_at_chosen_points() -> None:
    env, params = envs.make("BARFI-GridWorld", heuristic="good")
    params = params.replace(random_action_prob=0.0)
    step = jax.jit(env.step_env)
    key = jax.random.key(0)

    def at(x, y, action, heuristic):
        state = GridWorldState(jnp.array([x, y], jnp.float32), jnp.int32(0))
        obs, _, reward, terminated, info = step(key, state, action, params.replace(heuristic=heuristic))
        return np.asarray(obs), float(reward), bool(terminated), float(info["r_aux"])

    # Start, moving up (0): 4 sub-steps of 0.045; good = -|s' - (0.87, 0.87)|^2.
    obs, reward, terminated, r_aux = at(0.125, 0.125, 0, 1)
    np.testing.assert_allclose(obs, [0.125, 0.305], atol=1e-6)
    assert reward == pytest.approx(-0.1) and not terminated
    assert r_aux == pytest.approx(-((0.87 - 0.125) ** 2 + (0.87 - 0.305) ** 2), rel=1e-5)
    # Misleading: from y = 0.3 up, sub-steps end at y = 0.345, 0.39, 0.435, 0.48: two inside the centre.
    assert at(0.5, 0.3, 0, 2)[3] == pytest.approx(100.0)
    assert at(0.59, 0.5, 2, 2)[3] == pytest.approx(200.0)  # x = 0.545, 0.5, 0.455, 0.41: all inside
    assert at(0.5, 0.3, 0, 0)[3] == 0.0  # no heuristic
    # The goal square is entered at the first sub-step: +100 - 0.1, terminated, the move stops there.
    obs, reward, terminated, _ = at(0.74, 0.8, 3, 1)
    np.testing.assert_allclose(obs, [0.785, 0.8], atol=1e-6)
    assert reward == pytest.approx(99.9) and terminated
    # Walls clip.
    np.testing.assert_allclose(at(0.01, 0.5, 2, 1)[0], [0.0, 0.5], atol=1e-7)


def _random_states(rng: np.random.Generator, low, high, n: int) -> np.ndarray:
    return rng.uniform(low, high, size=(n, len(low))).astype(np.float32)


def test_cartpole_matches_gymnasium_and_pd_heuristic() -> None:
    env, params = envs.make("BARFI-CartPole", heuristic="good")
    rng = np.random.default_rng(6)
    states = _random_states(rng, [-2, -2, -0.2, -2], [2, 2, 0.2, 2], 24)
    actions = rng.integers(0, 2, size=24)
    heuristics = rng.integers(0, 3, size=24)

    def one(s, a, h):
        state = CartPoleState(s[0], s[1], s[2], s[3], jnp.int32(0))
        obs, _, reward, terminated, info = env.step_env(
            jax.random.key(0), state, a, params.replace(heuristic=h)
        )
        return obs, reward, terminated, info["r_aux"], pd_action(state, params)

    obs, reward, terminated, r_aux, pd = jax.jit(jax.vmap(one))(states, actions, heuristics)
    reference = gymnasium.make("CartPole-v1").unwrapped
    reference.reset(seed=0)
    for i in range(24):
        reference.state = states[i].astype(np.float64)
        ref_obs, ref_reward, ref_terminated, _, _ = reference.step(int(actions[i]))
        np.testing.assert_allclose(obs[i], ref_obs, rtol=1e-5, atol=1e-6)
        assert float(reward[i]) == ref_reward and bool(terminated[i]) == ref_terminated
        s = states[i]
        expected_pd = int(1.0 * s[2] + 0.5 * s[3] > 0)
        assert int(pd[i]) == expected_pd
        match = float(actions[i] == expected_pd)
        assert float(r_aux[i]) == [0.0, match, -match][heuristics[i]]


def test_mountain_car_matches_gymnasium_and_energy_heuristic() -> None:
    env, params = envs.make("BARFI-MountainCar", heuristic="good")
    assert params.max_steps_in_episode == 2000
    rng = np.random.default_rng(7)
    states = _random_states(rng, [-1.2, -0.07], [0.6, 0.07], 40)
    states[:4] = [[0.49, 0.05], [-1.19, -0.05], [0.0, 0.0], [0.45, 0.06]]  # goal, left wall, rest, goal
    actions = rng.integers(0, 3, size=40)
    heuristics = rng.integers(0, 3, size=40)

    def one(s, a, h):
        state = MountainCarState(s[0], s[1], jnp.int32(0))
        obs, _, reward, terminated, info = env.step_env(
            jax.random.key(0), state, a, params.replace(heuristic=h)
        )
        return obs, reward, terminated, info["r_aux"], energy_pumping(state, a)

    obs, reward, terminated, r_aux, pump = jax.jit(jax.vmap(one))(states, actions, heuristics)
    reference = gymnasium.make("MountainCar-v0").unwrapped
    reference.reset(seed=0)
    reached = 0
    for i in range(40):
        reference.state = states[i].astype(np.float64)
        ref_obs, _, ref_terminated, _, _ = reference.step(int(actions[i]))
        np.testing.assert_allclose(obs[i], ref_obs, rtol=1e-5, atol=1e-6)
        assert bool(terminated[i]) == ref_terminated
        assert float(reward[i]) == float(ref_terminated)  # sparse: +1 on reaching the goal only
        reached += ref_terminated
        v, a = states[i, 1], actions[i]
        along = (a == 2 and v > 0) or (a == 0 and v < 0)
        assert float(pump[i]) == (1.0 if along else -1.0)
        assert float(r_aux[i]) == [0.0, float(pump[i]), -float(pump[i])][heuristics[i]]
    assert reached >= 1


# --- the trainer --------------------------------------------------------------------------------


def test_trainer_vmaps_methods_and_seeds_deterministically() -> None:
    config = BarfiConfig(
        env="BARFI-GridWorld",
        horizon=10,
        num_episodes=2,
        warmup_updates=2,
        outer_updates=2,
        inner_per_outer=1,
        buffer_batches=2,
        unroll_steps=2,
        neumann_max_terms=2,
        outer_gradient="switch",
    )
    methods = ["naive", "implicit", "first_order", "unrolled"]
    hypers = [method_hyper(m, "misleading", neumann_terms=2) for m in methods]
    hyper = jax.tree.map(lambda *xs: jnp.stack(xs), *hypers)
    keys = jnp.stack([jax.random.key(0)] * len(methods))
    train = jax.jit(jax.vmap(make_train(config).train))
    state, metrics = train(keys, hyper)
    _, again = train(keys, hyper)
    for name, values in metrics.items():
        assert values.shape == (len(methods), config.total_inner_updates), name
        np.testing.assert_array_equal(values, again[name])  # deterministic
    initial = init_blend(16)
    # The baseline's blend stays at its start; the three learned blends moved, and differently.
    np.testing.assert_array_equal(state.blend.bias[0], initial.bias)
    for i in (1, 2, 3):
        assert not np.allclose(state.blend.weights[i], initial.weights)
    assert not np.allclose(state.blend.weights[1], state.blend.weights[2])
    assert not np.allclose(state.blend.weights[1], state.blend.weights[3])
    # Same key: the first batch (before any update) is identical across methods.
    np.testing.assert_array_equal(metrics["primary_return"][:, 0], metrics["primary_return"][0, 0].repeat(4))


def _replay_config(**overrides) -> BarfiConfig:
    settings = dict(
        env="BARFI-GridWorld",
        schedule="replay",
        horizon=10,
        warmup_updates=3,
        outer_updates=4,
        inner_per_outer=2,
        replay_buffer=8,
        episodes_per_outer=3,
        hessian_batch=4,
        unroll_steps=2,
        neumann_max_terms=2,
        outer_gradient="switch",
    )
    return BarfiConfig(**{**settings, **overrides})


def test_replay_schedule_runs_every_method_deterministically() -> None:
    """The authors' schedule: 3 warm-up episodes, then 4 x 3 fresh episodes into a FIFO buffer of 8
    (15 episodes: it wraps); the baseline's blend stays put, the learned ones move."""
    config = _replay_config()
    assert config.episodes_per_run == 3 + 4 * 3 and config.total_inner_updates == 3 + 4 * 2
    methods = ["naive", "implicit", "first_order", "unrolled"]
    hypers = [method_hyper(m, "misleading", neumann_terms=2, gamma_l2=1.0, reward_l2=0.06) for m in methods]
    hyper = jax.tree.map(lambda *xs: jnp.stack(xs), *hypers)
    keys = jnp.stack([jax.random.key(0)] * len(methods))
    train = jax.jit(jax.vmap(make_train(config).train))
    state, metrics = train(keys, hyper)
    _, again = train(keys, hyper)
    for name, values in metrics.items():
        assert values.shape == (len(methods), config.total_inner_updates), name
        np.testing.assert_array_equal(values, again[name])
    np.testing.assert_array_equal(state.buffer_filled, 8)
    np.testing.assert_array_equal(state.buffer_head, 15 % 8)
    assert state.buffer.obs.shape == (len(methods), 8, 10, 2)
    # Every slot holds a real episode (its first step is alive) once the buffer has wrapped.
    assert bool(state.buffer.alive[:, :, 0].all())
    np.testing.assert_array_equal(state.blend.bias[0], init_blend(16).bias)
    for i in (1, 2, 3):
        assert not np.allclose(state.blend.weights[i], 0.0)
    # Within an outer iteration every inner update reports the same fresh episodes.
    main = metrics["primary_return"][:, config.warmup_updates :].reshape(len(methods), 4, 2)
    np.testing.assert_array_equal(main[..., 0], main[..., 1])


def test_discount_regulariser_shortens_the_learned_horizon() -> None:
    """The same runs with gamma_L2 = 16 end with a smaller gamma_phi than with gamma_L2 = 0 (the
    penalty is subtracted from the outer objective: it must push gamma_phi down, not up)."""
    config = _replay_config(outer_updates=6)
    hypers = [method_hyper("implicit", "good", neumann_terms=2, gamma_l2=g) for g in (0.0, 16.0)]
    hyper = jax.tree.map(lambda *xs: jnp.stack(xs), *hypers)
    state, metrics = jax.jit(jax.vmap(make_train(config).train))(jnp.stack([jax.random.key(1)] * 2), hyper)
    # gamma_phi after each outer update (the first inner update of each outer iteration reports it).
    trace = np.asarray(metrics["gamma_phi"][:, config.warmup_updates :: config.inner_per_outer])
    free, penalised = trace[:, -1]
    assert np.all(np.diff(trace[1]) < 0), trace[1]  # every step goes down: the penalty dominates
    assert penalised < min(free, 1 / (1 + np.exp(-4.6))) - 0.001, (free, penalised)


def test_replay_schedule_refuses_ppo_and_a_too_small_buffer() -> None:
    with pytest.raises(ValueError, match="PPO"):
        BarfiConfig(schedule="replay", inner_learner="ppo")
    with pytest.raises(ValueError, match="replay_buffer"):
        BarfiConfig(schedule="replay", replay_buffer=3, episodes_per_outer=3)
    with pytest.raises(ValueError, match="schedule"):
        BarfiConfig(schedule="offline")


@pytest.mark.slow
def test_reinforce_learns_gridworld_from_the_primary_reward() -> None:
    config = BarfiConfig(env="BARFI-GridWorld", warmup_updates=0, outer_updates=10, outer_gradient="none")
    hyper = method_hyper("primary", "none")
    _, metrics = jax.jit(jax.vmap(make_train(config).train, in_axes=(0, None)))(
        jax.random.split(jax.random.key(0), 4), hyper
    )
    assert float(metrics["primary_return"][:, :10].mean()) < 50
    assert float(metrics["primary_return"][:, -20:].mean()) > 90


def test_trainer_refuses_invalid_settings() -> None:
    with pytest.raises(ValueError, match="outer_gradient"):
        BarfiConfig(outer_gradient="hypergradient")
    with pytest.raises(ValueError, match="num_episodes"):
        BarfiConfig(num_episodes=0)
    with pytest.raises(ValueError, match="method"):
        method_hyper("sum")
    with pytest.raises(ValueError, match="heuristic"):
        method_hyper("naive", heuristic="helpful")

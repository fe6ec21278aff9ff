"""Tests of the exploration bonuses: their mathematics against direct computations, the episodic and
global scopes, the registry, and jit/vmap over seeds as the PPO runs them."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.bonuses import (
    BONUSES,
    CombinedBonus,
    CountBonus,
    E3BBonus,
    EpisodicCountBonus,
    NovelDBonus,
    RNDBonus,
    RunningMoments,
    make_bonus,
    scale_bonus,
)
from jaxrl.bonuses.count import hash_values
from jaxrl.bonuses.noveld import noveld_formula

NUM_ACTIONS = 4
GRID = 8  # positions (x, y) in [0, 8)^2


def grid_obs(positions: np.ndarray, messages: np.ndarray | None = None) -> dict[str, jax.Array]:
    """Gridworld-like observations for positions ``[..., 2]``: a glyph map marking the agent, its
    3 x 3 crop, the position and a message id."""
    positions = np.asarray(positions, np.int32)
    batch = positions.shape[:-1]
    glyphs = np.zeros(batch + (GRID, GRID), np.int32)
    flat = glyphs.reshape(-1, GRID, GRID)
    for i, (x, y) in enumerate(positions.reshape(-1, 2)):
        flat[i, y, x] = 7
    padded = np.pad(flat, ((0, 0), (1, 1), (1, 1)))
    crops = np.stack([padded[i, y : y + 3, x : x + 3] for i, (x, y) in enumerate(positions.reshape(-1, 2))])
    messages = np.zeros(batch, np.int32) if messages is None else np.asarray(messages, np.int32)
    return {
        "glyphs": jnp.asarray(glyphs),
        "glyphs_crop": jnp.asarray(crops.reshape(batch + (3, 3))),
        "position": jnp.asarray(positions),
        "message": jnp.asarray(messages),
    }


def one(obs: dict[str, jax.Array]) -> dict[str, jax.Array]:
    return jax.tree.map(lambda x: x[0], obs)


@partial(jax.jit, static_argnums=0)
def jit_step(bonus, state, obs, action, next_obs, done):
    return bonus.step(state, obs, action, next_obs, done)


def no_done(n: int) -> jax.Array:
    return jnp.zeros((n,), bool)


# ------------------------------------------------------------------------------------------------ E3B

SMALL_E3B = E3BBonus(hidden=(16,), embed_dim=6, inverse_hidden=16, ridge=0.1)


def test_e3b_incremental_inverse_equals_inverse_of_accumulated_matrix():
    num_envs, steps, dim = 2, 10, 5
    observations = jax.random.normal(jax.random.key(1), (steps + 1, num_envs, dim))
    state = SMALL_E3B.init(jax.random.key(0), observations[0, 0], NUM_ACTIONS, num_envs)
    embed = jax.jit(SMALL_E3B.embedding.embed)
    covariance = np.stack([SMALL_E3B.ridge * np.eye(SMALL_E3B.embed_dim)] * num_envs)
    actions = jnp.zeros((num_envs,), jnp.int32)
    for t in range(steps):
        phi = np.asarray(embed(state.embedding.params, observations[t]))
        bonus, state = jit_step(SMALL_E3B, state, observations[t], actions, observations[t + 1], no_done(2))
        expected_inverse_before = np.asarray(jnp.linalg.inv(jnp.asarray(covariance, jnp.float32)))
        expected_bonus = np.einsum("ni,nij,nj->n", phi, expected_inverse_before, phi)
        if t == 0:
            np.testing.assert_array_equal(bonus, 0.0)
        else:
            np.testing.assert_allclose(bonus, expected_bonus, rtol=2e-4)
        covariance = covariance + np.einsum("ni,nj->nij", phi, phi)
        reference = jnp.linalg.inv(jnp.asarray(covariance, jnp.float32))
        scale = float(jnp.max(jnp.abs(reference)))
        np.testing.assert_allclose(state.inverse_covariance, reference, rtol=1e-3, atol=1e-4 * scale)
    assert float(jnp.min(bonus)) > 0.0


def test_e3b_first_step_zero_and_reset_only_where_episode_ends():
    num_envs, dim = 2, 5
    observations = jax.random.normal(jax.random.key(2), (5, num_envs, dim))
    state = SMALL_E3B.init(jax.random.key(0), observations[0, 0], NUM_ACTIONS, num_envs)
    initial = np.asarray(state.inverse_covariance)
    actions = jnp.zeros((num_envs,), jnp.int32)
    bonuses = []
    for t in range(4):
        done = jnp.array([t == 2, False])  # env 0's episode ends at step 2
        bonus, state = jit_step(SMALL_E3B, state, observations[t], actions, observations[t + 1], done)
        bonuses.append(np.asarray(bonus))
        if t == 2:
            np.testing.assert_array_equal(state.inverse_covariance[0], initial[0])
            assert not np.allclose(state.inverse_covariance[1], initial[1])
    bonuses = np.stack(bonuses)
    np.testing.assert_array_equal(bonuses[0], 0.0)  # first step of every episode
    assert bonuses[2, 0] > 0.0  # the last step of an episode still gets its bonus (computed before reset)
    assert bonuses[3, 0] == 0.0  # first step of env 0's new episode
    assert np.all(bonuses[1:, 1] > 0.0)  # env 1 is unaffected


# ----------------------------------------------------------------------------------------- counts


@pytest.mark.parametrize("bounds", [(GRID, GRID), None], ids=["exact", "hashed"])
def test_global_count_visit_in_env0_lowers_bonus_in_env1(bounds):
    bonus = CountBonus(key="position", table_size=4096, bounds=bounds)
    action = jnp.zeros((2,), jnp.int32)

    def run(env0_path):
        env1_path = [(7, 7), (6, 6), (3, 3)]
        state = bonus.init(jax.random.key(0), one(grid_obs([[0, 0]])), NUM_ACTIONS, 2)
        out = []
        for t in range(2):
            obs = grid_obs([env0_path[t], env1_path[t]])
            next_obs = grid_obs([env0_path[t + 1], env1_path[t + 1]])
            b, state = jit_step(bonus, state, obs, action, next_obs, no_done(2))
            out.append(np.asarray(b))
        return np.stack(out)

    visited = run([(0, 0), (3, 3), (4, 4)])  # env 0 visits (3, 3) at step 0, env 1 at step 1
    not_visited = run([(0, 0), (1, 1), (4, 4)])
    np.testing.assert_allclose(visited[:, 0], [1.0, 1.0])
    np.testing.assert_allclose(visited[1, 1], 1 / np.sqrt(2.0))
    np.testing.assert_allclose(not_visited[1, 1], 1.0)


def test_global_count_order_within_a_step_and_start_states_counted():
    bonus = CountBonus(key="position", table_size=64, bounds=(GRID, GRID))
    state = bonus.init(jax.random.key(0), one(grid_obs([[0, 0]])), NUM_ACTIONS, 3)
    action = jnp.zeros((3,), jnp.int32)
    # Two environments reach (2, 2) in the same step: both see N = 2. The start states are counted at
    # the first step, so env 2 staying on (0, 0), where env 0 also started, sees N = 3.
    obs = grid_obs([[0, 0], [1, 1], [0, 0]])
    next_obs = grid_obs([[2, 2], [2, 2], [0, 0]])
    b, state = jit_step(bonus, state, obs, action, next_obs, no_done(3))
    np.testing.assert_allclose(b, [1 / np.sqrt(2), 1 / np.sqrt(2), 1 / np.sqrt(3)])
    # After the first step the start state is no longer re-counted.
    b, state = jit_step(bonus, state, next_obs, action, grid_obs([[5, 5], [5, 6], [1, 1]]), no_done(3))
    np.testing.assert_allclose(b, [1.0, 1.0, 1 / np.sqrt(2)])
    assert int(state.counts.sum()) == 9


def test_count_on_message_key():
    bonus = CountBonus(key="message", table_size=1024)
    state = bonus.init(jax.random.key(0), one(grid_obs([[0, 0]])), NUM_ACTIONS, 2)
    pos = [[0, 0], [1, 1]]
    obs = grid_obs(pos, messages=[0, 0])
    b, state = jit_step(bonus, state, obs, jnp.zeros(2, jnp.int32), grid_obs(pos, [5, 6]), no_done(2))
    # start messages (0, twice) and next messages 5 and 6 once each
    np.testing.assert_allclose(b, [1.0, 1.0])
    b, state = jit_step(bonus, state, obs, jnp.zeros(2, jnp.int32), grid_obs(pos, [5, 5]), no_done(2))
    np.testing.assert_allclose(b, [1 / np.sqrt(3), 1 / np.sqrt(3)])


@pytest.mark.parametrize("mode", ["first_visit", "inverse_sqrt"])
def test_episodic_count_per_env_and_reset(mode):
    bonus = EpisodicCountBonus(key="position", table_size=64, bounds=(GRID, GRID), mode=mode)
    state = bonus.init(jax.random.key(0), one(grid_obs([[0, 0]])), NUM_ACTIONS, 2)
    env0 = [(0, 0), (1, 0), (0, 0), (1, 0), (1, 0), (1, 0)]
    env1 = [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0)]  # a different env visiting env 0's cells
    done0 = [False, False, True, False, False]  # env 0's episode ends after the step into (1, 0)
    counts = []
    for t in range(5):
        b, state = jit_step(
            bonus,
            state,
            grid_obs([env0[t], env1[t]]),
            jnp.zeros(2, jnp.int32),
            grid_obs([env0[t + 1], env1[t + 1]]),
            jnp.array([done0[t], False]),
        )
        counts.append(np.asarray(b))
    counts = np.stack(counts)
    # env 0: (1,0) new; (0,0) = start, N=2; (1,0) N=2 [episode ends]; new episode starts at (1,0):
    # (1,0) N=2; (1,0) N=3.
    expected_n0 = np.array([1, 2, 2, 2, 3])
    expected_n1 = np.ones(5)
    if mode == "first_visit":
        np.testing.assert_array_equal(counts[:, 0], (expected_n0 == 1).astype(np.float32))
        np.testing.assert_array_equal(counts[:, 1], 1.0)
    else:
        np.testing.assert_allclose(counts[:, 0], 1 / np.sqrt(expected_n0))
        np.testing.assert_allclose(counts[:, 1], 1 / np.sqrt(expected_n1))


def test_exact_index_is_injective_and_hash_collisions_are_rare():
    xs, ys = np.meshgrid(np.arange(79), np.arange(21), indexing="ij")
    positions = jnp.asarray(np.stack([xs.ravel(), ys.ravel()], -1), jnp.uint32)
    slots = np.asarray(hash_values(positions, 1 << 16))
    assert slots.min() >= 0 and slots.max() < 1 << 16
    # 1659 positions into 65536 slots: about 21 colliding pairs expected for a uniform hash.
    assert len(positions) - len(np.unique(slots)) < 40
    bonus = CountBonus(key="position", table_size=79 * 21, bounds=(79, 21))
    from jaxrl.bonuses.count import exact_index

    exact = np.asarray(exact_index(positions, bonus.bounds))
    assert len(np.unique(exact)) == len(positions) and exact.max() < 79 * 21


# ------------------------------------------------------------------------------------- RND, NovelD


def test_noveld_formula_on_hand_made_inputs():
    novelty_next = jnp.array([1.0, 0.1, 1.0, 3.0, 0.5])
    novelty = jnp.array([2.0, 2.0, 2.0, 0.0, 5.0])
    first_visit = jnp.array([1, 1, 0, 1, 1])
    np.testing.assert_allclose(
        noveld_formula(novelty_next, novelty, first_visit, 0.1), [0.8, 0.0, 0.0, 3.0, 0.0], atol=1e-6
    )
    np.testing.assert_allclose(noveld_formula(novelty_next, novelty, first_visit, 0.5)[3], 3.0)


def test_noveld_step_uses_rnd_of_s_and_s_next_and_first_visit():
    bonus = NovelDBonus(hidden=(16,), output_dim=4, key="position", table_size=64, bounds=(GRID, GRID))
    assert bonus.scale == 0.1
    state = bonus.init(jax.random.key(3), one(grid_obs([[0, 0]])), NUM_ACTIONS, 2)
    rnd = bonus.rnd
    path = [grid_obs([[0, 0], [4, 4]]), grid_obs([[1, 0], [4, 5]]), grid_obs([[0, 0], [4, 6]])]
    for t, expected_first in enumerate([[1, 1], [0, 1]]):  # env 0 steps back onto its start state
        b, state = jit_step(bonus, state, path[t], jnp.zeros(2, jnp.int32), path[t + 1], no_done(2))
        # RND novelty by hand: L2 norm of predictor minus target on the flattened observation
        feats = lambda obs: jnp.concatenate(
            [jnp.reshape(x, (2, -1)).astype(jnp.float32) for x in jax.tree.leaves(obs)], -1
        )
        novelty = lambda obs: jnp.linalg.norm(
            rnd.network.apply(state.rnd.predictor_params, feats(obs))
            - rnd.network.apply(state.rnd.target_params, feats(obs)),
            axis=-1,
        )
        n_next, n_now = np.asarray(novelty(path[t + 1])), np.asarray(novelty(path[t]))
        expected = np.maximum(n_next - 0.1 * n_now, 0.0) * np.array(expected_first)
        np.testing.assert_allclose(b, expected, rtol=1e-5, atol=1e-6)
    assert float(b[1]) > 0.0


def test_rnd_update_reduces_predictor_loss_on_a_fixed_batch():
    bonus = RNDBonus(hidden=(32,), output_dim=8, learning_rate=3e-3, train_steps=5)
    positions = jax.random.randint(jax.random.key(4), (6, 3, 2), 0, GRID)
    obs = grid_obs(np.asarray(positions))
    batch = {
        "obs": obs,
        "next_obs": obs,
        "action": jnp.zeros((6, 3), jnp.int32),
        "done": jnp.zeros((6, 3), bool),
    }
    state = bonus.init(jax.random.key(5), one(one(obs)), NUM_ACTIONS, 3)
    novelty = jax.jit(partial(bonus.novelty, batch_ndim=2))
    initial_novelty = float(novelty(state, obs).mean())
    update = jax.jit(bonus.update)
    losses = []
    for _ in range(10):
        state, metrics = update(state, batch)
        losses.append(float(metrics["rnd_loss"]))
    assert losses[-1] < 0.3 * losses[0], losses
    # ... and the bonus on those observations fell with it (it is the same prediction error).
    assert float(novelty(state, obs).mean()) < 0.6 * initial_novelty


# -------------------------------------------------------------------------------- normalisation


def test_running_moments_equal_numpy_std_over_the_stream():
    rng = np.random.default_rng(0)
    shapes_and_scales = [((4, 3), 1.0), ((7, 3), 5.0), ((1, 1), 0.1), ((16, 8), 2.0), ((5, 2), 30.0)]
    update = jax.jit(RunningMoments.update)
    moments = RunningMoments.init()
    seen = []
    for shape, scale in shapes_and_scales:
        batch = rng.normal(loc=scale, scale=scale, size=shape).astype(np.float32)
        seen.append(batch.ravel())
        moments = update(moments, jnp.asarray(batch))
        stream = np.concatenate(seen).astype(np.float64)
        assert float(moments.count) == stream.size
        np.testing.assert_allclose(moments.mean, stream.mean(), rtol=1e-5)
        np.testing.assert_allclose(moments.std(), stream.std(), rtol=1e-5)


def test_scale_bonus_switch_and_vmapped_coefficient():
    bonus = jnp.array([[1.0, 3.0], [5.0, 7.0]])
    coefs = jnp.array([0.0, 0.5, 2.0])
    scaled, moments = jax.vmap(lambda c: scale_bonus(bonus, RunningMoments.init(), c))(coefs)
    std = np.std(np.asarray(bonus))
    np.testing.assert_allclose(scaled, np.asarray(coefs)[:, None, None] * np.asarray(bonus) / std, rtol=1e-6)
    np.testing.assert_allclose(moments.std(), [std] * 3, rtol=1e-6)
    raw, _ = scale_bonus(bonus, RunningMoments.init(), 2.0, normalize=False)
    np.testing.assert_allclose(raw, 2.0 * bonus)
    constant, _ = scale_bonus(jnp.ones((3, 2)), RunningMoments.init(), 1.0)
    np.testing.assert_allclose(constant, 1.0)  # zero std leaves the bonus unscaled, not blown up


# ---------------------------------------------------------------------------------- combinations


def test_product_and_sum_combine_the_parts():
    episodic = EpisodicCountBonus(key="position", table_size=64, bounds=(GRID, GRID), mode="inverse_sqrt")
    global_count = CountBonus(key="position", table_size=64, bounds=(GRID, GRID))
    obs, next_obs = grid_obs([[0, 0], [0, 0]]), grid_obs([[0, 0], [2, 2]])
    action = jnp.zeros(2, jnp.int32)
    parts = []
    for part in (episodic, global_count):
        state = part.init(jax.random.key(0), one(obs), NUM_ACTIONS, 2)
        parts.append(np.asarray(jit_step(part, state, obs, action, next_obs, no_done(2))[0]))
    for combined, expected in [
        (
            make_bonus("episodic_count*count", mode="inverse_sqrt", bounds=(GRID, GRID), table_size=64),
            parts[0] * parts[1],
        ),
        (
            make_bonus(
                "episodic_count+count",
                sum_weight=0.25,
                episodic_count__mode="inverse_sqrt",
                bounds=(GRID, GRID),
                table_size=64,
            ),
            parts[0] + 0.25 * parts[1],
        ),
    ]:
        state = combined.init(jax.random.key(0), one(obs), NUM_ACTIONS, 2)
        np.testing.assert_allclose(jit_step(combined, state, obs, action, next_obs, no_done(2))[0], expected)
    np.testing.assert_allclose(parts[0], [1 / np.sqrt(2), 1.0])  # episodic: env 1's start is not env 0's
    np.testing.assert_allclose(parts[1], [1 / np.sqrt(3), 1.0])  # global: both starts count


# -------------------------------------------------------------------------------------- registry


def test_make_bonus_registry_and_option_routing():
    with pytest.raises(ValueError, match="known bonuses.*e3b"):
        make_bonus("curiosity")
    with pytest.raises(ValueError, match="known bonuses"):
        make_bonus("e3b*curiosity")
    assert isinstance(make_bonus("e3b"), E3BBonus)
    combined = make_bonus("e3b*count", key="message", obs_keys="glyphs_crop", learning_rate=1e-3)
    assert isinstance(combined, CombinedBonus) and combined.mode == "product"
    assert combined.first.obs_keys == ("glyphs_crop",) and combined.first.learning_rate == 1e-3
    assert combined.second.key == "message"
    scoped = make_bonus("e3b+rnd", sum_weight=0.5, rnd__learning_rate=1e-3)
    assert scoped.mode == "sum" and scoped.sum_weight == 0.5
    assert scoped.second.learning_rate == 1e-3 and scoped.first.learning_rate == 1e-4
    with pytest.raises(ValueError, match="no option 'lamda'"):
        make_bonus("e3b", lamda=0.1)
    with pytest.raises(ValueError, match="sum_weight"):
        make_bonus("e3b*rnd", sum_weight=0.5)
    with pytest.raises(ValueError, match="exactly two"):
        make_bonus("e3b*rnd*count")
    for spec, options, argument in [
        ("count", {"table_size": 0}, "table_size"),
        ("e3b", {"ridge": -1.0}, "ridge"),
        ("episodic_count", {"mode": "sometimes"}, "mode"),
        ("rnd", {"learning_rate": 0.0}, "learning_rate"),
        ("noveld", {"scale": -0.1}, "scale"),
    ]:
        with pytest.raises(ValueError, match=argument):
            make_bonus(spec, **options)
    with pytest.raises(ValueError, match="table_size"):
        make_bonus("count", bounds=(100, 100), table_size=4096).init(
            jax.random.key(0), one(grid_obs([[0, 0]])), NUM_ACTIONS, 1
        )
    with pytest.raises(ValueError, match="not a dict"):
        make_bonus("count").init(jax.random.key(0), jnp.zeros(4), NUM_ACTIONS, 1)
    with pytest.raises(ValueError, match="num_actions"):
        make_bonus("e3b").init(jax.random.key(0), jnp.zeros(4), 0, 1)


# --------------------------------------------------------------------------------- jit and vmap

SMALL_NETS = {"hidden": (16,)}
JIT_VMAP_CASES = [
    ("none", {}, "grid"),
    ("count", {"key": "position"}, "grid"),
    ("count", {"key": None}, "flat"),  # exact-state counts of float observations (by bit pattern)
    ("episodic_count", {"key": "glyphs_crop", "mode": "inverse_sqrt"}, "grid"),
    ("rnd", {**SMALL_NETS, "output_dim": 8}, "flat"),
    ("noveld", {**SMALL_NETS, "output_dim": 8, "key": "position"}, "grid"),
    (
        "e3b",
        {**SMALL_NETS, "embed_dim": 8, "inverse_hidden": 16, "obs_keys": ("glyphs_crop", "position")},
        "grid",
    ),
    ("episodic_count*count", {"key": "position"}, "grid"),
    ("episodic_count+count", {"sum_weight": 0.5, "key": "position"}, "grid"),
]


@pytest.mark.parametrize(
    "spec,options,obs_kind", JIT_VMAP_CASES, ids=[f"{c[0]}-{c[2]}" for c in JIT_VMAP_CASES]
)
def test_each_bonus_under_jit_and_vmap_over_seeds(spec, options, obs_kind):
    assert set(BONUSES) <= {s for case in JIT_VMAP_CASES for s in case[0].replace("+", "*").split("*")}
    bonus = make_bonus(spec, **options)
    num_seeds, steps, num_envs = 2, 4, 3
    rng = np.random.default_rng(0)
    positions = rng.integers(0, GRID, size=(steps + 1, num_envs, 2))
    if obs_kind == "grid":
        observations = grid_obs(positions)
    else:  # a CartPole-like flat float observation
        observations = jnp.asarray(rng.normal(size=(steps + 1, num_envs, 4)), jnp.float32)
    obs, next_obs = jax.tree.map(lambda x: x[:-1], observations), jax.tree.map(lambda x: x[1:], observations)
    actions = jnp.asarray(rng.integers(0, NUM_ACTIONS, size=(steps, num_envs)), jnp.int32)
    dones = jnp.zeros((steps, num_envs), bool).at[1, 0].set(True)
    obs_example = jax.tree.map(lambda x: x[0, 0], observations)

    def one_seed(key):
        state = bonus.init(key, obs_example, NUM_ACTIONS, num_envs)

        def rollout_step(state, transition):
            raw, state = bonus.step(state, *transition)
            return state, raw

        state, raw = jax.lax.scan(rollout_step, state, (obs, actions, next_obs, dones))
        batch = {"obs": obs, "action": actions, "next_obs": next_obs, "done": dones}
        state, metrics = bonus.update(state, batch)
        return raw, metrics, state

    keys = jax.random.split(jax.random.key(0), num_seeds)
    raw, metrics, state = jax.jit(jax.vmap(one_seed))(keys)
    assert raw.shape == (num_seeds, steps, num_envs) and raw.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(raw))) and bool(jnp.all(raw >= 0))
    for name, value in metrics.items():
        assert value.shape == (num_seeds,) and bool(jnp.all(jnp.isfinite(value))), name
    for leaf in jax.tree.leaves(state):
        assert leaf.shape[0] == num_seeds
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            assert bool(jnp.all(jnp.isfinite(leaf)))
    if spec != "none":
        assert float(jnp.max(raw)) > 0.0
    if spec in ("rnd", "e3b", "noveld"):
        # Different seeds initialise different networks.
        assert not np.allclose(raw[0], raw[1])

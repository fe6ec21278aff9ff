"""PPO: the mathematics against direct computations, recurrent state handling, vmapped trials,
resume, determinism, NaN handling and input errors."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from nan_injection import inject_nan

from jaxrl.gae import truncation_aware_gae
from jaxrl.ppo import PPOConfig, make_train
from jaxrl.rollout import bootstrap_values, collect_rollout, done_chunk_size
from jaxrl.run import TIMING_FIELDS, RunConfig, TrainingError, TrialSpec, run_trials, train_run


def gae_loop(rewards, values, next_values, terminated, truncated, gamma, lam):
    """GAE written as the textbook loop, one environment."""
    T = len(rewards)
    advantages = np.zeros(T)
    next_advantage = 0.0
    for t in reversed(range(T)):
        bootstrap = 0.0 if terminated[t] else next_values[t]
        delta = rewards[t] + gamma * bootstrap - values[t]
        continues = 0.0 if (terminated[t] or truncated[t]) else 1.0
        next_advantage = delta + gamma * lam * continues * next_advantage
        advantages[t] = next_advantage
    return advantages, advantages + values


def test_gae_bootstraps_truncation_but_not_termination():
    rng = np.random.default_rng(0)
    T = 12
    rewards = rng.normal(size=T)
    values = rng.normal(size=T)
    next_values = rng.normal(size=T)
    terminated = np.zeros(T, bool)
    truncated = np.zeros(T, bool)
    terminated[3] = True  # the task ended: no bootstrap
    truncated[7] = True  # the time limit: bootstrap from V(final observation)
    terminated[10] = truncated[10] = True  # both at once counts as termination
    adv, ret = truncation_aware_gae(
        jnp.asarray(rewards),
        jnp.asarray(values),
        jnp.asarray(next_values),
        jnp.asarray(terminated),
        jnp.asarray(terminated | truncated),
        0.97,
        0.9,
    )
    expected_adv, expected_ret = gae_loop(rewards, values, next_values, terminated, truncated, 0.97, 0.9)
    np.testing.assert_allclose(adv, expected_adv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ret, expected_ret, rtol=1e-5, atol=1e-5)
    # The truncated step's target really uses its next value, the terminated step's does not.
    assert adv[7] == pytest.approx(rewards[7] + 0.97 * next_values[7] - values[7], abs=1e-5)
    assert adv[3] == pytest.approx(rewards[3] - values[3], abs=1e-5)


SMALL = dict(total_timesteps=2048, num_envs=4, num_steps=32, num_minibatches=2, update_epochs=2)


def test_recurrent_update_recomputes_rollout_log_probs_across_episode_boundaries():
    """Before any gradient step, replaying the rollout's sequences (with resets at episode starts)
    gives the rollout's log-probabilities and values: the ratio is 1 to float precision."""
    config = PPOConfig(
        env="MemoryCorridor",
        env_kwargs={"length": 3, "max_steps_in_episode": 6},
        network="gru",
        gru_size=16,
        **SMALL,
    )
    trainer = make_train(config)
    state = trainer.init(jax.random.PRNGKey(0))
    initial_carry = state.rollout.carry

    @jax.jit
    def rollout_and_replay(state):
        _, batch = collect_rollout(
            jax.random.PRNGKey(1),
            state.rollout,
            state.params,
            env=trainer.env,
            env_params=trainer.env_params,
            network=trainer.network,
            num_steps=32,
        )
        # Replay whole sequences for a subset of environments, as a minibatch does.
        envs_subset = jnp.array([3, 1])
        _, dist, values = trainer.network.apply(
            state.params,
            initial_carry[envs_subset],
            batch.obs[:, envs_subset],
            batch.episode_start[:, envs_subset],
        )
        return batch, dist.log_prob(batch.action[:, envs_subset]), values, envs_subset

    batch, log_probs, values, subset = rollout_and_replay(state)
    starts = np.asarray(batch.episode_start)
    assert starts[1:].sum() >= 4, "the rollout must cross several episode boundaries"
    np.testing.assert_allclose(log_probs, batch.log_prob[:, subset], atol=1e-5)
    np.testing.assert_allclose(values, batch.value[:, subset], atol=1e-5)
    ratio = np.exp(np.asarray(log_probs) - np.asarray(batch.log_prob[:, subset]))
    np.testing.assert_allclose(ratio, 1.0, atol=1e-5)
    # Without the resets the replay differs: the test would catch a missing reset.
    _, dist_no_reset, _ = jax.jit(trainer.network.apply)(
        state.params,
        initial_carry[subset],
        batch.obs[:, subset],
        jnp.zeros_like(batch.episode_start[:, subset]),
    )
    assert not np.allclose(
        dist_no_reset.log_prob(batch.action[:, subset]), batch.log_prob[:, subset], atol=1e-5
    )


def test_recurrent_hidden_state_matches_step_by_step_loop():
    """The sequence network equals a Python loop of single steps that resets at episode starts."""
    config = PPOConfig(env="MemoryCorridor", network="gru", gru_size=8, **SMALL)
    trainer = make_train(config)
    state = trainer.init(jax.random.PRNGKey(0))
    T, B = 7, 3
    obs = jax.random.uniform(jax.random.PRNGKey(2), (T, B, 4))
    starts = jnp.array([[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0], [0, 1, 1]], bool)
    carry0 = jax.random.normal(jax.random.PRNGKey(3), (B, 8))
    carry_seq, dist_seq, values_seq = trainer.network.apply(state.params, carry0, obs, starts)
    carry = carry0
    for t in range(T):
        carry, dist, value = trainer.network.apply(state.params, carry, obs[t : t + 1], starts[t : t + 1])
        np.testing.assert_allclose(dist.logits[0], dist_seq.logits[t], atol=1e-6)
        np.testing.assert_allclose(value[0], values_seq[t], atol=1e-6)
    np.testing.assert_allclose(carry, carry_seq, atol=1e-6)


def test_bootstrap_value_is_the_next_step_value_when_the_episode_goes_on():
    config = PPOConfig(env="CartPole-v1", env_kwargs={"max_steps_in_episode": 5}, **SMALL)
    trainer = make_train(config)
    state = trainer.init(jax.random.PRNGKey(0))
    _, batch = collect_rollout(
        jax.random.PRNGKey(1),
        state.rollout,
        state.params,
        env=trainer.env,
        env_params=trainer.env_params,
        network=trainer.network,
        num_steps=16,
    )
    next_values = bootstrap_values(state.params, trainer.network, batch)
    done = np.asarray(batch.terminated | batch.truncated)
    assert np.asarray(batch.truncated).any()
    cont = ~done[:-1]
    np.testing.assert_allclose(
        np.asarray(next_values[:-1])[cont], np.asarray(batch.value[1:])[cont], atol=1e-5
    )


def direct_bootstrap(params, network, batch):
    """``V(final_obs[t])`` with the carry after step t, for every step, in one pass over the rollout."""
    num_steps, num_envs = batch.reward.shape
    flat = lambda x: x.reshape((1, num_steps * num_envs, *x.shape[2:]))
    carry = batch.carry_after.reshape((num_steps * num_envs, -1))
    _, _, values = network.apply(
        params, carry, jax.tree.map(flat, batch.final_obs), jnp.zeros((1, num_steps * num_envs), bool)
    )
    return values.reshape((num_steps, num_envs))


@pytest.mark.parametrize(
    "env, env_kwargs, network",
    [("CartPole-v1", {"max_steps_in_episode": 3}, "mlp"), ("MultiRoom-N2", {"max_steps_in_episode": 7}, "gru")],
)
def test_bootstrap_values_equal_a_direct_pass_over_every_step(env, env_kwargs, network):
    # Short time limits: many truncations, so the episode ends take several chunks.
    config = PPOConfig(env=env, env_kwargs=env_kwargs, network=network, gru_size=8, hidden_sizes=(16, 16), **SMALL)
    trainer = make_train(config)
    state = trainer.init(jax.random.PRNGKey(0))
    _, batch = collect_rollout(
        jax.random.PRNGKey(1),
        state.rollout,
        state.params,
        env=trainer.env,
        env_params=trainer.env_params,
        network=trainer.network,
        num_steps=24,
    )
    done = np.asarray(batch.terminated | batch.truncated)
    assert np.asarray(batch.truncated).sum() > done_chunk_size(*done.shape)  # more than one chunk
    expected = direct_bootstrap(state.params, trainer.network, batch)
    next_values = jax.jit(bootstrap_values, static_argnums=1)(state.params, trainer.network, batch)
    np.testing.assert_allclose(next_values, expected, rtol=1e-5, atol=1e-6)
    # The rows that ended an episode differ from the next step's value (the reset observation's).
    assert not np.allclose(np.asarray(expected[:-1])[done[:-1]], np.asarray(batch.value[1:])[done[:-1]], atol=1e-4)


def test_seed_vmapped_rollout_of_a_sparse_reset_env_equals_per_seed_rollouts():
    # Under vmap the rollout steps all seeds' environments as one batch (jaxrl.rollout._keyed_env_step),
    # so that the gridworld's sparse auto-reset stays sparse; every row must still be its own seed's.
    config = PPOConfig(
        env="MultiRoom-N2",
        env_kwargs={"max_steps_in_episode": 9},
        network="gru",
        gru_size=8,
        hidden_sizes=(16, 16),
        **SMALL,
    )
    trainer = make_train(config)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in range(3)])
    state = jax.vmap(trainer.init_fn, in_axes=(0, None))(keys, config.hyperparams())
    rollout = lambda key, rs, params: collect_rollout(
        key, rs, params, env=trainer.env, env_params=trainer.env_params, network=trainer.network, num_steps=20
    )
    batched = jax.jit(jax.vmap(rollout))(keys, state.rollout, state.params)
    assert int(batched[1].truncated.sum()) > 0
    for i in range(3):
        one = jax.jit(rollout)(keys[i], *jax.tree.map(lambda x: x[i], (state.rollout, state.params)))
        for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(one), strict=True):
            np.testing.assert_allclose(np.asarray(a)[i], np.asarray(b), atol=1e-5)


@pytest.mark.parametrize("params_axis", [None, 0], ids=["shared", "per-seed"])
def test_seed_vmapped_rollout_with_traced_env_params_equals_per_seed_rollouts(params_axis):
    # Environment parameters that are tracers (a meta-RL evaluation builds its environment inside the
    # jitted function), shared by every seed or one set per seed, through the merged seed batch.
    env_kwargs = {"layout": "maze", "max_episode_steps": 4, "num_episodes": 2}  # params hold the maze array
    config = PPOConfig(env="GoalTrials-5x5", env_kwargs=env_kwargs, hidden_sizes=(16, 16), **SMALL)
    trainer = make_train(config)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in range(3)])
    state = jax.vmap(trainer.init_fn, in_axes=(0, None))(keys, config.hyperparams())
    leaves, treedef = jax.tree.flatten(trainer.env_params)
    arrays = [x for x in leaves if isinstance(x, jax.Array)]
    assert arrays, "the test needs array-valued environment parameters"

    def rollout(key, rs, params, env_arrays):
        it = iter(env_arrays)
        env_params = jax.tree.unflatten(treedef, [next(it) if isinstance(x, jax.Array) else x for x in leaves])
        return collect_rollout(
            key, rs, params, env=trainer.env, env_params=env_params, network=trainer.network, num_steps=20
        )

    batched_arrays = arrays if params_axis is None else [jnp.stack([x] * 3) for x in arrays]
    batched = jax.jit(jax.vmap(rollout, in_axes=(0, 0, 0, params_axis)))(
        keys, state.rollout, state.params, batched_arrays
    )
    assert int((batched[1].terminated | batched[1].truncated).sum()) > 0
    for i in range(3):
        one = jax.jit(rollout)(keys[i], *jax.tree.map(lambda x: x[i], (state.rollout, state.params)), arrays)
        for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(one), strict=True):
            np.testing.assert_allclose(np.asarray(a)[i], np.asarray(b), atol=1e-5)


def test_vmapped_hyperparameters_equal_separate_runs():
    config = PPOConfig(**SMALL)
    trainer = make_train(config, updates_per_chunk=4)
    lrs = [1e-3, 3e-4]
    hparams = jax.tree.map(lambda *x: jnp.stack(x), *[config.hyperparams(learning_rate=lr) for lr in lrs])
    keys = jnp.stack([jax.random.PRNGKey(0)] * 2)
    batched, _ = jax.jit(jax.vmap(trainer.update_fn))(jax.jit(jax.vmap(trainer.init_fn))(keys, hparams))
    for i, lr in enumerate(lrs):
        single, _ = trainer.update(trainer.init(jax.random.PRNGKey(0), config.hyperparams(learning_rate=lr)))
        for a, b in zip(jax.tree.leaves(single.params), jax.tree.leaves(batched.params), strict=True):
            np.testing.assert_allclose(a, b[i], rtol=2e-4, atol=2e-5)
    diff = jax.tree.map(lambda x: jnp.abs(x[0] - x[1]).max(), batched.params)
    assert max(jax.tree.leaves(diff)) > 1e-4, "different learning rates must give different parameters"


@pytest.mark.parametrize("normalize", [False, True])
def test_bonus_metrics_report_the_reward_actually_added(normalize):
    """``intrinsic_reward_added`` is coef x raw bonus (divided by the running std when normalising)."""
    config = PPOConfig(
        env="MultiRoom-N2", num_envs=4, num_steps=16, num_minibatches=2, update_epochs=1, total_timesteps=64,
        obs_keys=("glyphs_crop", "position"), bonus="count", bonus_kwargs={"key": "position"},
        bonus_coef=0.3, normalize_bonus=normalize,
    )  # fmt: skip
    trainer = make_train(config, updates_per_chunk=1)
    state = trainer.init(jax.random.PRNGKey(0), config.hyperparams())
    state, metrics = trainer.update(state)
    raw, added = float(metrics["intrinsic_reward"]), float(metrics["intrinsic_reward_added"])
    assert raw > 0
    scale = float(state.bonus_norm.std()) if normalize else 1.0  # one batch seen: its own std
    np.testing.assert_allclose(added, 0.3 * raw / scale, rtol=1e-5)


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _without_timing(rows):
    return [{k: v for k, v in row.items() if k not in TIMING_FIELDS} for row in rows]


def test_same_seed_gives_identical_metrics(tmp_path):
    config = PPOConfig(**SMALL)
    run = RunConfig(log_every=4, checkpoint_every=100, progress=False)
    train_run(config, RunConfig(**{**run.__dict__, "out": str(tmp_path / "a")}))
    train_run(config, RunConfig(**{**run.__dict__, "out": str(tmp_path / "b")}))
    a, b = _read(tmp_path / "a" / "metrics.jsonl"), _read(tmp_path / "b" / "metrics.jsonl")
    assert len(a) == 4 and a[-1]["step"] == 2048
    assert _without_timing(a) == _without_timing(b)


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, monkeypatch):
    import jaxrl.run as run_module
    from jaxrl.checkpoints import Checkpointer

    config = PPOConfig(total_timesteps=8 * 128, num_envs=4, num_steps=32, num_minibatches=2, update_epochs=2)
    run = RunConfig(log_every=1, checkpoint_every=2, progress=False, num_seeds=2)
    train_run(config, RunConfig(**{**run.__dict__, "out": str(tmp_path / "full")}))

    original = run_module.chunk_rows
    calls = {"n": 0}

    def interrupt_at_fifth_chunk(*args):
        calls["n"] += 1
        if calls["n"] == 5:  # chunks 1-4 logged, checkpoint at 4; killed in chunk 5
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(run_module, "chunk_rows", interrupt_at_fifth_chunk)
    with pytest.raises(KeyboardInterrupt):
        train_run(config, RunConfig(**{**run.__dict__, "out": str(tmp_path / "cut")}))
    monkeypatch.setattr(run_module, "chunk_rows", original)
    assert len(_read(tmp_path / "cut" / "metrics.jsonl")) == 8  # 4 chunks x 2 seeds
    with pytest.raises(FileExistsError, match="--resume"):
        train_run(config, RunConfig(**{**run.__dict__, "out": str(tmp_path / "cut")}))
    train_run(config, RunConfig(**{**run.__dict__, "out": str(tmp_path / "cut"), "resume": True}))

    full, cut = _read(tmp_path / "full" / "metrics.jsonl"), _read(tmp_path / "cut" / "metrics.jsonl")
    assert _without_timing(full) == _without_timing(cut)
    trainer = make_train(config)
    like = jax.vmap(trainer.init_fn)(
        jnp.zeros((2, 2), jnp.uint32), jax.tree.map(lambda x: jnp.stack([x, x]), config.hyperparams())
    )
    restored = [Checkpointer(tmp_path / d / "checkpoints").restore(8 * 128, like)[0] for d in ("full", "cut")]
    for a, b in zip(jax.tree.leaves(restored[0]), jax.tree.leaves(restored[1]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_resume_needs_a_run_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        train_run(PPOConfig(**SMALL), RunConfig(out=str(tmp_path / "missing"), resume=True, progress=False))


def _inject_nan(monkeypatch, after_update, into, only_lr_above=None):
    """Make ``run_trials`` see NaN ``into`` "loss" or "params" once a trial has done ``after_update``
    updates (only trials whose learning rate exceeds ``only_lr_above``, if given)."""

    def is_bad(state, new_state, metrics):
        bad = new_state.update_idx > after_update
        if only_lr_above is not None:
            bad &= state.hparams.learning_rate > only_lr_above
        return bad

    return inject_nan(monkeypatch, "ppo", is_bad, into)


def _params_after(config, seeds, overrides, *updates):
    """Parameters of trials after each of ``updates`` updates, computed directly, one update at a time."""
    trainer = make_train(config)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    hparams = jax.tree.map(lambda *xs: jnp.stack(xs), *[config.hyperparams(**o) for o in overrides])
    state = jax.jit(jax.vmap(trainer.init_fn))(keys, hparams)
    step = jax.jit(jax.vmap(lambda s: trainer.update_fn(s, num_updates=1)))
    params = []
    for n in range(1, max(updates) + 1):
        state, _ = step(state)
        if n in updates:
            params.append(state.params)
    return params


def test_nan_names_its_first_update_and_keeps_the_last_finite_parameters(tmp_path, monkeypatch):
    from jaxrl.checkpoints import Checkpointer

    config = PPOConfig(**SMALL)  # 16 updates of 128 steps
    original = _inject_nan(monkeypatch, after_update=5, into="loss")
    # Chunks of 4 updates: the NaN is in the second chunk (updates 5-8); the message names update 6.
    with pytest.raises(TrainingError, match="at update 6; its parameters after update 5 are kept"):
        run_trials(
            config, [TrialSpec("only", 0, {}, tmp_path)], RunConfig(log_every=4, checkpoint_every=1, progress=False)
        )
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "failed" and "update 6" in status["error"]
    assert [r["update"] for r in _read(tmp_path / "metrics.jsonl")] == [4]
    checkpointer = Checkpointer(tmp_path / "checkpoints")
    assert checkpointer.all_steps() == [4 * 128, 5 * 128]  # the last finite state is saved, none deleted
    hparams = jax.tree.map(lambda x: x[None], config.hyperparams())
    like = jax.eval_shape(jax.vmap(original(config).init_fn), jnp.zeros((1, 2), jnp.uint32), hparams)
    state, meta = checkpointer.restore(5 * 128, like)
    assert meta["failed"]["only"]["first_bad_update"] == 6 and meta["failed"]["only"]["last_finite_update"] == 5
    monkeypatch.undo()
    (expected,) = _params_after(config, [0], [{}], 5)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_nan_in_one_seed_fails_that_seed_and_the_others_go_on(tmp_path, monkeypatch):
    from jaxrl.checkpoints import Checkpointer

    config = PPOConfig(**SMALL)
    trials = [TrialSpec("good", 0, {}, tmp_path), TrialSpec("bad", 1, {"learning_rate": 1e-3}, tmp_path)]
    run = RunConfig(log_every=4, checkpoint_every=1, progress=False)
    original = _inject_nan(monkeypatch, after_update=5, into="params", only_lr_above=5e-4)
    outcomes = run_trials(config, trials, run)
    assert outcomes["good"].status == "done"
    assert outcomes["bad"].status == "failed" and "update 6; its parameters after update 5" in outcomes["bad"].error
    rows = _read(tmp_path / "metrics.jsonl")
    assert [r["update"] for r in rows if r["trial"] == "good"] == [4, 8, 12, 16]
    assert [r["update"] for r in rows if r["trial"] == "bad"] == [4]
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["trials"] == {"good": "done", "bad": "failed"}
    checkpointer = Checkpointer(tmp_path / "checkpoints")
    assert checkpointer.all_steps() == [12 * 128, 16 * 128]
    hparams = jax.tree.map(lambda *xs: jnp.stack(xs), config.hyperparams(), config.hyperparams(learning_rate=1e-3))
    like = jax.eval_shape(jax.vmap(original(config).init_fn), jnp.zeros((2, 2), jnp.uint32), hparams)
    state, meta = checkpointer.restore(16 * 128, like)
    assert list(meta["failed"]) == ["bad"]
    monkeypatch.undo()
    kept, expected = _params_after(config, [0, 1], [{}, {"learning_rate": 1e-3}], 5, 16)
    for got, full, five in zip(*map(jax.tree.leaves, (state.params, expected, kept)), strict=True):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got[0], full[0], rtol=1e-5, atol=1e-6)  # the good seed went on
        np.testing.assert_allclose(got[1], five[1], rtol=1e-5, atol=1e-6)  # the bad one kept update 5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_envs=3, num_steps=5, num_minibatches=4), "does not divide"),
        (dict(network="gru", num_envs=6, num_minibatches=4), "divisible by num_minibatches"),
        (dict(total_timesteps=10), "less than one batch"),
        (dict(gamma=1.5), "gamma"),
        (dict(env="NoSuchEnv-v0"), "unknown environment 'NoSuchEnv-v0'"),
    ],
)
def test_bad_config_gets_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_train(PPOConfig(**kwargs))


def test_non_vmappable_override_is_refused():
    with pytest.raises(ValueError, match="not vmappable"):
        PPOConfig().hyperparams(num_envs=8)


def test_cli_train_then_eval(tmp_path, capsys):
    from jaxrl.cli import main

    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "ppo",
                "--total-timesteps",
                "2048",
                "--num-seeds",
                "2",
                "--out",
                str(out),
                "--log-every",
                "4",
                "--progress",
                "False",
            ]
        )
        == 0
    )
    assert (out / "metrics.jsonl").exists() and (out / "config.json").exists()
    # The checkpoint is named by environment steps; its policy item reads back with plain orbax.
    import orbax.checkpoint as ocp

    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["2048"]
    policy = ocp.StandardCheckpointer().restore((out / "checkpoints" / "2048" / "policy").absolute())
    meta = json.loads((out / "checkpoints" / "2048" / "run" / "metadata").read_text())
    assert meta["env_steps"] == 2048 and meta["trials"] == ["seed=0", "seed=1"] and meta["failed"] == {}
    assert {x.shape[0] for x in jax.tree.leaves(policy)} == {2}
    assert list(policy) == ["params"]  # flax variables: the parameters only
    assert main(["eval", "--run", str(out), "--episodes", "4", "--greedy", "True"]) == 0
    printed = capsys.readouterr().out
    assert "seed 1: return" in printed and "all: return mean" in printed
    assert main(["eval", "--run", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "dqn"]) == 2


def test_batched_orthogonal_init_equals_per_seed_init_without_batched_qr():
    """Seeds vmapped in one program get the same initial weights as separate runs, and the batched
    initialiser maps the QR over the batch (jaxlib's batched CPU QR kernel was seen to deadlock)."""
    import flax.linen as nn

    from jaxrl.networks import orthogonal

    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    batched = jax.jit(jax.vmap(lambda k: orthogonal(2.0)(k, (8, 5))))(keys)
    for i, key in enumerate(keys):
        np.testing.assert_allclose(batched[i], nn.initializers.orthogonal(2.0)(key, (8, 5)), atol=1e-6)
    jaxpr = str(jax.make_jaxpr(jax.vmap(lambda k: orthogonal(1.0)(k, (4, 4))))(keys))
    assert "while" in jaxpr or "scan" in jaxpr  # mapped, not one batched QR

"""RL-squared on PPO: the hidden state is carried across the inner episodes of a trial and reset between
trials (against a step-by-step loop), the memory ablations reset it at every inner episode, and the
greedy advantages never cross an inner-episode boundary."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.meta.greedy_gae import greedy_gae
from jaxrl.meta.rl2 import RL2Config, greedy_advantages, make_train
from jaxrl.rollout import bootstrap_values, collect_rollout

PULLS, EPISODES = 3, 2  # trials of 6 pulls
NUM_STEPS = 14  # a rollout crosses two trial ends and several inner-episode ends
CONFIG = RL2Config(
    env="StructuredBandit-K5",
    steps_per_episode=PULLS,
    episodes_per_trial=EPISODES,
    num_envs=2,
    num_steps=NUM_STEPS,
    num_minibatches=1,
    update_epochs=1,
    total_timesteps=2 * NUM_STEPS,
    gru_size=8,
    hidden_sizes=(16,),
)


_ROLLOUTS = {}


def trainer_and_rollout(memory):
    """One trainer and one rollout per memory condition, shared by the tests (compiles are costly)."""
    if memory not in _ROLLOUTS:
        objective = "standard" if memory == "trial" else "greedy"
        trainer = make_train(dataclasses.replace(CONFIG, memory=memory, objective=objective))
        _ROLLOUTS[memory] = (trainer, *rollout(trainer))
    return _ROLLOUTS[memory]


def rollout(trainer):
    state = trainer.init(jax.random.key(0))
    run = jax.jit(
        lambda s: collect_rollout(
            jax.random.key(1), s.rollout, s.params, env=trainer.env, env_params=trainer.env_params,
            network=trainer.network, num_steps=NUM_STEPS,
        )[1]
    )
    return state, run(state)


def step_by_step(trainer, params, obs, reset_at):
    """The network applied one step at a time, resetting the hidden state to zeros where ``reset_at``
    ([T] steps, the same for every environment) says, and nowhere else."""
    carry = jnp.zeros((CONFIG.num_envs, CONFIG.gru_size))
    never = jnp.zeros((1, CONFIG.num_envs), bool)
    apply = jax.jit(trainer.network.apply)
    carries, logits = [], []
    for t in range(NUM_STEPS):
        if reset_at[t]:
            carry = jnp.zeros_like(carry)
        obs_t = jax.tree.map(lambda x: x[t : t + 1], obs)
        carry, dist, _ = apply(params, carry, obs_t, never)
        carries.append(carry)
        logits.append(dist.logits[0])
    return np.stack(carries), np.stack(logits)


@pytest.mark.parametrize("memory", ["trial", "episode"])
def test_hidden_state_against_step_loop(memory):
    trainer, state, batch = trainer_and_rollout(memory)
    t = np.arange(NUM_STEPS)
    trial_start = t % (PULLS * EPISODES) == 0
    inner_start = t % PULLS == 0
    reset_at = trial_start if memory == "trial" else inner_start
    per_env = lambda steps: np.broadcast_to(steps[:, None], (NUM_STEPS, CONFIG.num_envs))
    np.testing.assert_array_equal(batch.episode_start, per_env(reset_at))
    np.testing.assert_array_equal(batch.obs["episode_start"][..., 0], per_env(inner_start))
    carries, logits = step_by_step(trainer, state.params, batch.obs, reset_at)
    np.testing.assert_allclose(batch.carry_after, carries, atol=1e-5)
    np.testing.assert_allclose(batch.log_prob, jax.vmap(
        lambda lg, a: jax.nn.log_softmax(lg)[jnp.arange(2), a])(logits, batch.action), atol=1e-5)
    # The loop would tell the difference: resetting at the other set of boundaries changes the state.
    other = inner_start if memory == "trial" else trial_start
    wrong, _ = step_by_step(trainer, state.params, batch.obs, other)
    assert not np.allclose(wrong, carries, atol=1e-3)
    # Memory across inner episodes: the extras carry the last action and reward over the boundary
    # (and are cleared there in the no-memory mode).
    later_starts = inner_start & ~trial_start
    prev_action = np.asarray(batch.obs["prev_action"])[later_starts]
    assert np.all(prev_action.sum(-1) == (1.0 if memory == "trial" else 0.0))


def test_greedy_advantages_cut_at_inner_episode_ends():
    trainer, state, batch = trainer_and_rollout("trial")
    next_values = bootstrap_values(state.params, trainer.network, batch)
    hparams = CONFIG.hyperparams(gamma=0.9, gae_lambda=0.8)
    rewards = batch.reward + jnp.arange(NUM_STEPS, dtype=jnp.float32)[:, None]  # distinct per step
    advantages, returns = greedy_advantages(batch, rewards, next_values, hparams)
    t = np.arange(NUM_STEPS)
    boundary = np.broadcast_to((t % PULLS == PULLS - 1)[:, None], (NUM_STEPS, 2))
    expected = greedy_gae(rewards, batch.value, next_values, boundary, batch.terminated, 0.9, 0.8)
    np.testing.assert_allclose(advantages, expected[0], atol=1e-5)
    np.testing.assert_allclose(returns, expected[1], atol=1e-5)
    # the trials end where the environment says, every 6 pulls
    np.testing.assert_array_equal(batch.terminated, np.broadcast_to((t % 6 == 5)[:, None], (NUM_STEPS, 2)))


def test_switches_are_validated():
    with pytest.raises(ValueError, match="memory"):
        make_train(dataclasses.replace(CONFIG, memory="lstm"))
    with pytest.raises(ValueError, match="objective"):
        make_train(dataclasses.replace(CONFIG, objective="bayes"))
    with pytest.raises(ValueError, match="memory='trial'"):
        make_train(dataclasses.replace(CONFIG, memory="none", objective="standard"))
    with pytest.raises(ValueError, match="steps_per_episode"):
        make_train(RL2Config(env="CartPole-v1", steps_per_episode=3))
    with pytest.raises(ValueError, match="split_episodes"):  # not a trial environment
        make_train(RL2Config(env="CartPole-v1", memory="none"))


def test_config_is_the_ppo_config_of_its_switches():
    ppo = CONFIG.ppo_config()
    assert ppo.network == "gru" and ppo.env_kwargs == {
        "split_episodes": False, "num_episodes": EPISODES, "pulls_per_episode": PULLS,
    }
    assert dataclasses.replace(CONFIG, memory="none").ppo_config().network == "mlp"
    assert dataclasses.replace(CONFIG, memory="episode").ppo_config().env_kwargs["split_episodes"] is True
    assert RL2Config.VMAPPABLE == {"learning_rate", "ent_coef", "vf_coef", "clip_eps", "gamma", "gae_lambda",
                                   "max_grad_norm"}
    assert ppo.learning_rate == CONFIG.learning_rate and ppo.gamma == CONFIG.gamma


def test_greedy_memory_trainer_updates():
    trainer = make_train(CONFIG)
    state, metrics = trainer.update(trainer.init(jax.random.key(0)))
    assert np.isfinite(float(metrics["loss"]))

"""One shared set of conformance checks for every environment.

`tests/test_env_conformance.py` runs `check_environment` on every registered name (with a table of
arguments where a name needs them); a test file can also call it on an environment that is not
registered (a wrapper, an adapter, other arguments)::

    from env_conformance import check_environment

    def test_conformance():
        check_environment("gymnax:CartPole-v1", expected_time_limit=500)

What is checked, from one jitted ``lax.scan`` of ``vmap``-ed steps with random actions (one compile,
run twice with the same key and once with another):

- reset and step observations (and ``info["final_observation"]``) lie in ``observation_space``, leaf by
  leaf with the space's shape and dtype (pytree/dict observations through ``spaces.Dict``); sampled
  actions lie in ``action_space`` with its dtype; reward is float32, ``terminated``/``truncated`` bool;
- ``jit`` and ``vmap``: the unbatched jitted ``reset``/``step`` give what the batched rollout gives;
- auto-reset: where an episode ends, the returned observation and state are those of
  ``reset(split(key)[1])`` (the core's key convention), ``state.time == 0``, and
  ``info["final_observation"]`` is the observation ``step_env`` gave before the reset; elsewhere the
  returned observation is ``final_observation`` and ``state.time`` counts the steps of the episode;
- truncation exactly at the time limit (``params.max_steps_in_episode``, lowered for the check so it is
  quick): ``truncated`` is true on the L-th step of an episode and never before; at least one episode
  must reach it without terminating;
- the same key gives a bitwise-identical trajectory; another key gives a different one.

`check_spaces_under_jit` checks the spaces as gymnax clients use them: built, sampled and queried
inside ``jax.jit`` with concrete and traced parameters, and instances of gymnax's space classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

import envs
from envs import spaces
from envs.wrappers import Wrapper

ActionFn = Callable[[jax.Array, Any], Any]


@dataclass
class ConformanceReport:
    """What the rollout saw, for callers that want to assert more (e.g. that episodes terminate)."""

    steps: int
    episodes_finished: int
    terminations: int
    truncations: int
    time_limit: int


def space_leaves(space: spaces.Space, obs: Any, path: str = "obs") -> list[tuple[str, spaces.Space, Any]]:
    """Pair every leaf space of ``space`` with the matching leaf of ``obs``; fails on a tree mismatch."""
    if isinstance(space, spaces.Dict):
        assert isinstance(obs, Mapping), f"{path}: a Dict space needs a mapping, got {type(obs).__name__}"
        assert set(obs) == set(space.spaces), f"{path}: keys {sorted(obs)} != {sorted(space.spaces)}"
        pairs = []
        for name, sub in space.spaces.items():
            pairs += space_leaves(sub, obs[name], f"{path}[{name!r}]")
        return pairs
    assert hasattr(obs, "shape") and hasattr(obs, "dtype"), f"{path}: expected an array, got {type(obs)}"
    return [(path, space, obs)]


def check_leaves(space: spaces.Space, batched: Any, batch_ndim: int, what: str) -> None:
    """Every leaf has shape ``batch + space.shape`` and the space's dtype."""
    for path, sub, leaf in space_leaves(space, batched, what):
        assert leaf.shape[batch_ndim:] == tuple(sub.shape), (
            f"{path}: shape {leaf.shape[batch_ndim:]} != space shape {sub.shape}"
        )
        assert np.dtype(leaf.dtype) == np.dtype(sub.dtype), (
            f"{path}: dtype {np.dtype(leaf.dtype).name} != space {np.dtype(sub.dtype).name}"
        )


def _where_rows(mask: np.ndarray, tree: Any) -> Any:
    """The rows (leading axes shaped like ``mask``) of every leaf where ``mask`` holds."""
    return jax.tree.map(lambda leaf: np.asarray(leaf)[mask], tree)


def to_host(tree: Any) -> Any:
    """``device_get`` with typed PRNG keys turned into their raw data, so numpy can compare them."""

    def leaf_to_host(leaf: Any) -> Any:
        if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        return np.asarray(jax.device_get(leaf))

    return jax.tree.map(leaf_to_host, tree)


def _assert_trees_equal(a: Any, b: Any, message: str) -> None:
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b, f"{message}: tree structures differ ({tree_a} vs {tree_b})"
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=message)


def make_rollout(
    env: envs.Environment,
    observation_space: spaces.Space,
    action_space: spaces.Space,
    num_envs: int,
    num_steps: int,
    action_fn: ActionFn | None = None,
    references: bool = True,
) -> Callable[[jax.Array, Any], tuple[Any, Any, dict[str, Any]]]:
    """A jitted ``rollout(key, params) -> (first_obs, first_state, trajectory)`` of ``num_steps`` vmapped
    steps, actions from ``action_fn(key, obs)`` or uniform over ``action_space``. The trajectory also holds
    whether each observation and action lies in its space (checked inside the jit). With ``references`` the
    trajectory also holds, per step, what ``step_env`` and ``reset`` give with the keys ``step`` splits
    off, to check the auto-reset against."""
    batched_reset = jax.vmap(env.reset, in_axes=(0, None))
    batched_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def rollout(key: jax.Array, params: Any):
        sample_action = action_fn or (lambda k, _obs: action_space.sample(k))
        key_reset, key_steps = jax.random.split(key)
        obs0, state0 = batched_reset(jax.random.split(key_reset, num_envs), params)

        def body(carry, key_t):
            obs, state = carry
            key_action, key_env = jax.random.split(key_t)
            actions = jax.vmap(sample_action)(jax.random.split(key_action, num_envs), obs)
            env_keys = jax.random.split(key_env, num_envs)
            next_obs, next_state, reward, terminated, truncated, info = batched_step(
                env_keys, state, actions, params
            )
            out = {
                "in_space": {
                    "obs": jax.vmap(observation_space.contains)(next_obs),
                    "final_obs": jax.vmap(observation_space.contains)(info["final_observation"]),
                    "action": jax.vmap(action_space.contains)(actions),
                },
                "action": actions,
                "obs": next_obs,
                "state": next_state,
                "reward": reward,
                "terminated": terminated,
                "truncated": truncated,
                "final_obs": info["final_observation"],
            }
            if references:
                key_step, key_reset_t = jax.vmap(jax.random.split, out_axes=1)(env_keys)
                step_obs, step_state, step_reward, step_terminated, _ = jax.vmap(
                    env.step_env, in_axes=(0, 0, 0, None)
                )(key_step, state, actions, params)
                reset_obs, reset_state = batched_reset(key_reset_t, params)
                out["ref"] = {
                    "step_obs": step_obs,
                    "step_state": step_state,
                    "step_reward": step_reward,
                    "step_terminated": step_terminated,
                    "reset_obs": reset_obs,
                    "reset_state": reset_state,
                }
            return (next_obs, next_state), out

        step_keys = jax.random.split(key_steps, num_steps)
        _, trajectory = jax.lax.scan(body, (obs0, state0), step_keys)
        # The first environment's reset and first step again, unbatched, to compare with the vmapped ones.
        single_obs0, single_state0 = env.reset(jax.random.split(key_reset, num_envs)[0], params)
        first_action = jax.tree.map(lambda x: x[0, 0], trajectory["action"])
        key_env = jax.random.split(step_keys[0])[1]
        single = env.step(jax.random.split(key_env, num_envs)[0], single_state0, first_action, params)
        trajectory["unbatched"] = (single_obs0, single[0], single[2])
        trajectory["reset_obs_in_space"] = jax.vmap(observation_space.contains)(obs0)
        return obs0, state0, trajectory

    return jax.jit(rollout)


def check_environment(
    env_or_name: str | envs.Environment,
    make_kwargs: dict[str, Any] | None = None,
    *,
    params: Any = None,
    time_limit: int | None = None,
    expected_time_limit: int | None = None,
    num_envs: int = 8,
    num_steps: int | None = None,
    action_fn: ActionFn | None = None,
    require_truncation: bool = True,
    seed: int = 0,
) -> ConformanceReport:
    """Run every conformance check on one environment.

    ``env_or_name``: a registered name (built with ``envs.make(name, **make_kwargs)``) or an
    environment (then pass ``params`` or its defaults are used). ``time_limit`` replaces
    ``params.max_steps_in_episode`` for the checks (default: the smaller of it and 12) so that truncation
    is reached quickly; ``expected_time_limit`` asserts the unmodified limit. ``action_fn(key, obs)``
    replaces uniform random actions. ``require_truncation=False`` is for environments whose random
    episodes always terminate before any affordable limit.
    """
    if isinstance(env_or_name, str):
        env, made_params = envs.make(env_or_name, **(make_kwargs or {}))
        params = made_params if params is None else params
    else:
        env = env_or_name
        params = env.default_params if params is None else params
    default_limit = int(params.max_steps_in_episode)
    if expected_time_limit is not None:
        assert default_limit == expected_time_limit, (
            f"time limit {default_limit} != expected {expected_time_limit}"
        )
    limit = int(time_limit) if time_limit is not None else min(default_limit, 12)
    assert limit > 0, "time_limit must be positive"
    params = params.replace(max_steps_in_episode=limit)
    num_steps = num_steps or 3 * limit + 2
    # Wrappers change the state or observation that step_env would give, so only bare environments are
    # checked against step_env and reset.
    references = not isinstance(env, Wrapper)

    obs_space, action_space = env.observation_space(params), env.action_space(params)
    rollout = make_rollout(env, obs_space, action_space, num_envs, num_steps, action_fn, references)
    key = jax.random.key(seed)
    # Compile once, without LLVM's optimisations: these are correctness checks and compiling dominates.
    rollout = rollout.lower(key, params).compile(compiler_options={"xla_backend_optimization_level": 0})
    obs0, state0, traj = to_host(rollout(key, params))

    # Shapes, dtypes and spaces.
    check_leaves(obs_space, obs0, 1, "reset obs")
    check_leaves(obs_space, traj["obs"], 2, "step obs")
    check_leaves(obs_space, traj["final_obs"], 2, "final_observation")
    check_leaves(action_space, traj["action"], 2, "sampled action")
    assert np.all(traj["reset_obs_in_space"]), "a reset observation is outside observation_space"
    assert np.all(traj["in_space"]["obs"]), "a step observation is outside observation_space"
    assert np.all(traj["in_space"]["final_obs"]), "a final_observation is outside observation_space"
    assert np.all(traj["in_space"]["action"]), "a sampled action is outside action_space"
    for name, dtype in (("reward", np.float32), ("terminated", np.bool_), ("truncated", np.bool_)):
        assert traj[name].shape == (num_steps, num_envs), f"{name} shape {traj[name].shape}"
        assert traj[name].dtype == dtype, f"{name} dtype {traj[name].dtype} != {np.dtype(dtype)}"
    assert np.all(np.isfinite(traj["reward"])), "non-finite reward"

    # Truncation at exactly the time limit, and state.time counting the episode's steps.
    terminated, truncated = traj["terminated"], traj["truncated"]
    done = terminated | truncated
    steps_in_episode = np.zeros((num_steps, num_envs), np.int64)  # after this step, before any reset
    count = np.zeros(num_envs, np.int64)
    for t in range(num_steps):
        count = count + 1
        steps_in_episode[t] = count
        count = np.where(done[t], 0, count)
    expected_truncated = steps_in_episode >= limit
    bad = np.argwhere(truncated != expected_truncated)
    assert bad.size == 0, (
        f"truncated should be set exactly on step {limit} of an episode; first mismatch at (t, env) = "
        f"{tuple(bad[0])}: truncated={truncated[tuple(bad[0])]} after {steps_in_episode[tuple(bad[0])]} steps"
    )
    truncations_alone = int(np.sum(truncated & ~terminated))
    if require_truncation:
        assert truncations_alone > 0, (
            f"no episode reached the time limit {limit} without terminating; pass a smaller time_limit"
        )
    time = getattr(traj["state"], "time", None)
    if time is not None:
        np.testing.assert_array_equal(
            np.asarray(time), np.where(done, 0, steps_in_episode), err_msg="state.time after step"
        )
        np.testing.assert_array_equal(np.asarray(state0.time), 0, err_msg="state.time after reset")

    # Auto-reset and final_observation, against step_env and reset with the keys step uses.
    if references:
        ref = traj["ref"]
        _assert_trees_equal(traj["final_obs"], ref["step_obs"], "final_observation != step_env's observation")
        np.testing.assert_array_equal(traj["reward"], ref["step_reward"], err_msg="reward != step_env's")
        np.testing.assert_array_equal(terminated, ref["step_terminated"], err_msg="terminated != step_env's")
        _assert_trees_equal(
            _where_rows(done, traj["obs"]),
            _where_rows(done, ref["reset_obs"]),
            "after an episode ends, the observation must be reset(split(key)[1])'s",
        )
        _assert_trees_equal(
            _where_rows(done, traj["state"]),
            _where_rows(done, ref["reset_state"]),
            "after an episode ends, the state must be reset(split(key)[1])'s",
        )
        _assert_trees_equal(
            _where_rows(~done, traj["state"]),
            _where_rows(~done, ref["step_state"]),
            "while an episode goes on, the state must be step_env's",
        )
    _assert_trees_equal(
        _where_rows(~done, traj["obs"]),
        _where_rows(~done, traj["final_obs"]),
        "while an episode goes on, the observation must equal info['final_observation']",
    )

    # vmap: the unbatched functions (traced in the same jit) agree with the batched rollout.
    single_obs0, single_obs1, single_reward1 = traj["unbatched"]
    _assert_close(single_obs0, jax.tree.map(lambda x: x[0], obs0), "unbatched vs vmapped reset")
    _assert_close(single_obs1, jax.tree.map(lambda x: x[0, 0], traj["obs"]), "unbatched vs vmapped step obs")
    _assert_close(single_reward1, traj["reward"][0, 0], "unbatched vs vmapped step reward")

    # Determinism: same key, same trajectory (bitwise); another key, another trajectory.
    _assert_trees_equal(to_host(rollout(key, params)), (obs0, state0, traj), "same key, different run")
    other = to_host(rollout(jax.random.key(seed + 1), params))
    first = jax.tree.leaves((obs0, state0, traj))
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(other), first, strict=True)), (
        "a different key gave an identical trajectory: are the keys used?"
    )

    return ConformanceReport(
        steps=num_steps * num_envs,
        episodes_finished=int(done.sum()),
        terminations=int(terminated.sum()),
        truncations=int(truncated.sum()),
        time_limit=limit,
    )


def check_spaces_under_jit(env_or_name: str | envs.Environment, params: Any = None, seed: int = 0) -> None:
    """The spaces work inside ``jax.jit`` as gymnax clients use them (PureJaxRL calls
    ``env.observation_space(params).shape`` and samples actions inside its jitted ``train``).

    With ``params`` both closed over (constants) and passed as a jit argument (traced): the spaces are
    gymnax's classes (``gymnax.environments.spaces``), their shapes and dtypes inside the jit are those
    outside it, a sample lies in its space (checked by ``contains`` inside the jit), and
    ``jnp.zeros(space.shape)`` (PureJaxRL's network init) works for a non-dict observation space. (That
    observations lie in the space is `check_environment`'s part; this check compiles no reset or step,
    so it is cheap enough to run on every registered environment.)
    """
    from gymnax.environments import spaces as gymnax_spaces

    if isinstance(env_or_name, str):
        env, made_params = envs.make(env_or_name)
        params = made_params if params is None else params
    else:
        env = env_or_name
        params = env.default_params if params is None else params
    outside = (env.observation_space(params), env.action_space(params))

    def signature(space: spaces.Space) -> Any:
        assert isinstance(space, gymnax_spaces.Space), f"{space!r} is not a gymnax space"
        if isinstance(space, spaces.Dict):
            return {name: signature(sub) for name, sub in space.spaces.items()}
        assert isinstance(space, gymnax_spaces.Box | gymnax_spaces.Discrete), f"{space!r}: not a gymnax Box/Discrete"
        return (type(space).__name__, tuple(space.shape), np.dtype(space.dtype).name)

    expected = tuple(signature(space) for space in outside)
    seen: list[Any] = []

    def probe(p: Any, key: jax.Array) -> dict[str, Any]:
        obs_space, action_space = env.observation_space(p), env.action_space(p)
        seen.append(tuple(signature(space) for space in (obs_space, action_space)))
        k_obs, k_action = jax.random.split(key)
        obs_sample, action = obs_space.sample(k_obs), action_space.sample(k_action)
        out = {
            "obs_sample": obs_sample,
            "action": action,
            "obs_sample_in_space": obs_space.contains(obs_sample),
            "action_in_space": action_space.contains(action),
        }
        if not isinstance(obs_space, spaces.Dict):
            out["zeros"] = jnp.zeros(obs_space.shape)
        return out

    # One compile for both cases: ``params`` closed over (constants) and passed in (traced).
    both = jax.jit(lambda p, k: {"closed over": probe(params, k), "traced": probe(p, k)})
    results = both.lower(params, jax.random.key(seed)).compile(
        compiler_options={"xla_backend_optimization_level": 0}
    )(params, jax.random.key(seed))
    assert seen == [expected, expected], f"spaces inside jit {seen} != outside {expected}"
    for how, out in results.items():
        for name in ("obs_sample_in_space", "action_in_space"):
            assert bool(out[name]), f"params {how}: {name} is False"
        check_leaves(outside[0], out["obs_sample"], 0, f"params {how}: sampled obs")
        check_leaves(outside[1], out["action"], 0, f"params {how}: sampled action")
        if "zeros" in out:
            assert out["zeros"].shape == tuple(outside[0].shape)


def _assert_close(a: Any, b: Any, message: str) -> None:
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b, f"{message}: tree structures differ"
    for x, y in zip(leaves_a, leaves_b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype, f"{message}: dtype {x.dtype} != {y.dtype}"
        if np.issubdtype(x.dtype, np.floating):
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6, err_msg=message)
        else:
            np.testing.assert_array_equal(x, y, err_msg=message)


# --------------------------------------------------------------------------------------------------
# A tiny environment with a dict observation, for testing the tools that handle pytree observations
# (this suite, FlattenObservation, the gymnasium adapter).


@struct.dataclass
class DictToyState:
    position: jax.Array
    time: jax.Array


@struct.dataclass
class DictToyParams:
    size: int = struct.field(pytree_node=False, default=5)
    max_steps_in_episode: int = 20


class DictToy(envs.Environment):
    """A walk on ``0..size-1``: action 0 goes left, 1 right; reaching the right end terminates with
    reward 1. The observation is ``{"position": Discrete(size) int32, "one_hot": Box(0, 1, (size,))}``."""

    @property
    def default_params(self) -> DictToyParams:
        return DictToyParams()

    def reset_env(self, key, params):
        position = jax.random.randint(key, (), 0, params.size - 1)
        state = DictToyState(position, jnp.int32(0))
        return self.get_obs(state, params), state

    def step_env(self, key, state, action, params):
        position = jnp.clip(state.position + 2 * action - 1, 0, params.size - 1)
        terminated = position == params.size - 1
        state = DictToyState(position, state.time + 1)
        return self.get_obs(state, params), state, terminated.astype(jnp.float32), terminated, {}

    def get_obs(self, state, params):
        one_hot = jax.nn.one_hot(state.position, params.size, dtype=jnp.float32)
        return {"position": state.position.astype(jnp.int32), "one_hot": one_hot}

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params=None):
        params = params or self.default_params
        return spaces.Dict(
            {"position": spaces.Discrete(params.size), "one_hot": spaces.Box(0.0, 1.0, (params.size,))}
        )

"""The real MiniHack as a batched environment with our API, stepped on the host.

    env, params = envs.make("minihack:MiniHack-MultiRoom-N6-Lava-v0", num_envs=8)
    obs, state = env.reset(key, params)                 # every leaf has a leading axis of 8
    obs, state, reward, terminated, truncated, info = env.step(key, state, actions, params)

``reset`` and ``step`` call ``jax.experimental.io_callback`` (ordered) into a batch of gymnasium
MiniHack environments held by the adapter, so they can be jitted and run inside ``lax.scan`` like our
pure environments, and the PPO trainer uses the adapter unchanged. The JAX-side state is only the step
count of each environment's running episode; the game state lives on the host. Consequences:

- The adapter is already batched: it has ``num_envs`` and ``is_batched = True`` and every output has a
  leading axis of ``num_envs``. Do not wrap it in `envs.VecEnv` and do not ``jax.vmap`` it (a
  ``ValueError`` says so when the action does not have shape ``(num_envs,)``).
- ``step`` is not a pure function of its arguments: stepping the same ``state`` twice advances the
  games twice. Everything is reproducible, though: every episode's NetHack seeds (and the MiniGrid
  layout seed of the MultiRoom tasks) are drawn from the JAX key given to ``reset``/``step``.

Observations (keys chosen with ``observation_keys``):

- ``glyphs`` (21, 79) and ``glyphs_crop`` (9, 9): MiniHack's glyph ids, as int32.
- ``position`` (2,): ``(x, y)`` from the bottom-line statistics (``blstats[0]``, ``blstats[1]``).
- ``message`` (): a stable id of the message text, `message_id` (0 for no message).
- ``message_chars`` (256,): the raw message bytes; ``blstats`` (27,) and any other MiniHack key
  (``chars``, ``colors``, ``chars_crop``, ``inv_glyphs``, ...) are passed through, integers as int32.

Episode ends follow our convention, not NLE's. NLE ends a time-limited episode by quitting the game,
reporting ``terminated=True, truncated=False`` with ``end_status == ABORTED`` and a blank observation;
here the limit (``params.max_steps_in_episode``, MiniHack's per-task default unless
``max_episode_steps`` is given) is counted by the adapter, the game is not quit, and the step reports
``truncated=True`` with the real last observation in ``info["final_observation"]``. ``terminated``
is NLE's own end of the game (death or task success); ``info["success"]`` is
``end_status == TASK_SUCCESSFUL``. A time-limit end pays no ``reward_lose`` (0 in every task here).

Contexts: ``num_contexts=-1`` draws fresh seeds for every episode; ``num_contexts=N`` draws each
episode's level seed from the N seeds ``seed, ..., seed + N - 1``, seeding NetHack as MiniHack's own
``seeds=`` option does (core = disp = level seed, no reseeding), which also fixes the level layout.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
import warnings
import weakref
import zlib
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.custom_batching import custom_vmap
from jax.experimental import io_callback

from envs import spaces
from envs.core import Environment
from envs.registry import register_prefix

INSTALL_HINT = "pip install 'jaxrl-research[minihack]'"

MESSAGE_ID_RANGE = 2**20
DEFAULT_OBSERVATION_KEYS = ("glyphs", "glyphs_crop", "position", "message")
# Keys computed by the adapter; every other key is MiniHack's own.
DERIVED_KEYS = ("position", "message", "message_chars")

# The 16 tasks of Henaff et al. (2023), see shared/papers/bonuses.md.
STUDY_TASKS = tuple(
    f"MiniHack-{name}-v0"
    for name in (
        "Levitate-Potion-Restricted",
        "Levitate-Boots-Restricted",
        "Freeze-Horn-Restricted",
        "Freeze-Wand-Restricted",
        "Freeze-Random-Restricted",
        "LavaCross-Restricted",
        "WoD-Hard-Restricted",
        "MultiRoom-N4-Locked",
        "MultiRoom-N6-Lava",
        "MultiRoom-N6-Lava-OpenDoor",
        "MultiRoom-N6-LavaMonsters",
        "MultiRoom-N10-OpenDoor",
        "MultiRoom-N10-Lava-OpenDoor",
        "LavaCrossingS19N13",
        "LavaCrossingS19N17",
        "Labyrinth-Big",
    )
)


def message_id(message: bytes | str | np.ndarray) -> int:
    """A stable id in ``[0, MESSAGE_ID_RANGE)`` of a message text; 0 only for the empty message.

    ``message`` is the text, its bytes, or MiniHack's NUL-padded ``message`` array. The id is CRC-32
    of the bytes before the first NUL, so it is the same in every process and run (Python's ``hash``
    of a string is not)."""
    if isinstance(message, np.ndarray):
        message = message.tobytes()
    elif isinstance(message, str):
        message = message.encode("utf-8")
    text = message.split(b"\0", 1)[0]
    if not text:
        return 0
    return 1 + zlib.crc32(text) % (MESSAGE_ID_RANGE - 1)


def require_minihack() -> Any:
    """Import MiniHack (which registers its gymnasium ids) or say how to install it."""
    try:
        import minihack  # noqa: F401
        import nle  # noqa: F401
    except ImportError as err:
        raise ImportError(f"the MiniHack adapter needs the minihack package: {INSTALL_HINT}") from err
    return minihack


# --------------------------------------------------------------------------------------------------
# Host side: gymnasium MiniHack environments.


def _derive_seeds(base_seed: int, bits: np.ndarray, context: int, num_contexts: int) -> tuple[int, int, int]:
    """(core, disp, layout) seeds for one episode from the JAX-drawn bits."""
    if num_contexts > 0:
        level_seed = base_seed + int(context)
        return level_seed, level_seed, level_seed
    state = np.random.SeedSequence([base_seed, *(int(b) for b in bits)]).generate_state(3, np.uint64)
    core, disp, layout = (int(s >> np.uint64(1)) for s in state)  # NetHack takes signed 64-bit longs
    return core, disp, layout


@contextlib.contextmanager
def _minigrid_size_compat() -> Iterator[None]:
    """Let MiniHack build MiniGrid levels that are sized by ``size`` (the LavaCrossing tasks).

    MiniHack makes every MiniGrid level with ``gym.make(name, width=75, height=18)``; MiniGrid >= 3
    refuses ``width``/``height`` next to ``size`` (an assertion), so MiniHack 1.0.2 cannot create
    ``MiniHack-LavaCrossingS19N13-v0`` at all. While a MiniHack environment is constructed, its module
    sees a ``gym`` whose ``make`` drops ``width``/``height`` for such levels; the level is then the
    ``size`` x ``size`` grid the task names, which fits NetHack's map either way."""
    import gymnasium as gym
    from minihack.envs import minigrid as minihack_minigrid

    class _SizeAwareGym:
        def __getattr__(self, name: str) -> Any:
            return getattr(gym, name)

        @staticmethod
        def make(env_id: str, **kwargs: Any) -> Any:
            if "size" in gym.spec(env_id).kwargs:
                kwargs.pop("width", None), kwargs.pop("height", None)
            return gym.make(env_id, **kwargs)

    original = minihack_minigrid.gym
    minihack_minigrid.gym = _SizeAwareGym()
    try:
        yield
    finally:
        minihack_minigrid.gym = original


class _Slot:
    """One gymnasium MiniHack environment with our seeding, time limit and observation keys."""

    def __init__(self, env_id: str, minihack_keys: Sequence[str], env_kwargs: dict[str, Any]):
        import gymnasium as gym

        require_minihack()
        with warnings.catch_warnings(), _minigrid_size_compat():
            # MiniHack's MultiRoom tasks build MiniGrid ids that gymnasium calls out of date.
            warnings.simplefilter("ignore")
            self.env = gym.make(env_id, observation_keys=tuple(minihack_keys), **env_kwargs)
        unwrapped = self.env.unwrapped
        self.default_time_limit = int(unwrapped._max_episode_steps)
        # The adapter counts the time limit itself; NLE's own limit quits the game and reports a
        # termination with a blank observation, so it is moved out of reach.
        unwrapped._max_episode_steps = sys.maxsize
        self.task_successful = int(unwrapped.StepStatus.TASK_SUCCESSFUL)
        # MiniGrid-based tasks draw their layout from the MiniGrid env's generator, which MiniHack's
        # ``seed()`` cannot reach with MiniGrid >= 3 (it calls the removed ``Env.seed``).
        self.layout_env = getattr(unwrapped, "minigrid_env", None)

    def reset(self, core: int, disp: int, layout: int) -> dict[str, np.ndarray]:
        from gymnasium.utils import seeding

        unwrapped = self.env.unwrapped
        unwrapped.nethack.set_initial_seeds(core, disp, False)  # what NLE's seed() does, no reseeding
        if self.layout_env is not None:
            self.layout_env.unwrapped.np_random, _ = seeding.np_random(layout)
        raw, _ = self.env.reset()
        return raw

    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, bool]:
        raw, reward, terminated, nle_truncated, info = self.env.step(action)
        success = int(info["end_status"]) == self.task_successful
        return raw, float(reward), bool(terminated), bool(nle_truncated), success

    def close(self) -> None:
        self.env.close()


class _SlotGroup:
    """A list of `_Slot` stepped in a loop, writing into stacked arrays (in this process or a worker)."""

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        minihack_keys: Sequence[str],
        obs_specs: dict[str, tuple[tuple[int, ...], Any]],
        env_kwargs: dict[str, Any],
        base_seed: int,
        num_contexts: int,
        first_slot: _Slot | None = None,
    ):
        self.slots = [first_slot] if first_slot is not None else []
        self.slots += [_Slot(env_id, minihack_keys, env_kwargs) for _ in range(num_envs - len(self.slots))]
        self.obs_specs = obs_specs
        self.base_seed = base_seed
        self.num_contexts = num_contexts
        self.num_actions = int(self.slots[0].env.action_space.n)

    def _empty_obs(self) -> dict[str, np.ndarray]:
        n = len(self.slots)
        return {key: np.zeros((n, *shape), dtype) for key, (shape, dtype) in self.obs_specs.items()}

    def _write(self, out: dict[str, np.ndarray], i: int, raw: dict[str, np.ndarray]) -> None:
        # NLE reuses its observation buffers between steps, so everything is copied here.
        for key, buffer in out.items():
            if key == "position":
                buffer[i] = raw["blstats"][:2]
            elif key == "message":
                buffer[i] = message_id(raw["message"])
            elif key == "message_chars":
                buffer[i] = raw["message"]
            else:
                buffer[i] = raw[key]

    def _reset_slot(self, i: int, bits: np.ndarray, context: int) -> dict[str, np.ndarray]:
        return self.slots[i].reset(*_derive_seeds(self.base_seed, bits, context, self.num_contexts))

    def reset(self, bits: np.ndarray, contexts: np.ndarray) -> dict[str, np.ndarray]:
        obs = self._empty_obs()
        for i in range(len(self.slots)):
            self._write(obs, i, self._reset_slot(i, bits[i], contexts[i]))
        return obs

    def step(
        self, actions: np.ndarray, truncate: np.ndarray, bits: np.ndarray, contexts: np.ndarray
    ) -> tuple[Any, ...]:
        n = len(self.slots)
        if np.any((actions < 0) | (actions >= self.num_actions)):
            raise ValueError(f"MiniHack actions must lie in [0, {self.num_actions}), got {actions.tolist()}")
        obs, final_obs = self._empty_obs(), self._empty_obs()
        reward = np.zeros(n, np.float32)
        terminated = np.zeros(n, bool)
        truncated = np.asarray(truncate, bool).copy()
        success = np.zeros(n, bool)
        for i, slot in enumerate(self.slots):
            raw, reward[i], terminated[i], nle_truncated, success[i] = slot.step(int(actions[i]))
            truncated[i] |= nle_truncated  # unreachable: NLE's limit was moved out of reach
            self._write(final_obs, i, raw)
            if terminated[i] or truncated[i]:
                raw = self._reset_slot(i, bits[i], contexts[i])
            self._write(obs, i, raw)
        return obs, final_obs, reward, terminated, truncated, success

    def close(self) -> None:
        for slot in self.slots:
            slot.close()


def _worker_main(conn: Any, group_args: tuple[Any, ...]) -> None:
    """Serve ``reset``/``step``/``close`` requests for one `_SlotGroup` in a worker process."""
    try:
        group = _SlotGroup(*group_args)
        conn.send(("ok", None))
    except BaseException as err:  # report construction errors to the parent
        conn.send(("error", repr(err)))
        return
    while True:
        command, payload = conn.recv()
        if command == "close":
            group.close()
            conn.close()
            return
        try:
            conn.send(("ok", getattr(group, command)(*payload)))
        except Exception as err:
            conn.send(("error", repr(err)))


class _WorkerPool:
    """The environments split over worker processes, each running a `_SlotGroup`."""

    def __init__(self, num_workers: int, num_envs: int, group_args: tuple[Any, ...]):
        context = multiprocessing.get_context("spawn")  # fork is unsafe once JAX has started threads
        bounds = np.linspace(0, num_envs, num_workers + 1).astype(int)
        self.splits = list(zip(bounds[:-1], bounds[1:], strict=True))
        self.conns, self.processes = [], []
        for start, stop in self.splits:
            parent, child = context.Pipe()
            args = (group_args[0], int(stop - start), *group_args[2:])
            process = context.Process(target=_worker_main, args=(child, args), daemon=True)
            process.start()
            self.conns.append(parent)
            self.processes.append(process)
        self._receive_all()

    def _receive_all(self) -> list[Any]:
        replies = [conn.recv() for conn in self.conns]  # every reply, so the pipes stay in step
        errors = [value for status, value in replies if status == "error"]
        if errors:
            raise RuntimeError(f"MiniHack worker failed: {errors[0]}")
        return [value for _, value in replies]

    def call(self, command: str, *batched: np.ndarray) -> Any:
        for conn, (start, stop) in zip(self.conns, self.splits, strict=True):
            conn.send((command, tuple(a[start:stop] for a in batched)))
        parts = self._receive_all()
        return jax.tree.map(lambda *xs: np.concatenate(xs), *parts)

    def close(self) -> None:
        for conn, process in zip(self.conns, self.processes, strict=True):
            try:
                conn.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()


class _HostBatch:
    """``num_envs`` MiniHack environments, in this process or split over worker processes."""

    def __init__(self, num_workers: int, num_envs: int, group_args: tuple[Any, ...], first_slot: _Slot):
        self.num_envs = num_envs
        if num_workers == 0:
            self._group: _SlotGroup | None = _SlotGroup(*group_args, first_slot=first_slot)
            self._pool: _WorkerPool | None = None
        else:
            first_slot.close()
            self._group, self._pool = None, _WorkerPool(num_workers, num_envs, group_args)
        self.has_reset = False

    def reset(self, bits: np.ndarray, contexts: np.ndarray) -> dict[str, np.ndarray]:
        bits, contexts = np.asarray(bits), np.asarray(contexts)
        obs = self._group.reset(bits, contexts) if self._group else self._pool.call("reset", bits, contexts)
        self.has_reset = True
        return obs

    def step(self, actions: Any, truncate: Any, bits: Any, contexts: Any) -> tuple[Any, ...]:
        if not self.has_reset:
            raise RuntimeError("the MiniHack adapter was stepped before reset: call env.reset first")
        arrays = (np.asarray(actions), np.asarray(truncate), np.asarray(bits), np.asarray(contexts))
        return self._group.step(*arrays) if self._group else self._pool.call("step", *arrays)

    def close(self) -> None:
        if self._group is not None:
            self._group.close()
        if self._pool is not None:
            self._pool.close()


# --------------------------------------------------------------------------------------------------
# JAX side.


@struct.dataclass
class MiniHackParams:
    max_steps_in_episode: int = 200


@struct.dataclass
class MiniHackState:
    time: jax.Array  # [num_envs] steps taken in each environment's running episode


def _jax_dtype(dtype: Any) -> Any:
    dtype = np.dtype(dtype)
    if dtype == np.uint8 or dtype == np.bool_:
        return dtype
    if np.issubdtype(dtype, np.integer):
        return np.dtype(np.int32)
    return np.dtype(np.float32)


def _host_call(callback: Any, result_shapes: Any, num_envs: int) -> Any:
    """``io_callback(callback, ...)`` in order with the program's other effects; ``jax.vmap`` of it
    raises a clear error (the environments are already batched and their state is on the host)."""

    @custom_vmap
    def call(*args: jax.Array) -> Any:
        return io_callback(callback, result_shapes, *args, ordered=True)

    @call.def_vmap
    def _refuse_vmap(axis_size: int, in_batched: Any, *args: jax.Array) -> Any:
        raise ValueError(
            f"the MiniHack adapter is already batched (num_envs={num_envs}) and steps host environments: "
            "it cannot be vmapped or wrapped in VecEnv"
        )

    return call


class MiniHackAdapter(Environment[MiniHackState, MiniHackParams]):
    """A batch of real MiniHack environments behind our API (see the module docstring)."""

    is_batched = True

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        *,
        seed: int = 0,
        observation_keys: Sequence[str] = DEFAULT_OBSERVATION_KEYS,
        max_episode_steps: int | None = None,
        num_contexts: int = -1,
        num_workers: int = 0,
        env_kwargs: dict[str, Any] | None = None,
    ):
        import gymnasium as gym

        require_minihack()
        self.env_id = env_id
        self.num_envs = int(num_envs)
        self.num_contexts = int(num_contexts)
        self.observation_keys = tuple(observation_keys)
        env_kwargs = dict(env_kwargs or {})
        minihack_keys = ["glyphs", "blstats", "message"]
        minihack_keys += [k for k in self.observation_keys if k not in [*DERIVED_KEYS, *minihack_keys]]

        # The first environment gives the spaces and the task's default time limit.
        probe = _Slot(env_id, minihack_keys, env_kwargs)
        raw_space: gym.spaces.Dict = probe.env.observation_space
        self.time_limit = probe.default_time_limit if max_episode_steps is None else int(max_episode_steps)
        self._num_actions = int(probe.env.action_space.n)

        self._spaces: dict[str, spaces.Space] = {}
        obs_specs: dict[str, tuple[tuple[int, ...], Any]] = {}
        for key in self.observation_keys:
            if key == "position":
                rows, cols = raw_space["glyphs"].shape
                self._spaces[key] = spaces.Box(0, np.array([cols - 1, rows - 1]), (2,), jnp.int32)
            elif key == "message":
                self._spaces[key] = spaces.Box(0, MESSAGE_ID_RANGE - 1, (), jnp.int32)  # as the gridworlds
            elif key == "message_chars":
                self._spaces[key] = spaces.Box(0, 255, raw_space["message"].shape, jnp.uint8)
            else:
                box = raw_space[key]
                dtype = _jax_dtype(box.dtype)
                info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else np.finfo(dtype)
                low = np.clip(box.low, info.min, info.max).astype(dtype)
                high = np.clip(box.high, info.min, info.max).astype(dtype)
                self._spaces[key] = spaces.Box(low, high, box.shape, dtype)
            space = self._spaces[key]
            obs_specs[key] = (tuple(space.shape), np.dtype(space.dtype))

        group_args = (
            env_id, self.num_envs, minihack_keys, obs_specs, env_kwargs, int(seed), self.num_contexts
        )
        self._host = _HostBatch(int(num_workers), self.num_envs, group_args, first_slot=probe)
        self._finalizer = weakref.finalize(self, self._host.close)

        n = self.num_envs
        self._obs_shapes = {
            key: jax.ShapeDtypeStruct((n, *shape), dtype) for key, (shape, dtype) in obs_specs.items()
        }
        step_shapes = (
            self._obs_shapes,
            self._obs_shapes,
            jax.ShapeDtypeStruct((n,), np.float32),
            jax.ShapeDtypeStruct((n,), np.bool_),
            jax.ShapeDtypeStruct((n,), np.bool_),
            jax.ShapeDtypeStruct((n,), np.bool_),
        )
        self._host_reset = _host_call(self._host.reset, self._obs_shapes, n)
        self._host_step = _host_call(self._host.step, step_shapes, n)

    @property
    def default_params(self) -> MiniHackParams:
        return MiniHackParams(max_steps_in_episode=self.time_limit)

    def _episode_seeds(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Per environment: random bits that seed its next episode, and its context index."""
        key_bits, key_context = jax.random.split(key)
        bits = jax.random.bits(key_bits, (self.num_envs, 2), jnp.uint32)
        contexts = jax.random.randint(key_context, (self.num_envs,), 0, max(self.num_contexts, 1))
        return bits, contexts

    @partial(jax.jit, static_argnums=(0,))
    def reset(self, key: jax.Array, params: MiniHackParams | None = None) -> tuple[Any, MiniHackState]:
        bits, contexts = self._episode_seeds(key)
        obs = self._host_reset(bits, contexts)
        return obs, MiniHackState(time=jnp.zeros((self.num_envs,), jnp.int32))

    @partial(jax.jit, static_argnums=(0,))
    def step(
        self, key: jax.Array, state: MiniHackState, action: Any, params: MiniHackParams | None = None
    ) -> tuple[Any, MiniHackState, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        if params is None:
            params = self.default_params
        action = jnp.asarray(action)
        if action.shape != (self.num_envs,):
            raise ValueError(
                f"the MiniHack adapter is already batched (num_envs={self.num_envs}): the action must "
                f"have shape ({self.num_envs},), got {action.shape}. Do not wrap it in VecEnv or vmap it."
            )
        time = state.time + 1
        truncate = time >= params.max_steps_in_episode
        bits, contexts = self._episode_seeds(key)
        obs, final_obs, reward, terminated, truncated, success = self._host_step(
            action.astype(jnp.int32), truncate, bits, contexts
        )
        done = terminated | truncated
        state = MiniHackState(time=jnp.where(done, 0, time))
        info = {"final_observation": final_obs, "success": success}
        return obs, state, reward, terminated, truncated, info

    def action_space(self, params: MiniHackParams | None = None) -> spaces.Discrete:
        """The action space of one environment (actions are passed with a leading batch axis)."""
        return spaces.Discrete(self._num_actions)

    def observation_space(self, params: MiniHackParams | None = None) -> spaces.Dict:
        """The observation space of one environment (observations come with a leading batch axis)."""
        return spaces.Dict(self._spaces)

    def close(self) -> None:
        """Close the host environments (also done when the adapter is garbage-collected)."""
        self._finalizer()

    @property
    def name(self) -> str:
        return self.env_id


def make_minihack(
    env_id: str,
    num_envs: int = 1,
    seed: int = 0,
    observation_keys: Sequence[str] = DEFAULT_OBSERVATION_KEYS,
    max_episode_steps: int | None = None,
    num_contexts: int = -1,
    num_workers: int = 0,
    env_kwargs: dict[str, Any] | None = None,
) -> tuple[MiniHackAdapter, MiniHackParams]:
    """``envs.make("minihack:<gymnasium id>", ...)``.

    ``max_episode_steps`` defaults to the task's own limit; ``num_contexts`` as in the module
    docstring; ``num_workers > 0`` steps the environments in that many processes; ``env_kwargs`` are
    passed to MiniHack's constructor (``observation_keys`` and the time limit are the adapter's)."""
    require_minihack()
    import gymnasium as gym

    if env_id not in gym.registry:
        import difflib

        known = [name for name in gym.registry if name.startswith("MiniHack-")]
        close = difflib.get_close_matches(env_id, known, n=3)
        raise ValueError(f"unknown MiniHack id {env_id!r}." + (f" Did you mean {close}?" if close else ""))
    if int(num_envs) <= 0:
        raise ValueError(f"num_envs must be positive, got {num_envs}")
    if max_episode_steps is not None and int(max_episode_steps) <= 0:
        raise ValueError(f"max_episode_steps must be positive or None, got {max_episode_steps}")
    if int(num_contexts) == 0 or int(num_contexts) < -1:
        raise ValueError(
            f"num_contexts must be -1 (a fresh level every episode) or positive, got {num_contexts}"
        )
    if not 0 <= int(num_workers) <= int(num_envs):
        raise ValueError(f"num_workers must lie in [0, num_envs={num_envs}], got {num_workers}")
    if isinstance(observation_keys, str) or not observation_keys:
        raise ValueError(f"observation_keys must be a non-empty sequence of names, got {observation_keys!r}")
    if len(set(observation_keys)) != len(observation_keys):
        raise ValueError(f"observation_keys has duplicates: {list(observation_keys)}")
    from minihack.base import MINIHACK_SPACE_FUNCS
    from nle.nethack import OBSERVATION_DESC

    supported = set(DERIVED_KEYS) | set(MINIHACK_SPACE_FUNCS) | set(OBSERVATION_DESC)
    unknown = sorted(set(observation_keys) - supported)
    if unknown:
        raise ValueError(f"observation_keys {unknown} are not supported; choose from {sorted(supported)}")
    reserved = {"observation_keys", "max_episode_steps", "seeds"} & set(env_kwargs or {})
    if reserved:
        raise ValueError(
            f"env_kwargs must not set {sorted(reserved)}: use the adapter's observation_keys, "
            "max_episode_steps and num_contexts/seed arguments"
        )
    env = MiniHackAdapter(
        env_id,
        int(num_envs),
        seed=int(seed),
        observation_keys=observation_keys,
        max_episode_steps=max_episode_steps,
        num_contexts=int(num_contexts),
        num_workers=int(num_workers),
        env_kwargs=env_kwargs,
    )
    return env, env.default_params


register_prefix("minihack", make_minihack)

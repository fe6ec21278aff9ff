"""The rules of the gridworld: the task, state and params types and `GridEnv`, the engine shared by the
MiniHack-like navigation tasks.

A task supplies a level generator ``generate(key) -> (grid, start)`` (a fixed-shape ``uint8[H, W]`` tile map
and the agent's ``int32[2]`` start ``(x, y)``) and its action set; the engine does the rest: contexts (which
level seed a reset draws), the rules of movement, doors, keys and lava, the observation, and the reward.
Tile, glyph, command and message ids are in `envs.gridworld.tables`; sight and memory in
`envs.gridworld.sight`; the level generators' random numbers in `envs.gridworld.hash_rng`.

Actions are indices into the task's action set, a tuple of the commands of `envs.gridworld.tables`;
MiniHack's navigation tasks use the 8 compass moves in its order (N, E, S, W, NE, SE, SW, NW) and add OPEN,
KICK, SEARCH, PICKUP or APPLY where the MiniHack task does. OPEN and KICK ask "In what direction?" and act
on the next action, which must be a move (as in NetHack: two steps); any other answer cancels ("Never
mind.").

Rules that differ from NetHack/MiniHack (documented here once for all tasks):

- Opening a door and kicking a locked door succeed with probability ``params.open_success_prob`` and
  ``params.kick_success_prob`` (default 1.0; in NetHack both depend on the character's attributes,
  and a failed attempt prints "The door is stuck." / "WHAMM!!"). A kicked door always breaks into an
  empty doorway (NetHack sometimes shatters it, which looks the same).
- Kicking walls costs no hit points; there are no monsters, traps, hunger or items other than the key.
- APPLY with the key in the inventory unlocks and opens the first locked or closed door among the 8
  neighbours (N, E, S, W, NE, SE, SW, NW order) in one step. MiniHack's KeyRoom wrapper does the same
  in one agent step through several NetHack steps (apply, the key, the direction, "y": "You succeed in
  unlocking the door."; then moves into the door until "The door opens."), and then passes the agent's
  APPLY on to NetHack, whose "What do you want to use or apply? [f or ?*]" prompt NLE declines with
  ESC: the message of the step is "Never mind." (``MSG_NEVER_MIND``), as here. That step takes game time
  (not "frozen"). With the key and no door next to the agent the step is the same prompt, declined:
  "Never mind.", frozen. ``MSG_UNLOCK`` stays in the table but is never the message of a step.
- Bumping into walls, prompts and other actions that take no game time are "frozen" steps; MiniHack
  penalises them with ``penalty_step=-0.01``, here ``params.frozen_step_penalty`` (default 0.0).
- Messages are integer ids (table ``MESSAGES``), not text; only the last event of a step is kept.
- Sight: without it (``sight=False``, the default of every factory) the whole map is shown from the
  start, except in dark tasks (MazeWalk, KeyRoom-Dark), which show the cells the agent has been next to;
  with ``sight=True``, NetHack-like sight and memory (`envs.gridworld.sight`).

Speed: a step touches at most one map cell and builds the observation from the map plus the agent. A plain
auto-reset would run the level generator for every environment at every step under ``vmap``; `GridEnv` sets
the core's ``sparse_reset`` flag, so levels are generated only for the environments whose episode ended
(`envs.core.reset_where`, which writes them into the stepped batch), with the same results. The observation
is one elementwise copy of the map (the agent drawn by comparing cell indices, not by a scatter) and a
windowed slice for the crop. Level generators draw from a cheap integer hash (`envs.gridworld.hash_rng`)
seeded from the reset key, not from threefry, and paint a few rooms with one elementwise pass
(`envs.gridworld.layout.covered`). Sight costs ``ceil(log2(max(H, W))) + 1`` gathers over the map per
step (`envs.gridworld.sight.in_sight`); what that costs against no sight, per study task, is in
``benchmarks/RESULTS.md`` (``benchmarks/gridworld_throughput.py --sight``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs import spaces
from envs.core import Environment
from envs.gridworld.hash_rng import hash32
from envs.gridworld.sight import in_sight, near, ray_steps
from envs.gridworld.tables import (
    AGENT,
    APPLY,
    CROP_SIZE,
    DIRECTIONS,
    DOOR_CLOSED,
    DOOR_ENTERED,
    DOOR_LOCKED,
    DOOR_OPEN,
    DOOR_UNLOCKED,
    DOORWAY,
    FLOOR,
    GOAL,
    IS_FROZEN,
    KEY,
    KEY_PICKED_UP,
    KEY_SEEN,
    KICK,
    KICK_HURTS,
    LAVA,
    MOVE_ACTIONS,
    MSG_ALREADY_OPEN,
    MSG_ASK_DIRECTION,
    MSG_DIAGONAL_IN,
    MSG_DIAGONAL_OUT,
    MSG_DOOR_LOCKED,
    MSG_DOOR_OPENS,
    MSG_DOOR_STUCK,
    MSG_GOAL,
    MSG_KICK_EMPTY,
    MSG_KICK_OPEN,
    MSG_LAVA,
    MSG_NEVER_MIND,
    MSG_NO_DOOR,
    MSG_NONE,
    MSG_NOTHING_TO_APPLY,
    MSG_NOTHING_TO_PICKUP,
    MSG_OUCH,
    MSG_PICKUP_KEY,
    MSG_SEE_KEY,
    MSG_STONE,
    MSG_WALL,
    MSG_WHAMM,
    NUM_GLYPHS,
    NUM_MESSAGES,
    OPEN,
    PASSABLE,
    PICKUP,
    PROGRESS,
    ROCK,
    WALL,
)

Generator = Callable[[jax.Array], tuple[jax.Array, jax.Array]]


@dataclass(frozen=True)
class GridTask:
    """A task: its map shape, action set and level generator (all static)."""

    name: str
    height: int
    width: int
    generate: Generator
    actions: tuple[int, ...] = MOVE_ACTIONS
    max_steps: int = 100
    dark: bool = False
    has_inventory: bool = False


@struct.dataclass
class GridState:
    grid: jax.Array  # uint8[H, W] tiles
    position: jax.Array  # int32[2] (x, y)
    has_key: jax.Array  # bool
    pending: jax.Array  # int32: OPEN or KICK waiting for a direction, else -1
    message: jax.Array  # int32 message id of the last step
    seen: jax.Array  # bool[H, W] with sight or in dark tasks (cells seen this episode), bool[1, 1] otherwise
    time: jax.Array
    context: jax.Array  # int32: which of the num_contexts level seeds this episode's level came from (-1: fresh)
    progress: jax.Array  # int32 bit set of the episode's PROGRESS events so far


@struct.dataclass
class GridParams:
    """Every field is an array leaf: ``num_contexts`` and ``context_seed`` too, so a batch of |C| cells
    is one ``jax.vmap`` over params (`context_cells`) in one compiled program."""

    max_steps_in_episode: int = 100
    num_contexts: int = -1  # -1: a fresh level at every reset; N >= 1: one of N fixed level seeds
    context_seed: int = 0  # fixes the set of N level seeds
    death_penalty: float = 0.0  # reward on death is -death_penalty
    frozen_step_penalty: float = 0.0  # MiniHack uses -0.01
    open_success_prob: float = 1.0
    kick_success_prob: float = 1.0



def raw_key(key: jax.Array) -> jax.Array:
    """The uint32 data of a (typed or raw) PRNG key."""
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key


def level_context(key: jax.Array, params: GridParams) -> tuple[jax.Array, jax.Array]:
    """The uint32 seed a reset generates its level from (fresh, or one of ``num_contexts`` fixed seeds),
    and the index of that fixed seed (int32; -1 for a fresh level)."""
    key = raw_key(key)
    key_index, key_fresh = jax.random.split(key)
    index = jax.random.randint(key_index, (), 0, jnp.maximum(params.num_contexts, 1))
    fixed = jax.random.fold_in(jax.random.PRNGKey(params.context_seed), index)
    fresh = params.num_contexts < 0
    key = jnp.where(fresh, key_fresh, fixed)
    seed = hash32(key[0] ^ hash32(key[1] + jnp.uint32(0x9E3779B9)))
    return seed, jnp.where(fresh, -1, index).astype(jnp.int32)


def level_key(key: jax.Array, params: GridParams) -> jax.Array:
    """The uint32 seed a reset generates its level from: fresh, or one of ``num_contexts`` fixed seeds."""
    return level_context(key, params)[0]


class GridEnv(Environment[GridState, GridParams]):
    """A MiniHack-like navigation task on a fixed-size grid (see the module docstring for the rules).

    ``sight=True`` shows only what the agent has seen (NetHack's vision and memory; module docstring)."""

    # Level generation is the expensive part of a step: generate only for episodes that ended.
    sparse_reset = True

    def __init__(self, task: GridTask, sight: bool = False):
        self.task = task
        self.sight = bool(sight)
        self._actions = np.asarray(task.actions, np.int32)
        self._ray_steps = ray_steps(task.height, task.width) if self.sight else None

    # Environments of the same task are interchangeable, so jitted methods compile once per task.
    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.task is self.task and other.sight == self.sight

    def __hash__(self) -> int:
        return hash((type(self), id(self.task), self.sight))

    @property
    def default_params(self) -> GridParams:
        return GridParams(max_steps_in_episode=self.task.max_steps)

    @property
    def name(self) -> str:
        return self.task.name

    # --- reset -------------------------------------------------------------------------------------
    def reset_env(self, key: jax.Array, params: GridParams) -> tuple[dict[str, jax.Array], GridState]:
        seed, context = level_context(key, params)
        grid, start = self.task.generate(seed)
        grid, start = grid.astype(jnp.uint8), start.astype(jnp.int32)
        state = GridState(
            grid=grid,
            position=start,
            has_key=jnp.asarray(False),
            pending=jnp.int32(-1),
            message=jnp.int32(MSG_NONE),
            seen=self._look(jnp.zeros(self._seen_shape, bool), grid, start),
            time=jnp.int32(0),
            context=context,
            progress=jnp.int32(0),
        )
        obs = self.get_obs(state)
        state = state.replace(progress=self._key_seen(obs, state.progress))
        return obs, state

    @property
    def _seen_shape(self) -> tuple[int, int]:
        return (self.task.height, self.task.width) if self.task.dark or self.sight else (1, 1)

    def _look(self, seen: jax.Array, grid: jax.Array, position: jax.Array) -> jax.Array:
        """``seen`` with what the agent sees from ``position`` added: with sight, NetHack's vision
        (`envs.gridworld.sight`); without, everything in lit tasks and the 3 x 3 cells around the agent in dark ones."""
        if self.sight:
            return seen | self._in_sight(grid, position)
        if not self.task.dark:
            return seen | True
        return seen | near(position, self.task.height, self.task.width)

    def _in_sight(self, grid: jax.Array, position: jax.Array) -> jax.Array:
        """``bool[H, W]``: the cells in sight from ``position`` (`envs.gridworld.sight`)."""
        if self.task.dark:
            return near(position, self.task.height, self.task.width)
        return in_sight(grid, position, self._ray_steps)

    def _key_seen(self, obs: dict[str, jax.Array], progress: jax.Array) -> jax.Array:
        """``progress`` with KEY_SEEN set when the key is in the crop (key tasks only)."""
        if not self.task.has_inventory:
            return progress
        return progress | jnp.where(jnp.any(obs["glyphs_crop"] == KEY), KEY_SEEN, 0)

    # --- step --------------------------------------------------------------------------------------
    def step_env(self, key: jax.Array, state: GridState, action: jax.Array, params: GridParams):
        grid, pos = state.grid, state.position
        height, width = self.task.height, self.task.width
        command = jnp.asarray(self._actions)[action]
        is_move = command < 8
        direction = jnp.asarray(DIRECTIONS)[jnp.where(is_move, command, 0)]
        diagonal = command >= 4
        target = pos + direction
        inside = (target[0] >= 0) & (target[0] < width) & (target[1] >= 0) & (target[1] < height)
        tx, ty = jnp.clip(target[0], 0, width - 1), jnp.clip(target[1], 0, height - 1)
        target_tile = jnp.where(inside, grid[ty, tx], ROCK)
        here_tile = grid[pos[1], pos[0]]
        u_open, u_kick = jax.random.uniform(raw_key(key), (2,))

        pending = state.pending
        answering = (pending >= 0) & is_move
        plain_move = (pending < 0) & is_move

        # Plain moves.
        closed = target_tile == DOOR_CLOSED
        locked = target_tile == DOOR_LOCKED
        diag_in = diagonal & (target_tile == DOOR_OPEN)
        diag_out = diagonal & (here_tile == DOOR_OPEN)
        can_enter = jnp.asarray(PASSABLE)[target_tile] & ~diag_in & ~diag_out
        moved = plain_move & can_enter
        opened = closed & (u_open < params.open_success_prob)
        move_msg = jnp.select(
            [
                can_enter & (target_tile == LAVA),
                can_enter & (target_tile == GOAL),
                can_enter & (target_tile == KEY),
                can_enter,
                closed & opened,
                closed,
                locked,
                diag_out & jnp.asarray(PASSABLE)[target_tile],
                diag_in,
                target_tile == WALL,
            ],
            [
                MSG_LAVA,
                MSG_GOAL,
                MSG_SEE_KEY,
                MSG_NONE,
                MSG_DOOR_OPENS,
                MSG_DOOR_STUCK,
                MSG_DOOR_LOCKED,
                MSG_DIAGONAL_OUT,
                MSG_DIAGONAL_IN,
                MSG_WALL,
            ],
            MSG_STONE,
        )
        # OPEN <direction>.
        open_msg = jnp.select(
            [closed & opened, closed, locked, target_tile == DOOR_OPEN],
            [MSG_DOOR_OPENS, MSG_DOOR_STUCK, MSG_DOOR_LOCKED, MSG_ALREADY_OPEN],
            MSG_NO_DOOR,
        )
        # KICK <direction>.
        is_door = closed | locked
        kicked_open = is_door & (u_kick < params.kick_success_prob)
        kick_msg = jnp.select(
            [kicked_open, is_door, jnp.asarray(KICK_HURTS)[target_tile]],
            [MSG_KICK_OPEN, MSG_WHAMM, MSG_OUCH],
            MSG_KICK_EMPTY,
        )
        answer_msg = jnp.where(pending == OPEN, open_msg, kick_msg)

        # APPLY (the key) to the first closed or locked door among the 8 neighbours (only in tasks that
        # have the action: the 8-cell gather is skipped at trace time elsewhere).
        if APPLY in self.task.actions:
            neighbours = pos[None, :] + jnp.asarray(DIRECTIONS)
            n_inside = (neighbours[:, 0] >= 0) & (neighbours[:, 0] < width) & (neighbours[:, 1] >= 0)
            n_inside = n_inside & (neighbours[:, 1] < height)
            n_tiles = grid[jnp.clip(neighbours[:, 1], 0, height - 1), jnp.clip(neighbours[:, 0], 0, width - 1)]
            n_doors = n_inside & ((n_tiles == DOOR_LOCKED) | (n_tiles == DOOR_CLOSED))
            apply_cell = neighbours[jnp.argmax(n_doors)]
            apply_ok = state.has_key & jnp.any(n_doors)
        else:
            apply_cell, apply_ok = pos, jnp.asarray(False)
        # MiniHack: the agent's APPLY reaches NetHack after the unlocking, and its prompt is declined.
        apply_msg = jnp.where(state.has_key, MSG_NEVER_MIND, MSG_NOTHING_TO_APPLY)
        # PICKUP.
        on_key = here_tile == KEY
        pickup_msg = jnp.where(on_key, MSG_PICKUP_KEY, MSG_NOTHING_TO_PICKUP)

        idle = pending < 0
        message = jnp.select(
            [
                plain_move,
                answering,
                pending >= 0,
                idle & ((command == OPEN) | (command == KICK)),
                idle & (command == APPLY),
                idle & (command == PICKUP),
            ],
            [move_msg, answer_msg, MSG_NEVER_MIND, MSG_ASK_DIRECTION, apply_msg, pickup_msg],
            MSG_NONE,
        ).astype(jnp.int32)
        new_pending = jnp.where(idle & ((command == OPEN) | (command == KICK)), command, -1).astype(jnp.int32)

        # The one cell this step may change.
        door_opens = (plain_move | (answering & (pending == OPEN))) & closed & opened
        door_kicked = answering & (pending == KICK) & kicked_open
        unlocks = idle & (command == APPLY) & apply_ok
        picks = idle & (command == PICKUP) & on_key
        cell = jnp.where(unlocks, apply_cell, jnp.where(picks, pos, jnp.stack([tx, ty])))
        new_tile = jnp.select(
            [door_opens | unlocks, door_kicked, picks], [DOOR_OPEN, DOORWAY, FLOOR], grid[cell[1], cell[0]]
        ).astype(jnp.uint8)
        grid = grid.at[cell[1], cell[0]].set(new_tile)

        position = jnp.where(moved, target, pos).astype(jnp.int32)
        died = moved & (target_tile == LAVA)
        success = moved & (target_tile == GOAL)
        frozen = jnp.asarray(IS_FROZEN)[message] & ~unlocks  # unlocking takes game time
        reward = (
            success.astype(jnp.float32) - died * params.death_penalty + frozen * params.frozen_step_penalty
        ).astype(jnp.float32)
        progress = state.progress
        if self.task.has_inventory:
            entered = moved & ((target_tile == DOOR_OPEN) | (target_tile == DOORWAY))
            progress = (
                progress
                | jnp.where(picks, KEY_PICKED_UP, 0)
                | jnp.where(unlocks, DOOR_UNLOCKED, 0)
                | jnp.where(entered & ((progress & DOOR_UNLOCKED) != 0), DOOR_ENTERED, 0)
            )
        state = GridState(
            grid=grid,
            position=position,
            has_key=state.has_key | picks,
            pending=new_pending,
            message=message,
            seen=self._look(state.seen, grid, position),
            time=state.time + 1,
            context=state.context,
            progress=progress,
        )
        obs = self.get_obs(state)
        state = state.replace(progress=self._key_seen(obs, state.progress))
        return obs, state, reward, success | died, self._info(state, success)

    def _info(self, state: GridState, success: jax.Array) -> dict[str, jax.Array]:
        """``success``, the episode's ``context`` index and, in key tasks, its PROGRESS events so far."""
        info = {"success": success, "context": state.context}
        if self.task.has_inventory:
            info.update({name: (state.progress & (1 << i)) != 0 for i, name in enumerate(PROGRESS)})
        return info

    # --- observation -------------------------------------------------------------------------------
    def glyphs(self, state: GridState) -> jax.Array:
        """The map as the agent sees it: locked doors look closed; the agent drawn on top."""
        grid = state.grid
        glyphs = jnp.where(grid == DOOR_LOCKED, jnp.uint8(DOOR_CLOSED), grid)
        if self.task.dark or self.sight:
            glyphs = jnp.where(state.seen, glyphs, jnp.uint8(ROCK))
        # The agent by a comparison with the row and column indices, not a scatter: under vmap this
        # stays one elementwise pass over the map (the copy of the map that the observation needs).
        at_agent = (jnp.arange(grid.shape[0])[:, None] == state.position[1]) & (
            jnp.arange(grid.shape[1])[None, :] == state.position[0]
        )
        return jnp.where(at_agent, jnp.uint8(AGENT), glyphs)

    def get_obs(self, state: GridState) -> dict[str, jax.Array]:
        glyphs = self.glyphs(state)
        # The crop centred on the agent, rock outside the map: a window of the map padded with rock.
        # (Under vmap a windowed slice is much cheaper than a gather of 81 separate cells.)
        half = CROP_SIZE // 2
        padded = jnp.pad(glyphs, half, constant_values=ROCK)
        crop = jax.lax.dynamic_slice(padded, (state.position[1], state.position[0]), (CROP_SIZE, CROP_SIZE))
        obs = {
            "glyphs": glyphs,
            "glyphs_crop": crop,
            "position": state.position,
            "message": state.message,
        }
        if self.task.has_inventory:
            obs["inventory"] = state.has_key.astype(jnp.int32)[None]
        return obs

    # --- spaces ------------------------------------------------------------------------------------
    def action_space(self, params: GridParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(len(self.task.actions))

    def observation_space(self, params: GridParams | None = None) -> spaces.Dict:
        h, w = self.task.height, self.task.width
        obs = {
            "glyphs": spaces.Box(0, NUM_GLYPHS - 1, (h, w), jnp.uint8),
            "glyphs_crop": spaces.Box(0, NUM_GLYPHS - 1, (CROP_SIZE, CROP_SIZE), jnp.uint8),
            "position": spaces.Box(0, np.array([w - 1, h - 1]), (2,), jnp.int32),
            "message": spaces.Box(0, NUM_MESSAGES - 1, (), jnp.int32),
        }
        if self.task.has_inventory:
            obs["inventory"] = spaces.Box(0, 1, (1,), jnp.int32)
        return spaces.Dict(obs)

    # --- rendering ---------------------------------------------------------------------------------
    def render(self, state: GridState, params: GridParams | None = None, mode: str = "rgb") -> Any:
        """``mode="rgb"``: a ``uint8[H*16, W*16, 3]`` image; ``mode="ascii"``: the map as text."""
        from envs.gridworld import render

        if mode == "rgb":
            return render.render_rgb(np.asarray(self.glyphs(state)))
        if mode == "ascii":
            return render.render_ascii(np.asarray(self.glyphs(state)))
        raise ValueError(f"render mode must be 'rgb' or 'ascii', got {mode!r}")


def context_cells(params: GridParams, cells: Sequence[tuple[int, int]]) -> GridParams:
    """``params`` for a batch of ``(num_contexts, context_seed)`` cells: every leaf gets a leading axis of
    ``len(cells)`` (vmap the environment over params with ``in_axes=0``); each cell is checked as the
    factories check it."""
    if not cells:
        raise ValueError("cells must hold at least one (num_contexts, context_seed) pair")
    for num_contexts, context_seed in cells:
        if not isinstance(num_contexts, int | np.integer) or (num_contexts != -1 and num_contexts < 1):
            raise ValueError(f"num_contexts must be -1 or >= 1, got {num_contexts!r} in cells")
        if not isinstance(context_seed, int | np.integer) or context_seed < 0:
            raise ValueError(f"context_seed must be a non-negative integer, got {context_seed!r} in cells")
    batch = jax.tree.map(lambda leaf: jnp.repeat(jnp.asarray(leaf)[None], len(cells), axis=0), params)
    return batch.replace(
        num_contexts=jnp.asarray([c for c, _ in cells], jnp.int32),
        context_seed=jnp.asarray([s for _, s in cells], jnp.int32),
    )


def validate_kwargs(
    task: GridTask,
    num_contexts: int,
    context_seed: int,
    max_steps_in_episode: int | None,
    death_penalty: float,
    sight: bool = False,
) -> GridParams:
    """Factory argument checks shared by every task; returns the params."""
    if not isinstance(sight, bool | np.bool_):
        raise ValueError(f"sight must be True or False, got {sight!r}")
    if not isinstance(num_contexts, int | np.integer) or (num_contexts != -1 and num_contexts < 1):
        raise ValueError(f"num_contexts must be -1 (a fresh level every reset) or >= 1, got {num_contexts!r}")
    if not isinstance(context_seed, int | np.integer) or context_seed < 0:
        raise ValueError(f"context_seed must be a non-negative integer, got {context_seed!r}")
    if max_steps_in_episode is None:
        max_steps_in_episode = task.max_steps
    if not isinstance(max_steps_in_episode, int | np.integer) or max_steps_in_episode <= 0:
        raise ValueError(f"max_steps_in_episode must be a positive integer, got {max_steps_in_episode!r}")
    if isinstance(death_penalty, bool) or not isinstance(death_penalty, int | float | np.number):
        raise ValueError(f"death_penalty must be a number >= 0 (reward on death: minus it), got {death_penalty!r}")
    if not np.isfinite(death_penalty) or death_penalty < 0:
        raise ValueError(
            f"death_penalty must be finite and >= 0 (reward on death is -death_penalty), "
            f"got {death_penalty!r}"
        )
    return GridParams(
        max_steps_in_episode=int(max_steps_in_episode),
        num_contexts=int(num_contexts),
        context_seed=int(context_seed),
        death_penalty=float(death_penalty),
    )


def make_factory(task: GridTask) -> Callable[..., tuple[GridEnv, GridParams]]:
    """A registry factory ``(num_contexts, context_seed, max_steps_in_episode, death_penalty, sight)``."""

    def factory(
        num_contexts: int = -1,
        context_seed: int = 0,
        max_steps_in_episode: int | None = None,
        death_penalty: float = 0.0,
        sight: bool = False,
    ) -> tuple[GridEnv, GridParams]:
        params = validate_kwargs(task, num_contexts, context_seed, max_steps_in_episode, death_penalty, sight)
        return GridEnv(task, sight=sight), params

    factory.__name__ = f"make_{task.name.replace('-', '_')}"
    return factory

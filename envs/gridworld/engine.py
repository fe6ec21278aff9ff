"""The grid engine shared by the MiniHack-like navigation tasks.

A task supplies a level generator ``generate(key) -> (grid, start)`` (a fixed-shape ``uint8[H, W]`` tile
map and the agent's ``int32[2]`` start ``(x, y)``) and its action set; the engine does the rest:
contexts (which level seed a reset draws), the rules of movement, doors, keys and lava, the
observation, and the reward.

Tile and glyph ids (our own small table; ASCII as NetHack draws them):

====  ==============  =====  ====================================================================
 id   name            ascii  rule
====  ==============  =====  ====================================================================
  0   ROCK            ' '    solid stone (also the glyph of an unexplored cell); blocks
  1   FLOOR           '.'    room floor
  2   WALL            '-|'   blocks ("It's a wall.")
  3   CORRIDOR        '#'    passable
  4   DOOR_CLOSED     '+'    moving into it opens it (NetHack's autoopen), also diagonally
  5   DOOR_OPEN       '|-'   passable, but never entered or left diagonally
  6   DOORWAY         '.'    a broken door or an empty doorway: passable, diagonals allowed
  7   LAVA            '}'    stepping in kills the agent (failure)
  8   GOAL            '>'    the staircase down; stepping on it ends the episode with reward 1
  9   STAIR_UP        '<'    where the agent started (MiniHack marks it); passable
 10   KEY             '('    a key on the floor
 11   AGENT           '@'    glyph only
 12   DOOR_LOCKED     '+'    tile only: shown as DOOR_CLOSED, as in NetHack; opens with a kick or
                             by applying the key
====  ==============  =====  ====================================================================

Actions are indices into the task's action set, a tuple of the commands below; MiniHack's navigation
tasks use the 8 compass moves in its order (N, E, S, W, NE, SE, SW, NW) and add OPEN, KICK, SEARCH,
PICKUP or APPLY where the MiniHack task does. OPEN and KICK ask "In what direction?" and act on the
next action, which must be a move (as in NetHack: two steps); any other answer cancels ("Never mind.").

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
- Sight (``sight=False``, the default of every factory): the whole map is shown from the start, except
  in dark tasks (MazeWalk, KeyRoom-Dark), which show the cells the agent has been next to (NetHack's
  memory of unlit squares). NetHack shows only what the hero has seen: pass ``sight=True`` for the
  model below (`GridEnv._in_sight`).
- Sight (``sight=True``), after NetHack 3.6's ``vision.c`` and ``display.c``: a cell is in sight when it
  is next to the agent, or when it is lit and in line of sight; a wall or a closed door (which block
  sight) is in sight when it is lit, in line of sight (its own ray is clear, or the cell next to it
  towards the agent is in sight), and that cell is lit too (``vision.c``'s rule that keeps doors and
  walls "at the end of dark hallways" unseen). What was in
  sight is remembered: ``glyphs`` and ``glyphs_crop`` show the map at every cell seen so far in the
  episode, and rock (NetHack 3.6's blank ``S_stone``, also its glyph of unexplored cells) elsewhere.
  The map changes only next to the agent (doors, the key), so the remembered glyph of a cell is its
  current tile. Lighting follows MiniHack's levels: MultiRoom and the crossings are one lit region
  (``LevelGenerator``'s ``REGION ... lit``), Corridor's rooms are lit (with their walls and doors) and its
  corridors dark, KeyRoom is lit and KeyRoom-Dark and MazeWalk are dark. Lava, floor, corridors, open
  doors and doorways do not block sight; rock, walls and closed or locked doors do (so in the -Lava
  MultiRoom tasks, whose room walls are lava, the agent sees across them into the next rooms, as in
  NetHack). Simplified: line of sight is a ray tree (each cell's ray to the agent passes through the
  neighbour nearest the straight line, a Bresenham-like line); NetHack computes it with its own
  algorithm (``vision.c``'s ``clear_path``), and the two can differ by a cell at the edges of what is
  seen. Remembered floor out of sight is drawn as floor (NetHack's ``dark_room`` option draws it
  darker); there is no light radius, blindness or telepathy.

Speed: a step touches at most one map cell and builds the observation from the map plus the agent.
A plain auto-reset would run the level generator for every environment at every step under ``vmap``;
`GridEnv` sets the core's ``sparse_reset`` flag, so levels are generated only for the environments
whose episode ended (`envs.core.reset_where`, which writes them into the stepped batch), with the
same results. The observation is one elementwise copy of the map (the agent drawn by comparing cell
indices, not by a scatter) and a windowed slice for the crop. Level generators draw from a cheap
integer hash (`hash32`) seeded from the reset key, not from threefry, and paint a few rooms with
one elementwise pass (`covered`). Sight costs ``ceil(log2(max(H, W)))`` + 2 gathers over the map per
step: random-action steps/s of 32 vmapped environments (one loaded CPU core, process time) fell from
about 124k to 27k on MultiRoom-N4-Lava's 21 x 25 map and from 351k to 21k on Corridor-R5's 21 x 79
(from 120k to 23k, and 325k to 8k, before the pointer and its flag were packed into one gather); in
PPO with a GRU the network still costs more than that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs import spaces
from envs.core import Environment

# --- tiles and glyphs -------------------------------------------------------------------------------
ROCK, FLOOR, WALL, CORRIDOR, DOOR_CLOSED, DOOR_OPEN, DOORWAY, LAVA, GOAL, STAIR_UP, KEY, AGENT = range(12)
DOOR_LOCKED = 12
NUM_GLYPHS = 12
NUM_TILES = 13
GLYPH_NAMES = (
    "rock",
    "floor",
    "wall",
    "corridor",
    "closed door",
    "open door",
    "doorway",
    "lava",
    "goal (stairs down)",
    "stairs up",
    "key",
    "agent",
)
CROP_SIZE = 9

# --- commands ---------------------------------------------------------------------------------------
N, E, S, W, NE, SE, SW, NW, OPEN, KICK, SEARCH, PICKUP, APPLY = range(13)
COMMAND_NAMES = ("N", "E", "S", "W", "NE", "SE", "SW", "NW", "OPEN", "KICK", "SEARCH", "PICKUP", "APPLY")
MOVES = (N, E, S, W, NE, SE, SW, NW)
MOVE_ACTIONS = MOVES
MOVE_AND_KICK_ACTIONS = (*MOVES, OPEN, KICK)
NAVIGATE_ACTIONS = (*MOVES, OPEN, KICK, SEARCH)
APPLY_ACTIONS = (*MOVES, PICKUP, APPLY)
# (dx, dy) of the 8 moves; y grows downwards (row index), x to the right (column index).
DIRECTIONS = np.array([[0, -1], [1, 0], [0, 1], [-1, 0], [1, -1], [1, 1], [-1, 1], [-1, -1]], np.int32)

# --- messages ---------------------------------------------------------------------------------------
MESSAGES = (
    "",
    "It's a wall.",
    "It's solid stone.",
    "The door opens.",
    "This door is locked.",
    "The door is stuck.",
    "In what direction?",
    "Never mind.",
    "As you kick the door, it crashes open!",
    "WHAMM!!",
    "Ouch!  That hurts!",
    "You kick at empty space.",
    "You see here a key.",
    "You pick up the key.",
    "There is nothing here to pick up.",
    "You succeed in unlocking the door.",
    "You don't have anything to use or apply.",
    "You see no door there.",
    "This door is already open.",
    "You can't move diagonally into an intact doorway.",
    "You can't move diagonally out of an intact doorway.",
    "You fall into the lava!",
    "You reach the staircase down.",
)
(
    MSG_NONE,
    MSG_WALL,
    MSG_STONE,
    MSG_DOOR_OPENS,
    MSG_DOOR_LOCKED,
    MSG_DOOR_STUCK,
    MSG_ASK_DIRECTION,
    MSG_NEVER_MIND,
    MSG_KICK_OPEN,
    MSG_WHAMM,
    MSG_OUCH,
    MSG_KICK_EMPTY,
    MSG_SEE_KEY,
    MSG_PICKUP_KEY,
    MSG_NOTHING_TO_PICKUP,
    MSG_UNLOCK,
    MSG_NOTHING_TO_APPLY,
    MSG_NO_DOOR,
    MSG_ALREADY_OPEN,
    MSG_DIAGONAL_IN,
    MSG_DIAGONAL_OUT,
    MSG_LAVA,
    MSG_GOAL,
) = range(len(MESSAGES))
NUM_MESSAGES = len(MESSAGES)
# Messages of steps on which NetHack's clock does not move (MiniHack's "frozen" steps).
FROZEN_MESSAGES = (
    MSG_WALL,
    MSG_STONE,
    MSG_DOOR_LOCKED,
    MSG_ASK_DIRECTION,
    MSG_NEVER_MIND,
    MSG_NOTHING_TO_PICKUP,
    MSG_NOTHING_TO_APPLY,
    MSG_NO_DOOR,
    MSG_ALREADY_OPEN,
    MSG_DIAGONAL_IN,
    MSG_DIAGONAL_OUT,
)
_FROZEN = np.zeros(NUM_MESSAGES, bool)
_FROZEN[list(FROZEN_MESSAGES)] = True

# Tiles the agent can stand on (lava and the goal end the episode when entered).
_PASSABLE = np.zeros(NUM_TILES, bool)
_PASSABLE[[FLOOR, CORRIDOR, DOOR_OPEN, DOORWAY, LAVA, GOAL, STAIR_UP, KEY]] = True
_KICK_HURTS = np.zeros(NUM_TILES, bool)
_KICK_HURTS[[ROCK, WALL, GOAL, STAIR_UP]] = True
# Tiles that block sight (NetHack: stone, walls, closed doors; lava and doorways do not).
_OPAQUE = np.zeros(NUM_TILES, bool)
_OPAQUE[[ROCK, WALL, DOOR_CLOSED, DOOR_LOCKED]] = True

# Per-episode events of the key tasks, reported in ``info`` (True from the step they happen on to the
# episode's end, so that their value on the last step, averaged over episodes, is the fraction of
# episodes in which they happened). ``key_seen``: the key was inside the agent's 9 x 9 crop as a seen
# cell (what a policy reading ``glyphs_crop`` could see); ``door_entered``: the agent stepped into the
# doorway of a door it had unlocked.
PROGRESS = ("key_seen", "key_picked_up", "door_unlocked", "door_entered")
KEY_SEEN, KEY_PICKED_UP, DOOR_UNLOCKED, DOOR_ENTERED = (1 << i for i in range(len(PROGRESS)))


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


# --- a cheap counter-based generator for level generation ------------------------------------------
# The core's ``step`` runs ``reset`` at every step (and keeps its result where an episode ends), so level
# generation is on the hot path; threefry would dominate it. Generators draw from a uint32 seed
# through an integer hash (Wellons' lowbias32), a handful of integer ops per number.
_GOLDEN = 0x9E3779B9


def hash32(x: jax.Array) -> jax.Array:
    x = jnp.asarray(x).astype(jnp.uint32)
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def fold(seed: jax.Array, data: jax.Array | int) -> jax.Array:
    """A new seed from ``seed`` and ``data`` (like ``jax.random.fold_in``)."""
    return hash32(seed ^ hash32(jnp.asarray(data).astype(jnp.uint32) * jnp.uint32(_GOLDEN) + jnp.uint32(1)))


def split(seed: jax.Array, num: int) -> jax.Array:
    """``num`` independent seeds."""
    return fold(seed, jnp.arange(num, dtype=jnp.uint32))


def uniform(seed: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
    """Floats uniform in [0, 1) (24 bits)."""
    size = int(np.prod(shape)) if shape else 1
    bits = fold(seed, jnp.arange(size, dtype=jnp.uint32) + jnp.uint32(0x51ED27))
    return ((bits >> 8).astype(jnp.float32) * (1.0 / (1 << 24))).reshape(shape)


def rand_int(seed: jax.Array, low: jax.Array, high: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
    """Uniform integers in ``[low, high)`` with traced bounds (``low`` when the range is empty)."""
    span = jnp.maximum(high - low, 1)
    return (low + jnp.minimum(jnp.floor(uniform(seed, shape) * span), span - 1)).astype(jnp.int32)


def random_index(seed: jax.Array, weights: jax.Array) -> jax.Array:
    """An index drawn with probability proportional to the non-negative ``weights`` (1-D)."""
    cumulative = jnp.cumsum(weights.astype(jnp.float32))
    return jnp.argmax(cumulative > uniform(seed) * cumulative[-1]).astype(jnp.int32)


def random_cell(seed: jax.Array, mask: jax.Array) -> jax.Array:
    """A uniformly drawn ``(x, y)`` among the true cells of ``mask`` (``(0, 0)`` if there are none)."""
    flat = random_index(seed, mask.reshape(-1))
    return jnp.stack([flat % mask.shape[1], flat // mask.shape[1]]).astype(jnp.int32)


def permutation(seed: jax.Array, num: int) -> jax.Array:
    """A uniformly random permutation of ``0 .. num-1``."""
    return jnp.argsort(uniform(seed, (num,))).astype(jnp.int32)


def ray_steps(height: int, width: int) -> np.ndarray:
    """``int32[2H - 1, 2W - 1, 2]``: for a cell at offset ``(dx, dy)`` from the agent (index
    ``[dy + H - 1, dx + W - 1]``), the step ``(sx, sy)`` from the cell towards the agent along its line
    of sight: one cell nearer along the longer axis, and along the shorter one too when that neighbour
    is nearer the straight line from the cell to the agent (ties: straight). Following the steps from
    any cell reaches the agent in ``max(|dx|, |dy|)`` steps (a ray tree of Bresenham-like lines)."""
    dy, dx = np.mgrid[-(height - 1) : height, -(width - 1) : width]
    major, minor = np.maximum(abs(dx), abs(dy)), np.minimum(abs(dx), abs(dy))
    # Distances (times |(dx, dy)|) of the two candidates to the line: straight |minor|, diagonal
    # |major| - |minor|.
    diagonal = major - minor < minor
    along_x = abs(dx) >= abs(dy)
    sx = np.sign(dx) * (along_x | diagonal)
    sy = np.sign(dy) * (~along_x | diagonal)
    return np.stack([sx, sy], -1).astype(np.int32)


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
        (`_in_sight`); without, everything in lit tasks and the 3 x 3 cells around the agent in dark ones."""
        if self.sight:
            return seen | self._in_sight(grid, position)
        if not self.task.dark:
            return seen | True
        return seen | self._near(position)

    def _near(self, position: jax.Array) -> jax.Array:
        """``bool[H, W]``: the agent's cell and its 8 neighbours (elementwise, no scatter)."""
        rows = jnp.arange(self.task.height)[:, None]
        cols = jnp.arange(self.task.width)[None, :]
        return (jnp.abs(cols - position[0]) <= 1) & (jnp.abs(rows - position[1]) <= 1)

    def _in_sight(self, grid: jax.Array, position: jax.Array) -> jax.Array:
        """``bool[H, W]``: the cells in sight from ``position`` (module docstring, "Sight").

        Line of sight by pointer jumping on the ray tree of `ray_steps`: ``blocked[c]`` starts as "the
        next cell on c's ray to the agent is opaque" and doubles the length of ray it covers per round
        (``blocked[c] |= blocked[ptr[c]]; ptr[c] = ptr[ptr[c]]``), so ``ceil(log2(max(H, W)))`` rounds of
        two gathers over the map decide every cell (the agent's own cell is never opaque)."""
        height, width = self.task.height, self.task.width
        near = self._near(position)
        if self.task.dark:
            return near
        x, y = position[0], position[1]
        rows = jnp.arange(height)[:, None]
        cols = jnp.arange(width)[None, :]
        opaque = jnp.asarray(_OPAQUE)[grid]
        lit = grid != CORRIDOR
        steps = jax.lax.dynamic_slice(
            jnp.asarray(self._ray_steps), (height - 1 - y, width - 1 - x, 0), (height, width, 2)
        )
        ptr = ((rows - steps[..., 1]) * width + (cols - steps[..., 0])).reshape(-1)
        # The pointer and the flag travel packed in one int32 (one gather per round, not two).
        packed = (ptr << 1) | opaque.reshape(-1)[ptr].astype(jnp.int32)
        for _ in range(max(1, int(np.ceil(np.log2(max(height, width)))))):
            further = packed[packed >> 1]
            packed = (further & ~1) | ((packed | further) & 1)
        unblocked = (packed & 1).reshape(height, width) == 0
        clear = unblocked & lit & ~opaque
        # Walls and closed doors: lit, in line of sight (their ray is unblocked, or the cell next to them
        # towards the agent is in sight), and that cell lit (vision.c: no walls at the end of dark halls).
        toward = ((rows + jnp.sign(y - rows)) * width + (cols + jnp.sign(x - cols))).reshape(-1)
        toward_code = (lit.astype(jnp.int32) + 2 * clear.astype(jnp.int32)).reshape(-1)[toward]
        toward_code = toward_code.reshape(height, width)
        edge = opaque & lit & ((toward_code & 1) != 0) & (unblocked | (toward_code >= 2))
        return near | clear | edge

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
        can_enter = jnp.asarray(_PASSABLE)[target_tile] & ~diag_in & ~diag_out
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
                diag_out & jnp.asarray(_PASSABLE)[target_tile],
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
            [kicked_open, is_door, jnp.asarray(_KICK_HURTS)[target_tile]],
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
        frozen = jnp.asarray(_FROZEN)[message] & ~unlocks  # unlocking takes game time
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


def covered(height: int, width: int, x0: jax.Array, y0: jax.Array, x1: jax.Array, y1: jax.Array) -> jax.Array:
    """``bool[H, W]``: the cells inside any of the (few, statically many) rectangles
    ``[x0, x1) x [y0, y1)``. One elementwise pass with a row and a column test per rectangle: for a
    handful of rectangles this is far cheaper on CPU than a 2-D difference array's scatters and
    cumulative sums (which were most of a MultiRoom level's generation time)."""
    rows = jnp.arange(height)[:, None]
    cols = jnp.arange(width)[None, :]
    inside = jnp.zeros((height, width), bool)
    for i in range(x0.shape[0]):
        in_rows = (rows >= y0[i]) & (rows < y1[i])
        in_cols = (cols >= x0[i]) & (cols < x1[i])
        inside = inside | (in_rows & in_cols)
    return inside


def paint_rooms(height: int, width: int, tops: jax.Array, sizes: jax.Array, wall_tile: int) -> jax.Array:
    """Rooms (outer rectangles with ``tops`` (x, y) and ``sizes`` (w, h), walls included) on rock."""
    x0, y0 = tops[:, 0], tops[:, 1]
    x1, y1 = x0 + sizes[:, 0], y0 + sizes[:, 1]
    outer = covered(height, width, x0, y0, x1, y1)
    inner = covered(height, width, x0 + 1, y0 + 1, x1 - 1, y1 - 1)
    return jnp.where(inner, FLOOR, jnp.where(outer, wall_tile, ROCK)).astype(jnp.uint8)

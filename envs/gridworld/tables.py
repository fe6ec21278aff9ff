"""The gridworld's tables: tile and glyph ids, commands, messages and the per-tile rules tables.

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
"""

from __future__ import annotations

import numpy as np

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
IS_FROZEN = np.zeros(NUM_MESSAGES, bool)
IS_FROZEN[list(FROZEN_MESSAGES)] = True

# Per-tile rules (indexed by tile id). Tiles the agent can stand on (lava and the goal end the episode when entered).
PASSABLE = np.zeros(NUM_TILES, bool)
PASSABLE[[FLOOR, CORRIDOR, DOOR_OPEN, DOORWAY, LAVA, GOAL, STAIR_UP, KEY]] = True
KICK_HURTS = np.zeros(NUM_TILES, bool)
KICK_HURTS[[ROCK, WALL, GOAL, STAIR_UP]] = True
# Tiles that block sight (NetHack: stone, walls, closed doors; lava and doorways do not).
OPAQUE = np.zeros(NUM_TILES, bool)
OPAQUE[[ROCK, WALL, DOOR_CLOSED, DOOR_LOCKED]] = True

# Per-episode events of the key tasks, reported in ``info`` (True from the step they happen on to the
# episode's end, so that their value on the last step, averaged over episodes, is the fraction of
# episodes in which they happened). ``key_seen``: the key was inside the agent's 9 x 9 crop as a seen
# cell (what a policy reading ``glyphs_crop`` could see); ``door_entered``: the agent stepped into the
# doorway of a door it had unlocked.
PROGRESS = ("key_seen", "key_picked_up", "door_unlocked", "door_entered")
KEY_SEEN, KEY_PICKED_UP, DOOR_UNLOCKED, DOOR_ENTERED = (1 << i for i in range(len(PROGRESS)))

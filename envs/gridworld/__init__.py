"""MiniHack-like navigation tasks on a JAX grid engine (see `envs.gridworld.rules` for the rules).

Registered names are MiniHack's ids without ``MiniHack-`` and ``-v0``: ``MultiRoom-N4``,
``MultiRoom-N6-Lava``, ``MultiRoom-N4-Locked``, ``MultiRoom-N10-Lava-OpenDoor``, ``KeyRoom-S5``,
``LavaCrossingS9N1``, ``SimpleCrossingS9N1``, ``Corridor-R5``, ``MazeWalk-9x9``, ... Every factory takes
``num_contexts`` (-1: a fresh level every reset; N >= 1: N fixed levels), ``context_seed``,
``max_steps_in_episode`` (MiniHack's limit by default), ``death_penalty`` and ``sight`` (NetHack-like
sight and memory, off by default; `envs.gridworld.sight`); MultiRoom's also take ``area`` (MiniGrid's
25 x 25 of the paper's era, or 1.0.2's 76 x 21; `envs.gridworld.multiroom`).
"""

from envs.gridworld import corridor, crossing, keyroom, mazewalk, multiroom
from envs.gridworld.render import episode_gif, render_ascii, render_rgb, save_gif
from envs.gridworld.rules import GridEnv, GridParams, GridState, GridTask, context_cells, make_factory
from envs.registry import register

TASKS = {
    task.name: task for module in (multiroom, keyroom, crossing, corridor, mazewalk) for task in module.TASKS
}
for _name, _task in TASKS.items():
    register(_name, multiroom.FACTORIES.get(_name) or make_factory(_task))

__all__ = [
    "TASKS",
    "GridEnv",
    "GridParams",
    "GridState",
    "GridTask",
    "context_cells",
    "episode_gif",
    "make_factory",
    "render_ascii",
    "render_rgb",
    "save_gif",
]

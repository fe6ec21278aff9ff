"""Memory tasks: environments that a feed-forward policy cannot solve and a recurrent one can.

``MemoryCorridor`` (`envs.memory.corridor`): a cue shown only at the first step decides which action pays
at the end of a corridor.
"""

from envs.memory.corridor import MemoryCorridor, MemoryCorridorParams, MemoryCorridorState, make_memory_corridor
from envs.registry import register

register("MemoryCorridor", make_memory_corridor)

__all__ = ["MemoryCorridor", "MemoryCorridorParams", "MemoryCorridorState", "make_memory_corridor"]

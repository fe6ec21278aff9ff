"""Orbax checkpoints of a (possibly batched) runner state, keyed by chunk index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    """Saves the runner state every few chunks; keeps the newest ``max_to_keep``."""

    def __init__(self, directory: Path, max_to_keep: int = 2):
        self.directory = Path(directory).absolute()
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state: Any) -> None:
        self._manager.save(step, args=ocp.args.StandardSave(state))
        self._manager.wait_until_finished()

    def restore(self, step: int, like: Any) -> Any:
        """Restore into the structure, shapes and dtypes of ``like`` (arrays or ShapeDtypeStructs)."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

    def close(self) -> None:
        self._manager.close()


def has_checkpoint(directory: Path) -> bool:
    directory = Path(directory)
    return directory.is_dir() and any(p.name.isdigit() for p in directory.iterdir())

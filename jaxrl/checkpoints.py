"""Orbax checkpoints of a batched runner state, keyed by environment steps (per trial).

Layout of ``<run>/checkpoints/<env_steps>/`` (one orbax ``CheckpointManager`` step, three items)::

    policy/       the network parameters only, every leaf with a leading trial axis
                  (restore with plain orbax: ``ocp.StandardCheckpointer().restore(".../policy")``)
    train_state/  everything else the run needs to continue bitwise: optimiser state, environment
                  and recurrent state, bonus statistics, PRNG key, update counter, hyperparameters
    run/          JSON: env_steps, update, the trial names in axis order, failed trials

The newest ``max_to_keep`` steps are kept. A step that cannot be read (cut by a kill while the disk
was full, a file deleted by hand) is moved aside to ``checkpoints_unreadable/`` and the previous one is
used, with a warning; when no step can be read, a one-line CheckpointError names the folder.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

ITEMS = ("policy", "train_state", "run")


class CheckpointError(RuntimeError):
    """No checkpoint of a run folder can be read; the message names the folder and why."""


def _manager(directory: Path, max_to_keep: int | None = 2) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        Path(directory).absolute(),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        item_names=ITEMS,
    )


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:200]}"


def split_state(state: Any) -> tuple[Any, Any]:
    """(policy parameters, the rest of the runner state with ``params=None``)."""
    return state.params, state.replace(params=None)


def join_state(params: Any, rest: Any) -> Any:
    return rest.replace(params=params)


class Checkpointer:
    """Saves a runner state (``.params`` and the rest) every few chunks; keeps the newest ``max_to_keep``."""

    def __init__(self, directory: Path, max_to_keep: int = 2):
        self.directory = Path(directory).absolute()
        self._manager = _manager(self.directory, max_to_keep)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
        if step in self._manager.all_steps():
            return  # already saved (an all-failed run saves its last finite state once)
        policy, rest = split_state(state)
        self._manager.save(
            step,
            args=ocp.args.Composite(
                policy=ocp.args.StandardSave(policy),
                train_state=ocp.args.StandardSave(rest),
                run=ocp.args.JsonSave(meta),
            ),
            force=True,
        )
        self._manager.wait_until_finished()

    def restore(self, step: int, like: Any) -> tuple[Any, dict[str, Any]]:
        """The state of ``step`` in the structure, shapes and dtypes of ``like``, and its ``run`` item."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        policy, rest = split_state(abstract)
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                policy=ocp.args.StandardRestore(policy),
                train_state=ocp.args.StandardRestore(rest),
                run=ocp.args.JsonRestore(),
            ),
        )
        return join_state(restored["policy"], restored["train_state"]), dict(restored["run"])

    def close(self) -> None:
        self._manager.close()


def restore_latest(directory: Path, like: Any) -> tuple[int, Any, dict[str, Any]] | None:
    """The newest readable checkpoint under ``directory``: (step, state, run item), or None when there
    is none. When a newer step is unreadable and an older one is not, the newer ones are moved to
    ``<directory>_unreadable/`` with a warning naming them, so that later saves go on (orbax never
    saves a step below its latest); when no step is readable a CheckpointError names the folder and
    nothing is moved."""
    directory = Path(directory).absolute()
    if not has_checkpoint(directory):
        return None
    old = [p for p in directory.iterdir() if p.name.isdigit() and (p / "default").is_dir()]
    if old:
        raise CheckpointError(
            f"{old[0]} has the older one-item checkpoint layout (no policy/ and train_state/); "
            f"this version cannot resume it: start the run again in a new folder"
        )
    checkpointer = Checkpointer(directory, max_to_keep=None)
    problems = []
    try:
        for step in reversed(checkpointer.all_steps()):
            try:
                state, meta = checkpointer.restore(step, like)
            except Exception as err:  # noqa: BLE001 - any damage makes the step unusable; say which
                problems.append((step, _reason(err)))
                continue
            break
        else:
            step = None
    finally:
        checkpointer.close()
    if step is None:
        raise CheckpointError(f"no checkpoint in {directory} can be read: step {problems[0][0]}: {problems[0][1]}")
    for bad, reason in problems:
        aside = directory.parent / f"{directory.name}_unreadable" / str(bad)
        aside.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(directory / str(bad)), str(aside))
        print(
            f"warning: checkpoint {directory / str(bad)} is unreadable ({reason}); "
            f"moved to {aside}; resuming from step {step}",
            file=sys.stderr,
        )
    return step, state, meta


def restore_policy(directory: Path, like: Any) -> tuple[int, Any, dict[str, Any]]:
    """The policy parameters (shaped like ``like``) and ``run`` item of the newest readable checkpoint
    (falling back to an older one with a warning; nothing is moved). CheckpointError when none."""
    directory = Path(directory).absolute()
    if not has_checkpoint(directory):
        raise CheckpointError(f"no checkpoint in {directory}")
    manager = _manager(directory, None)
    problems = []
    try:
        for step in reversed(sorted(manager.all_steps())):
            try:
                restored = manager.restore(
                    step,
                    args=ocp.args.Composite(
                        policy=ocp.args.StandardRestore(jax.tree.map(ocp.utils.to_shape_dtype_struct, like)),
                        run=ocp.args.JsonRestore(),
                    ),
                )
            except Exception as err:  # noqa: BLE001 - any damage makes the step unusable; say which
                problems.append(f"checkpoint {directory / str(step)} is unreadable ({_reason(err)})")
                continue
            for problem in problems:
                print(f"warning: {problem}; using step {step}", file=sys.stderr)
            return step, restored["policy"], dict(restored["run"])
    finally:
        manager.close()
    raise CheckpointError(f"no checkpoint in {directory} can be read: {problems[0]}")


def has_checkpoint(directory: Path) -> bool:
    directory = Path(directory)
    return directory.is_dir() and any(p.name.isdigit() for p in directory.iterdir())

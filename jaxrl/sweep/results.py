"""Reading a finished sweep back: its trials by label, their status, metrics and trained policies.

What an experiment script needs after ``run_sweep``: every trial with its label, config, status and
metrics rows (`read_trials`), and the policy parameters of each trial from its group's checkpoint,
trained (`trained_policies`) or as initialised (`initial_policies`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from jaxrl.run_folder import METRICS_FILE, read_metrics, read_status
from jaxrl.sweep.algorithms import make_train
from jaxrl.sweep.plan import Group, SweepPlan, Trial, apply_overrides
from jaxrl.sweep.source import SweepError


@dataclasses.dataclass(frozen=True)
class TrialResult:
    trial: Trial
    folder: Path
    config: Any  # the trial's full config (its group's, with its vmappable overrides)
    status: dict[str, Any] | None  # its status.json, None when unfinished
    rows: list[dict[str, Any]]  # its metrics.jsonl

    @property
    def label(self) -> str | None:
        return self.trial.point

    @property
    def done(self) -> bool:
        return self.status is not None and self.status["status"] == "done"


def read_trials(plan: SweepPlan, out_root: str | Path = "runs") -> list[TrialResult]:
    """Every trial of ``plan`` as found under ``out_root/<plan.name>``, in the plan's order."""
    sweep_dir = Path(out_root) / plan.name
    results = []
    for group in plan.groups:
        for trial in group.trials:
            folder = sweep_dir / trial.name
            config = apply_overrides(group.config, trial.vmapped)
            results.append(TrialResult(trial, folder, config, read_status(folder), read_metrics(folder / METRICS_FILE)))
    return results


def _batched_init(group: Group, trials: list[Trial]):
    """(trainer, vmapped init, keys, hyperparameters) of ``trials`` of ``group``, with the seed
    convention of ``jaxrl.run.run_trials`` (``jaxrl.run.trial_inputs``)."""
    import jax

    from jaxrl.run import trial_inputs

    trainer = make_train(group.config)
    keys, hparams = trial_inputs(group.config, [t.seed for t in trials], [dict(t.vmapped) for t in trials])
    return trainer, jax.vmap(trainer.init_fn), keys, hparams


def initial_policies(group: Group) -> tuple[Any, Any]:
    """(trainer, the untrained policy parameters of every trial of ``group``, stacked in its order):
    what ``run_trials`` starts each trial from."""
    import jax

    trainer, init, keys, hparams = _batched_init(group, list(group.trials))
    return trainer, jax.jit(init)(keys, hparams).params


def trained_policies(group: Group, sweep_dir: str | Path) -> tuple[Any, Any, int]:
    """(trainer, the trained policy parameters of every trial of ``group`` stacked in its order, the
    checkpoint's step), from the group's latest checkpoint. SweepError when the group did not run as
    one program to its end (a trial unfinished, or the group resumed in parts)."""
    import jax
    import numpy as np

    from jaxrl.checkpoints import CheckpointError, restore_policy
    from jaxrl.run import TrialSpec, group_folder

    sweep_dir = Path(sweep_dir)
    trials = list(group.trials)
    specs = [TrialSpec(t.name, t.seed, dict(t.vmapped), sweep_dir / t.name) for t in trials]
    directory = group_folder(specs) / "checkpoints"
    trainer, init, keys, hparams = _batched_init(group, trials)
    like = jax.eval_shape(init, keys, hparams).params
    try:
        step, params, meta = restore_policy(directory, like)
    except CheckpointError as exc:
        raise SweepError(f"group {group.label}: {exc} (has the sweep run to its end?)") from None
    if list(meta.get("trials") or []) != [t.name for t in trials]:
        raise SweepError(f"{directory} holds trials {meta.get('trials')}, not the group's {[t.name for t in trials]}")
    if step != group.config.num_updates * group.config.batch_size:
        raise SweepError(f"{directory}: the latest checkpoint is at step {step}, before the end of training")
    return trainer, jax.tree.map(np.asarray, params), step

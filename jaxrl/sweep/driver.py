"""Running a sweep: every unfinished trial, group after group or as Ray tasks, through one driver
(``jaxrl.run.run_trials``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from jaxrl.run_folder import METRICS_FILE, STATUS_FILE, read_status
from jaxrl.sweep.backends import run_local, run_ray
from jaxrl.sweep.plan import Group, SweepPlan, load_plan
from jaxrl.sweep.source import SweepError
from jaxrl.sweep.trial_status import TrialRunner, check_and_write_plan, check_started_trials


@dataclasses.dataclass
class SweepResult:
    sweep_dir: Path
    statuses: dict[str, str]  # trial name -> "done" | "failed" (after this run)
    ran: list[str]  # trials run by this call
    skipped: list[str]  # trials already finished before this call

    def count(self, status: str) -> int:
        return sum(s == status for s in self.statuses.values())


def format_plan(plan: SweepPlan, sweep_dir: Path | None = None) -> str:
    """The trials of a plan by group, with their current status if `sweep_dir` is given."""
    lines = [f"sweep {plan.name}: {len(plan.trials)} trials in {len(plan.groups)} groups"]
    if sweep_dir is not None:
        lines[0] += f" (out: {sweep_dir})"
    for group in plan.groups:
        axes = ", ".join(group.batch_axes) or "nothing"
        lines.append(f"group {group.index} [{group.label}]: {len(group.trials)} trials, vmapped over {axes}")
        for trial in group.trials:
            state = ""
            if sweep_dir is not None:
                status = read_status(sweep_dir / trial.name)
                started = (sweep_dir / trial.name / METRICS_FILE).exists()
                state = status["status"] if status else ("started" if started else "pending")
            lines.append(f"  {trial.name:<60} {state}".rstrip())
    return "\n".join(lines)


def run_sweep(
    plan_or_path: SweepPlan | str | Path,
    *,
    backend: Literal["local", "ray"] = "local",
    address: str | None = None,
    out_root: str | Path = "runs",
    runner: TrialRunner | None = None,
    retry_failed: bool = False,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    run_overrides: Mapping[str, Any] | None = None,
    size: str | None = None,
) -> SweepResult:
    """Run every unfinished trial of a sweep, group after group (local) or as Ray tasks (ray).

    `runner(config, trial_specs, run_config) -> {name: outcome}` runs one group; by default
    ``jaxrl.run.run_trials``. Tests pass a cheap fake with the same contract. ``run_overrides``
    replaces fields of the file's ``run:`` section (the command line's logger options); ``size``
    chooses the size of a sweep file given by path.
    """
    from jaxrl.run import RunConfig, TrialSpec, run_trials

    runner = runner or run_trials
    plan = plan_or_path if isinstance(plan_or_path, SweepPlan) else load_plan(plan_or_path, size=size)
    sweep_dir = Path(out_root) / plan.name
    run_kwargs = {**plan.run_kwargs, **(run_overrides or {}), "resume": True, "progress": progress}
    run_config = RunConfig(**run_kwargs)

    jobs: list[tuple[Group, list[Any]]] = []
    skipped: list[str] = []
    retried: list[Path] = []
    for group in plan.groups:
        pending = []
        for trial in group.trials:
            status = read_status(sweep_dir / trial.name)
            if status is None or (retry_failed and status["status"] == "failed"):
                if status is not None:
                    retried.append(sweep_dir / trial.name / STATUS_FILE)
                pending.append(TrialSpec(trial.name, trial.seed, dict(trial.vmapped), sweep_dir / trial.name))
            else:
                skipped.append(trial.name)
        if pending:
            jobs.append((group, pending))
    check_started_trials(jobs, run_config)  # before anything is written
    check_and_write_plan(plan, sweep_dir)
    for path in retried:
        path.unlink()
    log(
        f"sweep {plan.name}: {len(plan.trials)} trials, {len(skipped)} already finished, "
        f"{sum(len(p) for _, p in jobs)} to run in {len(jobs)} groups ({backend}) -> {sweep_dir}"
    )

    resources = dict(plan.resources)
    if num_cpus is not None:
        resources["num_cpus"] = num_cpus
    if num_gpus is not None:
        resources["num_gpus"] = num_gpus

    if backend == "local":
        results = run_local(jobs, runner, run_config, log)
    elif backend == "ray":
        results = run_ray(jobs, runner, run_config, resources, address, log)
    else:
        raise SweepError(f"unknown backend {backend!r}; choose 'local' or 'ray'")

    statuses = {}
    for trial in plan.trials:
        status = read_status(sweep_dir / trial.name)
        statuses[trial.name] = status["status"] if status else "unfinished"
    result = SweepResult(sweep_dir, statuses, sorted(results), skipped)
    log(f"sweep {plan.name}: {result.count('done')} done, {result.count('failed')} failed -> {sweep_dir}")
    for name, (status, error) in sorted(results.items()):
        if status == "failed":
            log(f"  failed: {name}: {error}")
    return result

"""The state of a sweep's trials on disk: the plan record, the checks before a trial is continued,
the lock a running trial holds, and the ``status.json`` every trial ends with.

``status.json`` itself is read and written only through ``jaxrl.run_folder`` (atomically); this module
decides what a sweep's trials record in it (the outcome, and the trial's label, so that an
experiment reads its trials by label).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxrl.run_folder import CONFIG_FILE, read_status, write_status, write_text_atomic
from jaxrl.sweep.plan import Group, SweepPlan, Trial, apply_overrides
from jaxrl.sweep.source import SweepError

LOCK_FILE = ".lock"
PLAN_FILE = "sweep_plan.json"

TrialRunner = Callable[..., Mapping[str, Any]]


def config_record(config: Any) -> dict[str, Any]:
    """A config as it reads back from JSON."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def trial_record(trial: Trial) -> dict[str, Any]:
    """What a trial's ``status.json`` says about the trial besides its outcome: its label, when the
    sweep has labelled points (its config name, seed and overrides are in the sweep's plan record)."""
    return {"label": trial.point} if trial.point is not None else {}


def check_and_write_plan(plan: SweepPlan, sweep_dir: Path) -> None:
    """Refuse to reuse a trial directory for a different configuration; record the plan."""
    trials = {
        t.name: {
            "group": g.index,
            "label": t.point,
            "config_name": t.config_name,
            "seed": t.seed,
            "overrides": t.overrides,
            "config": config_record(apply_overrides(g.config, t.vmapped)),
        }
        for g in plan.groups
        for t in g.trials
    }
    trials = json.loads(json.dumps(trials, default=str))
    plan_file = sweep_dir / PLAN_FILE
    if plan_file.exists():
        try:
            previous = json.loads(plan_file.read_text()).get("trials", {})
        except ValueError:
            previous = {}
        for name, record in trials.items():
            old = previous.get(name)
            if old is not None and old["config"] != record["config"] and read_status(sweep_dir / name) is not None:
                changed = sorted(k for k in record["config"] if old["config"].get(k) != record["config"][k])
                raise SweepError(
                    f"{sweep_dir / name} was run with a different configuration "
                    f"(changed: {', '.join(changed)}); "
                    f"give the sweep a new 'name:' or remove {sweep_dir}"
                )
        trials = {**previous, **trials}
    sweep_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(sweep_dir / "sweep.yaml", plan.source_text)
    record = {
        "name": plan.name,
        "source": plan.source_path,
        "size": plan.size,
        "algorithm": plan.algorithm,
        "trials": trials,
    }
    write_text_atomic(plan_file, json.dumps(record, indent=1))


def check_started_trials(jobs: list[tuple[Group, list[Any]]], run_config: Any) -> None:
    """Refuse, before running anything, to continue a started trial with settings that change it."""
    for group, specs in jobs:
        wanted = config_record(group.config)
        for spec in specs:
            path = Path(spec.out_dir) / CONFIG_FILE
            if not path.exists():
                continue
            try:
                record = json.loads(path.read_text())
            except ValueError as exc:
                raise SweepError(
                    f"{path} is not valid JSON ({exc}); remove {path.parent} to run that trial again"
                ) from None
            saved = record.get("config") or {}
            changed = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
            if record.get("seed", spec.seed) != spec.seed:
                changed.append("seed")
            overrides = json.loads(json.dumps(spec.overrides, default=str))
            if (record.get("overrides") or {}) != overrides:
                changed.append("overrides")
            saved_run = record.get("run") or {}
            for key in ("log_every",):
                if key in saved_run and saved_run[key] != getattr(run_config, key, saved_run[key]):
                    changed.append(f"run.{key}")
            if changed:
                raise SweepError(
                    f"{path.parent} was started with other settings (changed: {', '.join(changed)}); "
                    f"give the sweep a new 'name:' or remove {path.parent}"
                )


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def trial_locks(specs: Sequence[Any], log: Callable[[str], None] = print):
    """Hold an exclusive ``flock`` on ``<trial>/.lock`` of every trial while it runs, so that a task of
    an earlier run that is still going (a killed driver's Ray task) and a rerun never write one trial at
    once: the rerun waits for it. The OS drops the lock when its holder ends, even by ``kill -9``."""
    handles = []
    try:
        for spec in sorted(specs, key=lambda s: str(s.out_dir)):
            folder = Path(spec.out_dir)
            folder.mkdir(parents=True, exist_ok=True)
            handle = open(folder / LOCK_FILE, "a")  # noqa: SIM115 - held until the group ends
            handles.append(handle)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"waiting for {folder}: a task of an earlier run of this sweep still writes it")
                fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        for handle in handles:
            handle.close()


def run_group(
    runner: TrialRunner,
    config: Any,
    specs: Sequence[Any],
    run_config: Any,
    records: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, tuple[str, str | None]]:
    """Run one group with `runner` and make sure every trial ends with a status.json.

    The trials are locked while they run (``trial_locks``); a trial that an earlier run's task finished
    while this one waited for its lock is not run again. An exception from the runner fails the trials
    of this group that it left unfinished, with the error and traceback, and is not re-raised, so the
    other groups go on. KeyboardInterrupt and SystemExit pass through: a stopped sweep leaves the trial
    unfinished, to be resumed. ``records`` (trial name -> `trial_record`) is added to each trial's
    status.json.
    """
    records = records or {}
    with trial_locks(specs):
        todo = [spec for spec in specs if read_status(Path(spec.out_dir)) is None]
        outcomes: Mapping[str, Any] = {}
        if todo:
            try:
                outcomes = runner(config, todo, run_config) or {}
            except Exception as exc:  # noqa: BLE001 - recorded per trial, the sweep goes on
                trace = traceback.format_exc()
                for spec in todo:
                    if read_status(Path(spec.out_dir)) is None:
                        write_status(Path(spec.out_dir), "failed", error_text(exc), traceback=trace)
        results: dict[str, tuple[str, str | None]] = {}
        for spec in specs:
            out_dir = Path(spec.out_dir)
            status = read_status(out_dir)
            if status is None:
                outcome = outcomes.get(spec.name)
                if outcome is None:
                    status = {"status": "failed", "error": "the trial runner returned no outcome for this trial"}
                else:
                    status = {"status": outcome.status, "error": outcome.error}
                write_status(out_dir, **status)
            record = records.get(spec.name)
            if spec in todo and record and any(status.get(k) != v for k, v in record.items()):
                write_status(out_dir, **{**status, **record})
            results[spec.name] = (status["status"], status.get("error"))
    return results


def fail_unfinished(specs: Sequence[Any], exc: BaseException) -> dict[str, tuple[str, str | None]]:
    """Fail the trials of a group whose worker crashed (those it left without a status)."""
    for spec in specs:
        if read_status(Path(spec.out_dir)) is None:
            write_status(Path(spec.out_dir), "failed", error_text(exc))
    return {s.name: ("failed", error_text(exc)) for s in specs}

"""Where a sweep's groups run: one after another in this process, or as Ray tasks."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from jaxrl.sweep.plan import Group
from jaxrl.sweep.source import SweepError
from jaxrl.sweep.trial_status import TrialRunner, fail_unfinished, run_group, trial_record

Jobs = list[tuple[Group, list[Any]]]
Results = dict[str, tuple[str, str | None]]


def describe(group: Group, specs: list[Any]) -> str:
    axes = ", ".join(group.batch_axes) or "nothing"
    return f"group {group.index} [{group.label}] ({len(specs)} trials, vmapped over {axes})"


def _records(group: Group) -> dict[str, dict[str, Any]]:
    return {t.name: trial_record(t) for t in group.trials}


def run_local(jobs: Jobs, runner: TrialRunner, run_config: Any, log: Callable[[str], None]) -> Results:
    """Run the groups one after another in this process."""
    results: Results = {}
    for i, (group, specs) in enumerate(jobs):
        log(f"[{i + 1}/{len(jobs)}] {describe(group, specs)}")
        start = time.perf_counter()
        outcome = run_group(runner, group.config, specs, run_config, _records(group))
        failed = sum(s == "failed" for s, _ in outcome.values())
        log(f"[{i + 1}/{len(jobs)}] finished in {time.perf_counter() - start:.1f} s, {failed} failed")
        results.update(outcome)
    return results


def run_ray(
    jobs: Jobs,
    runner: TrialRunner,
    run_config: Any,
    resources: Mapping[str, float],
    address: str | None,
    log: Callable[[str], None],
) -> Results:
    """Run each group as a Ray task (a local cluster when ``address`` is None) and wait for all."""
    try:
        import ray
    except ImportError:
        raise SweepError("--backend ray needs Ray: pip install 'jaxrl-research[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        # No address: a fresh local cluster on this machine ("local" never joins one found in /tmp/ray).
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=True)
    refs: dict[Any, tuple[Group, list[Any]]] = {}
    pending: list[Any] = []
    try:
        with _sigterm_as_exit():
            remote_group = ray.remote(run_group)
            options: dict[str, Any] = {"num_cpus": resources["num_cpus"], "num_gpus": resources["num_gpus"]}
            if resources.get("memory"):
                options["memory"] = resources["memory"]
            if 0 < resources["num_gpus"] < 1:
                # Several groups share a GPU: JAX must not grab most of its memory up front.
                options["runtime_env"] = {"env_vars": {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}}
            for group, specs in jobs:
                ref = remote_group.options(name=f"sweep-group-{group.index}", **options).remote(
                    runner, group.config, specs, run_config, _records(group)
                )
                refs[ref] = (group, specs)
                pending.append(ref)
                log(f"submitted {describe(group, specs)}")
            results: Results = {}
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    group, specs = refs[ref]
                    try:
                        outcome = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - a crashed worker fails its group only
                        outcome = fail_unfinished(specs, exc)
                    failed = sum(s == "failed" for s, _ in outcome.values())
                    log(f"finished group {group.index} [{group.label}], {failed} failed, {len(pending)} groups left")
                    results.update(outcome)
            return results
    finally:
        # A stopped driver (Ctrl-C, SIGTERM, an error) stops its tasks: none keeps writing after it.
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished or gone
                pass
        if started_here:
            ray.shutdown()


@contextlib.contextmanager
def _sigterm_as_exit():
    """Turn SIGTERM into SystemExit while the block runs, so that ``finally`` clauses (cancelling Ray
    tasks) run when the driver is terminated; Python's default SIGTERM skips them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

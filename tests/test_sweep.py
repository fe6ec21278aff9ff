"""Sweep files, expansion, grouping, resume and failure handling (with a fake trial runner)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from jaxrl.run import RunConfig, TrialOutcome
from jaxrl.sweep import SweepError, load_plan, parse_plan, run_sweep, sweep_main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "sweeps" / "example_cartpole.yaml"


@dataclasses.dataclass
class FakeRunner:
    """Stands in for jaxrl.run.run_trials: same files, same contract, no JAX.

    Each trial logs `rows` metrics rows (episode_return_mean = seed + 100 * learning_rate * update), resumes
    after the rows already in its metrics.jsonl, fails with NaN when its learning rate is above 0.5, and
    the whole group raises when update_epochs == 3. `interrupt_after_rows` raises KeyboardInterrupt
    (a stopped sweep) after that many rows in all; `row_delay` slows it down for the kill test.
    Every call is appended to `calls_log` as the list of trial names it was given.
    """

    calls_log: Path
    rows: int = 4
    interrupt_after_rows: int | None = None
    row_delay: float = 0.0
    rows_written: int = 0  # over all calls
    record_resources: bool = False  # append the Ray resources of the call to resources.jsonl

    def __call__(self, config, trials, run) -> dict[str, TrialOutcome]:
        with open(self.calls_log, "a") as f:
            f.write(json.dumps(sorted(t.name for t in trials)) + "\n")
        if self.record_resources:
            import ray

            with open(self.calls_log.parent / "resources.jsonl", "a") as f:
                f.write(json.dumps(ray.get_runtime_context().get_assigned_resources()) + "\n")
        if config.update_epochs == 3:
            raise RuntimeError("this static configuration is refused")
        outcomes = {}
        for t in trials:
            out = Path(t.out_dir)
            out.mkdir(parents=True, exist_ok=True)
            record = {"config": dataclasses.asdict(config), "seed": t.seed, "overrides": t.overrides}
            (out / "config.json").write_text(json.dumps(record, default=str))
        for update in range(1, self.rows + 1):
            for t in trials:
                path = Path(t.out_dir) / "metrics.jsonl"
                done_rows = len(path.read_text().splitlines()) if path.exists() else 0
                if done_rows >= update or t.name in outcomes:
                    continue
                lr = t.overrides.get("learning_rate", config.learning_rate)
                value = math.nan if lr > 0.5 and update == 2 else t.seed + 100 * lr * update
                if math.isnan(value):
                    outcomes[t.name] = TrialOutcome("failed", f"NaN in the loss at update {update}")
                    continue
                with open(path, "a") as f:
                    f.write(
                        json.dumps(
                            {
                                "step": 10 * update,
                                "update": update,
                                "seed": t.seed,
                                "episode_return_mean": value,
                            }
                        )
                        + "\n"
                    )
                self.rows_written += 1
                time.sleep(self.row_delay)
                if self.interrupt_after_rows is not None and self.rows_written >= self.interrupt_after_rows:
                    raise KeyboardInterrupt
        for t in trials:
            outcome = outcomes.setdefault(t.name, TrialOutcome("done"))
            status = {"status": outcome.status, "error": outcome.error}
            (Path(t.out_dir) / "status.json").write_text(json.dumps(status))
        return outcomes


def _calls(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


SMALL = """\
name: small
base:
  total_timesteps: 1024
  num_envs: 2
  num_steps: 16
axes:
  - grid:
      learning_rate: [0.001, 0.01]
  - num_minibatches: [1, 2]
seeds: [0, 1]
"""


# ----------------------------------------------------------------------------- parsing and grouping


def test_example_sweep_expands_into_two_vmapped_groups():
    plan = load_plan(EXAMPLE)
    assert len(plan.trials) == 16 and len(plan.groups) == 2
    assert len({t.name for t in plan.trials}) == 16
    for group, (num_envs, num_steps) in zip(plan.groups, [(4, 64), (8, 32)], strict=True):
        assert (group.config.num_envs, group.config.num_steps) == (num_envs, num_steps)
        assert len(group.trials) == 8
        assert group.batch_axes == ["ent_coef", "learning_rate", "seed"]
        assert {(t.vmapped["learning_rate"], t.vmapped["ent_coef"], t.seed) for t in group.trials} == {
            (lr, ent, s) for lr in (2.5e-4, 1e-3) for ent in (0.0, 0.01) for s in (0, 1)
        }
        # The group's own config holds the base values of the vmappable fields.
        assert group.config.learning_rate == plan.base_config.learning_rate
    assert plan.trials[0].name == "learning_rate=0.00025,ent_coef=0.0,num_envs=4,num_steps=64/seed=0"


def test_grid_zip_list_and_plain_axes_combine_as_a_product(tmp_path):
    plan = parse_plan(
        textwrap.dedent(
            """\
            base: {total_timesteps: 4096}
            axes:
              - grid: {learning_rate: [1e-3, 3e-4], gamma: [0.9, 0.99]}
              - zip: {num_envs: [4, 8], num_steps: [64, 32]}
              - list:
                  - {hidden_sizes: [32]}
                  - {hidden_sizes: [64, 64], activation: relu}
              - env_kwargs.max_steps_in_episode: [100, 200]
            seeds: 3
            """
        ),
        "inline.yaml",
    )
    trials = plan.trials
    assert len(trials) == 4 * 2 * 2 * 2 * 3
    lrs = {t.overrides["learning_rate"] for t in trials}
    assert lrs == {1e-3, 3e-4} and all(isinstance(v, float) for v in lrs)  # "1e-3" is a float, not a string
    assert {(t.overrides["num_envs"], t.overrides["num_steps"]) for t in trials} == {(4, 64), (8, 32)}
    assert {t.overrides["hidden_sizes"] for t in trials} == {(32,), (64, 64)}
    assert all(t.overrides.get("activation") in (None, "relu") for t in trials)
    # static fields split groups (2 zip x 2 list x 2 env_kwargs); learning rate, gamma and seeds do not
    assert len(plan.groups) == 8
    for group in plan.groups:
        assert len(group.trials) == 12
        assert set(group.batch_axes) == {"gamma", "learning_rate", "seed"}
        assert group.config.env_kwargs["max_steps_in_episode"] in (100, 200)
        assert len({(t.overrides["num_envs"], t.overrides["hidden_sizes"]) for t in group.trials}) == 1


def test_max_group_size_splits_groups():
    plan = parse_plan(SMALL + "max_group_size: 3\n", "s.yaml")
    assert [len(g.trials) for g in plan.groups] == [3, 1, 3, 1]
    assert sorted(t.name for t in plan.trials) == sorted(t.name for t in parse_plan(SMALL, "s.yaml").trials)


ERRORS = [
    ("base:\n  env: CartPole-v1\n  learnin_rate: 0.1\n", 3, "unknown config key 'learnin_rate'"),
    (
        "axes:\n  - grid:\n      learning_rate: [0.1]\n      entcoef: [0.0, 0.1]\n",
        4,
        "unknown config key 'entcoef'",
    ),
    ("base: {}\nseed: 3\n", 2, "unknown top-level key 'seed'"),
    ("axes:\n  - zip:\n      num_envs: [4, 8]\n      num_steps: [64]\n", 2, "equal lengths"),
    ("axes:\n  - learning_rate: [0.1, fast]\n", 2, "learning_rate: must be a number"),
    ("base:\n  num_envs: 4\n  num_envs: 8\n", 3, "duplicate key 'num_envs'"),
    ("axes:\n  - seed: [1, 2]\n", 2, "'seed' is not a config key"),
    ("base:\n  total_timesteps: 4096\naxes:\n  - gamma: [0.9, 1.5]\n", 4, "gamma must lie in [0, 1]"),
    ("run:\n  log_every: 2\n  log_evry: 2\n", 3, "unknown run key 'log_evry'"),
    ("axes:\n  - network.size: [1]\n", 2, "only dict fields take a dotted key"),
    ("axes:\n  - network: [mlp, transformer]\n", 2, "must be one of"),
    (
        "axes:\n  - learning_rate: [0.1]\n  - learning_rate: [0.2]\n",
        3,
        "appears in two axes (first at line 2)",
    ),
    ("base:\n  env: [CartPole-v1\n", 3, "invalid YAML"),
    ("seeds: [0, 0]\n", 1, "repeated seed"),
]


@pytest.mark.parametrize(("text", "line", "message"), ERRORS)
def test_invalid_files_name_the_key_and_line(text, line, message):
    with pytest.raises(SweepError) as err:
        parse_plan(text, "bad.yaml")
    assert f"bad.yaml:{line}:" in str(err.value)
    assert message in str(err.value)


def test_cli_dry_run_lists_groups_and_invalid_file_exits_2(tmp_path, capsys):
    path = _write(tmp_path, SMALL)
    assert sweep_main([str(path), "--dry-run", "--out-root", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "8 trials in 2 groups" in out
    assert "group 0 [num_minibatches=1]: 4 trials, vmapped over learning_rate, seed" in out
    assert re.search(r"learning_rate=0.01,num_minibatches=2/seed=1 +pending", out)
    assert not (tmp_path / "runs").exists()  # a dry run writes nothing
    bad = _write(tmp_path, "base:\n  lr: 0.1\n", "bad.yaml")
    assert sweep_main([str(bad), "--dry-run"]) == 2
    assert f"{bad}:2: unknown config key 'lr'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- running


def test_sweep_runs_each_group_once_and_records_every_trial(tmp_path):
    log = tmp_path / "calls.jsonl"
    result = run_sweep(_write(tmp_path, SMALL), out_root=tmp_path / "runs", runner=FakeRunner(log), log=lambda s: None)
    assert result.count("done") == 8 and not result.skipped
    calls = _calls(log)
    assert len(calls) == 2 and sorted(len(c) for c in calls) == [4, 4]
    trial_dir = tmp_path / "runs" / "small" / "learning_rate=0.01,num_minibatches=2" / "seed=1"
    record = json.loads((trial_dir / "config.json").read_text())
    assert record["config"]["num_minibatches"] == 2  # static override in the group config
    assert record["overrides"] == {"learning_rate": 0.01}  # only vmappable fields as trial overrides
    rows = [json.loads(x) for x in (trial_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["episode_return_mean"] for r in rows] == pytest.approx([1 + u for u in (1, 2, 3, 4)])
    assert json.loads((trial_dir / "status.json").read_text())["status"] == "done"
    assert (tmp_path / "runs" / "small" / "sweep.yaml").read_text() == SMALL

    again = run_sweep(_write(tmp_path, SMALL), out_root=tmp_path / "runs", runner=FakeRunner(log), log=lambda s: None)
    assert len(_calls(log)) == 2  # nothing ran the second time
    assert len(again.skipped) == 8 and again.count("done") == 8


def test_failures_are_recorded_and_the_others_go_on(tmp_path):
    text = SMALL.replace("[0.001, 0.01]", "[0.001, 0.9]").replace("num_minibatches: [1, 2]", "update_epochs: [3, 2]")
    path = _write(tmp_path, text)
    log = tmp_path / "calls.jsonl"
    result = run_sweep(path, out_root=tmp_path / "runs", runner=FakeRunner(log), log=lambda s: None)
    sweep_dir = tmp_path / "runs" / "small"
    # update_epochs=3: the runner raised, so the whole group failed with the error and a traceback.
    raised = json.loads((sweep_dir / "learning_rate=0.001,update_epochs=3" / "seed=0" / "status.json").read_text())
    assert raised["status"] == "failed"
    assert raised["error"] == "RuntimeError: this static configuration is refused"
    assert "Traceback" in raised["traceback"]
    # learning_rate=0.9: NaN in its own trials only; the rest of its group finished.
    nan = json.loads((sweep_dir / "learning_rate=0.9,update_epochs=2" / "seed=1" / "status.json").read_text())
    assert nan == {"status": "failed", "error": "NaN in the loss at update 2"}
    assert result.statuses == {
        f"learning_rate={lr},update_epochs={mb}/seed={s}": ("done" if mb == 2 and lr == 0.001 else "failed")
        for lr in (0.001, 0.9)
        for mb in (3, 2)
        for s in (0, 1)
    }
    # failed trials are not retried unless asked
    run_sweep(path, out_root=tmp_path / "runs", runner=FakeRunner(log), log=lambda s: None)
    assert len(_calls(log)) == 2
    run_sweep(path, out_root=tmp_path / "runs", runner=FakeRunner(log), retry_failed=True, log=lambda s: None)
    retried = _calls(log)[2:]
    assert sorted(n for c in retried for n in c) == sorted(n for n, s in result.statuses.items() if s == "failed")


def test_stopped_sweep_resumes_only_unfinished_trials_and_keeps_written_rows(tmp_path):
    path = _write(tmp_path, SMALL)
    log = tmp_path / "calls.jsonl"
    runs = tmp_path / "runs"
    # 4 rows x 4 trials finish group 0; group 1 stops after 6 more rows (its trials at 1 or 2 rows).
    with pytest.raises(KeyboardInterrupt):
        run_sweep(path, out_root=runs, runner=FakeRunner(log, interrupt_after_rows=16 + 6), log=lambda s: None)
    sweep_dir = runs / "small"
    plan = load_plan(path)
    done_before = {t.name for t in plan.trials if (sweep_dir / t.name / "status.json").exists()}
    assert done_before == {t.name for t in plan.groups[0].trials}
    partial = {t.name: (sweep_dir / t.name / "metrics.jsonl").read_text() for t in plan.groups[1].trials}
    assert sorted(len(v.splitlines()) for v in partial.values()) == [1, 1, 2, 2]
    finished_files = {n: (sweep_dir / n / "metrics.jsonl").read_text() for n in done_before}

    result = run_sweep(path, out_root=runs, runner=FakeRunner(log), log=lambda s: None)
    assert result.count("done") == 8 and set(result.skipped) == done_before
    assert _calls(log)[-1] == sorted(partial)  # only the unfinished group ran again
    for name, text in partial.items():
        now = (sweep_dir / name / "metrics.jsonl").read_text()
        assert now.startswith(text) and len(now.splitlines()) == 4
    assert all((sweep_dir / n / "metrics.jsonl").read_text() == t for n, t in finished_files.items())


KILLED_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_sweep import FakeRunner
from jaxrl.sweep import run_sweep
run_sweep({path!r}, out_root={runs!r}, runner=FakeRunner(Path({log!r}), row_delay=0.15), log=lambda s: None)
"""


def test_killed_sweep_resumes(tmp_path):
    path = _write(tmp_path, SMALL)
    log = tmp_path / "calls.jsonl"
    runs = tmp_path / "runs"
    script = KILLED_SCRIPT.format(tests=str(ROOT / "tests"), path=str(path), runs=str(runs), log=str(log))
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    sweep_dir = runs / "small"
    plan = load_plan(path)
    second = [sweep_dir / t.name / "metrics.jsonl" for t in plan.groups[1].trials]
    try:
        deadline = time.time() + 60
        while not any(p.exists() and p.read_text() for p in second):
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.time() < deadline, "the sweep did not reach its second group"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert all((sweep_dir / t.name / "status.json").exists() for t in plan.groups[0].trials)
    assert not any((sweep_dir / t.name / "status.json").exists() for t in plan.groups[1].trials)
    written = {p: p.read_text() for p in second if p.exists()}

    result = run_sweep(path, out_root=runs, runner=FakeRunner(log), log=lambda s: None)
    assert result.count("done") == 8
    assert len(_calls(log)) == 3 and _calls(log)[-1] == sorted(t.name for t in plan.groups[1].trials)
    for p, text in written.items():
        assert p.read_text().startswith(text)


def test_reusing_a_trial_directory_with_another_config_is_refused(tmp_path):
    log = tmp_path / "calls.jsonl"
    run_sweep(_write(tmp_path, SMALL), out_root=tmp_path / "runs", runner=FakeRunner(log), log=lambda s: None)
    changed = _write(tmp_path, SMALL.replace("total_timesteps: 1024", "total_timesteps: 2048"))
    with pytest.raises(SweepError, match="different configuration .changed: total_timesteps"):
        run_sweep(changed, out_root=tmp_path / "runs", runner=FakeRunner(log), log=lambda s: None)


# Two real PPO trials (learning rates 0.001 and 0.01) small enough to compile and run in seconds.
TINY_REAL_SWEEP = """\
name: tiny
base: {total_timesteps: 256, num_envs: 2, num_steps: 32, update_epochs: 1, num_minibatches: 1,
       hidden_sizes: [8]}
run: {log_every: 2, checkpoint_every: 1}
axes:
  - learning_rate: [0.001, 0.01]
seeds: 1
"""


@pytest.mark.slow  # about 15 s of CPU (JAX compilation); the fake runner covers the logic by default
def test_real_ppo_sweep_on_tiny_cartpole(tmp_path):
    """One group of 2 trials through jaxrl.run.run_trials, then a second call that skips them."""
    path = _write(
        tmp_path,
        TINY_REAL_SWEEP,
    )
    result = run_sweep(path, out_root=tmp_path / "runs", progress=False, log=lambda s: None)
    assert result.count("done") == 2
    for lr in ("0.001", "0.01"):
        trial = tmp_path / "runs" / "tiny" / f"learning_rate={lr}" / "seed=0"
        rows = [json.loads(x) for x in (trial / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows] == [128, 256]
        assert rows[-1]["learning_rate"] == float(lr)
        assert json.loads((trial / "config.json").read_text())["overrides"] == {"learning_rate": float(lr)}
    again = run_sweep(path, out_root=tmp_path / "runs", progress=False, log=lambda s: None)
    assert len(again.skipped) == 2 and not again.ran


def test_run_config_fields_owned_by_the_sweep_are_refused():
    with pytest.raises(SweepError, match="run.out is set by the sweep"):
        parse_plan("run:\n  out: elsewhere\n", "r.yaml")
    assert RunConfig().resume is False  # the sweep turns resume on itself


def test_a_started_trial_whose_settings_changed_is_refused_before_anything_runs(tmp_path):
    path = _write(tmp_path, SMALL)
    log = tmp_path / "calls.jsonl"
    with pytest.raises(KeyboardInterrupt):  # every trial of group 0 started, none finished
        run_sweep(path, out_root=tmp_path / "runs", runner=FakeRunner(log, interrupt_after_rows=2), log=lambda s: None)
    changed = _write(tmp_path, SMALL.replace("num_steps: 16", "num_steps: 8"), name="changed.yaml")
    sweep_dir = tmp_path / "runs" / "small"
    before = {p: p.read_bytes() for p in sweep_dir.rglob("*") if p.is_file() and p.name != ".lock"}
    with pytest.raises(SweepError, match=r"was started with other settings \(changed: num_steps\)"):
        run_sweep(changed, out_root=tmp_path / "runs", runner=FakeRunner(log), log=lambda s: None)
    assert len(_calls(log)) == 1
    assert {p: p.read_bytes() for p in sweep_dir.rglob("*") if p.is_file() and p.name != ".lock"} == before
    assert run_sweep(path, out_root=tmp_path / "runs", runner=FakeRunner(log), log=lambda s: None).count("done") == 8


def test_a_rerun_waits_for_a_task_of_the_previous_run_that_still_writes_a_trial(tmp_path):
    """An earlier run's task still holds the trial's lock and finishes the trial while the rerun waits:
    the rerun then does not run it again (without the lock it would have started at once)."""
    import fcntl
    import threading

    from jaxrl.run_folder import write_status
    from jaxrl.sweep import LOCK_FILE

    path = _write(tmp_path, SMALL)
    plan = load_plan(path)
    sweep_dir = tmp_path / "runs" / "small"
    held = [sweep_dir / t.name for t in plan.groups[0].trials]
    handles = []
    for folder in held:
        folder.mkdir(parents=True)
        handles.append(open(folder / LOCK_FILE, "a"))
        fcntl.flock(handles[-1], fcntl.LOCK_EX)

    def previous_task_finishes():
        for folder, handle in zip(held, handles, strict=True):
            write_status(folder, "done", None)
            handle.close()

    timer = threading.Timer(1.0, previous_task_finishes)
    timer.start()
    log = tmp_path / "calls.jsonl"
    lines = []
    result = run_sweep(path, out_root=tmp_path / "runs", runner=FakeRunner(log), log=lines.append)
    timer.join()
    assert result.count("done") == 8
    assert _calls(log) == [sorted(t.name for t in plan.groups[1].trials)]  # group 0 was not run again


def test_status_json_is_written_atomically_by_one_function():
    import jaxrl.run as run_module
    import jaxrl.sweep as sweep_module
    from jaxrl import run_folder

    assert sweep_module.write_status is run_folder.write_status and run_module.write_status is run_folder.write_status


@pytest.mark.slow  # JAX compilation of a real group (~20 s on an idle 2-core CPU)
def test_real_ppo_sweep_with_nan_in_one_trial(tmp_path, monkeypatch):
    """A trial whose parameters turn NaN fails (naming the update) and the other trial of its group
    goes on, as in `jaxrl train`."""

    from nan_injection import inject_nan

    def is_bad(state, new_state, metrics):
        return (new_state.update_idx > 2) & (state.hparams.learning_rate > 5e-3)

    inject_nan(monkeypatch, "ppo", is_bad)
    path = _write(
        tmp_path,
        TINY_REAL_SWEEP,
    )
    result = run_sweep(path, out_root=tmp_path / "runs", progress=False, log=lambda s: None)
    assert result.statuses == {"learning_rate=0.001/seed=0": "done", "learning_rate=0.01/seed=0": "failed"}
    status = json.loads((tmp_path / "runs" / "tiny" / "learning_rate=0.01" / "seed=0" / "status.json").read_text())
    assert "at update 3; its parameters after update 2 are kept" in status["error"]

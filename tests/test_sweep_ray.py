"""`--backend ray` on a real local Ray cluster: join one by address, or let the sweep start one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import test_sweep  # noqa: E402  (the fake trial runner; tests/ is on sys.path under pytest)
from test_sweep import SMALL, FakeRunner, _calls, _write  # noqa: E402

from jaxrl.sweep import load_plan, run_sweep  # noqa: E402

# Ray starts its processes with fork+exec, which JAX warns about; nothing JAX runs in between.
pytestmark = [pytest.mark.ray, pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")]

# Ray workers cannot import the test module, so the fake runner travels by value.
ray.cloudpickle.register_pickle_by_value(test_sweep)

HEAD = textwrap.dedent(
    """
    import sys, ray
    context = ray.init(address="local", num_cpus=2, include_dashboard=False)
    print(context.address_info["gcs_address"], flush=True)
    sys.stdin.read()  # the cluster lives until the test closes our stdin
    ray.shutdown()
    """
)


@pytest.fixture
def ray_cluster():
    """A Ray head on this machine in its own process (as `ray start --head` would be); yields its address.

    Ray >= 2.59 gives a cluster started by `ray.init()` a token that other drivers do not know, so this
    test cluster runs without token authentication (RAY_AUTH_MODE=disabled).
    """
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen(
        [sys.executable, "-c", HEAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        address = head.stdout.readline().strip()
        assert address, "the Ray head did not start"
        yield address
    finally:
        head.stdin.close()
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()


def test_ray_sweep_joins_a_cluster_records_a_failure_and_resumes(tmp_path, ray_cluster):
    text = SMALL.replace("[0.001, 0.01]", "[0.001, 0.9]") + "resources: {num_cpus: 1}\n"
    path = _write(tmp_path, text)
    runs = tmp_path / "runs"
    log = tmp_path / "calls.jsonl"
    plan = load_plan(path)
    # A first, local run is stopped in the second group: group 0 is finished (lr=0.9 with NaN), the
    # trials of group 1 have logged a row or two. 10 rows = 2 trials x 4 rows + 2 trials x 1 row.
    with pytest.raises(KeyboardInterrupt):
        run_sweep(path, out_root=runs, runner=FakeRunner(log, interrupt_after_rows=10 + 5), log=lambda s: None)
    sweep_dir = runs / "small"
    partial = {t.name: (sweep_dir / t.name / "metrics.jsonl").read_text() for t in plan.groups[1].trials}
    assert sum(len(v.splitlines()) for v in partial.values()) == 5

    result = run_sweep(
        path,
        backend="ray",
        address=ray_cluster,
        out_root=runs,
        runner=FakeRunner(log, record_resources=True),
        log=lambda s: None,
    )
    assert not ray.is_initialized()  # the sweep disconnected; the cluster itself is still up
    assert _calls(log)[-1] == sorted(partial)  # only the unfinished group ran, as one Ray task
    assert len(_calls(log)) == 3
    assert json.loads((tmp_path / "resources.jsonl").read_text().splitlines()[-1]) == {"CPU": 1.0}
    assert result.statuses == {t.name: "failed" if "0.9" in t.name else "done" for t in plan.trials}
    failed = json.loads((sweep_dir / "learning_rate=0.9,num_minibatches=2" / "seed=0" / "status.json").read_text())
    assert failed["error"] == "NaN in the loss at update 2"
    for name, before in partial.items():
        now = (sweep_dir / name / "metrics.jsonl").read_text()
        assert now.startswith(before)
        assert len(now.splitlines()) == (1 if "0.9" in name else 4)


def test_ray_sweep_without_address_starts_a_local_cluster(tmp_path):
    path = _write(tmp_path, SMALL)
    log = tmp_path / "calls.jsonl"
    lines: list[str] = []
    result = run_sweep(path, backend="ray", out_root=tmp_path / "runs", runner=FakeRunner(log), log=lines.append)
    assert result.count("done") == 8
    assert sorted(len(c) for c in _calls(log)) == [4, 4]  # two groups, two tasks
    assert sum(line.startswith("submitted group") for line in lines) == 2
    assert not ray.is_initialized()
    assert Path(tmp_path / "runs" / "small" / "sweep_plan.json").exists()



def test_a_stopped_driver_cancels_its_tasks(tmp_path, ray_cluster):
    """The driver stops (Ctrl-C here) while its tasks run: it cancels them, so nothing writes after it
    returns even though this process stays connected to the cluster (a driver that only returned would
    leave them running)."""
    import time

    path = _write(tmp_path, SMALL)
    runs = tmp_path / "runs"
    metrics = [runs / "small" / t.name / "metrics.jsonl" for t in load_plan(path).trials]

    def stop_when_a_task_writes(line):
        if line.startswith("submitted group 1"):
            deadline = time.time() + 120
            while not any(p.exists() and p.read_text() for p in metrics):
                assert time.time() < deadline, "no task started writing"
                time.sleep(0.05)
            raise KeyboardInterrupt

    ray.init(address=ray_cluster)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_sweep(
                path,
                backend="ray",
                out_root=runs,
                runner=FakeRunner(tmp_path / "calls.jsonl", rows=400, row_delay=0.05),
                log=stop_when_a_task_writes,
            )
        time.sleep(2)  # let a cancelled task's last write land
        written = {p: p.read_text() for p in metrics if p.exists()}
        time.sleep(3)  # a task still running writes a row every 0.05 s
        assert {p: p.read_text() for p in metrics if p.exists()} == written
    finally:
        ray.shutdown()
    assert not any((p.parent / "status.json").exists() for p in metrics)

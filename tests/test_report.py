"""`jaxrl report`: final scores, IQM and intervals per configuration, CSV/markdown and the PNG."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from jaxrl.report import final_score, load_trials, report_main, write_report
from jaxrl.stats import bootstrap_ci, interquartile_mean


def _trial(root: Path, config: str, seed: int, returns: list[float], status: str | None = "done", lr=0.001):
    folder = root / config / f"seed={seed}"
    folder.mkdir(parents=True)
    rows = [
        {"step": 100 * (i + 1), "seed": seed, "trial": f"{config}/seed={seed}", "episode_return_mean": r}
        for i, r in enumerate(returns)
    ]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    record = {
        "config": {"env": "CartPole-v1", "learning_rate": 0.00025, "num_envs": 4},
        "seed": seed,
        "overrides": {"learning_rate": lr},
        "trial": f"{config}/seed={seed}",
    }
    (folder / "config.json").write_text(json.dumps(record))
    if status is not None:
        error = "NaN in the loss at update 3" if status == "failed" else None
        (folder / "status.json").write_text(json.dumps({"status": status, "error": error}))


# Final scores by construction: the last 10% of 20 rows are the last 2, whose mean is `final`.
def _returns(final: float) -> list[float]:
    return [0.0] * 18 + [final - 1.0, final + 1.0]


FINALS_A = [10.0, 20.0, 30.0, 400.0, 50.0]  # an outlier seed: IQM drops it, the mean does not
FINALS_B = [5.0, 6.0, 7.0]


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runs" / "demo"
    for seed, final in enumerate(FINALS_A):
        _trial(root, "learning_rate=0.001", seed, _returns(final), lr=0.001)
    for seed, final in enumerate(FINALS_B):
        _trial(root, "learning_rate=0.01", seed, _returns(final), lr=0.01)
    _trial(root, "learning_rate=0.01", 7, [1.0, float("nan")], status="failed", lr=0.01)
    _trial(root, "learning_rate=0.01", 8, [1.0], status=None, lr=0.01)  # stopped before it finished
    (root / ".group-abc" / "checkpoints").mkdir(parents=True)
    return root


def test_final_score_is_the_mean_of_the_last_tenth():
    rows = [{"r": float(i)} for i in range(20)]
    assert final_score(rows, "r") == pytest.approx(18.5)
    assert final_score(rows, "r", last_fraction=0.25) == pytest.approx(np.mean([15, 16, 17, 18, 19]))
    assert final_score(rows[:3], "r") == 2.0  # at least one row
    assert final_score([{"r": 1.0}, {"r": None}, {"x": 3}], "r") == 1.0
    assert math.isnan(final_score([{"x": 1}], "r"))


def test_report_tables_match_direct_computation(sweep_dir):
    files = write_report(sweep_dir, reps=500)
    with open(files.csv) as f:
        rows = {r["configuration"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"learning_rate=0.001", "learning_rate=0.01"}
    a, b = rows["learning_rate=0.001"], rows["learning_rate=0.01"]
    assert float(a["iqm"]) == pytest.approx(interquartile_mean(np.array(FINALS_A)))  # = mean(20, 30, 50)
    assert float(a["iqm"]) == pytest.approx(100 / 3)
    assert float(a["mean"]) == pytest.approx(np.mean(FINALS_A))
    expected = bootstrap_ci(np.array(FINALS_A), "iqm", reps=500)
    assert (float(a["ci_low"]), float(a["ci_high"])) == pytest.approx((expected.low, expected.high))
    assert (a["seeds"], a["failed"], a["unfinished"]) == ("5", "0", "0")
    assert (b["seeds"], b["failed"], b["unfinished"]) == ("3", "1", "1")
    assert float(b["iqm"]) == pytest.approx(6.0)
    assert json.loads(a["learning_rate"]) == 0.001  # hyperparameters that vary become columns
    assert "num_envs" not in a
    assert [float(x) for x in a["scores"].split()] == pytest.approx(FINALS_A)

    markdown = files.markdown.read_text()
    table = [line for line in markdown.splitlines() if line.startswith("| `")]
    assert table[0].startswith("| `learning_rate=0.001` | 5 | 33.33 |")  # best IQM first
    assert table[1].startswith("| `learning_rate=0.01` | 3 | 6 |")
    assert "NaN in the loss at update 3" in markdown

    image = plt_imread(files.png)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0.01  # not a blank canvas


def plt_imread(path: Path) -> np.ndarray:
    import matplotlib.image

    return matplotlib.image.imread(path)


def test_train_run_with_seeds_in_one_folder(tmp_path):
    """`jaxrl train --num-seeds 3` writes every seed into one metrics.jsonl; each is its own trial."""
    run = tmp_path / "cartpole"
    run.mkdir()
    rows = [
        {"step": s, "seed": seed, "trial": f"seed={seed}", "episode_return_mean": float(seed * 10 + s)}
        for s in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
        for seed in (0, 1, 2)
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "status.json").write_text(json.dumps({"status": "done", "error": None}))
    trials = load_trials(run)
    assert [(t.trial, t.seed, len(t.rows)) for t in trials] == [(f"seed={i}", i, 10) for i in range(3)]
    files = write_report(run, out=tmp_path / "out", reps=200)
    row = next(csv.DictReader(open(files.csv)))
    assert row["configuration"] == "cartpole" and row["seeds"] == "3"
    assert float(row["iqm"]) == pytest.approx(np.mean([10, 20, 30]))  # n=3: nothing trimmed


def test_cli_reports_and_refuses_unknown_metric(sweep_dir, capsys):
    assert report_main([str(sweep_dir), "--reps", "100"]) == 0
    assert "| `learning_rate=0.001` | 5 |" in capsys.readouterr().out
    assert (sweep_dir / "report.csv").exists() and (sweep_dir / "learning_curves.png").exists()
    assert report_main([str(sweep_dir), "--metric", "episode_retrun"]) == 2
    assert "no row logs the metric 'episode_retrun'" in capsys.readouterr().err
    assert report_main([str(sweep_dir / "missing")]) == 2

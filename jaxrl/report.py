"""`jaxrl report runs/<sweep>`: final metrics per configuration and learning curves, aggregated over seeds.

Reads every ``metrics.jsonl`` under the folder (with the ``config.json`` and ``status.json`` beside it),
splits its rows by trial (a sweep writes one trial per folder, ``jaxrl train`` several seeds into one),
and groups trials into configurations by their folder with its trailing ``seed=<n>`` removed.

A trial's final score is the mean of its metric over the last 10% of its logged rows (at least one).
Per configuration the report gives the interquartile mean over seeds with a 95% percentile bootstrap
interval (``jaxrl.stats``, as rliable computes them), writes ``report.md`` and ``report.csv``, and
draws ``learning_curves.png``: the IQM at each logged step with its shaded bootstrap interval.
Only finished trials (status done) enter the statistics; failed and unfinished ones are counted.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tyro

from jaxrl.run_folder import read_metrics
from jaxrl.stats import bootstrap_ci, bootstrap_curve_ci

SEED_DIR = re.compile(r"^seed=(-?\d+)$")
REPO_ROOT = Path(__file__).resolve().parents[1]


def git_revision(short: bool = False) -> str:
    """The commit results are written from, marked when tracked files differ from it ("unknown" outside
    a git checkout): every experiment summary and benchmark record names it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", *(["--short"] if short else []), "HEAD"],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (working tree had uncommitted changes)" if dirty else "")


def write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """A CSV of dict rows; the columns are every key that occurs, in order of first appearance."""
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


@dataclasses.dataclass
class TrialRecord:
    config_label: str  # the folder relative to the report root, without its seed=<n> part
    trial: str
    seed: int | None
    status: str  # "done" | "failed" | "unfinished"
    error: str | None
    config: dict[str, Any]  # the resolved config with the trial's overrides (empty if no config.json)
    rows: list[dict[str, Any]]
    algorithm: str = "ppo"  # config.json's algorithm (folders written before the key: ppo)


@dataclasses.dataclass
class ConfigSummary:
    label: str
    hyperparameters: dict[str, Any]  # the fields that differ between the configurations of the report
    num_done: int
    num_failed: int
    num_unfinished: int
    final_scores: list[float]  # per done trial, in seed order
    iqm: float
    ci_low: float
    ci_high: float
    mean: float
    errors: list[str]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_trials(root: str | Path) -> list[TrialRecord]:
    """Every trial under `root`, in a stable order."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    records = []
    for metrics_path in sorted(root.rglob("metrics.jsonl")):
        folder = metrics_path.parent
        rel = folder.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        parts = list(rel.parts)
        folder_seed = None
        if parts and SEED_DIR.match(parts[-1]):
            folder_seed = int(SEED_DIR.match(parts.pop()).group(1))
        label = "/".join(parts) or (root.name if folder == root else ".")
        record = _read_json(folder / "config.json") or {}
        config = dict(record.get("config", {}))
        config.update(record.get("overrides") or {})
        status_file = _read_json(folder / "status.json")
        by_trial: dict[str, list[dict[str, Any]]] = {}
        for row in read_metrics(metrics_path):
            key = str(row.get("trial", row.get("seed", folder_seed)))
            by_trial.setdefault(key, []).append(row)
        if not by_trial and record.get("trial"):
            by_trial[str(record["trial"])] = []
        for trial, rows in by_trial.items():
            seed = rows[0].get("seed", folder_seed) if rows else record.get("seed", folder_seed)
            status, error = "unfinished", None
            if status_file is not None:
                status = (status_file.get("trials") or {}).get(trial, status_file.get("status", "unfinished"))
                error = status_file.get("error") if status == "failed" else None
            algorithm = record.get("algorithm", "ppo")
            records.append(TrialRecord(label, trial, seed, status, error, config, rows, algorithm))
    return records


def final_score(rows: Sequence[dict[str, Any]], metric: str, last_fraction: float = 0.1) -> float:
    """Mean of `metric` over the last `last_fraction` of the rows that log it (at least one row)."""
    values = [r[metric] for r in rows if isinstance(r.get(metric), int | float)]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return math.nan
    count = max(1, math.ceil(last_fraction * len(values)))
    return float(np.mean(values[-count:]))


def _varying_fields(records: list[TrialRecord]) -> list[str]:
    configs = {r.config_label: r.config for r in records}
    keys = sorted({k for c in configs.values() for k in c})
    varying = []
    for key in keys:
        values = {json.dumps(c.get(key), sort_keys=True, default=str) for c in configs.values()}
        if len(values) > 1:
            varying.append(key)
    return varying


def summarize(
    records: list[TrialRecord],
    metric: str = "episode_return_mean",
    last_fraction: float = 0.1,
    confidence: float = 0.95,
    reps: int = 2000,
) -> list[ConfigSummary]:
    """One summary per configuration, best IQM first (configurations with no finished trial last)."""
    varying = _varying_fields(records)
    by_config: dict[str, list[TrialRecord]] = {}
    for record in records:
        by_config.setdefault(record.config_label, []).append(record)
    summaries = []
    for label, trials in by_config.items():
        done = sorted((t for t in trials if t.status == "done"), key=lambda t: (t.seed is None, t.seed or 0))
        scores = [final_score(t.rows, metric, last_fraction) for t in done]
        finite = np.array([s for s in scores if math.isfinite(s)])
        if finite.size:
            interval = bootstrap_ci(finite, "iqm", reps=reps, confidence=confidence)
            iqm, low, high, mean = interval.point, interval.low, interval.high, float(finite.mean())
        else:
            iqm = low = high = mean = math.nan
        summaries.append(
            ConfigSummary(
                label=label,
                hyperparameters={k: trials[0].config.get(k) for k in varying},
                num_done=len(done),
                num_failed=sum(t.status == "failed" for t in trials),
                num_unfinished=sum(t.status not in ("done", "failed") for t in trials),
                final_scores=scores,
                iqm=iqm,
                ci_low=low,
                ci_high=high,
                mean=mean,
                errors=sorted({t.error for t in trials if t.error}),
            )
        )
    summaries.sort(key=lambda s: (math.isnan(s.iqm), -s.iqm if not math.isnan(s.iqm) else 0.0))
    return summaries


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.4g}"


def to_markdown(
    summaries: list[ConfigSummary], metric: str, last_fraction: float, confidence: float, title: str
) -> str:
    pct = round(100 * confidence)
    lines = [
        f"# {title}",
        "",
        f"Final `{metric}` per trial: the mean over the last {last_fraction:.0%} of its logged rows. "
        f"IQM over seeds (finished trials) with a {pct}% percentile bootstrap interval over seeds.",
        "",
        f"| configuration | seeds | IQM | {pct}% CI | mean | failed | unfinished |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for s in summaries:
        ci = "n/a" if math.isnan(s.iqm) else f"[{_fmt(s.ci_low)}, {_fmt(s.ci_high)}]"
        lines.append(
            f"| `{s.label}` | {s.num_done} | {_fmt(s.iqm)} | {ci} | {_fmt(s.mean)} | "
            f"{s.num_failed} | {s.num_unfinished} |"
        )
    errors = [(s.label, e) for s in summaries for e in s.errors]
    if errors:
        lines += ["", "Failed trials:", ""]
        lines += [f"- `{label}`: {error}" for label, error in errors]
    return "\n".join(lines) + "\n"


def to_csv(summaries: list[ConfigSummary]) -> str:
    hyper = sorted({k for s in summaries for k in s.hyperparameters})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["configuration", *hyper, "seeds", "iqm", "ci_low", "ci_high", "mean", "failed", "unfinished", "scores"]
    )
    for s in summaries:
        writer.writerow(
            [
                s.label,
                *[json.dumps(s.hyperparameters.get(k), default=str) for k in hyper],
                s.num_done,
                s.iqm,
                s.ci_low,
                s.ci_high,
                s.mean,
                s.num_failed,
                s.num_unfinished,
                " ".join(repr(x) for x in s.final_scores),
            ]
        )
    return out.getvalue()


def curves_for(trials: list[TrialRecord], metric: str, x_key: str = "step") -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, curves of shape (num_trials, num_steps)) on the first trial's steps; None if no data."""
    series = []
    for t in trials:
        points = [
            (r[x_key], r[metric])
            for r in t.rows
            if isinstance(r.get(x_key), int | float) and isinstance(r.get(metric), int | float)
        ]
        points = [(x, y) for x, y in points if math.isfinite(y)]
        if points:
            series.append(np.array(points, dtype=np.float64))
    if not series:
        return None
    steps = series[0][:, 0]
    curves = np.stack([np.interp(steps, s[:, 0], s[:, 1]) for s in series])
    return steps, curves


def plot_learning_curves(
    records: list[TrialRecord],
    summaries: list[ConfigSummary],
    path: Path,
    metric: str,
    confidence: float = 0.95,
    reps: int = 2000,
    max_curves: int = 12,
    title: str = "",
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    shown = [s for s in summaries if s.num_done][:max_curves]
    for i, summary in enumerate(shown):
        trials = [r for r in records if r.config_label == summary.label and r.status == "done"]
        data = curves_for(trials, metric)
        if data is None:
            continue
        steps, curves = data
        point, low, high = bootstrap_curve_ci(curves, "iqm", reps=reps, confidence=confidence)
        color = plt.cm.tab10(i % 10) if len(shown) <= 10 else plt.cm.tab20(i % 20)
        ax.plot(steps, point, color=color, label=f"{summary.label} (n={len(trials)})")
        ax.fill_between(steps, low, high, color=color, alpha=0.2, linewidth=0)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"{metric} (IQM over seeds, {round(100 * confidence)}% CI)")
    hidden = sum(1 for s in summaries if s.num_done) - len(shown)
    ax.set_title(title + (f" (best {len(shown)}; {hidden} more in the table)" if hidden > 0 else ""))
    ax.grid(alpha=0.3)
    if shown:
        ax.legend(fontsize="x-small", loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@dataclasses.dataclass
class ReportFiles:
    markdown: Path
    csv: Path
    png: Path
    summaries: list[ConfigSummary]


def default_metric(records: Sequence[TrialRecord]) -> str:
    """The score of the algorithm the trials were trained with (`jaxrl.algorithms`: PPO and RL-squared
    ``episode_return_mean``, BARFI ``primary_return``); trials of algorithms with different scores need
    ``--metric``."""
    from jaxrl import algorithms

    scores = {algorithms.get(name).score for name in {r.algorithm for r in records}}
    if len(scores) > 1:
        raise ValueError(f"the trials log different scores ({', '.join(sorted(scores))}): choose one with --metric")
    return scores.pop()


def write_report(
    root: str | Path,
    out: str | Path | None = None,
    metric: str | None = None,
    last_fraction: float = 0.1,
    confidence: float = 0.95,
    reps: int = 2000,
    max_curves: int = 12,
) -> ReportFiles:
    """Write report.md, report.csv and learning_curves.png for the runs under `root` (into `out`)."""
    if not 0.0 < last_fraction <= 1.0:
        raise ValueError(f"last_fraction must be in (0, 1], got {last_fraction}")
    root = Path(root)
    records = load_trials(root)
    if not records:
        raise FileNotFoundError(f"no metrics.jsonl under {root}")
    metric = metric or default_metric(records)
    if not any(metric in r for t in records for r in t.rows):
        known = sorted({k for t in records for r in t.rows for k in r})
        raise ValueError(f"no row logs the metric {metric!r}; logged: {', '.join(known)}")
    out_dir = Path(out) if out is not None else root
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries = summarize(records, metric, last_fraction, confidence, reps)
    title = f"Report: {root.name}"
    files = ReportFiles(out_dir / "report.md", out_dir / "report.csv", out_dir / "learning_curves.png", summaries)
    files.markdown.write_text(
        to_markdown(summaries, metric, last_fraction, confidence, title) + f"\n![learning curves]({files.png.name})\n"
    )
    files.csv.write_text(to_csv(summaries))
    plot_learning_curves(records, summaries, files.png, metric, confidence, reps, max_curves, title=root.name)
    return files


def report(
    path: tyro.conf.Positional[Path],
    metric: str | None = None,
    last_fraction: float = 0.1,
    confidence: float = 0.95,
    reps: int = 2000,
    out: Path | None = None,
    max_curves: int = 12,
) -> int:
    """Aggregate a sweep (or a training run) over seeds: report.md, report.csv, learning_curves.png.

    Args:
        path: the runs folder, e.g. runs/example_cartpole.
        metric: the metrics.jsonl field to aggregate (default: the algorithm's score, e.g.
            episode_return_mean for ppo and rl2, primary_return for barfi).
        last_fraction: a trial's final score is the mean over this last fraction of its logged rows.
        confidence: size of the bootstrap confidence intervals.
        reps: bootstrap replicates.
        out: where to write the report (default: the runs folder itself).
        max_curves: plot at most this many configurations (the best by IQM).

    Returns the exit status (0, or 2 when there is nothing to report).
    """
    try:
        files = write_report(path, out, metric, last_fraction, confidence, reps, max_curves)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a read-only output folder, a full disk
        print(f"error: cannot write {exc.filename or out or path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(files.markdown.read_text())
    print(f"wrote {files.markdown}, {files.csv}, {files.png}")
    return 0


def report_main(argv: Sequence[str] | None = None) -> int:
    """`jaxrl report ...`: parse `argv` (sys.argv[1:] if None) and run `report`; returns the exit status."""
    return tyro.cli(report, args=argv, prog="jaxrl report")


if __name__ == "__main__":
    sys.exit(report_main())

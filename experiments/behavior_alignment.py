"""BARFI: does a learned blend of primary and heuristic reward align a REINFORCE (or, with
``--inner-learner ppo``, a PPO) learner with the primary return, where the naive sum and potential-based
shaping do not?

For each domain (GridWorld, CartPole, sparse MountainCar) x heuristic (good, misleading, none) x method
(primary only, naive sum, potential-based shaping, learned blend with the implicit / first-order /
unrolled outer gradient), trains the inner learner for the same number of inner updates and
environment episodes, over the size's seeds; per domain every (method, heuristic, seed) is one vmapped
run of one compiled program.

The regularisers (gamma_L2 on the learned discount, reward_L2 on the blend's parameters) are chosen
per domain from the authors' official grid (``regulariser_grid`` in the sweep) before the evaluation:
every grid point runs every learned method x heuristic on ``tuning_seeds`` held-out seeds (a different
root key from the evaluation seeds), and the point with the highest mean primary-return AUC over all
those runs is used for the evaluation (``jaxrl.barfi.verdicts.choose_regulariser``).

    python experiments/behavior_alignment.py --size quick
    python experiments/behavior_alignment.py --size medium      # GridWorld, the authors' schedule
    python experiments/behavior_alignment.py --size quick --inner-learner ppo --domains BARFI-GridWorld

Writes into results/behavior_alignment/<size>/ (or ``--out``): scores.csv (one row per run),
summary.csv (IQM and 95% bootstrap interval per domain x heuristic x method), tuning.csv (the
regulariser grid), curves.csv (IQM primary return and mean blend per update, thinned to about 300
points per curve), learning_curves.png, blend.png and summary.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from jaxrl.barfi.train import INNER_LEARNERS, SCHEDULES, BarfiConfig, make_train, method_hyper  # noqa: E402
from jaxrl.barfi.verdicts import LEARNED, choose_regulariser, judge_domain  # noqa: E402
from jaxrl.report import git_revision, write_rows  # noqa: E402
from jaxrl.stats import bootstrap_ci, bootstrap_curve_ci  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FINAL_FRACTION = 0.1  # the final score is the mean primary return over the last 10% of inner updates
COLOURS = {
    "primary": "black",
    "naive": "tab:red",
    "shaping": "tab:orange",
    "implicit": "tab:blue",
    "first_order": "tab:cyan",
    "unrolled": "tab:green",
}


def source_run(method: str, heuristic: str) -> tuple[str, str]:
    """The run whose results stand for (method, heuristic): primary-only ignores the heuristic, and with
    no heuristic the naive sum and shaping are primary-only; those are run once and shared."""
    if method == "primary" or (method in ("naive", "shaping") and heuristic == "none"):
        return "primary", "none"
    return method, heuristic


def size_config(domain: str, sweep: dict, size: dict) -> BarfiConfig:
    """The static config of one domain at one size (the size's domain entry overrides the sweep's)."""
    return BarfiConfig(env=domain, outer_gradient="switch", **{**sweep["config"], **size["domains"][domain]})


def run_program(
    config: BarfiConfig, hypers: list, seeds: int, root_seed: int
) -> tuple[dict[str, np.ndarray], float, float]:
    """Every hyper x seed in one compiled call; metrics (len(hypers), seeds, updates). The same seeds
    for every hyper: common random numbers across the comparison."""
    hyper = jax.tree.map(lambda *xs: jnp.repeat(jnp.stack(xs), seeds, axis=0), *hypers)
    keys = jnp.tile(jax.random.split(jax.random.key(root_seed), seeds), (len(hypers),))
    train = jax.jit(jax.vmap(make_train(config).train))
    start, cpu_start = time.perf_counter(), time.process_time()
    _, metrics = train(keys, hyper)
    metrics = jax.tree.map(np.asarray, jax.block_until_ready(metrics))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return (
        {k: v.reshape(len(hypers), seeds, config.total_inner_updates) for k, v in metrics.items()},
        seconds,
        cpu_seconds,
    )


def regulariser_grid(sweep: dict, size: dict, domain: str) -> list[tuple[float, float]]:
    """The domain's grid: the size's ``regulariser_grid`` (a documented subset) if it has one, else the
    sweep's (the official grid)."""
    grid = {**sweep["regulariser_grid"], **size.get("regulariser_grid", {})}[domain]
    return [(float(g), float(r)) for g in grid["gamma_l2"] for r in grid["reward_l2"]]


def tune_regulariser(domain: str, sweep: dict, size: dict, root_seed: int) -> dict:
    """Every grid point x learned method x heuristic on the held-out tuning seeds; the chosen point."""
    config = size_config(domain, sweep, size)
    grid = regulariser_grid(sweep, size, domain)
    learned = [m for m in sweep["methods"] if m in LEARNED]
    heuristics = sweep["heuristics"]
    hyper = {k: v for k, v in sweep["hyper"].items() if k not in ("gamma_l2", "reward_l2")}
    hypers = [
        method_hyper(m, h, **hyper, gamma_l2=g, reward_l2=r) for g, r in grid for m in learned for h in heuristics
    ]
    seeds = size.get("tuning_seeds", 2)
    metrics, seconds, cpu = run_program(config, hypers, seeds, root_seed)
    auc = metrics["primary_return"].mean(axis=-1).reshape(len(grid), len(learned), len(heuristics), seeds)
    chosen = choose_regulariser(auc, grid)
    rows = [
        {
            "domain": domain,
            "gamma_l2": g,
            "reward_l2": r,
            "method": m,
            "heuristic": h,
            "tuning_seeds": seeds,
            "mean_auc": float(auc[gi, mi, hi].mean()),
            "chosen": gi == chosen,
        }
        for gi, (g, r) in enumerate(grid)
        for mi, m in enumerate(learned)
        for hi, h in enumerate(heuristics)
    ]
    return {"grid": grid, "auc": auc, "chosen": grid[chosen], "rows": rows, "seconds": seconds, "cpu": cpu}


def run_domain(
    domain: str, sweep: dict, size: dict, seeds: int, seed: int, regulariser: tuple[float, float]
) -> tuple[dict, float, float]:
    """All methods x heuristics x seeds of one domain in one compiled call; metrics (M, H, S, U)."""
    config = size_config(domain, sweep, size)
    methods, heuristics = sweep["methods"], sweep["heuristics"]
    runs = sorted({source_run(m, h) for m in methods for h in heuristics}, key=str)
    hyper = {**sweep["hyper"], "gamma_l2": regulariser[0], "reward_l2": regulariser[1]}
    hypers = [method_hyper(m, h, **hyper) for m, h in runs]
    metrics, seconds, cpu_seconds = run_program(config, hypers, seeds, seed)
    index = [[runs.index(source_run(m, h)) for h in heuristics] for m in methods]
    return {k: v[np.array(index)] for k, v in metrics.items()}, seconds, cpu_seconds


def final_scores(curves: np.ndarray) -> np.ndarray:
    tail = max(1, int(round(FINAL_FRACTION * curves.shape[-1])))
    return curves[..., -tail:].mean(axis=-1)


def interval(scores: np.ndarray) -> tuple[float, float, float]:
    result = bootstrap_ci(scores, "iqm", reps=2000)
    return result.point, result.low, result.high


def write_csvs(out: Path, results: dict, sweep: dict, budgets: dict) -> list[dict]:
    methods, heuristics = sweep["methods"], sweep["heuristics"]
    rows, summary = [], []
    for domain, metrics in results.items():
        final = final_scores(metrics["primary_return"])
        auc = metrics["primary_return"].mean(axis=-1)
        for mi, method in enumerate(methods):
            for hi, heuristic in enumerate(heuristics):
                for s in range(final.shape[2]):
                    rows.append(
                        {
                            "domain": domain,
                            "inner_learner": sweep["config"]["inner_learner"],
                            "schedule": sweep["config"]["schedule"],
                            "heuristic": heuristic,
                            "method": method,
                            "seed": s,
                            "final_primary_return": final[mi, hi, s],
                            "mean_primary_return": auc[mi, hi, s],
                            "final_gamma_phi": metrics["gamma_phi"][mi, hi, s, -1],
                            "final_phi_1": metrics["phi_1"][mi, hi, s, -1],
                            "final_phi_2": metrics["phi_2"][mi, hi, s, -1],
                        }
                    )
                f_point, f_low, f_high = interval(final[mi, hi])
                a_point, a_low, a_high = interval(auc[mi, hi])
                summary.append(
                    {
                        "domain": domain,
                        "inner_learner": sweep["config"]["inner_learner"],
                        "schedule": sweep["config"]["schedule"],
                        "heuristic": heuristic,
                        "method": method,
                        "final_iqm": f_point,
                        "final_low": f_low,
                        "final_high": f_high,
                        "auc_iqm": a_point,
                        "auc_low": a_low,
                        "auc_high": a_high,
                        "gamma_l2": budgets[domain]["gamma_l2"] if method in LEARNED else "",
                        "reward_l2": budgets[domain]["reward_l2"] if method in LEARNED else "",
                        "gamma_phi": float(np.mean(metrics["gamma_phi"][mi, hi, :, -1])),
                        "phi_2": float(np.mean(metrics["phi_2"][mi, hi, :, -1])),
                        "inner_updates": budgets[domain]["inner_updates"],
                        "env_steps_per_run": budgets[domain]["env_steps"],
                    }
                )
    write_rows(out / "scores.csv", rows)
    write_rows(out / "summary.csv", summary)
    with open(out / "curves.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "domain",
                "heuristic",
                "method",
                "update",
                "primary_return_iqm",
                "gamma_phi_mean",
                "phi_1_mean",
                "phi_2_mean",
            ]
        )
        for domain, metrics in results.items():
            for mi, method in enumerate(methods):
                for hi, heuristic in enumerate(heuristics):
                    curve = metrics["primary_return"][mi, hi]
                    iqm = np.sort(curve, axis=0)[len(curve) // 4 : len(curve) - len(curve) // 4].mean(axis=0)
                    for u in range(0, curve.shape[-1], max(1, curve.shape[-1] // 300)):
                        writer.writerow(
                            [
                                domain,
                                heuristic,
                                method,
                                u,
                                f"{iqm[u]:.4f}",
                                f"{metrics['gamma_phi'][mi, hi, :, u].mean():.5f}",
                                f"{metrics['phi_1'][mi, hi, :, u].mean():.4f}",
                                f"{metrics['phi_2'][mi, hi, :, u].mean():.4f}",
                            ]
                        )
    return summary


def smooth(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return x
    kernel = np.ones(width) / width
    padded = np.concatenate([np.repeat(x[..., :1], width - 1, axis=-1), x], axis=-1)
    return np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), -1, padded)


def plot(out: Path, results: dict, sweep: dict) -> None:
    methods, heuristics = sweep["methods"], sweep["heuristics"]
    domains = list(results)
    fig, axes = plt.subplots(
        len(domains), len(heuristics), figsize=(4.2 * len(heuristics), 3.2 * len(domains)), squeeze=False
    )
    for di, domain in enumerate(domains):
        metrics = results[domain]
        warmup = sweep["_warmup"][domain]
        for hi, heuristic in enumerate(heuristics):
            ax = axes[di, hi]
            for mi, method in enumerate(methods):
                curves = smooth(metrics["primary_return"][mi, hi], 5)
                point, low, high = bootstrap_curve_ci(curves, "iqm", reps=500)
                x = np.arange(len(point))
                ax.plot(x, point, color=COLOURS.get(method), label=method, lw=1.2)
                ax.fill_between(x, low, high, color=COLOURS.get(method), alpha=0.12)
            ax.axvline(warmup, color="grey", ls=":", lw=0.8)
            ax.set_title(f"{domain.removeprefix('BARFI-')} / {heuristic} heuristic", fontsize=9)
            ax.set_xlabel("inner update")
            ax.set_ylabel("primary return (IQM, 95% CI)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "learning_curves.png", dpi=110)
    plt.close(fig)

    learned = [m for m in methods if m in LEARNED]
    fig, axes = plt.subplots(len(domains), 3, figsize=(13, 3.0 * len(domains)), squeeze=False)
    for di, domain in enumerate(domains):
        metrics = results[domain]
        for col, (name, label) in enumerate(
            (
                ("gamma_phi", "learned discount gamma_phi"),
                ("phi_1", "phi_1 (bias), mean over visited s"),
                ("phi_2", "phi_2 (weight on r_aux), mean over visited s"),
            )
        ):
            ax = axes[di, col]
            for method in learned:
                mi = methods.index(method)
                for hi, heuristic in enumerate(heuristics):
                    ls = {"good": "-", "misleading": "--", "none": ":"}.get(heuristic, "-")
                    ax.plot(
                        metrics[name][mi, hi].mean(axis=0),
                        color=COLOURS[method],
                        ls=ls,
                        lw=1.1,
                        label=f"{method}, {heuristic}",
                    )
            ax.set_title(f"{domain.removeprefix('BARFI-')}: {label}", fontsize=9)
            ax.set_xlabel("inner update")
    axes[0, 0].legend(fontsize=6, ncol=1)
    fig.tight_layout()
    fig.savefig(out / "blend.png", dpi=110)
    plt.close(fig)


def domain_scores(metrics: dict, sweep: dict) -> dict:
    """Per-seed final and AUC scores keyed by (method, heuristic), for ``judge_domain``."""
    final = final_scores(metrics["primary_return"])
    auc = metrics["primary_return"].mean(axis=-1)
    return {
        (m, h): {"final": final[mi, hi], "auc": auc[mi, hi]}
        for mi, m in enumerate(sweep["methods"])
        for hi, h in enumerate(sweep["heuristics"])
    }


def scores_from_csv(path: Path) -> dict[str, dict]:
    """Per-domain per-seed scores from a scores.csv this script wrote (for ``--rejudge``)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise SystemExit(f"{path} has no rows")
    by_domain: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: int(r["seed"])):
        cell = by_domain.setdefault(row["domain"], {}).setdefault(
            (row["method"], row["heuristic"]), {"final": [], "auc": []}
        )
        cell["final"].append(float(row["final_primary_return"]))
        cell["auc"].append(float(row["mean_primary_return"]))
    return {
        d: {k: {n: np.asarray(v) for n, v in cell.items()} for k, cell in cells.items()}
        for d, cells in by_domain.items()
    }


def verdict_lines(scores: dict[str, dict]) -> list[str]:
    """The claims judged from per-domain per-seed scores (``jaxrl.barfi.verdicts``); each number is
    checkable against scores.csv."""
    judged = {d: judge_domain(s) for d, s in scores.items()}
    name = lambda d: d.removeprefix("BARFI-")
    lines = [
        "Every comparison below is paired by seed: the IQM of the per-seed differences (a - b) with a 95% "
        'bootstrap interval; "above"/"below" only when the interval excludes 0.',
        "",
    ]
    hurts = [(d, h) for d, v in judged.items() for h, hurt in v.shaping_hurts.items() if hurt]
    cases = sum(len(v.shaping_hurts) for v in judged.values())
    lines.append(
        f"**Claim 1 (shaping often hurts):** shaping's final primary return is below primary-only's in "
        f"{len(hurts)} of {cases} domain x heuristic cases."
    )
    for d, v in judged.items():
        for h, c in v.shaping_vs_primary.items():
            lines.append(f"- {name(d)}, {h} heuristic: shaping - primary only = {c.text()}: {c.verdict}.")
    lines += [
        "",
        "**Claim 2a (the learned blend uses a good heuristic to learn faster):** AUC (mean primary return "
        "over training) with the good heuristic, against primary only and against the same learned blend "
        "with *no* heuristic (which isolates what the heuristic adds to what the learned blend and discount "
        "do on their own).",
    ]
    for d, v in judged.items():
        parts = [
            f"{m}: vs primary {v.good_vs_primary[m].text()} ({v.good_vs_primary[m].verdict}), vs no heuristic "
            f"{v.good_vs_no_heuristic[m].text()} ({v.good_vs_no_heuristic[m].verdict})"
            for m in v.good_vs_primary
        ]
        lines.append(
            f"- {name(d)}: {'; '.join(parts)}. Faster than primary only: {v.faster_than_primary or 'none'}; "
            f"the heuristic helps beyond the learned blend without it: {v.heuristic_helps or 'none'}."
        )
    lines += [
        "",
        "**Claim 2b (the learned blend recovers from a misleading heuristic where the naive sum fails):** "
        "final primary return with the misleading heuristic.",
    ]
    for d, v in judged.items():
        parts = [
            f"{m}: vs naive {v.misleading_vs_naive[m].text()} ({v.misleading_vs_naive[m].verdict}), vs no "
            f"heuristic {v.misleading_vs_no_heuristic[m].text()} ({v.misleading_vs_no_heuristic[m].verdict})"
            for m in v.misleading_vs_naive
        ]
        lines.append(
            f"- {name(d)}: naive - primary only = {v.naive_vs_primary.text()}: the naive sum "
            f"{'fails' if v.naive_fails else 'does not fail (not below primary only)'}. {'; '.join(parts)}. "
            f"Above the naive sum: {v.recovers or 'none'}; of those, not below their own no-heuristic blend: "
            f"{v.recovers_fully or 'none'}."
        )
    return lines


def write_summary(
    out: Path, summary: list[dict], results: dict, sweep: dict, args, budgets: dict, tuning: dict
) -> None:
    command = " ".join(["python experiments/behavior_alignment.py", *sys.argv[1:]])
    inner_learner = sweep["config"]["inner_learner"]
    schedule = sweep["config"]["schedule"]
    lines = [
        "# Behaviour alignment via reward function optimisation (BARFI)",
        "",
        f"Command: `{command}` "
        f"(size `{args.size}` of `sweeps/behavior_alignment.yaml`). Git commit `{git_revision()}`.",
        "",
        f"Inner learner: **{inner_learner}**; inner schedule: **{schedule}**.",
        "",
    ]
    if args.size == "quick":
        lines += [
            "> **Quick size: a smoke test of the pipeline, not a result.** Budgets are far below the paper's "
            "(see Budget); see `results/behavior_alignment/README.md` for the runs that are results.",
            "",
        ]
    lines += [
        "## Claims (Gupta et al., NeurIPS 2023)",
        "",
        "1. Potential-based shaping with Phi = r_aux often impairs performance in these settings.",
        "2. The learned blend r_phi = phi_1(s) + r_p + phi_2(s) r_aux (with a learned discount) uses a good "
        "heuristic to learn faster, and recovers when the heuristic is misleading, where the naive sum "
        "r_p + r_aux fails.",
        "",
        "## Regularisers: the official grid, chosen on held-out seeds",
        "",
        "The outer objective is J(theta(phi)) - gamma_L2 * gamma_phi - reward_L2 * (||W|| + ||c||), where "
        "the authors' code puts them: the discount term on gamma_phi itself (favouring shorter horizons), "
        "the reward term on the norms of the blend head's parameter tensors (weights and bias). The grid "
        "is the authors' (`regulariser_grid` in the sweep, from their `PaperPlots/*/barfineumann.json`), "
        "or a subset of it where the size says so (below). "
        "**Rule, fixed before the evaluation:** per domain, run every grid point x learned method x "
        "heuristic on the tuning seeds (a separate root key, not the evaluation seeds), and use the point "
        "with the highest mean AUC over all of those runs, once for the whole domain.",
        "",
        "| domain | gamma_L2 | reward_L2 | mean AUC, all learned runs | good | misleading | none | chosen |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for domain, t in tuning.items():
        heuristics = sweep["heuristics"]
        for gi, (g, r) in enumerate(t["grid"]):
            per_h = [f"{t['auc'][gi, :, hi].mean():.1f}" for hi in range(len(heuristics))]
            lines.append(
                f"| {domain.removeprefix('BARFI-')} | {g:g} | {r:g} | {t['auc'][gi].mean():.2f} | "
                f"{' | '.join(per_h)} | {'**yes**' if (g, r) == t['chosen'] else ''} |"
            )
    subsets = size_grid_subsets(sweep, args.size, tuning)
    lines += [
        "",
        *(
            [f"Grid subsets (the size's `regulariser_grid`, to fit this CPU): {subsets}.", ""]
            if subsets
            else ["The full official grid for every domain.", ""]
        ),
        "Tuning seeds per domain: "
        + ", ".join(f"{d.removeprefix('BARFI-')} {t['auc'].shape[-1]}" for d, t in tuning.items())
        + ". Chosen: "
        + ", ".join(
            f"{d.removeprefix('BARFI-')} gamma_L2 = {t['chosen'][0]:g}, reward_L2 = {t['chosen'][1]:g}"
            for d, t in tuning.items()
        )
        + ".",
        "",
        "## What our runs show",
        "",
        "Final = mean primary return over the last 10% of inner updates; AUC = mean over all inner updates "
        "(including the warm-up on the naive sum, which the learned blends share). Evaluation seeds: "
        f"{args.seeds}.",
        "",
        *verdict_lines({d: domain_scores(m, sweep) for d, m in results.items()}),
        "",
        "## Table",
        "",
        "IQM over seeds with 95% stratified-bootstrap intervals (`jaxrl.stats`).",
        "",
        "| domain | heuristic | method | final IQM [95% CI] | AUC IQM [95% CI] | gamma_phi | phi_2 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        learned = r["method"] in LEARNED
        blend = f"{r['gamma_phi']:.4f} | {r['phi_2']:.3f}" if learned else "- | -"
        lines.append(
            f"| {r['domain'].removeprefix('BARFI-')} | {r['heuristic']} | {r['method']} | "
            f"{r['final_iqm']:.2f} [{r['final_low']:.2f}, {r['final_high']:.2f}] | "
            f"{r['auc_iqm']:.2f} [{r['auc_low']:.2f}, {r['auc_high']:.2f}] | {blend} |"
        )
    lines += ["", "## Budget and wall time", ""]
    for domain, b in budgets.items():
        per_update = (
            f"{b['num_episodes']} fresh episodes per inner update"
            if schedule == "fresh"
            else f"inner updates on {b['replay_batch']} episode(s) replayed from a buffer of the last "
            f"{b['replay_buffer']}, {b['episodes_per_outer']} fresh episodes per outer update"
        )
        lines.append(
            f"- {domain}: horizon {b['horizon']}, {per_update}; {b['inner_updates']} inner updates "
            f"({b['warmup']} warm-up on the naive sum, then {b['outer']} outer updates x "
            f"{sweep['config']['inner_per_outer']} inner), {b['episodes']:,} episodes (at most "
            f"{b['env_steps']:,} environment steps) per run. Evaluation: {args.seeds} seeds x "
            f"{b['distinct_runs']} distinct method x heuristic settings in one compiled program, "
            f"{b['wall']:.1f} s wall, {b['cpu']:.1f} s CPU; tuning: {len(tuning[domain]['rows'])} grid x method "
            f"x heuristic settings x {tuning[domain]['auc'].shape[-1]} seeds, {tuning[domain]['seconds']:.1f} s "
            f"wall, {tuning[domain]['cpu']:.1f} s CPU (compile and run)."
        )
    lines += [
        f"- On {jax.devices()[0].platform.upper()} ({os.cpu_count()} cores, shared with other users' jobs "
        f"when this was run{'; pinned to one core with taskset' if args.pinned else ''}).",
        "- Primary-only ignores the heuristic, and with heuristic `none` the naive sum and shaping are "
        "primary-only: each is one set of runs, repeated in the table rows it stands for.",
        f"- Hyperparameters: {sweep['hyper']} (gamma_l2, reward_l2: chosen above); static: {sweep['config']}.",
        "",
        "## Notes",
        "",
        (
            "- Inner schedule `replay`, as the authors' code (`BarfiNeumann.optimize`): per outer update "
            "3 fresh on-policy episodes go into a FIFO buffer; v = grad_theta J on those 3, the Hessian and "
            "mixed terms on 15 episodes drawn from the buffer without them; then 15 inner REINFORCE steps, "
            "each on 1 episode drawn uniformly from the buffer (off-policy, no importance weights, as there). "
            f"It differs in the warm-up (ours: {sorted(set(sweep['_warmup'].values()))} naive-sum updates on "
            "one fresh episode each; theirs: one naive-sum update per 3 episodes for ~155 episodes, then 165 "
            "buffer updates on the initial blend) and in the size of v's batch (theirs 4 episodes, an "
            "off-by-one). The return reported at each inner update is the mean over the latest fresh "
            "episodes (1 in the warm-up, 3 after)."
            if schedule == "replay"
            else "- Inner schedule `fresh` (not the authors' code's): every inner update collects fresh "
            "on-policy episodes and steps on them; v is taken on the latest batch and the Hessian and mixed "
            "terms on the last few batches. The authors replay 1-episode samples from a 1,000-episode "
            "buffer; we use `fresh` here because the inner learner is PPO (which needs on-policy data)"
            if inner_learner == "ppo"
            else "- Inner schedule `fresh` (not the authors' code's, which replays 1-episode samples from a "
            "1,000-episode buffer): every inner update collects fresh on-policy episodes and steps on them."
        ),
        (
            "- Inner learner: REINFORCE (no baseline, entropy bonus, RMSprop) with a linear softmax policy on "
            if inner_learner == "reinforce"
            else "- Inner learner: PPO (our addition; the paper uses REINFORCE): clipped surrogate, GAE "
            "advantages from a linear critic, entropy bonus, RMSprop for the policy, several minibatch "
            "epochs per batch; the outer gradient differentiates the clipped surrogate at theta_old = theta "
            "with the critic's values held fixed (see `jaxrl/barfi/ppo.py`). A linear softmax policy on "
        )
        + "state features (Fourier basis for GridWorld and MountainCar, the scaled state for CartPole); "
        "the blend's phi_1, phi_2 are a linear head on the same features. The authors' networks may differ.",
        "- Shaping uses Phi_t = r_aux observed at step t (the sheet's Phi = r_aux). For heuristics that "
        "depend on the action (CartPole, MountainCar, GridWorld's per-step distance after the move) this "
        "potential is one of state and action, so the Monte-Carlo return becomes G_t - r_aux_t: the "
        "heuristic's immediate incentive for the chosen action is reversed. With the good heuristic "
        "shaping then discourages the heuristic's action, and with the misleading (inverted) one it "
        "encourages the good action, which is why shaping can do well with a misleading heuristic here.",
        "- With a sparse primary reward (MountainCar) a batch in which no episode reaches the goal gives "
        "v = grad_theta J = 0 exactly, so no outer gradient estimator can move the blend until the policy "
        "reaches the goal by itself.",
        "- MountainCar's misleading heuristic is the good one inverted; GridWorld's good heuristic is the "
        "intended Euclidean distance (not the authors' x-only slip).",
    ]
    if args.size == "quick":
        lines.append(
            "- The quick size is far below the paper's budgets, with shorter horizons for CartPole and "
            "MountainCar (see Budget): it shows the pipeline end to end and early learning, not converged "
            "results."
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def size_grid_subsets(sweep: dict, size_name: str, tuning: dict) -> str:
    """The domains whose grid at this size is a subset of the official one, described; '' if none."""
    subset = sweep["sizes"][size_name].get("regulariser_grid", {})
    return "; ".join(
        f"{d.removeprefix('BARFI-')} gamma_L2 {subset[d]['gamma_l2']} x reward_L2 {subset[d]['reward_l2']} "
        f"of the official {sweep['regulariser_grid'][d]['gamma_l2']} x {sweep['regulariser_grid'][d]['reward_l2']}"
        for d in tuning
        if d in subset
    )


def write_tuning(out: Path, tuning: dict) -> None:
    write_rows(out / "tuning.csv", [row for t in tuning.values() for row in t["rows"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("quick", "medium", "full"), default="full")
    parser.add_argument("--quick", action="store_true", help="the same as --size quick")
    parser.add_argument("--sweep", type=Path, default=ROOT / "sweeps" / "behavior_alignment.yaml")
    parser.add_argument("--out", type=Path, default=None, help="default: results/behavior_alignment/<size>")
    parser.add_argument("--domains", nargs="*", default=None, help="a subset of the size's domains")
    parser.add_argument("--seeds", type=int, default=None, help="override the size's number of seeds")
    parser.add_argument("--seed", type=int, default=0, help="root seed of the evaluation; tuning uses seed + 1000")
    parser.add_argument(
        "--inner-learner", choices=INNER_LEARNERS, default=None, help="override the sweep's config.inner_learner"
    )
    parser.add_argument(
        "--rejudge",
        type=Path,
        default=None,
        help="judge the claims again from DIR/scores.csv (no training) and write DIR/verdicts.md",
    )
    parser.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=None,
        help="override the sweep's config.schedule (PPO needs and defaults to fresh)",
    )
    args = parser.parse_args()
    if args.quick:
        args.size = "quick"
    if args.rejudge:
        lines = [
            f"# BARFI verdicts, judged again from `{args.rejudge.name}/scores.csv`",
            "",
            f"Command: `python experiments/behavior_alignment.py --rejudge {args.rejudge}`. Git commit "
            f"`{git_revision()}`. No training: the per-seed scores of the run in this folder (its setup is in "
            "its summary.md) judged by `jaxrl.barfi.verdicts`, which adds the comparison of each learned blend "
            "with the same blend without a heuristic.",
            "",
            *verdict_lines(scores_from_csv(args.rejudge / "scores.csv")),
        ]
        (args.rejudge / "verdicts.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        return
    args.pinned = len(os.sched_getaffinity(0)) < (os.cpu_count() or 1)

    sweep = yaml.safe_load(args.sweep.read_text())
    config = sweep["config"]
    config["inner_learner"] = args.inner_learner or config.get("inner_learner", "reinforce")
    if args.schedule:
        config["schedule"] = args.schedule
    elif config["inner_learner"] == "ppo":
        config["schedule"] = "fresh"
    config.setdefault("schedule", "fresh")
    if args.size not in sweep["sizes"]:
        raise SystemExit(f"size {args.size!r} is not in {args.sweep}; it has {sorted(sweep['sizes'])}")
    size = sweep["sizes"][args.size]
    args.seeds = args.seeds or size["seeds"]
    domains = args.domains or list(size["domains"])
    unknown = [d for d in domains if d not in size["domains"]]
    if unknown:
        raise SystemExit(f"domains {unknown} are not in size {args.size!r}; it has {sorted(size['domains'])}")
    out = args.out or ROOT / "results" / "behavior_alignment" / args.size
    out.mkdir(parents=True, exist_ok=True)
    results, budgets, tuning = {}, {}, {}
    sweep["_warmup"] = {}
    for domain in domains:
        tuning[domain] = tune_regulariser(domain, sweep, size, args.seed + 1000)
        print(
            f"{domain}: tuning {tuning[domain]['seconds']:.1f} s wall, chosen (gamma_l2, reward_l2) = "
            f"{tuning[domain]['chosen']}",
            flush=True,
        )
        metrics, seconds, cpu_seconds = run_domain(domain, sweep, size, args.seeds, args.seed, tuning[domain]["chosen"])
        results[domain] = metrics
        cfg = size_config(domain, sweep, size)
        budgets[domain] = {
            "horizon": cfg.horizon,
            "num_episodes": cfg.num_episodes,
            "replay_batch": cfg.replay_batch,
            "replay_buffer": cfg.replay_buffer,
            "episodes_per_outer": cfg.episodes_per_outer,
            "warmup": cfg.warmup_updates,
            "outer": cfg.outer_updates,
            "inner_updates": cfg.total_inner_updates,
            "episodes": cfg.episodes_per_run,
            "distinct_runs": len({source_run(m, h) for m in sweep["methods"] for h in sweep["heuristics"]}),
            "env_steps": cfg.episodes_per_run * cfg.horizon,
            "wall": seconds,
            "cpu": cpu_seconds,
            "gamma_l2": tuning[domain]["chosen"][0],
            "reward_l2": tuning[domain]["chosen"][1],
        }
        sweep["_warmup"][domain] = cfg.warmup_updates
        print(f"{domain}: evaluation {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU", flush=True)
    summary = write_csvs(out, results, sweep, budgets)
    write_tuning(out, tuning)
    plot(out, results, sweep)
    write_summary(out, summary, results, sweep, args, budgets, tuning)
    print((out / "summary.md").read_text())


if __name__ == "__main__":
    main()

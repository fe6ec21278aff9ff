"""BARFI: does a learned blend of primary and heuristic reward align a REINFORCE (or, with
``--inner-learner ppo``, a PPO) learner with the primary return, where the naive sum and potential-based
shaping do not?

For each domain (GridWorld, CartPole, sparse MountainCar) x heuristic (good, misleading, none) x method
(primary only, naive sum, potential-based shaping, learned blend with the implicit / first-order /
unrolled outer gradient), trains the inner learner for the same number of inner updates, over 20 seeds;
per domain every (method, heuristic, seed) is one vmapped run of one compiled program.

    python experiments/behavior_alignment.py --quick
    python experiments/behavior_alignment.py --quick --inner-learner ppo --domains BARFI-GridWorld

Writes into results/behavior_alignment/: scores.csv (one row per run), summary.csv (IQM and 95%
bootstrap interval per domain x heuristic x method), curves.csv (IQM primary return and mean blend per
update, thinned to about 300 points per curve), learning_curves.png, blend.png and summary.md.
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

from jaxrl.barfi.train import INNER_LEARNERS, BarfiConfig, make_train, method_hyper  # noqa: E402
from jaxrl.report import git_revision, write_rows  # noqa: E402
from jaxrl.stats import bootstrap_ci, bootstrap_curve_ci  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LEARNED = ("implicit", "first_order", "unrolled")
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


def run_domain(domain: str, size: dict, sweep: dict, seeds: int, seed: int) -> tuple[dict, float, float]:
    """All methods x heuristics x seeds of one domain in one compiled call; metrics (M, H, S, U)."""
    config = BarfiConfig(env=domain, outer_gradient="switch", **{**sweep["config"], **size})
    methods, heuristics = sweep["methods"], sweep["heuristics"]
    runs = sorted({source_run(m, h) for m in methods for h in heuristics}, key=str)
    hypers = [method_hyper(m, h, **sweep["hyper"]) for m, h in runs]
    hyper = jax.tree.map(lambda *xs: jnp.repeat(jnp.stack(xs), seeds, axis=0), *hypers)
    # The same seeds for every (method, heuristic): common random numbers across the comparison.
    keys = jnp.tile(jax.random.split(jax.random.key(seed), seeds), (len(runs),))
    train = jax.jit(jax.vmap(make_train(config).train))
    start, cpu_start = time.perf_counter(), time.process_time()
    _, metrics = train(keys, hyper)
    metrics = jax.tree.map(np.asarray, jax.block_until_ready(metrics))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    by_run = {k: v.reshape(len(runs), seeds, config.total_inner_updates) for k, v in metrics.items()}
    index = [[runs.index(source_run(m, h)) for h in heuristics] for m in methods]
    return {k: v[np.array(index)] for k, v in by_run.items()}, seconds, cpu_seconds


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
                        "heuristic": heuristic,
                        "method": method,
                        "final_iqm": f_point,
                        "final_low": f_low,
                        "final_high": f_high,
                        "auc_iqm": a_point,
                        "auc_low": a_low,
                        "auc_high": a_high,
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


def verdicts(summary: list[dict]) -> list[str]:
    """Rule-based statements from the numbers: the reader can check each against summary.csv."""
    table = {(r["domain"], r["heuristic"], r["method"]): r for r in summary}
    domains = sorted({r["domain"] for r in summary})
    lines = []

    def fmt(r: dict, key: str = "final") -> str:
        return f"{r[key + '_iqm']:.1f} [{r[key + '_low']:.1f}, {r[key + '_high']:.1f}]"

    def worse(a: dict, b: dict) -> bool:  # a's final interval lies wholly below b's
        return a["final_high"] < b["final_low"]

    hurts, cases = 0, 0
    for d in domains:
        for h in ("good", "misleading"):
            if (d, h, "shaping") not in table:
                continue
            cases += 1
            shaping, primary, naive = table[d, h, "shaping"], table[d, h, "primary"], table[d, h, "naive"]
            hurt = worse(shaping, primary)
            hurts += hurt
            lines.append(
                f"- {d.removeprefix('BARFI-')}, {h}: shaping {fmt(shaping)} vs primary only "
                f"{fmt(primary)} vs naive {fmt(naive)}: shaping "
                f"{'is worse than primary only' if hurt else 'is not worse than primary only'}."
            )
    lines.insert(
        0,
        f"**Claim 1 (shaping often hurts):** shaping's final primary return lies wholly below "
        f"primary-only's in {hurts} of {cases} domain x heuristic cases.",
    )
    lines.append("")
    for d in domains:
        if (d, "good", "implicit") not in table:
            continue
        good = {m: table[d, "good", m] for m in ("primary", "naive", "implicit", "first_order", "unrolled")}
        bad = {m: table[d, "misleading", m] for m in ("primary", "naive", "implicit", "first_order", "unrolled")}
        faster = [m for m in LEARNED if good[m]["auc_low"] > good["primary"]["auc_high"]]
        naive_fails = worse(bad["naive"], bad["primary"])
        recovered = [m for m in LEARNED if worse(bad["naive"], bad[m])]
        lines.append(
            f"- {d.removeprefix('BARFI-')}: good heuristic, mean return over training (AUC): primary "
            f"{fmt(good['primary'], 'auc')}, naive {fmt(good['naive'], 'auc')}, implicit "
            f"{fmt(good['implicit'], 'auc')}, first-order {fmt(good['first_order'], 'auc')}, unrolled "
            f"{fmt(good['unrolled'], 'auc')}; learned blends faster than primary only (intervals apart): "
            f"{faster or 'none'}. Misleading heuristic, final return: primary {fmt(bad['primary'])}, naive "
            f"{fmt(bad['naive'])}, implicit {fmt(bad['implicit'])}, first-order {fmt(bad['first_order'])}, "
            f"unrolled {fmt(bad['unrolled'])}; naive sum {'fails' if naive_fails else 'does not fail'} "
            f"(below primary only); learned blends above the naive sum: {recovered or 'none'}."
        )
    lines.insert(
        len(lines) - len(domains),
        "**Claim 2 (the learned blend exploits a good heuristic and "
        "recovers from a misleading one where the naive sum fails):**",
    )
    return lines


def write_summary(out: Path, summary: list[dict], sweep: dict, args, budgets: dict, wall: dict, cpu: dict) -> None:
    size = "quick" if args.quick else "full"
    command = " ".join(["python experiments/behavior_alignment.py", *sys.argv[1:]])
    inner_learner = sweep["config"]["inner_learner"]
    lines = [
        "# Behaviour alignment via reward function optimisation (BARFI)",
        "",
        f"Command: `{command}` "
        f"(size `{size}` of `sweeps/behavior_alignment.yaml`). Git commit `{git_revision()}`.",
        "",
        f"Inner learner: **{inner_learner}**.",
        "",
        "## Claims (Gupta et al., NeurIPS 2023)",
        "",
        "1. Potential-based shaping with Phi = r_aux often impairs performance in these settings.",
        "2. The learned blend r_phi = phi_1(s) + r_p + phi_2(s) r_aux (with a learned discount) uses a good "
        "heuristic to learn faster, and recovers when the heuristic is misleading, where the naive sum "
        "r_p + r_aux fails.",
        "",
        "## What our runs show",
        "",
        "Final = mean primary return over the last 10% of inner updates; AUC = mean over all inner updates "
        "(including the warm-up on the naive sum, which the learned blends share). IQM over seeds with "
        "95% stratified-bootstrap intervals (`jaxrl.stats`).",
        "",
        *verdicts(summary),
        "",
        "## Table",
        "",
        "| domain | heuristic | method | final IQM [95% CI] | AUC IQM [95% CI] | gamma_phi | phi_2 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        learned = r["method"] in LEARNED
        lines.append(
            f"| {r['domain'].removeprefix('BARFI-')} | {r['heuristic']} | {r['method']} | "
            f"{r['final_iqm']:.2f} [{r['final_low']:.2f}, {r['final_high']:.2f}] | "
            f"{r['auc_iqm']:.2f} [{r['auc_low']:.2f}, {r['auc_high']:.2f}] | "
            f"{r['gamma_phi']:.4f} | {r['phi_2']:.3f} |"
            if learned
            else f"| {r['domain'].removeprefix('BARFI-')} | {r['heuristic']} | {r['method']} | "
            f"{r['final_iqm']:.2f} [{r['final_low']:.2f}, {r['final_high']:.2f}] | "
            f"{r['auc_iqm']:.2f} [{r['auc_low']:.2f}, {r['auc_high']:.2f}] | - | - |"
        )
    lines += ["", "## Budget and wall time", ""]
    for domain, b in budgets.items():
        lines.append(
            f"- {domain}: horizon {b['horizon']}, {b['num_episodes']} episodes per inner update, "
            f"{b['inner_updates']} inner updates ({b['warmup']} warm-up on the naive sum, then "
            f"{b['outer']} outer updates x {sweep['config']['inner_per_outer']} inner), at most "
            f"{b['env_steps']:,} environment steps per run; {args.seeds} seeds x "
            f"{len(sweep['methods'])} methods x {len(sweep['heuristics'])} heuristics "
            f"({b['distinct_runs']} distinct method x heuristic settings) in one compiled program: "
            f"{wall[domain]:.1f} s wall, {cpu[domain]:.1f} s CPU (compile and run)."
        )
    lines += [
        f"- Total {sum(wall.values()):.1f} s wall, {sum(cpu.values()):.1f} s CPU, on "
        f"{jax.devices()[0].platform.upper()} ({os.cpu_count()} cores, shared with other users' jobs "
        "when this was run, so wall time exceeds what an idle machine needs).",
        "- Primary-only ignores the heuristic, and with heuristic `none` the naive sum and shaping are "
        "primary-only: each is one set of runs, repeated in the table rows it stands for.",
        f"- Hyperparameters: {sweep['hyper']}; static: {sweep['config']}.",
        "",
        "## Notes",
        "",
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
    if args.quick:
        lines.append(
            "- The quick size is far below the paper's budgets, with shorter horizons for CartPole and "
            "MountainCar (see Budget; the full size uses 50, 500 and 2000): it shows the pipeline end to "
            "end and early learning, not converged results."
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the quick size (minutes on a laptop CPU)")
    parser.add_argument("--sweep", type=Path, default=ROOT / "sweeps" / "behavior_alignment.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "behavior_alignment")
    parser.add_argument("--domains", nargs="*", default=None, help="a subset of the sweep's domains")
    parser.add_argument("--seeds", type=int, default=None, help="override the sweep's number of seeds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--inner-learner", choices=INNER_LEARNERS, default=None, help="override the sweep's config.inner_learner"
    )
    args = parser.parse_args()

    sweep = yaml.safe_load(args.sweep.read_text())
    sweep["config"]["inner_learner"] = args.inner_learner or sweep["config"].get("inner_learner", "reinforce")
    size = sweep["sizes"]["quick" if args.quick else "full"]
    args.seeds = args.seeds or size["seeds"]
    domains = args.domains or list(size["domains"])
    args.out.mkdir(parents=True, exist_ok=True)
    results, wall, cpu, budgets = {}, {}, {}, {}
    sweep["_warmup"] = {}
    for domain in domains:
        domain_size = size["domains"][domain]
        metrics, seconds, cpu_seconds = run_domain(domain, domain_size, sweep, args.seeds, args.seed)
        results[domain], wall[domain], cpu[domain] = metrics, seconds, cpu_seconds
        updates = domain_size["warmup_updates"] + domain_size["outer_updates"] * sweep["config"]["inner_per_outer"]
        budgets[domain] = {
            "horizon": domain_size["horizon"],
            "num_episodes": domain_size["num_episodes"],
            "warmup": domain_size["warmup_updates"],
            "outer": domain_size["outer_updates"],
            "inner_updates": updates,
            "distinct_runs": len({source_run(m, h) for m in sweep["methods"] for h in sweep["heuristics"]}),
            "env_steps": updates * domain_size["num_episodes"] * domain_size["horizon"],
        }
        sweep["_warmup"][domain] = domain_size["warmup_updates"]
        print(f"{domain}: {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU", flush=True)
    summary = write_csvs(args.out, results, sweep, budgets)
    plot(args.out, results, sweep)
    write_summary(args.out, summary, sweep, args, budgets, wall, cpu)
    print((args.out / "summary.md").read_text())


if __name__ == "__main__":
    main()

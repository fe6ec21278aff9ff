"""Sweeps: a YAML file expanded into trials, folded into vmapped groups, run locally or on Ray.

A sweep file (see ``sweeps/example_cartpole.yaml`` and ``sweeps/carl_minibatch.yaml``)::

    name: example_cartpole        # optional; the file's stem by default. Trials go to runs/<name>/
    algorithm: ppo                # whose config the fields below set (default ppo)
    base:                         # config fields shared by every trial
      env: CartPole-v1
      total_timesteps: 20000
    run:                          # RunConfig fields (log_every, checkpoint_every, ...)
      log_every: 1
    points:                       # optional labelled points (methods, conditions), each crossed with
      simple: {env_kwargs.reward: simple}   # the axes and seeds; the label leads the trial's folder
      shaped: {env_kwargs.reward: shaped}
    axes:                         # combined as a cartesian product, block after block
      - grid:                     # cartesian product of these lists
          learning_rate: [1.0e-3, 3.0e-4]
          ent_coef: [0.0, 0.01]
      - zip:                      # lists of equal length, taken together
          num_envs: [4, 8]
          num_steps: [64, 32]
      - network: [mlp, gru]       # one key and its list: a one-key grid
      - list:                     # explicit points
          - {hidden_sizes: [64, 64]}
          - {hidden_sizes: [32], activation: relu}
    seeds: 3                      # seeds 0, 1, 2; or an explicit list [0, 7, 11]
    sizes:                        # optional named sizes, chosen with `jaxrl sweep FILE --size quick`:
      quick:                      # base, run and experiment are merged into the file's; axes, seeds
        base: {total_timesteps: 4096}   # and max_group_size replace the file's
        seeds: 2
      full: {}
    default_size: full            # the size without --size (without it, a sized file needs --size)
    experiment: {eval_routes: 32} # free settings for the experiment script that reads the sweep
    resources: {num_cpus: 1, num_gpus: 0}   # per group, for --backend ray
    max_group_size: 64            # optional: split larger groups (device memory)

``axes`` may also be a plain mapping, read as one ``grid``. Keys ``env_kwargs.<name>`` (and
``bonus_kwargs.<name>``) set one entry of a dict field. A trial's settings, lowest precedence first:
the config's defaults, ``base``, the size's ``base``, its point, its axes (a key set by both a point
and an axis is an error).

Trials that differ only in their seed and in vmappable fields form one group and run as one compiled,
vmapped program (``jaxrl.run.run_trials``, the one driver); groups run one after another
(``backend="local"``) or as Ray tasks (``backend="ray"``). Each trial lives in
``runs/<sweep>[-<size>]/[<label>/]<config>/seed=<n>/``; a trial whose ``status.json`` says done is never
run again, so a stopped or killed sweep started again runs only what is unfinished (and ``run.resume``
lets a half-run group continue from its checkpoint). A failed trial is recorded with its error; by
default it is not retried (``retry_failed=True`` retries it). ``read_trials`` reads the trials back by
label for an experiment.

Modules: ``source`` (YAML with line numbers), ``algorithms`` (the config class of ``algorithm:``),
``plan`` (checking and expansion), ``trial_status`` (the plan record, locks, status.json of trials),
``backends`` (local and Ray), ``driver`` (``run_sweep``), ``results`` (reading trials back),
``command`` (``jaxrl sweep``). Field coercion is ``jaxrl.config_io``'s, shared with ``jaxrl.run``.
"""

from jaxrl.run_folder import read_status, write_status
from jaxrl.sweep.algorithms import config_class
from jaxrl.sweep.command import sweep, sweep_main
from jaxrl.sweep.driver import SweepResult, format_plan, run_sweep
from jaxrl.sweep.plan import Group, SweepPlan, Trial, load_plan, parse_plan
from jaxrl.sweep.results import TrialResult, initial_policies, read_trials, trained_policies
from jaxrl.sweep.source import SweepError
from jaxrl.sweep.trial_status import LOCK_FILE, PLAN_FILE, run_group, trial_locks

__all__ = [
    "LOCK_FILE",
    "PLAN_FILE",
    "Group",
    "SweepError",
    "SweepPlan",
    "SweepResult",
    "Trial",
    "TrialResult",
    "config_class",
    "format_plan",
    "initial_policies",
    "load_plan",
    "parse_plan",
    "read_status",
    "read_trials",
    "run_group",
    "run_sweep",
    "sweep",
    "sweep_main",
    "trained_policies",
    "trial_locks",
    "write_status",
]

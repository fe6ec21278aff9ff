#!/usr/bin/env bash
# The prepared check for a session lent the GPU machine (one H200; Python 3.12, JAX 0.11.2 + CUDA 13,
# flax, optax, orbax-checkpoint, chex; no network). In one call of at most 8 minutes it
#   1. installs the carried wheels (.device_wheels/, made by benchmarks/prepare_device_wheels.sh),
#   2. runs the default tests that touch jit / vmap / sharding,
#   3. times PPO on CartPole at 1, 64 and 1024 vmapped seeds (benchmarks/ppo_throughput.py),
#   4. times the gridworld env at 4k, 16k and 64k environments (benchmarks/gridworld_throughput.py),
#   5. times the exploration study's program (GRU PPO + E3B x count, benchmarks/study_throughput.py)
#      at growing seed batches; the last that finishes is the largest that fits,
# and writes device_check.json and device_check.md (plus every stage's log) to $OUT (default: a new
# temporary folder). Every stage has its own timeout, so one slow stage cannot eat the others; a stage
# cut short keeps what it wrote.
#     run: bash benchmarks/device_check.sh            (carry .device_wheels)
#     here: bash benchmarks/device_check.sh --cpu-smoke   (tiny sizes on the CPU: tests the script)
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=full
[[ "${1:-}" == "--cpu-smoke" || "${DEVICE_CHECK_SMOKE:-0}" == "1" ]] && MODE=cpu-smoke
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
WHEELS=${DEVICE_WHEELS:-.device_wheels}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # the project runs from the tree, not installed
: > "$OUT/stages.jsonl"

stage() {  # stage NAME SECONDS COMMAND...: run with a timeout, log to $OUT/NAME.log, record the outcome
  local name=$1 limit=$2
  shift 2
  local start rc
  start=$(date +%s%N)
  timeout -k 5 "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  printf '{"stage": "%s", "rc": %d, "timed_out": %s, "seconds": %d.%02d, "limit_s": %d}\n' "$name" "$rc" \
    "$([[ $rc == 124 || $rc == 137 ]] && echo true || echo false)" \
    $(( ($(date +%s%N) - start) / 1000000000 )) $(( ($(date +%s%N) - start) / 10000000 % 100 )) "$limit" \
    >> "$OUT/stages.jsonl"
  echo "stage $name: rc=$rc ($(tail -n 1 "$OUT/$name.log" | cut -c1-150))"
}

if [[ $MODE == full ]]; then
  TESTS=(tests/test_ppo.py tests/test_rl2.py tests/test_bonuses.py tests/test_spaces_registry_wrappers.py
         tests/test_sharding.py)
  PPO_ARGS=(--seeds 1 64 1024 --total-timesteps "${PPO_STEPS:-250000}" --repeats 1)
  GRID_SIZES=(4096 16384 65536); GRID_ARGS=(--num-steps 64 --repeats 3)
  STUDY_ARGS=(--seeds 16 64 256 1024 --updates 5 --repeats 2)
  T_INSTALL=40 T_TESTS=90 T_PPO=100 T_GRID=40 T_STUDY=100   # 450 s in all, under the 8 minutes
else
  TESTS=(tests/test_spaces_registry_wrappers.py)
  PPO_ARGS=(--seeds 1 2 --total-timesteps 1024 --repeats 1)
  GRID_SIZES=(64); GRID_ARGS=(--num-steps 4 --repeats 1)
  STUDY_ARGS=(--seeds 1 --updates 1 --repeats 1)
  T_INSTALL=45 T_TESTS=240 T_PPO=300 T_GRID=300 T_STUDY=400
fi

"$PY" -c "import jax, sys; print('python', sys.version.split()[0], 'jax', jax.__version__, jax.devices())" \
  > "$OUT/devices.txt" 2>&1
echo "devices: $(cat "$OUT/devices.txt")"

if [[ -d $WHEELS ]]; then
  stage install "$T_INSTALL" "$PY" -m pip install --no-index --find-links "$WHEELS" \
    gymnasium tyro tqdm pyyaml matplotlib pytest
else
  printf '{"stage": "install", "rc": null, "skipped": "no %s folder"}\n' "$WHEELS" >> "$OUT/stages.jsonl"
  echo "stage install: skipped (no $WHEELS; run benchmarks/prepare_device_wheels.sh where PyPI is reachable)"
fi
stage tests "$T_TESTS" "$PY" -m pytest -q -p no:xdist -p no:cacheprovider "${TESTS[@]}"
stage ppo "$T_PPO" "$PY" benchmarks/ppo_throughput.py "${PPO_ARGS[@]}" --json "$OUT/ppo.json"
for n in "${GRID_SIZES[@]}"; do
  stage "gridworld_$n" "$T_GRID" "$PY" benchmarks/gridworld_throughput.py --num-envs "$n" "${GRID_ARGS[@]}" \
    --skip-minihack --skip-navix --json "$OUT/gridworld_$n.json"
done
stage study "$T_STUDY" "$PY" benchmarks/study_throughput.py "${STUDY_ARGS[@]}" --json "$OUT/study.json"
"$PY" benchmarks/device_report.py "$OUT" "$MODE"
echo "results in $OUT"

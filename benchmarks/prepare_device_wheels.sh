#!/usr/bin/env bash
# Downloads, into .device_wheels/ (git-ignored), the wheels that benchmarks/device_check.sh installs on
# the lent GPU machine. That machine has no network; it has Python 3.12 and JAX 0.11.2 with CUDA 13,
# flax, optax, orbax-checkpoint and chex (so numpy, PyYAML, rich and typing-extensions too); what else
# the project and its tests import comes from here. Run it on a machine with PyPI before a GPU session:
#     bash benchmarks/prepare_device_wheels.sh        # then: du -sh .device_wheels (at most 64 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${DEST:-.device_wheels}
mkdir -p "$DEST"
# The project's own pins (pyproject.toml), then what those import that the GPU machine lacks.
PACKAGES=(
  "gymnasium>=1.2.0,<1.3" cloudpickle farama-notifications
  "tyro>=1.0,<2" docstring-parser typeguard shtab
  "tqdm>=4.66,<5" "pyyaml>=6.0,<7"
  "matplotlib>=3.9,<4" contourpy cycler fonttools kiwisolver pillow pyparsing python-dateutil six packaging
  "pytest>=9.0,<10" iniconfig pluggy pygments typing-extensions
)
PIP=${PIP:-pip}
$PIP download --no-deps --only-binary=:all: --dest "$DEST" \
  --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform any "${PACKAGES[@]}"
size_kib=$(du -sk "$DEST" | cut -f1)
echo "$DEST: $(ls "$DEST" | wc -l) wheels, $((size_kib / 1024)) MiB"
if (( size_kib > 64 * 1024 )); then
  echo "too large to carry (limit 64 MiB)" >&2
  exit 1
fi

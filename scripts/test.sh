#!/usr/bin/env bash
# The test command of the README and of CI: installs what the tests need on a Debian or
# Ubuntu machine with a Rust toolchain, then runs `cargo test --locked` (extra arguments
# are passed on to it).
#
# What it installs, and why:
# - mesa-vulkan-drivers, libvulkan1: Mesa's lavapipe, a Vulkan driver on the CPU, so the
#   wgpu tests run without a GPU (with CI set they fail rather than skip without it);
# - python3 (and python3-venv): the math.fsum cross-check of the exact oracle, and a
#   private virtual environment for NVIDIA's NVRTC wheel;
# - chromium, fonts-liberation: the HTML report is rendered in a real browser;
# - g++: the host emulation of the CUDA kernels;
# - texlive-latex-recommended: pdflatex with booktabs, to compile `detbench tolerance`'s LaTeX;
# - nvidia-cuda-nvrtc (PyPI, into ~/.cache/detbench/nvrtc-venv): NVRTC compiles every CUDA
#   module for three architectures with no GPU and no driver.
# - postgresql, slurm-wlm, munge: a real PostgreSQL server and a single-node Slurm cluster,
#   started by scripts/services.sh in a temporary folder for the fleet tests (the results
#   store, the Slurm recipe) and stopped when this script exits;
# - numpy (PyPI, into the same virtual environment): the external backend's reference
#   adapter (adapters/numpy.toml), run end to end by tests/it/external.rs through
#   DETBENCH_PYTHON.
# Debian packages are installed with apt-get as root, or through sudo; nothing is installed
# when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

need=()
for pkg in mesa-vulkan-drivers libvulkan1 python3 python3-venv chromium fonts-liberation g++ texlive-latex-recommended postgresql slurm-wlm munge; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# A python3 that already makes virtual environments (pyenv, a distribution build) needs no
# python3-venv package.
if python3 -m venv --help >/dev/null 2>&1; then
  need=("${need[@]/python3-venv/}")
  mapfile -t need < <(printf '%s\n' "${need[@]}" | grep -v '^$' || true)
fi
if ((${#need[@]})); then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null; then
    as_root=(sudo)
  else
    echo "scripts/test.sh: please install these Debian packages first: ${need[*]}" >&2
    exit 1
  fi
  echo "scripts/test.sh: installing ${need[*]}" >&2
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "scripts/test.sh: needs a Rust toolchain (cargo, rustc >= 1.87) on PATH" >&2
  exit 1
fi
cargo --version

# NVIDIA's NVRTC from its PyPI wheel, in a private virtual environment. DETBENCH_NVRTC_LIB
# is how detbench finds it; DETBENCH_REQUIRE_NVRTC=1 makes the NVRTC tests fail, rather
# than show as ignored, when it cannot be loaded.
NVRTC_VENV="${DETBENCH_NVRTC_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/detbench/nvrtc-venv}"
if [ ! -x "$NVRTC_VENV/bin/pip" ]; then
  rm -rf "$NVRTC_VENV"
  python3 -m venv "$NVRTC_VENV"
fi
"$NVRTC_VENV/bin/pip" install -q --disable-pip-version-check 'nvidia-cuda-nvrtc>=13,<14'
DETBENCH_NVRTC_LIB="$(find "$NVRTC_VENV" -name 'libnvrtc.so.13' | head -n 1)"
if [ -z "$DETBENCH_NVRTC_LIB" ]; then
  echo "scripts/test.sh: the nvidia-cuda-nvrtc wheel has no libnvrtc.so.13" >&2
  exit 1
fi
export DETBENCH_NVRTC_LIB DETBENCH_REQUIRE_NVRTC=1
"$NVRTC_VENV/bin/pip" install -q --disable-pip-version-check numpy
# The deploy recipes' validators (tests/it/deploy.rs): Kubernetes schemas per API version and
# GitHub's workflow schema, both shipped inside the packages (no network at test time).
"$NVRTC_VENV/bin/pip" install -q --disable-pip-version-check \
  'kubernetes-validate==1.37.0' 'check-jsonschema==0.39.0'
export DETBENCH_VALIDATORS="$NVRTC_VENV/bin"
export DETBENCH_PYTHON="$NVRTC_VENV/bin/python"
echo "python for external adapters: $DETBENCH_PYTHON"

echo "NVRTC: $DETBENCH_NVRTC_LIB"

# A fresh CI clone gains nothing from incremental compilation and its cache costs disk.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0
fi
# The servers the fleet tests use (scripts/services.sh): PostgreSQL and a single-node Slurm
# cluster, as plain processes in a temporary folder, stopped on every exit of this script.
# In CI a service that failed to start fails its tests instead of leaving them ignored.
services_started=
stop_services() { [ -z "$services_started" ] || scripts/services.sh stop; }
trap stop_services EXIT
scripts/services.sh stop
services_env=$(scripts/services.sh start)
services_started=1
eval "$services_env"
if [ "${CI:-}" = true ]; then
  export DETBENCH_REQUIRE_SERVICES=1
fi

# Style and lints gate like the tests: a red `cargo fmt --check` or a clippy warning fails CI.
# They run first, so a formatting slip fails in seconds rather than after the test build.
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked "$@"
# The criterion benches must keep compiling (they are not run here: speed belongs in
# benches, and CI's two cores are no place to time them). `cargo test --benches` builds them
# with the test profile, reusing what `cargo test` just built; the same sources under
# `cargo bench`'s release profile would rebuild every dependency, about 10 minutes on CI.
cargo test --locked --benches --no-run

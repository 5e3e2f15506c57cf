#!/usr/bin/env bash
# One idempotent set-up for a fresh Debian/Ubuntu machine (users and CI alike): system packages
# that the build and tests need, and the Rust pieces. Safe to run again; it only adds what is missing.
set -euo pipefail

# Debian packages: a C toolchain for bundled SQLite; Mesa's software Vulkan (lavapipe) so the
# GPU code path runs without a GPU; pkg-config for -sys crates; Python with venv for the ONNX
# Runtime check of exported models.
APT_PACKAGES=(build-essential pkg-config mesa-vulkan-drivers libvulkan1 python3 python3-venv)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: system packages present"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust from https://rustup.rs (stable, 1.88 or newer) and rerun" >&2
  exit 1
fi
echo "setup: $(cargo --version)"

# ONNX Runtime (PyPI) in a virtual environment beside the checkout: the tests run every exported
# model through it. Pinned so results do not drift.
REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$REPO/.venv"
PY_PACKAGES=(onnxruntime==1.23.2 numpy==2.3.5)
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import onnxruntime, numpy; assert onnxruntime.__version__ == '1.23.2'" 2>/dev/null; then
  echo "setup: installing ${PY_PACKAGES[*]} into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
else
  echo "setup: onnxruntime present in $VENV"
fi

#!/usr/bin/env bash
# One idempotent set-up for a fresh Debian/Ubuntu machine (users and CI alike): system packages
# that the build and tests need, and the Rust pieces. Safe to run again; it only adds what is missing.
set -euo pipefail

# Debian packages: a C toolchain for bundled SQLite; Mesa's software Vulkan (lavapipe) so the
# GPU code path and the UI's image snapshots run without a GPU; pkg-config for -sys crates; Python
# with venv for the ONNX Runtime check of exported models; WebKitGTK and GTK for the desktop app;
# Xvfb, ImageMagick and xdotool for its headless tests (screenshots, real clicks and keys);
# dbus (dbus-daemon) for the notification test's private bus; clang and libclang for the
# bindings of LightGBM, whose C++ sources cargo builds (with the cmake installed into .venv below);
# Slurm (slurmctld, slurmd, the client commands) and munge for the sweep test's private
# single-node cluster (scripts/slurm-single-node.sh) and for submitting sweeps from this machine.
APT_PACKAGES=(
  build-essential pkg-config mesa-vulkan-drivers libvulkan1 python3 python3-venv clang libclang-dev
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
  xvfb xauth imagemagick xdotool dbus
  slurm-wlm munge
)

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

REPO="$(cd "$(dirname "$0")/.." && pwd)"

# The desktop UI is compiled to wasm32 and bound with wasm-bindgen's CLI, which must be exactly
# the wasm-bindgen version in Cargo.lock.
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    echo "setup: adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  # CI checks formatting and lints before the tests.
  for component in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^$component"; then
      echo "setup: adding the $component component"
      rustup component add "$component"
    fi
  done
elif ! rustc --print target-libdir --target wasm32-unknown-unknown >/dev/null 2>&1; then
  echo "setup: the wasm32-unknown-unknown Rust target is missing and rustup is not available to add it" >&2
  exit 1
fi
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$REPO/Cargo.lock")"
if [ -z "$WASM_BINDGEN_VERSION" ]; then
  echo "setup: Cargo.lock names no wasm-bindgen version" >&2
  exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  echo "setup: installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  # Not --locked: the CLI's own lock file currently names a yanked crate.
  cargo install --quiet wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
else
  echo "setup: wasm-bindgen-cli $WASM_BINDGEN_VERSION present"
fi

# ONNX Runtime (PyPI) in a virtual environment beside the checkout: the tests run every exported
# model through it. Pinned so results do not drift.
VENV="$REPO/.venv"
# cmake too: LightGBM's build needs 3.28 or newer, newer than Debian 12's (.cargo/config.toml
# points the build at .venv/bin/cmake).
PY_PACKAGES=(onnxruntime==1.23.2 numpy==2.3.5 cmake==3.31.10)
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import onnxruntime, numpy; assert onnxruntime.__version__ == '1.23.2'" 2>/dev/null \
  || [ "$("$VENV/bin/cmake" --version 2>/dev/null | head -1)" != "cmake version 3.31.10" ]; then
  echo "setup: installing ${PY_PACKAGES[*]} into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
else
  echo "setup: onnxruntime present in $VENV"
fi

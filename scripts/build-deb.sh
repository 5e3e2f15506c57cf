#!/usr/bin/env bash
# Builds the desktop app's Debian package with Tauri's bundler: a release build of atb-desktop
# (the wasm UI embedded, symbols stripped), ONNX Runtime's library (from the .venv that
# scripts/setup.sh makes) in /usr/lib/atb, the app icon, a desktop entry, and the runtime
# dependencies declared.
# The Tauri CLI comes prebuilt from npm (@tauri-apps/cli, pinned to the tauri crate's version)
# into .tools/, nothing is downloaded at build time besides it. AppImage is not offered: its
# tools download from GitHub during bundling, which this project's machines cannot reach.
#
# Usage: scripts/build-deb.sh        -> prints the path of the .deb it wrote
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/atb-target}"
TAURI_CLI_VERSION=2.12.5
tools=.tools/tauri-cli
if [ "$("$tools/node_modules/.bin/tauri" --version 2>/dev/null || true)" != "tauri-cli $TAURI_CLI_VERSION" ]; then
  echo "build-deb: installing @tauri-apps/cli $TAURI_CLI_VERSION into $tools" >&2
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --silent "@tauri-apps/cli@$TAURI_CLI_VERSION"
fi

# ONNX Runtime for the tree model's exports (tract lacks its operator): the pinned library that
# setup.sh installs, shipped where the engine looks beside the executable (../lib/atb).
onnxruntime=$(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | sort | tail -1)
if [ -z "$onnxruntime" ]; then
  echo "build-deb: ONNX Runtime's library is not in .venv: run scripts/setup.sh first" >&2
  exit 1
fi
export ATB_DEB_ONNXRUNTIME="$PWD/$onnxruntime"

# The bundler reads its configuration from the app's own folder: a copy of the root
# tauri.conf.json (the one the build uses) with its paths made relative to src-tauri and the
# bundle section added, removed again afterwards.
generated=src-tauri/tauri.conf.json
trap 'rm -f "$generated"' EXIT
python3 - "$generated" <<'PY'
import json, sys
config = json.load(open("tauri.conf.json"))
config["build"]["frontendDist"] = "../ui/dist"
# Tauri's bundler declares what the package needs at run time itself (libwebkit2gtk-4.1-0 and
# libgtk-3-0 on Debian 12). ONNX Runtime travels inside the package.
import os
library = os.environ["ATB_DEB_ONNXRUNTIME"]
config["bundle"] = {
    "active": True,
    "targets": ["deb"],
    "icon": ["../icons/icon.png"],
    "category": "Finance",
    "shortDescription": "Train, compare and export crypto price-forecasting models",
    "longDescription": "atb trains LSTM, TCN, attention and gradient-boosted-tree models on "
    "Binance candles, evaluates them against persistence, drift and ridge baselines with "
    "significance tests, keeps a versioned registry and exports to ONNX with proven parity.",
    "linux": {"deb": {
        "section": "science",
        "files": {"/usr/lib/atb/" + os.path.basename(library): library},
    }},
}
json.dump(config, open(sys.argv[1], "w"), indent=2)
PY
# The CLI checks that the UI's folder exists before it builds; the app's build script fills it.
mkdir -p ui/dist
# Build, strip the symbols (43 of 200 MB; backtraces then name no functions), then bundle it.
TAURI_APP_PATH=src-tauri "$tools/node_modules/.bin/tauri" build --no-bundle >&2
strip "$CARGO_TARGET_DIR/release/atb-desktop"
TAURI_APP_PATH=src-tauri "$tools/node_modules/.bin/tauri" bundle --bundles deb >&2
deb=$(ls -t "$CARGO_TARGET_DIR"/release/bundle/deb/*.deb | head -1)
echo "$deb"

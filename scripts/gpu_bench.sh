#!/usr/bin/env bash
# The side-by-side GPU benchmark, for anyone with a GPU: atb on the GPU, atb on the CPU, and
# (where PyTorch with CUDA is installed) the same five default models in PyTorch on CUDA, on the
# same data and settings; prints one table and a last line of ratios. About 5 to 8 minutes on a
# modern GPU with the defaults (the last 180 days of the bundled sample, one epoch, batch 32).
#
# Works from a copy of the working tree on a bare machine that has only the NVIDIA driver and
# Python (with PyTorch for the reference column): build atb's release binary elsewhere and bring it.
#
#   scripts/gpu_bench.sh [ATB_BINARY]        # default: $ATB, else target/release/atb, else `atb`
#
# ATB_BINARY may be xz-compressed (atb.xz): it is unpacked with Python's lzma. Settings through the
# environment: DAYS (180), EPOCHS (1), BATCH (32), OUT_DIR (/tmp/atb-gpu-bench).
#
# wgpu needs the Vulkan loader (libvulkan.so.1). Without it the script stops and says how to bring
# it: `apt-get install libvulkan1`, or on a machine without a network, unpack the .deb fetched
# elsewhere with `apt-get download libvulkan1`: `dpkg -x libvulkan1_*.deb / && ldconfig`. If the
# loader finds no driver, point it at NVIDIA's ICD file:
# `export VK_DRIVER_FILES=/usr/share/vulkan/icd.d/nvidia_icd.json` (or wherever the driver put it).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
days="${DAYS:-180}"
epochs="${EPOCHS:-1}"
batch="${BATCH:-32}"
out="${OUT_DIR:-/tmp/atb-gpu-bench}"
mkdir -p "$out"

atb="${1:-${ATB:-}}"
if [ -z "$atb" ]; then
    if [ -x "$here/target/release/atb" ]; then atb="$here/target/release/atb"; else atb="$(command -v atb || true)"; fi
fi
if [ -z "$atb" ] || [ ! -e "$atb" ]; then
    echo "gpu_bench: no atb binary: pass its path (build it with 'cargo build --release -p atb-cli')" >&2
    exit 2
fi
case "$atb" in
*.xz)
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$atb" "$out/atb"
    chmod +x "$out/atb"
    atb="$out/atb"
    ;;
esac

if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
    cat >&2 <<'EOF'
gpu_bench: the Vulkan loader (libvulkan.so.1) is missing, so wgpu cannot reach the GPU.
  With a network:    apt-get install libvulkan1
  Without one:       on a machine with apt, `apt-get download libvulkan1`; bring the .deb and run
                     dpkg -x libvulkan1_*.deb / && ldconfig
  Then, if no GPU is found: export VK_DRIVER_FILES=<the NVIDIA driver's nvidia_icd.json>
EOF
    exit 2
fi

export ATB_HOME="$out/home"
common=(--models all --variants default --days "$days" --epochs "$epochs" --batch-size "$batch" --latency-calls 100)
echo "== atb dev gpu-check" >&2
"$atb" dev gpu-check | tee "$out/gpu-check.txt"
echo "== atb bench --device gpu" >&2
"$atb" bench "${common[@]}" --device gpu --json "$out/atb-gpu.json" >"$out/atb-gpu.txt"
echo "== atb bench --device cpu" >&2
"$atb" bench "${common[@]}" --device cpu --json "$out/atb-cpu.json" >"$out/atb-cpu.txt"
torch_json=""
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "== PyTorch on CUDA" >&2
    python3 "$here/scripts/torch_reference.py" --device cuda --days "$days" --epochs "$epochs" \
        --batch-size "$batch" --latency-calls 100 --threads "$(nproc)" --json "$out/torch-cuda.json" >"$out/torch-cuda.txt"
    torch_json="$out/torch-cuda.json"
else
    echo "gpu_bench: no PyTorch with CUDA here; the PyTorch columns stay empty" >&2
fi

python3 - "$out/atb-gpu.json" "$out/atb-cpu.json" "$torch_json" "$days" "$epochs" "$batch" <<'EOF'
import json, sys
gpu, cpu = (json.load(open(p)) for p in sys.argv[1:3])
torch = json.load(open(sys.argv[3])) if sys.argv[3] else None
days, epochs, batch = sys.argv[4:7]

def by_arch(report):
    return {r.get("architecture") or r.get("model_type"): r for r in report["results"] if r["variant"] == "default"}

def rate(r):
    return r.get("train_windows_per_s") or r.get("samples_per_second")

g, c = by_arch(gpu), by_arch(cpu)
t = {r["architecture"]: r for r in torch["results"]} if torch else {}
print(f"\natb GPU: {gpu.get('device', '?')}; last {days} days of the sample, {epochs} epoch(s), batch {batch}")
print("| default model | atb GPU windows/s | PyTorch CUDA | atb GPU / PyTorch | atb CPU windows/s | atb GPU / CPU | atb GPU p50 (1 window) | PyTorch CUDA p50 |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
ratios = []
for arch in ["cnn_lstm", "attention_lstm", "tcn", "tcn_attention", "lstm"]:
    if arch not in g or arch not in c:
        continue
    gr, cr = rate(g[arch]), rate(c[arch])
    tr = t.get(arch, {}).get("train_windows_per_s")
    tp = t.get(arch, {}).get("eager_p50_ms")
    vs_torch = f"{gr / tr:.2f}" if tr else "-"
    ratios.append(f"{arch} {vs_torch} / {gr / cr:.2f}")
    print(f"| {arch} | {gr:,.0f} | {f'{tr:,.0f}' if tr else '-'} | {vs_torch} | {cr:,.0f} | {gr / cr:.2f} | "
          f"{g[arch]['latency_p50_ms']:.2f} ms | {f'{tp:.2f} ms' if tp else '-'} |")
print("\nratios (atb GPU / PyTorch CUDA, atb GPU / atb CPU): " + "; ".join(ratios))
EOF

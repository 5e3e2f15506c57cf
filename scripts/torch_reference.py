#!/usr/bin/env python3
"""PyTorch reference for atb's speed: the same five default architectures, data and settings.

What it does, with the thread count pinned (`--threads`, default 2):
  - builds the `price` features of the bundled sample (data/BTCUSDT-1h.csv) exactly as atb does
    (log return, log high/close, log low/close, log1p volume, log relative volume over 24 bars;
    24 warm-up rows), the windows of L steps, atb's 70/15/15 chronological split with an embargo of
    h, standardisation fitted on the training rows and the standardised h-step log-return target;
  - for each architecture: the same layers, widths and trainable parameter count as atb's default
    variant (checked against atb's Keras counts), Adam (lr 1e-3, eps 1e-5 as Burn's) on MSE with
    shuffled batches, and prints training windows/s per epoch (training only, validation excluded);
  - single-window inference p50/p99 in eager PyTorch (inference mode) and, exported with
    `torch.onnx.export` (opset 17), in ONNX Runtime with one intra-op thread... or `--threads`;
  - `--atb-json FILE` (the JSON of `atb bench --json`) adds the ratios atb/PyTorch per
    architecture; `--atb-onnx DIR` also times atb's own exported files (VERSION.onnx or
    model.onnx files found under DIR) in ONNX Runtime.

PyTorch is not an atb dependency: on first use this script creates `.venv-torch` beside the
checkout and installs PyTorch, NumPy, ONNX and ONNX Runtime from PyPI into it (several GB; CI never
runs this). Usage:

  scripts/torch_reference.py --days 180 --epochs 1 --json docs/torch-cpu.json --atb-json docs/bench-cpu.json
  scripts/torch_reference.py --device cuda --days 180 --epochs 1   # on a GPU (scripts/gpu_bench.sh runs it)
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-torch"
PACKAGES = ["torch==2.15.0", "numpy==2.3.5", "onnx==1.23.2", "onnxruntime==1.23.2"]
ARCHITECTURES = ["cnn_lstm", "attention_lstm", "tcn", "tcn_attention", "lstm"]
# atb's Keras-style trainable parameter counts of the default variants at L = 120, F = 5
# (models/tests/zoo.rs pins the same numbers).
ATB_PARAMETERS = {
    "cnn_lstm": 150_129,
    "attention_lstm": 192_705,
    "tcn": 214_145,
    "tcn_attention": 280_513,
    "lstm": 122_241,
}


def ensure_torch(needs_onnx=True):
    """Re-runs this script inside .venv-torch, creating it on first use. On CUDA the ONNX
    Runtime columns are not measured, so an installed PyTorch and NumPy are enough (a GPU machine
    without a network has them and nothing else)."""
    try:
        import numpy  # noqa: F401
        import torch  # noqa: F401

        if needs_onnx:
            import onnxruntime  # noqa: F401
        return
    except ImportError:
        pass
    python = VENV / "bin" / "python"
    if Path(sys.executable).resolve() == python.resolve():
        sys.exit(f"torch_reference: {VENV} exists but lacks {PACKAGES}; delete it and rerun")
    if not python.exists():
        print(f"torch_reference: creating {VENV} (PyTorch from PyPI, several GB, once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import torch, numpy, onnx, onnxruntime"],
                           capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        *PACKAGES], check=True)
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


# ---------------------------------------------------------------------------------------------
# Data, as crates/engine/src/{features,dataset}.rs build it.


def load_candles(path, days):
    import numpy as np

    raw = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    if days:
        # atb's --days N on the sample: the N days up to the end of its last candle.
        end = raw[-1, 0] + 3_600_000
        raw = raw[raw[:, 0] >= end - days * 86_400_000]
    return raw  # open_time_ms, open, high, low, close, volume


def price_features(c):
    import numpy as np

    close, high, low, vol = c[:, 4], c[:, 2], c[:, 3], c[:, 5]
    log_return = np.full(len(c), np.nan)
    log_return[1:] = np.log(close[1:] / close[:-1])
    rel_mean = np.full(len(c), np.nan)
    cs = np.cumsum(np.concatenate([[0.0], vol]))
    rel_mean[23:] = (cs[24:] - cs[:-24]) / 24.0
    x = np.stack([
        log_return,
        np.log(high / close),
        np.log(low / close),
        np.log1p(vol),
        np.log((1.0 + vol) / (1.0 + rel_mean)),
    ], axis=1)
    warmup = 24
    return x[warmup:].astype(np.float32), close[warmup:]


def prepare(candles, seq_len, horizon):
    import numpy as np

    x, close = price_features(candles)
    rows = len(x)
    first = seq_len - 1
    usable = max(rows + 1 - (first + horizon + 1), 0)
    total = max(usable - 2 * horizon, 0)
    n_train = math.floor(total * 0.70)
    n_val = math.floor(total * 0.15)
    n_test = total - n_train - n_val
    if min(n_train, n_val, n_test) < 8:
        sys.exit("torch_reference: too little data for the split; use more --days")
    train = range(first, first + n_train)
    val = range(train.stop + horizon, train.stop + horizon + n_val)
    mean = x[: train.stop].astype(np.float64).mean(axis=0)
    std = x[: train.stop].astype(np.float64).std(axis=0)
    std[std <= 1e-12] = 1.0
    scaled = ((x - mean) / std).astype(np.float32)
    returns = np.full(rows, np.nan)
    returns[: rows - horizon] = np.log(close[horizon:] / close[: rows - horizon])
    tr = returns[list(train)]
    t_mean, t_std = tr.mean(), tr.std()
    target = ((returns - t_mean) / (t_std if t_std > 1e-12 else 1.0)).astype(np.float32)
    return scaled, target, train, val


# ---------------------------------------------------------------------------------------------
# Models: atb's default variants (models/src/config.rs), plain PyTorch.


def build(name, n_features, seq_len):
    import torch
    from torch import nn
    import torch.nn.functional as F

    def keras_lstm(d_in, units, **kw):
        # Keras keeps one bias per gate; nn.LSTM has two. The second stays at zero, frozen, so the
        # trainable count equals atb's (the fused kernel adds it at no cost).
        lstm = nn.LSTM(d_in, units, batch_first=True, **kw)
        for name_, p in lstm.named_parameters():
            if name_.startswith("bias_hh"):
                nn.init.zeros_(p)
                p.requires_grad_(False)
        return lstm

    class Head(nn.Module):
        def __init__(self, d_in, dense, p):
            super().__init__()
            self.hidden, self.drop, self.out = nn.Linear(d_in, dense), nn.Dropout(p), nn.Linear(dense, 1)

        def forward(self, x):
            return self.out(self.drop(F.relu(self.hidden(x))))

    class KerasMHA(nn.Module):
        """Keras MultiHeadAttention: heads x key_dim projections, projected back to the width."""

        def __init__(self, width, heads, key_dim, p):
            super().__init__()
            inner = heads * key_dim
            self.q, self.k, self.v = (nn.Linear(width, inner) for _ in range(3))
            self.o = nn.Linear(inner, width)
            self.heads, self.key_dim, self.p = heads, key_dim, p

        def forward(self, x):
            b, t, _ = x.shape
            split = lambda y: y.view(b, t, self.heads, self.key_dim).transpose(1, 2)
            ctx = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)),
                                                 dropout_p=self.p if self.training else 0.0)
            return self.o(ctx.transpose(1, 2).reshape(b, t, self.heads * self.key_dim))

    def pool(x):
        return torch.cat([x.mean(dim=1), x.amax(dim=1)], dim=1)

    class CnnLstm(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv1d(n_features, 64, 3), nn.Conv1d(64, 128, 3)
            self.l1, self.l2 = keras_lstm(128, 100), keras_lstm(100, 50)
            self.drop, self.head = nn.Dropout(0.2), Head(50, 50, 0.2)

        def forward(self, x):
            y = x.transpose(1, 2)
            y = F.max_pool1d(F.relu(self.c1(y)), 2)
            y = F.max_pool1d(F.relu(self.c2(y)), 2)
            y, _ = self.l1(y.transpose(1, 2))
            _, (h, _) = self.l2(self.drop(y))
            return self.head(self.drop(h[-1]))

    class Lstm(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.l2 = keras_lstm(n_features, 128), keras_lstm(128, 64)
            self.drop, self.head = nn.Dropout(0.2), Head(64, 64, 0.2)

        def forward(self, x):
            y, _ = self.l1(x)
            _, (h, _) = self.l2(self.drop(y))
            return self.head(h[-1])

    class AttentionLstm(nn.Module):
        # nn.LSTM has no recurrent dropout (atb's attention_lstm has 0.1): PyTorch gets that for free.
        def __init__(self):
            super().__init__()
            self.in_drop = nn.Dropout(0.2)
            self.l1, self.l2 = keras_lstm(n_features, 128), keras_lstm(128, 64)
            self.att, self.drop, self.head = KerasMHA(64, 4, 64, 0.2), nn.Dropout(0.2), Head(128, 64, 0.2)

        def forward(self, x):
            y, _ = self.l1(self.in_drop(x))
            y, _ = self.l2(self.in_drop(y))
            return self.head(pool(y + self.drop(self.att(y))))

    class Tcn(nn.Module):
        def __init__(self, attention):
            super().__init__()
            k, self.k = 5, 5
            self.inp = nn.Conv1d(n_features, 64, 1)
            self.dil = [1, 2, 4, 8, 16]
            self.convs = nn.ModuleList(nn.Conv1d(64, 64, k, dilation=d) for d in self.dil for _ in range(2))
            self.drop = nn.Dropout(0.2)
            self.att = KerasMHA(64, 4, 64, 0.2) if attention else None
            self.head = Head(128, 64, 0.2)

        def forward(self, x):
            y = F.relu(self.inp(x.transpose(1, 2)))
            for i, d in enumerate(self.dil):
                pad = (self.k - 1) * d
                z = self.drop(F.relu(self.convs[2 * i](F.pad(y, (pad, 0)))))
                z = self.drop(F.relu(self.convs[2 * i + 1](F.pad(z, (pad, 0)))))
                y = F.relu(z + y)
            y = y.transpose(1, 2)
            if self.att is not None:
                y = self.att(y)
            return self.head(pool(y))

    model = {
        "cnn_lstm": CnnLstm,
        "lstm": Lstm,
        "attention_lstm": AttentionLstm,
        "tcn": lambda: Tcn(False),
        "tcn_attention": lambda: Tcn(True),
    }[name]()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if seq_len == 120 and n_features == 5 and params != ATB_PARAMETERS[name]:
        sys.exit(f"torch_reference: {name} has {params} trainable parameters, atb {ATB_PARAMETERS[name]}")
    return model, params


# ---------------------------------------------------------------------------------------------


def percentile(values, q):
    s = sorted(values)
    rank = max(1, math.ceil(q * len(s)))
    return s[rank - 1]


def time_calls(fn, calls, warmup=20):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return percentile(out, 0.5), percentile(out, 0.99)


def ort_session(path, threads):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run(args):
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    candles = load_candles(args.data, args.days)
    scaled, target, train, val = prepare(candles, args.sequence_length, args.horizon)
    L = args.sequence_length
    offsets = np.arange(-L + 1, 1)
    windows = lambda ts: scaled[ts[:, None] + offsets[None, :]]
    rng = np.random.default_rng(args.seed)
    one = torch.from_numpy(windows(np.array([val.start])))
    results = []
    for name in args.models:
        model, params = build(name, scaled.shape[1], L)
        model.to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-5)
        loss_fn = torch.nn.MSELoss()
        epoch_rates = []
        for _ in range(args.epochs):
            model.train()
            order = rng.permutation(np.arange(train.start, train.stop))
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for i in range(0, len(order), args.batch_size):
                ts = order[i:i + args.batch_size]
                x = torch.from_numpy(windows(ts)).to(device)
                y = torch.from_numpy(target[ts][:, None]).to(device)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
                loss.item()
            if device.type == "cuda":
                torch.cuda.synchronize()
            epoch_rates.append(len(order) / (time.perf_counter() - t0))
            # Validation (not timed): what a training loop does between epochs.
            model.eval()
            with torch.inference_mode():
                vs = np.arange(val.start, val.stop)
                for i in range(0, len(vs), 256):
                    model(torch.from_numpy(windows(vs[i:i + 256])).to(device))
        model.eval()
        x1 = one.to(device)
        with torch.inference_mode():
            def eager():
                model(x1)
                if device.type == "cuda":
                    torch.cuda.synchronize()
            p50, p99 = time_calls(eager, args.latency_calls)
        row = {
            "architecture": name,
            "variant": "default",
            "parameters": params,
            "train_windows_per_s": float(np.median(epoch_rates)),
            "train_windows_per_s_epochs": epoch_rates,
            "eager_p50_ms": p50,
            "eager_p99_ms": p99,
        }
        if device.type == "cpu":
            path = Path(args.onnx_dir) / f"torch-{name}.onnx"
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.onnx.export(model, (one,), str(path), dynamo=False, opset_version=17,
                              input_names=["features"], output_names=["prediction"],
                              dynamic_axes={"features": {0: "batch"}})
            sess = ort_session(path, args.ort_threads)
            feed = {"features": one.numpy()}
            row["ort_p50_ms"], row["ort_p99_ms"] = time_calls(lambda: sess.run(None, feed), args.latency_calls)
        results.append(row)
        print(f"{name}: {params} parameters, {row['train_windows_per_s']:.0f} training windows/s, "
              f"eager p50 {p50:.3f} ms" + (f", ONNX Runtime p50 {row['ort_p50_ms']:.3f} ms" if "ort_p50_ms" in row else ""),
              file=sys.stderr)
    return results


def atb_onnx_timings(onnx_root, threads, calls):
    """ONNX Runtime on atb's own exported files: {architecture: (p50, p99)}."""
    import numpy as np
    import onnx

    out = {}
    for path in sorted(Path(onnx_root).rglob("*.onnx")):
        if path.name.startswith("torch-"):
            continue
        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        arch = meta.get("atb.architecture")
        if arch is None or arch in out:
            continue
        l, f = int(meta["atb.sequence_length"]), int(meta["atb.n_features"])
        sess = ort_session(path, threads)
        x = np.random.default_rng(0).standard_normal((1, l, f)).astype(np.float32)
        name = sess.get_inputs()[0].name
        out[arch] = time_calls(lambda: sess.run(None, {name: x}), calls)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO / "data" / "BTCUSDT-1h.csv"))
    ap.add_argument("--days", type=int, default=0, help="last N days of the sample (0: all of it)")
    ap.add_argument("--models", default=",".join(ARCHITECTURES))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--sequence-length", type=int, default=120)
    ap.add_argument("--horizon", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads (pinned)")
    ap.add_argument("--ort-threads", type=int, default=1, help="ONNX Runtime intra-op threads for single windows")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--latency-calls", type=int, default=200)
    ap.add_argument("--onnx-dir", default="/tmp/atb-torch-reference")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--atb-json", help="atb bench --json output, for the atb/PyTorch ratios")
    ap.add_argument("--atb-onnx", help="a folder holding atb's exported .onnx files to time in ONNX Runtime")
    args = ap.parse_args()
    args.models = ARCHITECTURES if args.models == "all" else args.models.split(",")
    ensure_torch(needs_onnx=args.device == "cpu" or bool(args.atb_onnx))
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_reference: --device cuda, but this PyTorch sees no CUDA device")

    results = run(args)
    atb_ort = atb_onnx_timings(args.atb_onnx, args.ort_threads, args.latency_calls) if args.atb_onnx else {}
    report = {
        "torch": torch.__version__,
        "threads": args.threads,
        "device": args.device,
        "days": args.days,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "sequence_length": args.sequence_length,
        "results": results,
        "atb_onnx_in_onnx_runtime": {k: {"p50_ms": v[0], "p99_ms": v[1]} for k, v in atb_ort.items()},
    }
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")

    print(f"PyTorch {torch.__version__}, {args.threads} threads, {args.device}; L {args.sequence_length}, "
          f"batch {args.batch_size}, {args.epochs} epoch(s)")
    print("| model | parameters | training windows/s | eager p50 / p99 ms | ONNX Runtime p50 / p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        ort = f"{r['ort_p50_ms']:.3f} / {r['ort_p99_ms']:.3f}" if "ort_p50_ms" in r else "-"
        print(f"| {r['architecture']} | {r['parameters']} | {r['train_windows_per_s']:.0f} | "
              f"{r['eager_p50_ms']:.3f} / {r['eager_p99_ms']:.3f} | {ort} |")
    if args.atb_json:
        # `architecture` since the vocabulary was unified; reports of older atb builds say `model_type`.
        atb = {r.get("architecture") or r["model_type"]: r
               for r in json.loads(Path(args.atb_json).read_text())["results"] if r["variant"] == "default"}
        print()
        print("| model | atb training windows/s | PyTorch | atb/PyTorch | atb native p50 ms | PyTorch eager p50 ms | "
              "atb/PyTorch latency | atb's file in tract p50 ms | in ONNX Runtime (atb) p50 ms | tract / ONNX Runtime |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            a = atb.get(r["architecture"])
            if a is None:
                continue
            rate = a.get("train_windows_per_s") or a.get("samples_per_second")
            ort = (a.get("onnxruntime") or {}).get("latency_p50_ms")
            if ort is None and r["architecture"] in atb_ort:
                ort = atb_ort[r["architecture"]][0]
            cells = [
                r["architecture"], f"{rate:.0f}", f"{r['train_windows_per_s']:.0f}",
                f"{rate / r['train_windows_per_s']:.2f}", f"{a['latency_p50_ms']:.3f}", f"{r['eager_p50_ms']:.3f}",
                f"{a['latency_p50_ms'] / r['eager_p50_ms']:.2f}", f"{a['onnx_latency_p50_ms']:.3f}",
                f"{ort:.3f}" if ort else "-", f"{a['onnx_latency_p50_ms'] / ort:.2f}" if ort else "-",
            ]
            print("| " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main()

"""Runs an ONNX file exported by atb in ONNX Runtime (CPU) and compares its outputs with expected
ones (from `atb predict --raw-input --json`).

usage: onnx_runtime_check.py MODEL.onnx WINDOWS.npy EXPECTED.json [TOLERANCE]

Checks the input is `features` with a dynamic batch axis, the output `prediction` [batch, 1],
and that the atb metadata is present; runs the whole batch and a batch of one. Prints one JSON
line with what it measured; exits 1 when anything is off or a difference exceeds TOLERANCE
(default 1e-4).
"""

import json
import sys

import numpy as np
import onnxruntime as ort


def main() -> int:
    model_path, windows_path, expected_path = sys.argv[1:4]
    tolerance = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-4
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    problems = []
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if [i.name for i in inputs] != ["features"] or [o.name for o in outputs] != ["prediction", "forecast"]:
        problems.append(f"inputs {[i.name for i in inputs]}, outputs {[o.name for o in outputs]}")
    if isinstance(inputs[0].shape[0], int):
        problems.append(f"batch axis is fixed: {inputs[0].shape}")
    meta = session.get_modelmeta().custom_metadata_map
    for key in ("atb.version_id", "atb.feature_names", "atb.feature_means", "atb.feature_stds",
                "atb.sequence_length", "atb.target_mean", "atb.target_std", "atb.target_kind"):
        if key not in meta:
            problems.append(f"metadata {key} missing")

    windows = np.load(windows_path).astype(np.float32)
    expected = np.asarray(json.load(open(expected_path)), dtype=np.float64)
    batch = session.run(["prediction"], {"features": windows})[0]
    single = session.run(["prediction"], {"features": windows[:1]})[0]
    if batch.shape != (len(windows), 1) or single.shape != (1, 1):
        problems.append(f"output shapes {batch.shape} and {single.shape}")
    diff = float(np.max(np.abs(batch[:, 0].astype(np.float64) - expected)))
    diff = max(diff, float(abs(single[0, 0] - expected[0])))
    # The head inside the graph, recomputed here from the file's own metadata.
    raw, forecast = session.run(["prediction", "forecast"], {"features": windows})
    correction = float(meta.get("atb.target_lognormal_correction", "0"))
    unscaled = (float(meta["atb.target_mean"]) + correction
                + float(meta["atb.target_std"]) * raw[:, 0].astype(np.float64))
    head = {"log_return": lambda v: v, "log_realised_volatility": np.exp,
            "up_logit": lambda v: 1.0 / (1.0 + np.exp(-v))}.get(meta.get("atb.target_kind"))
    if head is None:
        problems.append(f"unknown target kind {meta.get('atb.target_kind')}")
    else:
        head_diff = float(np.max(np.abs(forecast[:, 0].astype(np.float64) - head(unscaled))))
        if not np.isfinite(head_diff) or head_diff > tolerance:
            problems.append(f"max |forecast - head(prediction)| = {head_diff:.3e} > {tolerance:.0e}")
    if not np.isfinite(diff) or diff > tolerance:
        problems.append(f"max |onnxruntime - burn| = {diff:.3e} > {tolerance:.0e}")
    print(json.dumps({
        "model": model_path,
        "onnxruntime": ort.__version__,
        "windows": int(len(windows)),
        "max_abs_diff": diff,
        "version_id": meta.get("atb.version_id"),
        "problems": problems,
    }))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

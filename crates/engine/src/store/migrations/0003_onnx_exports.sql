-- The ONNX export of a version: `model.onnx` in its folder, parity-checked before it was kept.
-- One row per version; a new export replaces the row together with the file.
CREATE TABLE onnx_exports (
    version_id    TEXT    PRIMARY KEY REFERENCES model_versions (version_id),
    exported_at   TEXT    NOT NULL,  -- RFC 3339, UTC
    sha256        TEXT    NOT NULL,  -- of model.onnx
    bytes         INTEGER NOT NULL,
    opset         INTEGER NOT NULL,
    max_abs_diff  REAL    NOT NULL,  -- largest |ONNX - Burn| over the checked windows
    windows       INTEGER NOT NULL,  -- test windows compared
    runtime       TEXT    NOT NULL,  -- the ONNX runtime that checked it, e.g. 'tract-onnx 0.23'
    atb_version   TEXT    NOT NULL
);

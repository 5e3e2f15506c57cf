-- Evaluations recomputed after registration (`atb models reevaluate`): the version folder is
-- never rewritten, so a newer evaluation lives here and the index's metric columns follow it.
CREATE TABLE evaluations (
    version_id   TEXT    PRIMARY KEY REFERENCES model_versions (version_id),
    computed_at  TEXT    NOT NULL,  -- RFC 3339, UTC
    method       INTEGER NOT NULL,  -- protocol::training::EVALUATION_METHOD of the evaluation
    evaluation   TEXT    NOT NULL   -- JSON of protocol::training::Evaluation
);

-- The method of the evaluation the metric columns come from (NULL: method 1, before versioning)
-- and its test split's paired comparisons (JSON {"vs_persistence": ..., "vs_ridge": ...}), from
-- which listings derive their verdicts.
ALTER TABLE model_versions ADD COLUMN evaluation_method INTEGER;
ALTER TABLE model_versions ADD COLUMN test_comparisons TEXT;

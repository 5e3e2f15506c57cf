-- SHA-256 of a version's metadata.json and feature_schema.json (the scalers and the target's
-- de-standardisation), checked by load and verify like the weights' hash. NULL for versions
-- registered before this migration: their two files are checked for shape only.
ALTER TABLE model_versions ADD COLUMN metadata_sha256 TEXT;
ALTER TABLE model_versions ADD COLUMN schema_sha256 TEXT;

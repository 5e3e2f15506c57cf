-- Targets (issue 30): what each version forecasts. Versions registered before targets existed
-- forecast the return. The volatility and direction targets' comparisons are kept in
-- `test_comparisons` beside the return target's.
ALTER TABLE model_versions ADD COLUMN target TEXT NOT NULL DEFAULT 'return';

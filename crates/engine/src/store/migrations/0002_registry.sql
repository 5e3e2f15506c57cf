-- Registered model versions. The folder under ATB_HOME/models holds the files; this row is the
-- index, committed only after the folder was renamed into place.
CREATE TABLE model_versions (
    version_id      TEXT    PRIMARY KEY,
    symbol          TEXT    NOT NULL,
    timeframe       TEXT    NOT NULL,
    architecture    TEXT    NOT NULL,
    variant         TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,  -- RFC 3339, UTC
    folder          TEXT    NOT NULL,  -- relative to ATB_HOME
    weights_sha256  TEXT    NOT NULL,
    data_sha256     TEXT    NOT NULL,
    parameters      INTEGER NOT NULL,
    train_seconds   REAL    NOT NULL,
    test_mae_usd    REAL,
    test_rmse_usd   REAL,
    persistence_mae_usd REAL,
    skill_vs_persistence REAL,
    directional_accuracy REAL,
    pt_p_value      REAL,
    tag             TEXT               -- e.g. 'bench'; NULL for ordinary runs
);

CREATE INDEX model_versions_series ON model_versions (symbol, timeframe, architecture, created_at);

-- Named pointers to versions. `latest` is kept per symbol/timeframe/architecture (scope
-- 'SYMBOL/TIMEFRAME/ARCHITECTURE'); user aliases such as `champion` are scoped the same way.
CREATE TABLE aliases (
    scope       TEXT NOT NULL,
    name        TEXT NOT NULL,
    version_id  TEXT NOT NULL REFERENCES model_versions (version_id),
    PRIMARY KEY (scope, name)
);

-- Forward tests (`atb models forward-test`): each version's latest score on candles that closed
-- after its data ended, kept beside (never mixed with) its test-split evaluation.
CREATE TABLE forward_tests (
    version_id  TEXT    PRIMARY KEY REFERENCES model_versions (version_id),
    tested_at   TEXT    NOT NULL,  -- RFC 3339, UTC
    windows     INTEGER NOT NULL,
    result      TEXT    NOT NULL   -- JSON of protocol::forward::ForwardResult
);
